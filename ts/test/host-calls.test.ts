// A worker's calls to the host over its own connection (HostCall frames) against a real
// pool: variables read and written, typed errors, malformed calls, TypeScript tools with
// timeouts and cancellation, the gRPC fallback off the worker's loop, and a worker killed
// while the host serves its call.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { pathToFileURL } from "node:url";
import { Bridge, PayloadTooLargeError, WorkerCrashedError, type BridgeOptions } from "../src/index.js";
import { fixturesDir, quietLogs, repoRoot } from "./helpers.js";

/**
 * One worker serving the fixture's host-call commands. Nothing preloaded: none of them uses
 * DSPy or LiteLLM, and each of this file's pools then starts in a fraction of the time.
 */
const hostCallPool = (options: BridgeOptions = {}) =>
  Bridge.start({
    workers: 1,
    modules: ["py_host_calls"],
    pythonPath: [fixturesDir],
    preload: [],
    healthIntervalMs: 0,
    ...quietLogs,
    ...options,
  });

/** Every bridge-service call and stream the pool's workers have made on their connections. */
const hostCallsOf = (bridge: Bridge) => bridge.stats().workers.reduce((n, w) => n + w.hostCalls, 0);

describe("host calls on the worker's connection", () => {
  let bridge: Bridge;
  before(async () => {
    bridge = await hostCallPool();
  });
  after(() => bridge.close());

  const hostCalls = () => hostCallsOf(bridge);

  test("reads and writes of variables take the connection, and see what TypeScript set", async () => {
    const s = await bridge.sessions.create({ id: "hc-vars" });
    await s.variables.define("temperature", "float", 0.7, { constraints: { min: 0, max: 2 } });
    await bridge.execute("route_read", { name: "temperature" }, { session: s.id }); // connects (over gRPC)
    const before = hostCalls();
    const read = await bridge.execute<{ on_connection: boolean; value: number; p50_us: number }>(
      "route_read",
      { name: "temperature", reads: 50 },
      { session: s.id },
    );
    assert.equal(read.on_connection, true);
    assert.ok(
      hostCalls() - before >= 50,
      `the host served the 50 reads on the worker's connection (${hostCalls() - before})`,
    );
    assert.equal(read.value, 0.7);
    await s.variables.set("temperature", 1.1);
    assert.equal(
      (await bridge.execute<{ value: number }>("route_read", { name: "temperature" }, { session: s.id })).value,
      1.1,
    );
    assert.equal(await bridge.execute("route_write", { name: "temperature", value: 0.3 }, { session: s.id }), 0.3);
    assert.equal(await s.variables.get("temperature"), 0.3, "the worker's write is the store's");
  });

  test("off the worker's loop (a thread with its own loop) the same read takes gRPC", async () => {
    const s = await bridge.sessions.create({ id: "hc-thread" });
    await s.variables.define("n", "integer", 5);
    const before = hostCalls();
    const read = await bridge.execute<{ on_connection: boolean; value: number }>(
      "route_read_in_thread",
      { name: "n", session_id: s.id },
      { session: s.id },
    );
    assert.deepEqual(read, { on_connection: false, value: 5 });
    assert.equal(hostCalls(), before, "nothing came over the worker's connection");
  });

  test("only a context with the worker's own secret, and not closed, takes the connection", async () => {
    const s = await bridge.sessions.create({ id: "hc-identity" });
    await s.variables.define("x", "integer", 1);
    const out = await bridge.execute<Record<string, unknown>>("route_identity", {}, { session: s.id });
    assert.deepEqual(out, {
      wrong_token: "AuthenticationError",
      own_route: true,
      closed_route: false,
      closed_call: "BridgeClosedError",
    });
  });

  test("typed errors come back typed; unknown and malformed calls get clear errors", async () => {
    const s = await bridge.sessions.create({ id: "hc-errors" });
    await s.variables.define("temperature", "float", 0.7, { constraints: { min: 0, max: 2 } });
    const errors = await bridge.execute<Record<string, string>>("route_errors", {}, { session: s.id });
    assert.match(errors.missing_connection!, /^NotFoundError: variable 'no_such_variable' not found/);
    assert.match(errors.bad_value_connection!, /temperature/);
    assert.equal(errors.missing_connection, errors.missing_grpc, "the same error as over gRPC");
    assert.equal(errors.bad_value_connection, errors.bad_value_grpc, "the same error as over gRPC");
    assert.match(errors.unknown_method!, /^InvalidArgumentError: 'NoSuchRpc' is not an RPC of the bridge service/);
    assert.match(errors.malformed!, /^InvalidArgumentError: a malformed GetVariables request/);
    assert.equal(errors.ping, "no error", "a well-formed raw call is served");
    assert.equal(await s.variables.get("temperature"), 0.7, "nothing was half-written");
    assert.equal(
      (await bridge.execute<{ value: number }>("route_read", { name: "temperature" }, { session: s.id })).value,
      0.7,
      "the worker still serves",
    );
  });

  test("TypeScript tools: a result, a timeout and a cancellation, each reaching the tool", async () => {
    const aborted: string[] = [];
    bridge.tools.register("hc_add", async (args) => (args.a as number) + (args.b as number), {
      parameters: { a: { type: "number" }, b: { type: "number" } },
    });
    bridge.tools.register("hc_slow", async (_args, ctx) => {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 5_000);
        ctx.signal.addEventListener(
          "abort",
          () => (clearTimeout(timer), aborted.push(String(ctx.signal.reason?.message ?? ctx.signal.reason)), resolve()),
        );
      });
      return "finished";
    });
    const s = await bridge.sessions.create({ id: "hc-tools" });
    await bridge.execute("route_tool", { name: "hc_add", args: { a: 1, b: 1 } }, { session: s.id }); // the tool client connects
    const before = hostCalls();
    assert.deepEqual(await bridge.execute("route_tool", { name: "hc_add", args: { a: 2, b: 3 } }, { session: s.id }), {
      on_connection: true,
      result: 5,
    });
    assert.equal(hostCalls() - before, 1, "the tool call came over the worker's connection");
    const timedOut = await bridge.execute<{ error: string; in_flight: number }>(
      "route_tool",
      { name: "hc_slow", args: {}, timeout: 0.2 },
      { session: s.id },
    );
    assert.equal(timedOut.error, "BridgeTimeoutError");
    assert.equal(timedOut.in_flight, 0);
    const cancelled = await bridge.execute<{ cancelled: boolean; in_flight: number }>(
      "route_tool",
      { name: "hc_slow", args: {}, cancel_after: 0.2 },
      { session: s.id },
    );
    assert.equal(cancelled.cancelled, true);
    assert.equal(cancelled.in_flight, 0);
    for (let i = 0; i < 50 && aborted.length < 2; i++) await sleep(20);
    assert.equal(aborted.length, 2, `both abandoned calls aborted the tool's signal: ${JSON.stringify(aborted)}`);
  });

  test("a worker killed while the host serves its call: the tool's signal fires, the pool recovers", async () => {
    let signalled = false;
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    bridge.tools.register("hc_hang", async (_args, ctx) => {
      started();
      await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => ((signalled = true), resolve())));
      return null;
    });
    const s = await bridge.sessions.create({ id: "hc-kill" });
    const call = bridge.execute("route_tool", { name: "hc_hang", args: {} }, { session: s.id });
    await running;
    process.kill(bridge.stats().workers[0]!.pid!, "SIGKILL");
    await assert.rejects(call, WorkerCrashedError);
    for (let i = 0; i < 50 && !signalled; i++) await sleep(20);
    assert.ok(signalled, "the host cancelled what the dead worker had asked for");
    for (let i = 0; i < 200 && bridge.stats().workers[0]?.state !== "ready"; i++) await sleep(25);
    const s2 = await bridge.sessions.create({ id: "hc-after" });
    await s2.variables.define("x", "integer", 1);
    assert.equal((await bridge.execute<{ value: number }>("route_read", { name: "x" }, { session: s2.id })).value, 1);
  });
});

describe("host calls without the bridge service", () => {
  test("bridgeService: false refuses every call a worker makes on its connection", async () => {
    const bridge = await hostCallPool({ bridgeService: false });
    try {
      const out = await bridge.execute<Record<string, string>>("route_raw_calls");
      for (const key of ["unknown_method", "malformed", "ping"]) {
        assert.match(
          out[key]!,
          /^FailedPreconditionError: the bridge service is disabled \(option bridgeService: false\)/,
          key,
        );
      }
      assert.deepEqual(await bridge.execute("ping"), { ok: true }, "the worker serves on");
    } finally {
      await bridge.close();
    }
  });
});

describe("host calls and the message limit", () => {
  test("a response or a request over maxMessageBytes is a PayloadTooLargeError, and the worker serves on", async () => {
    const bridge = await hostCallPool({ maxMessageBytes: 4096 });
    try {
      const pid = bridge.stats().workers[0]!.pid;
      const s = await bridge.sessions.create({ id: "hc-limit" });
      await s.variables.define("big", "string", "x".repeat(6000));
      await s.variables.define("small", "string", "ok");
      await assert.rejects(bridge.execute("route_read", { name: "big" }, { session: s.id }), (err: unknown) => {
        assert.ok(err instanceof PayloadTooLargeError, String(err));
        assert.match(
          (err as Error).message,
          /GetVariables response is \d+ bytes, over the message limit of 4096 bytes/,
        );
        return true;
      });
      await assert.rejects(
        bridge.execute("route_write", { name: "small", value: "y", repeat: 6000 }, { session: s.id }),
        PayloadTooLargeError,
      );
      assert.equal(await s.variables.get("small"), "ok", "the refused write changed nothing");
      assert.equal(
        (await bridge.execute<{ value: string }>("route_read", { name: "small" }, { session: s.id })).value,
        "ok",
      );
      assert.equal(bridge.stats().workers[0]!.pid, pid, "the same worker, never replaced");
    } finally {
      await bridge.close();
    }
  });

  test("a streamed item over maxMessageBytes ends the stream with PayloadTooLargeError and the tool is closed", async () => {
    const bridge = await hostCallPool({ maxMessageBytes: 4096 });
    try {
      let closed = false;
      let pulledAfter = 0;
      let sentBig = false;
      bridge.tools.register(
        "hs_big",
        async function* () {
          try {
            yield "small";
            sentBig = true;
            yield "x".repeat(6000);
            pulledAfter++;
            yield "after";
          } finally {
            closed = true;
          }
        },
        { streaming: true },
      );
      const s = await bridge.sessions.create({ id: "hs-limit" });
      const out = await bridge.execute<{ items: string[]; error: string }>(
        "route_stream_tool",
        { name: "hs_big", args: {} },
        { session: s.id },
      );
      assert.deepEqual(out.items, ["small"]);
      assert.match(
        out.error,
        /^PayloadTooLargeError: a StreamTool response is \d+ bytes, over the message limit of 4096 bytes/,
      );
      assert.ok(sentBig);
      for (let i = 0; i < 50 && !closed; i++) await sleep(10);
      assert.ok(closed, "the tool's generator was closed (its finally ran), not left hanging");
      assert.equal(pulledAfter, 0, "nothing more was pulled from the tool");
      assert.deepEqual(await bridge.execute("ping"), { ok: true });
    } finally {
      await bridge.close();
    }
  });
});

describe("host streams on the worker's connection", () => {
  let bridge: Bridge;
  before(async () => {
    bridge = await hostCallPool();
  });
  after(() => bridge.close());

  const hostCalls = () => hostCallsOf(bridge);

  test("a worker's watch and its session's cache watch take the connection and see TypeScript's sets", async () => {
    const s = await bridge.sessions.create({ id: "hs-watch" });
    await s.variables.define("temperature", "float", 0.7);
    const before = hostCalls();
    const watching = bridge.execute<Record<string, unknown>>(
      "route_watch",
      { name: "temperature", updates: 2 },
      { session: s.id },
    );
    // The command opens its watch after connecting; set once the host serves both streams.
    for (let i = 0; i < 200 && hostCalls() - before < 3; i++) await sleep(10);
    await s.variables.set("temperature", 1.1);
    await s.variables.set("temperature", 1.5);
    const out = await watching;
    assert.equal(out.on_connection, true);
    assert.deepEqual(out.values, [1.1, 1.5]);
    assert.equal(out.cached, 1.5, "the cache, kept fresh by its own watch over the connection, has the last set");
    assert.equal(out.streams_before, 1, "the session's cache watch is a stream on the connection");
    assert.equal(out.streams_watching, 2, "and so is the variable watch");
    assert.equal(out.cache_watch_alive, true);
    assert.ok(
      hostCalls() - before >= 3,
      `GetSession, the cache watch and the variable watch came over the connection (${hostCalls() - before})`,
    );
  });

  test("a streaming TypeScript tool: every item, in order, over the connection", async () => {
    bridge.tools.register(
      "hs_count",
      async function* (args) {
        for (let i = 0; i < (args.n as number); i++) yield { i };
      },
      { streaming: true, parameters: { n: { type: "integer" } } },
    );
    const s = await bridge.sessions.create({ id: "hs-tool" });
    await bridge.execute("route_stream_tool", { name: "hs_count", args: { n: 1 } }, { session: s.id }); // the tool client connects
    const before = hostCalls();
    const out = await bridge.execute<{
      on_connection: boolean;
      items: { i: number }[];
      unary_in_flight: number;
      streams_left: number;
    }>("route_stream_tool", { name: "hs_count", args: { n: 500 } }, { session: s.id });
    assert.equal(out.on_connection, true);
    assert.deepEqual(
      out.items,
      Array.from({ length: 500 }, (_, i) => ({ i })),
    );
    assert.equal(hostCalls() - before, 1, "one StreamTool host call carried them");
    assert.equal(out.streams_left, 0, "the finished stream is gone from the worker's table");
    // The same through the session's SessionContext.tools.
    await bridge.execute("route_read", { name: "nothing" }, { session: s.id }).catch(() => {}); // the worker's context connects
    const viaSessionBefore = hostCalls();
    const viaSession = await bridge.execute<{ items: { i: number }[] }>(
      "route_stream_tool",
      { name: "hs_count", args: { n: 5 }, via_session: true },
      { session: s.id },
    );
    assert.deepEqual(
      viaSession.items,
      Array.from({ length: 5 }, (_, i) => ({ i })),
    );
    assert.equal(hostCalls() - viaSessionBefore, 1, "session.tools.stream took the connection too");
  });

  test("a slow consumer holds the tool back, and leaving early aborts the tool", async () => {
    let produced = 0;
    let aborted = false;
    bridge.tools.register(
      "hs_firehose",
      async function* (_args, ctx) {
        ctx.signal.addEventListener("abort", () => (aborted = true));
        for (let i = 0; i < 100_000 && !ctx.signal.aborted; i++) {
          produced++;
          yield i;
        }
      },
      { streaming: true },
    );
    const s = await bridge.sessions.create({ id: "hs-slow" });
    const out = await bridge.execute<{ items: number[]; streams_left: number }>(
      "route_stream_tool",
      { name: "hs_firehose", args: {}, take: 10, pause: 0.02 },
      { session: s.id },
    );
    assert.deepEqual(out.items, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (let i = 0; i < 50 && !aborted; i++) await sleep(20);
    assert.ok(aborted, "breaking out of the loop cancelled the TypeScript tool");
    // The window is 64 responses; the tool is let go half a window at a time as the consumer takes them.
    assert.ok(
      produced <= 64 + 10 + 2,
      `the tool waited for the consumer instead of running ahead (${produced} produced)`,
    );
    assert.equal(out.streams_left, 0, "the stream left early is gone from the worker's table");
  });

  test("a tool's error ends the stream typed; mismatched stream flags are refused", async () => {
    bridge.tools.register(
      "hs_fails",
      async function* () {
        yield 1;
        throw new Error("the tool broke");
      },
      { streaming: true },
    );
    const s = await bridge.sessions.create({ id: "hs-errors" });
    const out = await bridge.execute<{ items: number[]; error: string }>(
      "route_stream_tool",
      { name: "hs_fails", args: {} },
      { session: s.id },
    );
    assert.deepEqual(out.items, [1]);
    assert.match(out.error, /the tool broke/);
    const mismatch = await bridge.execute<Record<string, string>>("route_stream_mismatch", {}, { session: s.id });
    assert.match(
      mismatch.unary_as_stream!,
      /^InvalidArgumentError: 'GetSession' is a unary RPC: send it without stream/,
    );
    assert.match(
      mismatch.stream_as_unary!,
      /^InvalidArgumentError: 'Watch' streams its responses: send it with stream set/,
    );
    assert.deepEqual(await bridge.execute("ping"), { ok: true }, "the worker serves on");
  });

  test("a worker killed mid-stream: the tool's signal fires and the pool recovers", async () => {
    let aborted = false;
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    bridge.tools.register(
      "hs_forever",
      async function* (_args, ctx) {
        ctx.signal.addEventListener("abort", () => (aborted = true));
        started();
        while (!ctx.signal.aborted) {
          yield "tick";
          await sleep(10);
        }
      },
      { streaming: true },
    );
    const s = await bridge.sessions.create({ id: "hs-kill" });
    const call = bridge.execute("route_stream_tool", { name: "hs_forever", args: {} }, { session: s.id });
    await running;
    process.kill(bridge.stats().workers[0]!.pid!, "SIGKILL");
    await assert.rejects(call, WorkerCrashedError);
    for (let i = 0; i < 50 && !aborted; i++) await sleep(20);
    assert.ok(aborted, "the host cancelled the dead worker's stream");
    for (let i = 0; i < 200 && bridge.stats().workers[0]?.state !== "ready"; i++) await sleep(25);
    assert.deepEqual(await bridge.execute("ping"), { ok: true });
  });
});

describe("host streams while a shared store is unreachable", () => {
  test("a worker's watches retry a StoreUnavailableError on the connection and carry on once Redis is back", async () => {
    const { startRedis } = (await import(pathToFileURL(join(repoRoot, "scripts/redis.mjs")).href)) as {
      startRedis(): Promise<{
        url: string;
        restart(o?: { kill?: boolean; downMs?: number }): Promise<void>;
        stop(): Promise<void>;
      }>;
    };
    const server = await startRedis();
    const bridge = await hostCallPool({ store: `${server.url}?prefix=hs-outage:` });
    try {
      const s = await bridge.sessions.create({ id: "hs-outage" });
      await s.variables.define("temperature", "float", 0.5);
      await bridge.execute("route_read", { name: "temperature" }, { session: s.id }); // the worker's context and its cache watch
      const outage = server.restart({ kill: true, downMs: 1_500 });
      await sleep(200);
      // Opened while Redis is down: the host answers StoreUnavailableError, and the watch retries.
      const watching = bridge.execute<Record<string, unknown>>(
        "route_watch",
        { name: "temperature", updates: 1 },
        { session: s.id, timeoutMs: 30_000 },
      );
      await outage;
      let done = false;
      void watching.finally(() => (done = true)).catch(() => {});
      // The watch resumes from "now": keep setting until it has seen a change.
      for (let v = 1; !done && v < 300; v++) {
        await s.variables.set("temperature", v / 100).catch(() => {}); // refused while the store reconnects
        await sleep(50);
      }
      const out = await watching;
      assert.equal(out.on_connection, true);
      assert.equal((out.values as number[]).length, 1);
      assert.ok((out.watch_reconnects as number) >= 1, `the variable watch retried (${String(out.watch_reconnects)})`);
      assert.equal(out.cache_watch_alive, true, "the session's cache watch is still running");
      assert.equal(typeof out.cached, "number");
    } finally {
      await bridge.close();
      await server.stop();
    }
  });
});
