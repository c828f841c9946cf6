// Large values on a worker's host calls (HostCall frames): session variables holding 16 MiB
// embeddings read, written and watched from Python, TypeScript tools called from Python with
// large bytes, a Python tool called from TypeScript with large bytes, streams of large
// chunks both ways; every one out of band (Python's arrays are read-only views of the frame);
// the message limit over each new path; and host calls whose attachment descriptors lie
// about their frame. Real host, real workers, real store.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Bridge, Tensor, type BridgeOptions } from "../src/index.js";
import { fixturesDir, quietLogs } from "./helpers.js";

const MiB = 1024 * 1024;
/** 16 MiB of float32. */
const N16 = (16 * MiB) / 4;

const pool = (options: BridgeOptions = {}) =>
  Bridge.start({
    workers: 1,
    modules: ["py_host_call_payload"],
    pythonPath: [fixturesDir],
    healthIntervalMs: 0,
    maxMessageBytes: 64 * MiB,
    // A 16 MiB value with its metadata is over the store's default value limit (16 MiB).
    store: { maxValueBytes: 64 * MiB, historyBytesLimit: 256 * MiB, sessionBytesLimit: 1024 * MiB },
    ...quietLogs,
    ...options,
  });

const sha = (v: ArrayBufferView): string =>
  createHash("sha256")
    .update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength))
    .digest("hex");

const ramp = (n: number, scale: number): Float32Array => {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = i * scale;
  return a;
};

interface Described {
  type: string;
  dtype?: string;
  shape?: number[];
  readonly?: boolean;
  owndata?: boolean;
  base?: string;
  sha?: string;
  first?: number;
  last?: number;
  on_connection?: boolean;
  error?: string;
}

/** A numpy array that is a read-only view of a received frame (not a copy out of protobuf). */
function assertFrameView(d: Described, what: string): void {
  assert.equal(d.type, "ndarray", `${what}: ${JSON.stringify(d)}`);
  assert.equal(d.readonly, true, `${what}: read-only`);
  assert.equal(d.owndata, false, `${what}: a view, not its own copy`);
  // Out of band the array views a memoryview of the frame; out of protobuf it would view bytes.
  assert.equal(d.base, "memoryview", `${what}: views the received frame`);
}

describe("session variables holding large embeddings, on the worker's connection", () => {
  let bridge: Bridge;
  before(async () => {
    bridge = await pool();
  });
  after(() => bridge.close());

  test("16 MiB written from TypeScript is read in Python as a float32 view of the frame", async () => {
    const s = await bridge.sessions.create({ id: "oob-ts-to-py" });
    const sent = ramp(N16, 0.25);
    await s.variables.define("emb", "embedding", sent);
    const got = await bridge.execute<Described>("read_variable", { name: "emb" }, { session: s.id });
    assert.equal(got.on_connection, true);
    assertFrameView(got, "the read");
    assert.equal(got.dtype, "float32");
    assert.deepEqual(got.shape, [N16]);
    assert.equal(got.sha, sha(sent), "the same bytes");
  });

  test("16 MiB written from Python is read in TypeScript unchanged", async () => {
    const s = await bridge.sessions.create({ id: "oob-py-to-ts" });
    await s.variables.define("emb", "embedding", new Float32Array(4));
    const out = await bridge.execute<{ sha: string; on_connection: boolean }>(
      "write_embedding",
      { name: "emb", n: N16, scale: 0.5 },
      { session: s.id },
    );
    assert.equal(out.on_connection, true);
    const value = await s.variables.get<Float32Array>("emb");
    assert.ok(value instanceof Float32Array, `a Float32Array, got ${Object.prototype.toString.call(value)}`);
    assert.equal(value.length, N16);
    assert.equal(value[N16 - 1], (N16 - 1) * 0.5);
    assert.equal(sha(value), out.sha, "the same bytes as Python's array");
    // Read back in Python: the value the host kept, out of band again.
    const back = await bridge.execute<Described>("read_variable", { name: "emb" }, { session: s.id });
    assertFrameView(back, "the read back");
    assert.equal(back.sha, out.sha);
  });

  test("several attachments in one request and one response: register, update, get, history", async () => {
    const s = await bridge.sessions.create({ id: "oob-many" });
    const n = MiB / 4;
    const out = await bridge.execute<{
      reg_a: Described;
      reg_b: Described;
      expected_a: string;
      expected_b: string;
      history: Described[];
    }>("register_and_update", { n }, { session: s.id });
    assertFrameView(out.reg_a, "reg_a");
    assertFrameView(out.reg_b, "reg_b");
    assert.equal(out.reg_a.sha, out.expected_a);
    assert.equal(out.reg_b.sha, out.expected_b);
    assert.equal(out.reg_b.dtype, "float64");
    assert.equal(out.history.length, 2);
    for (const h of out.history) assertFrameView(h, "a history entry");
    assert.equal(out.history[0]!.first, 3, "the newest version first (1.5 * 2)");
    assert.equal(out.history[1]!.first, 1.5);
    const a = await s.variables.get<Float32Array>("reg_a");
    assert.equal(a[n - 1], 3);
  });

  test("a watch delivers a 16 MiB change as a view, and the cache its watch keeps has it", async () => {
    const s = await bridge.sessions.create({ id: "oob-watch" });
    await s.variables.define("emb", "embedding", new Float32Array(4));
    const before = bridge.stats().workers[0]!.hostCalls;
    const watching = bridge.execute<{ updates: Described[]; cached: Described }>(
      "watch_variable",
      { name: "emb", min_size: N16 },
      { session: s.id },
    );
    // The command connects (GetSession, the session's cache watch), then opens its watch:
    // set the value once the host serves all three.
    for (let i = 0; i < 500 && bridge.stats().workers[0]!.hostCalls - before < 3; i++) await sleep(20);
    const sent = ramp(N16, 2);
    await s.variables.set("emb", sent);
    const out = await watching;
    assert.equal(out.updates.length, 1);
    assertFrameView(out.updates[0]!, "the watched change");
    assert.equal(out.updates[0]!.sha, sha(sent));
    assert.deepEqual(out.updates[0]!.shape, [N16]);
    assertFrameView(out.cached, "the cached value");
    assert.equal(out.cached.sha, sha(sent));
  });
});

describe("tools with large arguments and results", () => {
  let bridge: Bridge;
  before(async () => {
    bridge = await pool();
  });
  after(() => bridge.close());

  test("a TypeScript tool called from Python: 16 MiB of bytes each way", async () => {
    let received: Uint8Array | undefined;
    bridge.tools.register(
      "ts_reverse",
      async (args: Record<string, unknown>) => {
        received = args.data as Uint8Array;
        return Buffer.from(received).reverse();
      },
      { parameters: { type: "object", properties: { data: {} } } },
    );
    const s = await bridge.sessions.create({ id: "oob-ts-tool" });
    const out = await bridge.execute<{ type: string; len: number; sha: string; sent_sha: string }>(
      "call_ts_tool",
      { name: "ts_reverse", n: 16 * MiB },
      { session: s.id },
    );
    assert.ok(received instanceof Uint8Array);
    assert.equal(received.length, 16 * MiB);
    assert.equal(sha(received), out.sent_sha, "the tool got Python's bytes");
    assert.equal(out.type, "bytes");
    assert.equal(out.len, 16 * MiB);
    assert.equal(out.sha, sha(Buffer.from(received).reverse()), "Python got the tool's bytes");
  });

  test("a Python tool called from TypeScript: 16 MiB of bytes each way", async () => {
    const sent = new Uint8Array(16 * MiB);
    for (let i = 0; i < sent.length; i += 4099) sent[i] = i & 0xff;
    const got = await bridge.tools.call<Uint8Array>("reverse_bytes", { data: sent });
    assert.ok(got instanceof Uint8Array);
    assert.equal(got.length, sent.length);
    assert.equal(sha(got), sha(Buffer.from(sent).reverse()));
  });

  test("a streaming TypeScript tool yields 4 MiB chunks to Python, out of band", async () => {
    bridge.tools.register(
      "ts_chunks",
      async function* (args: Record<string, unknown>) {
        for (let i = 0; i < (args.count as number); i++) yield new Float32Array(MiB).fill(i);
      },
      { streaming: true, parameters: { type: "object", properties: { count: { type: "integer" } } } },
    );
    const out = await bridge.execute<{ items: Described[]; error?: string }>("stream_ts_tool", {
      name: "ts_chunks",
      args: { count: 4 },
    });
    assert.equal(out.error, undefined);
    assert.equal(out.items.length, 4);
    out.items.forEach((d, i) => {
      assertFrameView(d, `chunk ${i}`);
      assert.deepEqual([d.dtype, d.shape, d.first, d.last], ["float32", [MiB], i, i]);
    });
  });

  test("a Python command stream yields 16 MiB chunks to TypeScript", async () => {
    const seen: number[] = [];
    for await (const chunk of bridge.stream<Tensor>("stream_chunks", { n: N16, count: 3 })) {
      assert.ok(chunk instanceof Tensor, "a numpy array arrives as a Tensor");
      assert.deepEqual([chunk.dtype, chunk.shape], ["float32", [N16]]);
      const data = chunk.data as Float32Array;
      seen.push(data[0]!, data[N16 - 1]!);
    }
    assert.deepEqual(seen, [0, 0, 1, 1, 2, 2]);
  });
});

describe("the message limit and lying descriptors on host calls", () => {
  const LIMIT = 2 * MiB;
  let bridge: Bridge;
  before(async () => {
    bridge = await pool({ maxMessageBytes: LIMIT });
  });
  after(() => bridge.close());

  const overLimit = (text: string | undefined, what: RegExp): void => {
    assert.ok(text, "an error");
    assert.match(text!, /^PayloadTooLargeError: /);
    assert.match(text!, what);
    assert.match(text!, new RegExp(`over the message limit of ${LIMIT} bytes`));
  };

  test("a request over maxMessageBytes is refused before it leaves the worker, and by the host", async () => {
    const s = await bridge.sessions.create({ id: "oob-limit-request" });
    await s.variables.define("emb", "embedding", new Float32Array(4));
    const out = await bridge.execute<{ error?: string }>(
      "write_embedding",
      { name: "emb", n: LIMIT / 4 + 1 },
      { session: s.id },
    );
    overLimit(out.error, /the UpdateVariables request is \d+ bytes/);
    const host = await bridge.execute<{ error: string }>("oversized_host_call", { limit: LIMIT }, { session: s.id });
    overLimit(host.error, /the UpdateVariables request is \d+ bytes/);
    assert.equal((await s.variables.get<Float32Array>("emb")).length, 4, "nothing was written");
  });

  test("a response over maxMessageBytes (a variable, a tool's result, a tool's args) is refused typed", async () => {
    const s = await bridge.sessions.create({ id: "oob-limit-response" });
    await s.variables.define("big", "embedding", new Float32Array(LIMIT / 4 + 16));
    const read = await bridge.execute<Described>("read_variable", { name: "big" }, { session: s.id });
    overLimit(read.error, /the GetVariables response is \d+ bytes/);
    bridge.tools.register("ts_big_result", async () => new Uint8Array(LIMIT + 1), {
      parameters: { type: "object", properties: { data: {} } },
    });
    const result = await bridge.execute<{ error?: string }>(
      "call_ts_tool",
      { name: "ts_big_result", n: 16 },
      { session: s.id },
    );
    overLimit(result.error, /the CallTool response is \d+ bytes/);
    const args = await bridge.execute<{ error?: string }>(
      "call_ts_tool",
      { name: "ts_big_result", n: LIMIT + 1 },
      { session: s.id },
    );
    overLimit(args.error, /the CallTool request is \d+ bytes/);
    bridge.tools.register(
      "ts_big_items",
      async function* () {
        yield new Uint8Array(16);
        yield new Uint8Array(LIMIT + 1);
      },
      { streaming: true },
    );
    const streamed = await bridge.execute<{ items: unknown[]; error?: string }>("stream_ts_tool", {
      name: "ts_big_items",
    });
    assert.equal(streamed.items.length, 1);
    overLimit(streamed.error, /a StreamTool response is \d+ bytes/);
    assert.deepEqual(await bridge.execute("ping"), { ok: true }, "the worker serves on");
  });

  test("a host call whose descriptors lie about its frame is refused typed; host and worker serve on", async () => {
    const s = await bridge.sessions.create({ id: "oob-lies" });
    await s.variables.define("lied_to", "embedding", new Float32Array(64));
    const pid = bridge.stats().workers[0]!.pid;
    const out = await bridge.execute<Record<string, string>>("lying_host_calls", {}, { session: s.id });
    assert.match(out.index!, /^ProtocolError: .*UpdateVariables request's attachments .*points at attachment 5/);
    assert.match(out.length!, /^ProtocolError: .*says 264 bytes; attachment 0 holds 256/);
    assert.match(out.kind!, /^ProtocolError: .*unknown kind 77/);
    assert.match(out.no_frame!, /^ProtocolError: .*the frame holds 0/);
    assert.equal(out.honest, "ok");
    assert.equal(bridge.stats().workers[0]!.pid, pid, "the same worker, never replaced");
    assert.equal((await s.variables.get<Float32Array>("lied_to"))[63], 63, "only the honest write landed");
  });
});
