// The frame splitter and the hot-path result reader, against the generated protobuf code.
import assert from "node:assert/strict";
import { test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { ErrorDetailSchema } from "../src/gen/dspy_bridge/v1/errors_pb.js";
import { ValueSchema, type Value } from "../src/gen/dspy_bridge/v1/values_pb.js";
import { ExecuteResponseSchema, StreamItemSchema, WorkerFrameSchema } from "../src/gen/dspy_bridge/v1/worker_pb.js";
import { readResultFrame } from "../src/transport/fast-codec.js";
import { FrameReader, FrameTooLargeError } from "../src/transport/frame-codec.js";

function framed(body: Uint8Array): Buffer {
  const out = Buffer.alloc(4 + body.length);
  out.writeUInt32LE(body.length, 0);
  out.set(body, 4);
  return out;
}

test("FrameReader returns every body whatever the chunk boundaries, headers split included", () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 30 }),
      fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 40 }),
      (bodies, cuts) => {
        const stream = Buffer.concat(bodies.map(framed));
        const reader = new FrameReader(1 << 20);
        const out: Buffer[] = [];
        let pos = 0;
        for (let i = 0; pos < stream.length; i++) {
          const n = Math.min(cuts[i % cuts.length]!, stream.length - pos);
          // Copies, so a later chunk can never alias an earlier one by accident.
          out.push(...reader.push(Buffer.from(stream.subarray(pos, pos + n))).map((b) => Buffer.from(b as Buffer)));
          pos += n;
        }
        assert.deepEqual(
          out.map((b) => [...b]),
          bodies.map((b) => [...b]),
        );
      },
    ),
    { numRuns: 300 },
  );
});

test("FrameReader hands out views that stay valid after later pushes", () => {
  const reader = new FrameReader(1024);
  const first = reader.push(Buffer.concat([framed(Buffer.from("one")), framed(Buffer.from("two")).subarray(0, 5)]));
  const second = reader.push(framed(Buffer.from("two")).subarray(5));
  assert.deepEqual(
    [...first, ...second].map((b) => b.toString()),
    ["one", "two"],
  );
  assert.deepEqual(reader.push(Buffer.alloc(0)), []);
});

test("FrameReader refuses a header announcing more than the limit, even split across chunks", () => {
  const header = Buffer.alloc(4);
  header.writeUInt32LE(2048, 0);
  const reader = new FrameReader(1024);
  assert.deepEqual(reader.push(header.subarray(0, 2)), []);
  assert.throws(
    () => reader.push(header.subarray(2)),
    (err: unknown) => err instanceof FrameTooLargeError && err.size === 2048 && err.limit === 1024,
  );
});

test("readResultFrame takes exactly the successful results and leaves everything else to the generic decoder", () => {
  const value = fc.record({ json: fc.string({ unit: "binary", maxLength: 60 }) }).map((v) => create(ValueSchema, v));
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), value, (callId, v) => {
      const frame = create(WorkerFrameSchema, {
        kind: {
          case: "result",
          value: create(ExecuteResponseSchema, { callId, outcome: { case: "result", value: v } }),
        },
      });
      let got: [number, Value] | undefined;
      assert.equal(
        readResultFrame(Buffer.from(toBinary(WorkerFrameSchema, frame)), (id, val) => (got = [id, val])),
        true,
      );
      assert.equal(got?.[0], callId);
      assert.equal(got?.[1].json, v.json);
      assert.deepEqual(got?.[1].attachments, []);
    }),
    { numRuns: 300 },
  );
  const others = [
    create(WorkerFrameSchema, {
      kind: {
        case: "result",
        value: create(ExecuteResponseSchema, {
          callId: 3,
          outcome: { case: "error", value: create(ErrorDetailSchema, { message: "x" }) },
        }),
      },
    }),
    create(WorkerFrameSchema, {
      kind: { case: "streamItem", value: create(StreamItemSchema, { callId: 3, kind: { case: "end", value: true } }) },
    }),
    create(WorkerFrameSchema, { kind: { case: "result", value: create(ExecuteResponseSchema, { callId: 3 }) } }),
  ];
  for (const frame of others) {
    assert.equal(
      readResultFrame(Buffer.from(toBinary(WorkerFrameSchema, frame)), () => assert.fail("not a plain result")),
      false,
    );
  }
  assert.equal(
    readResultFrame(Buffer.from([0x1a, 0x10, 0x08]), () => assert.fail("truncated")),
    false,
  );
});
