// The hand-written hot-path codec must agree byte for byte with the generated protobuf code.
import assert from "node:assert/strict";
import { test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { ErrorDetailSchema } from "../src/gen/dspy_bridge/v1/errors_pb.js";
import { AttachmentSchema, DType, TensorSchema, ValueSchema } from "../src/gen/dspy_bridge/v1/values_pb.js";
import {
  ExecuteRequestSchema,
  ExecuteResponseSchema,
  HealthResponseSchema,
  StreamItemSchema,
  WorkerFrameSchema,
} from "../src/gen/dspy_bridge/v1/worker_pb.js";
import { decodeWorkerFrame, encodeExecuteFrame } from "../src/transport/fast-codec.js";
import { attachmentBytes, descriptorBytes, parseOutOfBandBody } from "../src/transport/out-of-band.js";
import { AttachmentDescriptorSchema } from "../src/gen/dspy_bridge/v1/values_pb.js";

const text = fc.string({ unit: "binary", maxLength: 40 });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const attachment = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map((bytes) => create(AttachmentSchema, { kind: { case: "bytes", value: bytes } })),
  fc.uint8Array({ maxLength: 64 }).map((data) =>
    create(AttachmentSchema, {
      kind: {
        case: "tensor",
        value: create(TensorSchema, { dtype: DType.DTYPE_UINT8, shape: [BigInt(data.length)], data }),
      },
    }),
  ),
);
const hex = (n: number) => fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: n, maxLength: n });
/** A W3C traceparent as the host writes it (ASCII), or none. */
const traceparent = fc.option(
  fc.tuple(hex(32), hex(16), fc.constantFrom("00", "01")).map(([t, s, f]) => `00-${t}-${s}-${f}`),
);
const value = fc
  .record({ json: text, attachments: fc.array(attachment, { maxLength: 3 }) })
  .map((v) => create(ValueSchema, v));

test("encodeExecuteFrame writes exactly what the generated encoder writes", () => {
  fc.assert(
    fc.property(
      u32,
      text,
      value,
      text,
      u32,
      fc.boolean(),
      fc.option(u32),
      traceparent,
      (callId, command, args, sessionId, timeoutMs, stream, window, tp) => {
        // streamWindow absent (null) or any u32, 0 included (omitted on the wire, like the generated code).
        const streamWindow = window ?? undefined;
        const fast = encodeExecuteFrame({
          callId,
          command,
          args,
          sessionId,
          timeoutMs,
          stream,
          streamWindow,
          traceparent: tp ?? undefined,
        });
        // With attachments, the reference is the out-of-band form: descriptors in the Value,
        // the bytes after the message.
        const oob = args.attachments.length > 0;
        const wireArgs = oob
          ? create(ValueSchema, {
              json: args.json,
              external: descriptorBytes(args.attachments, 0).map((b) => fromBinary(AttachmentDescriptorSchema, b)),
            })
          : args;
        const reference = toBinary(
          WorkerFrameSchema,
          create(WorkerFrameSchema, {
            kind: {
              case: "execute",
              value: create(ExecuteRequestSchema, {
                callId,
                command,
                args: wireArgs,
                sessionId,
                timeoutMs,
                stream,
                streamWindow: streamWindow ?? 0,
                traceparent: tp ?? "",
              }),
            },
          }),
        );
        if (!oob) {
          assert.equal(fast.readUInt32LE(0), fast.length - 4, "length prefix");
          assert.deepEqual(new Uint8Array(fast.subarray(4)), reference);
          return;
        }
        assert.equal(
          fast.readUInt32LE(0),
          (0x80000000 | (fast.length - 4)) >>> 0,
          "length prefix with the out-of-band flag",
        );
        const parts = parseOutOfBandBody(fast.subarray(4));
        assert.deepEqual(new Uint8Array(parts.proto), reference);
        assert.deepEqual(
          parts.raw.map((r) => [...r]),
          args.attachments.map((a) => [...attachmentBytes(a)]),
        );
      },
    ),
    { numRuns: 500 },
  );
});

test("encodeExecuteFrame ends a stream call with stream_window (field 7) only when it is set", () => {
  const args = create(ValueSchema, { json: "{}" });
  const base = { callId: 1, command: "c", args, sessionId: "", timeoutMs: 0, stream: true };
  const without = encodeExecuteFrame(base);
  assert.deepEqual(encodeExecuteFrame({ ...base, streamWindow: 0 }), without, "0 is omitted");
  const withWindow = encodeExecuteFrame({ ...base, streamWindow: 300 });
  assert.deepEqual([...withWindow.subarray(withWindow.length - 3)], [0x38, 0xac, 0x02], "tag 7 varint, 300");
  assert.equal(withWindow.length, without.length + 3);
  const decoded = fromBinary(WorkerFrameSchema, withWindow.subarray(4));
  assert.equal(decoded.kind.case === "execute" && decoded.kind.value.streamWindow, 300);
});

test("decodeWorkerFrame reads results and stream items exactly as the generated decoder does", () => {
  const detail = fc.record({ code: u32, reason: text, message: text }).map((d) => create(ErrorDetailSchema, d));
  const response = fc.oneof(
    fc
      .tuple(u32, value)
      .map(([callId, v]) => create(ExecuteResponseSchema, { callId, outcome: { case: "result", value: v } })),
    fc
      .tuple(u32, detail)
      .map(([callId, d]) => create(ExecuteResponseSchema, { callId, outcome: { case: "error", value: d } })),
  );
  const item = fc.oneof(
    fc.tuple(u32, value).map(([callId, v]) => create(StreamItemSchema, { callId, kind: { case: "item", value: v } })),
    u32.map((callId) => create(StreamItemSchema, { callId, kind: { case: "end", value: true } })),
    fc.tuple(u32, detail).map(([callId, d]) => create(StreamItemSchema, { callId, kind: { case: "error", value: d } })),
  );
  const frame = fc.oneof(
    response.map((r) => create(WorkerFrameSchema, { kind: { case: "result", value: r } })),
    item.map((i) => create(WorkerFrameSchema, { kind: { case: "streamItem", value: i } })),
    u32.map((probeId) =>
      create(WorkerFrameSchema, { kind: { case: "healthReply", value: create(HealthResponseSchema, { probeId }) } }),
    ),
  );
  fc.assert(
    fc.property(frame, (f) => {
      const bytes = Buffer.from(toBinary(WorkerFrameSchema, f));
      const fast = decodeWorkerFrame(bytes);
      const reference = fromBinary(WorkerFrameSchema, bytes);
      // Compare as re-encoded bytes: equal messages serialize identically.
      assert.deepEqual(toBinary(WorkerFrameSchema, fast), toBinary(WorkerFrameSchema, reference));
      assert.equal(fast.kind.case, reference.kind.case);
    }),
    { numRuns: 500 },
  );
});

test("decodeWorkerFrame falls back on unknown fields and rejects garbage like the generated decoder", () => {
  // A result frame carrying an unknown field 9 inside the response: still decoded, via the fallback.
  const inner = Buffer.from([0x08, 0x05, 0x48, 0x01]); // call_id=5, field 9 varint 1
  const withUnknown = Buffer.concat([Buffer.from([0x1a, inner.length]), inner]);
  const decoded = decodeWorkerFrame(withUnknown);
  assert.equal(decoded.kind.case, "result");
  assert.equal(decoded.kind.case === "result" && decoded.kind.value.callId, 5);
  assert.throws(() => decodeWorkerFrame(Buffer.from([0x1a, 0x10, 0x08])));
});
