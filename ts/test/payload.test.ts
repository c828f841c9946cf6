// Large values across the worker connection: out-of-band attachments (bytes, typed arrays,
// tensors, long strings) in both directions, at and around every threshold, the message
// limit over the whole message, a worker killed mid-transfer, and frames that lie about
// their attachments. Real workers throughout; the frame-level tests feed real bytes.
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, connect, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { PayloadTooLargeError, Tensor, WorkerCrashedError, type Bridge } from "../src/index.js";
import { LONG_STRING_CHARS, encodeValue } from "../src/values/encode.js";
import { FrameReader } from "../src/transport/frame-codec.js";
import { FrameConnection } from "../src/transport/frame-connection.js";
import { encodeExecuteFrame, decodeWorkerFrame } from "../src/transport/fast-codec.js";
import {
  FramePieces,
  OUT_OF_BAND_FLAG,
  OutOfBandError,
  OutOfBandFrame,
  encodeOutOfBandFrame,
  outOfBandFrame,
  parseOutOfBandBody,
  resolveExternal,
} from "../src/transport/out-of-band.js";
import { AttachmentDescriptor_Kind, type AttachmentDescriptor } from "../src/gen/dspy_bridge/v1/values_pb.js";
import { fixturesDir, readyWorkers, startPool, waitFor } from "./helpers.js";

const KiB = 1024;
const MiB = 1024 * KiB;

function pattern(n: number, seed = 7): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

const bytesEqual = (a: ArrayBufferView, b: ArrayBufferView): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe("out-of-band attachments through a real worker", () => {
  let bridge: Bridge;
  before(async () => {
    bridge = await startPool({ workers: 1, modules: ["py_payload"], pythonPath: [fixturesDir] });
  });
  after(async () => {
    await bridge?.close();
  });

  test("bytes of every size around the thresholds come back identical", async () => {
    // 0, odd lengths, the 64 KiB gather threshold either side, several MiB.
    for (const n of [0, 1, 7, 4095, 64 * KiB - 1, 64 * KiB, 64 * KiB + 1, MiB + 3, 5 * MiB + 1]) {
      const sent = pattern(n, n);
      const got = await bridge.execute<Uint8Array>("echo", { value: sent });
      assert.ok(got instanceof Uint8Array, `${n}: a Uint8Array`);
      assert.equal(got.length, n);
      assert.ok(bytesEqual(got, sent), `${n} bytes come back unchanged`);
      const seen = await bridge.execute<{ type: string; len: number }>("describe", { value: sent });
      assert.deepEqual([seen.type, seen.len], ["bytes", n], "Python receives bytes");
    }
  });

  test("a worker keeps a large block it freed for the next large value (glibc's thresholds, set at start)", {
    skip: process.platform !== "linux" && "glibc's mallopt",
  }, async () => {
    // By default glibc unmaps an 8 MiB block as it is freed: the next value's pages fault in afresh.
    const released = await bridge.execute<number>("freed_block_released", { mib: 8 });
    assert.ok(released < MiB, `${released} bytes went back to the kernel`);
  });

  test("typed arrays, non-aligned views and tensors of every width", async () => {
    const backing = new ArrayBuffer(4 * 1001 + 8);
    const unaligned = new Uint8Array(backing, 3, 4001); // odd offset and length
    unaligned.set(pattern(4001));
    const f32 = new Float32Array(backing, 4, 1000); // aligned view into a shared buffer
    for (let i = 0; i < f32.length; i++) f32[i] = i / 3;
    const f64 = Float64Array.from({ length: 333 }, (_, i) => i * 1.5 - 7);
    const cases: [string, unknown][] = [
      ["unaligned bytes view", unaligned],
      ["Float32Array view", f32],
      ["Float64Array", f64],
      ["empty Float32Array", new Float32Array(0)],
      ["int8 tensor", new Tensor("int8", [3, 3], Int8Array.from([-128, -1, 0, 1, 127, 5, 6, 7, 8]))],
      ["int64 tensor", new Tensor("int64", [2, 2], BigInt64Array.from([-(2n ** 63n), -1n, 0n, 2n ** 63n - 1n]))],
      ["uint64 tensor", new Tensor("uint64", [3], BigUint64Array.from([0n, 1n, 2n ** 64n - 1n]))],
      ["float16 bits", new Tensor("float16", [2], Uint16Array.from([0x3c00, 0xc000]))],
      ["bool tensor", new Tensor("bool", [2, 2], Uint8Array.from([1, 0, 0, 1]))],
      ["zero-size tensor", new Tensor("float32", [0, 4], new Float32Array(0))],
      ["scalar tensor", new Tensor("float64", [], Float64Array.from([2.5]))],
    ];
    for (const [name, value] of cases) {
      const got = await bridge.execute("echo", { value });
      if (value instanceof Tensor) {
        assert.ok(got instanceof Tensor, name);
        assert.equal(got.dtype, value.dtype, name);
        assert.deepEqual(got.shape, value.shape, name);
        assert.ok(bytesEqual(got.data, value.data), `${name}: same elements`);
        assert.equal(got.data.byteOffset % got.data.BYTES_PER_ELEMENT, 0, `${name}: an aligned view`);
      } else {
        const v = value as ArrayBufferView;
        assert.equal((got as object).constructor, v.constructor, name);
        assert.ok(bytesEqual(got as ArrayBufferView, v), `${name}: same bytes`);
      }
    }
  });

  test("strings just below, at and above the long-string threshold, ASCII and not", async () => {
    for (const n of [0, LONG_STRING_CHARS - 1, LONG_STRING_CHARS, LONG_STRING_CHARS + 1, MiB + 1]) {
      for (const unit of ["a", "é", "😀", '\u0000"\\']) {
        const s = unit.repeat(Math.ceil(n / unit.length)).slice(0, n);
        const got = await bridge.execute<string>("echo", { value: s });
        assert.equal(got.length, s.length, `${n} × ${JSON.stringify(unit)}`);
        assert.ok(got === s, `${n} × ${JSON.stringify(unit)} comes back equal`);
      }
    }
    // A lone surrogate in a long string: not UTF-8, so it stays in the JSON (escaped).
    const lone = `${"x".repeat(LONG_STRING_CHARS)}\ud800`;
    assert.equal(await bridge.execute("echo", { value: lone }), lone);
    const seen = await bridge.execute<{ type: string; len: number; tail: string }>("describe", {
      value: "é".repeat(LONG_STRING_CHARS),
    });
    assert.deepEqual(seen, { type: "str", len: LONG_STRING_CHARS, head: "éééé", tail: "éééé" });
  });

  test("the long-string encoding is only used where asked (the worker connection)", () => {
    const long = "z".repeat(LONG_STRING_CHARS);
    assert.equal(encodeValue({ long }).attachments.length, 0, "by default (gRPC, stores) strings stay in the JSON");
    const oob = encodeValue({ long }, "args", { longStringAttachments: true });
    assert.equal(oob.attachments.length, 1);
    assert.equal(oob.attachments[0]!.kind.case, "utf8");
    assert.equal(
      encodeValue({ s: long.slice(1) }, "args", { longStringAttachments: true }).attachments.length,
      0,
      "one below the threshold",
    );
  });

  test("many attachments in one value, nested, keep their order", async () => {
    const value = {
      list: Array.from({ length: 50 }, (_, i) =>
        i % 3 === 0
          ? pattern(i * 100 + 1, i)
          : i % 3 === 1
            ? Float32Array.from([i, i + 0.5])
            : "q".repeat(LONG_STRING_CHARS + i),
      ),
      map: new Map<string, unknown>([["b", pattern(70 * KiB)]]),
    };
    const got = await bridge.execute<{ list: unknown[]; map: { b: Uint8Array } }>("echo", { value });
    assert.equal(got.list.length, 50);
    got.list.forEach((x, i) => {
      const want = value.list[i]!;
      if (typeof want === "string") assert.equal(x, want);
      else assert.ok(bytesEqual(x as ArrayBufferView, want as ArrayBufferView), `item ${i}`);
    });
    assert.ok(bytesEqual(got.map.b, value.map.get("b") as Uint8Array));
  });

  test("numpy arrays made in Python: dtypes and shapes, contiguous or not", async () => {
    const shapes: number[][] = [[], [0], [1], [5], [2, 3], [2, 3, 4], [1000, 17]];
    const dtypes = [
      "float32",
      "float64",
      "int8",
      "int16",
      "int32",
      "int64",
      "uint8",
      "uint16",
      "uint32",
      "uint64",
      "float16",
      "bool",
    ] as const;
    for (const dtype of dtypes) {
      for (const shape of shapes) {
        const got = await bridge.execute<Tensor>("numpy_array", { dtype, shape });
        assert.ok(got instanceof Tensor, `${dtype} ${shape}`);
        assert.equal(got.dtype, dtype);
        assert.deepEqual(got.shape, shape);
        const count = shape.reduce((a, b) => a * b, 1);
        assert.equal(got.data.length, count);
        if (count > 1 && dtype !== "float16" && dtype !== "bool") {
          const last = got.data[count - 1]!;
          const want =
            dtype === "int8"
              ? ((count - 1 + 128) % 256) - 128
              : dtype === "uint8"
                ? (count - 1) % 256
                : dtype === "int16"
                  ? ((count - 1 + 32768) % 65536) - 32768
                  : count - 1;
          assert.equal(Number(last), want, `${dtype} ${shape}: last element`);
        }
      }
    }
    const strided = await bridge.execute<Tensor<"float32">>("numpy_strided", { n: 100_001 });
    assert.deepEqual(strided.shape, [100_001]);
    assert.equal(strided.data[100_000], 200_000, "a non-contiguous array arrives in row-major order");
  });

  test("Python receives arrays as read-only numpy views, embeddings as float arrays", async () => {
    const seen = await bridge.execute<
      Record<string, { type: string; dtype: string; shape: number[]; sum: number; writeable: boolean }>
    >("describe", {
      value: {
        f: Float32Array.from([1, 2, 3]),
        t: new Tensor("int64", [2], BigInt64Array.from([5n, 6n])),
        big: new Float32Array(MiB).fill(1),
      },
    });
    assert.deepEqual(seen.f, { type: "ndarray", dtype: "float32", shape: [3], sum: 6, writeable: false });
    assert.deepEqual(seen.t, { type: "ndarray", dtype: "int64", shape: [2], sum: 11, writeable: false });
    assert.equal(seen.big!.sum, MiB);
  });

  test("stream items carry attachments out of band too", async () => {
    const items: { i: number; bytes: Uint8Array; floats: Tensor<"float32">; text: string }[] = [];
    for await (const item of bridge.stream<{ i: number; bytes: Uint8Array; floats: Tensor<"float32">; text: string }>(
      "chunks",
      { count: 4, size: LONG_STRING_CHARS + 5 },
    )) {
      items.push(item);
    }
    assert.equal(items.length, 4);
    for (const { i, bytes, floats, text } of items) {
      assert.equal(bytes.length, LONG_STRING_CHARS + 5);
      assert.ok(bytes.every((b) => b === i));
      assert.ok(floats instanceof Tensor && floats.data.every((f) => f === i), "a numpy array arrives as a Tensor");
      assert.equal(text, "é".repeat(LONG_STRING_CHARS + 5));
    }
  });
});

describe("the message limit covers the attachments", () => {
  test("arguments, results and long strings over maxMessageBytes fail typed; the connection keeps serving", async () => {
    const limit = MiB;
    const bridge = await startPool({ workers: 1, maxMessageBytes: limit });
    try {
      const pid = bridge.stats().workers[0]!.pid;
      for (const value of [new Uint8Array(limit + 1), new Float32Array(limit / 4 + 1), "s".repeat(limit + 1)]) {
        await assert.rejects(bridge.execute("echo", { value }), (err: unknown) => {
          assert.ok(err instanceof PayloadTooLargeError, `got ${String(err)}`);
          assert.match(err.message, /maxMessageBytes/);
          assert.equal(err.details["limit"], limit);
          return true;
        });
      }
      // Made in the worker: its limit refuses the result, the call fails typed.
      await assert.rejects(bridge.execute("make_bytes", { size: limit + 1 }), (err: unknown) => {
        assert.ok(err instanceof PayloadTooLargeError, `got ${String(err)}`);
        assert.match(err.message, /message limit of 1048576 bytes/);
        return true;
      });
      const fits = pattern(limit - 64 * KiB);
      assert.ok(
        bytesEqual(await bridge.execute<Uint8Array>("echo", { value: fits }), fits),
        "a value under the limit still crosses",
      );
      assert.equal(bridge.stats().workers[0]!.pid, pid, "the same worker, the same connection");
    } finally {
      await bridge.close();
    }
  });
});

describe("a worker killed mid-transfer", () => {
  test("the call fails with WorkerCrashedError and the pool recovers", async () => {
    const bridge = await startPool({ workers: 1 });
    try {
      const pid = bridge.stats().workers[0]!.pid!;
      const call = bridge.execute("echo", { value: new Float32Array(16 * MiB) });
      await waitFor(() => bridge.stats().workers[0]!.inFlight > 0, 5_000, "the transfer to start");
      process.kill(pid, "SIGKILL");
      await assert.rejects(call, WorkerCrashedError);
      await waitFor(() => readyWorkers(bridge) === 1, 10_000, "the replacement worker");
      const again = pattern(2 * MiB);
      assert.ok(bytesEqual(await bridge.execute<Uint8Array>("echo", { value: again }), again));
    } finally {
      await bridge.close();
    }
  });
});

describe("frames that lie about their attachments", () => {
  const descriptor = (index: number, length: number, kind = AttachmentDescriptor_Kind.BYTES): AttachmentDescriptor => ({
    $typeName: "dspy_bridge.v1.AttachmentDescriptor",
    index,
    kind,
    dtype: 0,
    shape: [],
    length: BigInt(length),
  });

  test("a layout that does not add up is refused", () => {
    const good = encodeOutOfBandFrame(Buffer.from("proto"), [pattern(3), pattern(9)]).subarray(4);
    assert.equal(parseOutOfBandBody(good).raw.length, 2);
    const bad = (mutate: (b: Buffer) => void): Buffer => {
      const b = Buffer.from(good);
      mutate(b);
      return b;
    };
    assert.throws(() => parseOutOfBandBody(Buffer.alloc(4)), OutOfBandError);
    assert.throws(
      () => parseOutOfBandBody(bad((b) => b.writeUInt32LE(0xffffffff, 4))),
      /announces 4294967295 attachments/,
    );
    assert.throws(() => parseOutOfBandBody(bad((b) => b.writeUInt32LE(1_000_000, 0))), /protobuf bytes/);
    assert.throws(() => parseOutOfBandBody(bad((b) => b.writeUInt32LE(2 ** 31, 12))), /runs past the end/);
    assert.throws(() => parseOutOfBandBody(bad((b) => b.writeUInt32LE(1, 12))), /after its last attachment/);
  });

  test("a large frame is written as pieces that view the attachments; joined, they are the one-buffer layout", () => {
    const big = pattern(300 * KiB);
    const small = pattern(5);
    const proto = Buffer.from("proto");
    const frame = outOfBandFrame(proto, [small, big]);
    assert.ok(frame instanceof FramePieces, "written as pieces");
    assert.ok(frame.pieces.includes(big), "the attachment itself, not a copy");
    const joined = Buffer.concat(frame.pieces);
    assert.equal(joined.length, frame.length);
    assert.ok(joined.equals(encodeOutOfBandFrame(proto, [small, big])), "the same bytes as one buffer");
    assert.ok(Buffer.isBuffer(outOfBandFrame(proto, [small])), "a small frame is one buffer (one write)");
  });

  test("descriptors pointing outside the frame or lying about lengths are refused", () => {
    const raw = [pattern(10)];
    assert.equal(resolveExternal([descriptor(0, 10)], raw).length, 1);
    assert.throws(() => resolveExternal([descriptor(1, 10)], raw), /points at attachment 1; the frame holds 1/);
    assert.throws(() => resolveExternal([descriptor(0, 11)], raw), /says 11 bytes; attachment 0 holds 10/);
    assert.throws(() => resolveExternal([descriptor(0, 10, 99 as AttachmentDescriptor_Kind)], raw), /unknown kind/);
    assert.throws(() => resolveExternal([descriptor(0, 10)], undefined), /the frame holds 0/);
  });

  test("the host's reader splits large, flagged and plain frames from any chunking", () => {
    const args = encodeValue(
      { a: pattern(200 * KiB), b: "x".repeat(LONG_STRING_CHARS), c: Float32Array.from([1, 2]) },
      "args",
      { longStringAttachments: true },
    );
    const big = encodeExecuteFrame({ callId: 9, command: "echo", args, sessionId: "", timeoutMs: 0, stream: false });
    assert.ok(big.readUInt32LE(0) >= OUT_OF_BAND_FLAG, "a frame with attachments is flagged");
    const small = encodeExecuteFrame({
      callId: 10,
      command: "ping",
      args: encodeValue({}),
      sessionId: "",
      timeoutMs: 0,
      stream: false,
    });
    assert.ok(small.readUInt32LE(0) < OUT_OF_BAND_FLAG, "a frame without attachments is as before");
    const stream = Buffer.concat([small, big, small, big]);
    for (const cut of [1, 3, 4096, 65536, 100_003]) {
      const reader = new FrameReader(16 * MiB);
      const frames = [];
      for (let p = 0; p < stream.length; p += cut)
        frames.push(...reader.push(Buffer.from(stream.subarray(p, p + cut))));
      assert.equal(frames.length, 4, `cut ${cut}`);
      const oob = frames[1] as OutOfBandFrame;
      assert.ok(oob instanceof OutOfBandFrame);
      const frame = decodeWorkerFrame(oob.proto, oob.raw);
      assert.equal(frame.kind.case, "execute");
      const got = frame.kind.value as { args: { attachments: { kind: { case: string; value: unknown } }[] } };
      assert.equal(got.args.attachments.length, 3);
      assert.ok(bytesEqual(got.args.attachments[0]!.kind.value as Uint8Array, pattern(200 * KiB)));
    }
  });

  test("a worker's result with lying descriptors is a protocol error: the host does not crash", async () => {
    const server = createServer();
    server.listen(0);
    await once(server, "listening");
    const port = (server.address() as { port: number }).port;
    const accepted = once(server, "connection");
    const client = connect(port);
    const [peer] = (await accepted) as [Socket];
    try {
      const errors: Error[] = [];
      const conn = new FrameConnection(client, 16 * MiB);
      const closed = new Promise<void>((resolve) => {
        conn.attach({
          onFrame: () => assert.fail("no frame is delivered"),
          onResult: () => assert.fail("no result is delivered"),
          onProtocolError: (e) => errors.push(e),
          onClose: resolve,
        });
      });
      // WorkerFrame{result: ExecuteResponse{call_id 1, result: Value{json "{}", external: [index 5,
      // kind bytes, length 4]}}}, in a frame that holds one attachment.
      const descriptorBytes = Buffer.from([0x08, 0x05, 0x10, 0x01, 0x28, 0x04]);
      const valueBytes = Buffer.concat([
        Buffer.from([0x0a, 0x02]),
        Buffer.from("{}"),
        Buffer.from([0x1a, descriptorBytes.length]),
        descriptorBytes,
      ]);
      const response = Buffer.concat([Buffer.from([0x08, 0x01, 0x12, valueBytes.length]), valueBytes]);
      const frame = Buffer.concat([Buffer.from([0x1a, response.length]), response]);
      peer.write(encodeOutOfBandFrame(frame, [pattern(4)]));
      await closed;
      assert.equal(errors.length, 1);
      assert.match(errors[0]!.message, /points at attachment 5; the frame holds 1/);
    } finally {
      peer.destroy();
      client.destroy();
      server.close();
    }
  });
});

describe("large answers read straight into their frames", () => {
  test("an adopted connection reads large, flagged and plain frames whatever the write boundaries; the server still counts it", async () => {
    const server = createServer({ pauseOnConnect: true });
    server.listen(0);
    await once(server, "listening");
    const port = (server.address() as { port: number }).port;
    const accepted = once(server, "connection");
    const client = connect(port);
    const conn = FrameConnection.adopt(((await accepted) as [Socket])[0], 16 * MiB);
    try {
      assert.ok(conn.readsDirect, "the accepted socket's handle reads into the frames (Node's onread)");
      const bodies: Buffer[] = [];
      const results: number[] = [];
      let allRead: () => void;
      const read = new Promise<void>((resolve) => (allRead = resolve));
      const closed = new Promise<void>((resolve) => {
        conn.attach({
          onFrame: (frame) => {
            assert.equal(frame.kind.case, "execute");
            const args = (
              frame.kind.value as { args: { json: string; attachments: { kind: { value: Uint8Array } }[] } }
            ).args;
            // A frame with an attachment (flagged), or a plain one whose JSON holds the string.
            bodies.push(Buffer.from(args.attachments[0]?.kind.value ?? JSON.parse(args.json).s));
            if (bodies.length === sizes.length) allRead();
          },
          onResult: (callId) => results.push(callId),
          onProtocolError: (e) => assert.fail(e),
          onClose: resolve,
        });
      });
      const plain = (callId: number): string => String.fromCharCode(97 + callId).repeat(100 * KiB);
      const frameWith = (callId: number, size: number): Buffer =>
        encodeExecuteFrame({
          callId,
          command: "echo",
          args: encodeValue(size ? { v: pattern(size, callId) } : { s: plain(callId) }, "args"),
          sessionId: "",
          timeoutMs: 0,
          stream: false,
        });
      // Sizes around the scratch (64 KiB) and the gather threshold, a 3 MiB frame, small ones
      // between, and (0) a large plain frame: a 100 KiB string in its JSON.
      const sizes = [10, 64 * KiB - 40, 64 * KiB, 0, 64 * KiB + 1, 3 * MiB, 5, 200 * KiB, 1];
      const stream = Buffer.concat(sizes.map((n, i) => frameWith(i + 1, n)));
      // Writes of odd sizes, each after the previous is read, so reads end mid-header and mid-frame.
      for (let p = 0, i = 0; p < stream.length; i++) {
        const n = [1, 3, 70_001, 4096, 1_000_003, 17][i % 6]!;
        await new Promise<void>((resolve) => client.write(stream.subarray(p, p + n), () => resolve()));
        p += n;
      }
      await read;
      sizes.forEach((n, i) =>
        assert.ok(bodies[i]!.equals(n ? pattern(n, i + 1) : Buffer.from(plain(i + 1))), `frame ${i + 1} (${n} bytes)`),
      );
      assert.deepEqual(results, []);
      client.end();
      await closed;
      // The server counted the connection on the socket that closed: close() completes.
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    } finally {
      client.destroy();
      conn.destroy();
      server.close();
    }
  });
});
