// A worker's calls to the host over its own connection (HostCall frames) against a real
// pool: variables read and written, typed errors, malformed calls, TypeScript tools with
// timeouts and cancellation, the gRPC fallback off the worker's loop, and a worker killed
// while the host serves its call.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Bridge, PayloadTooLargeError, WorkerCrashedError } from "../src/index.js";
import { fixturesDir, quietLogs } from "./helpers.js";

describe("host calls on the worker's connection", () => {
  let bridge: Bridge;
  before(async () => {
    bridge = await Bridge.start({ workers: 1, modules: ["py_host_calls"], pythonPath: [fixturesDir], healthIntervalMs: 0, ...quietLogs });
  });
  after(() => bridge.close());

  const hostCalls = () => bridge.stats().workers.reduce((n, w) => n + w.hostCalls, 0);

  test("reads and writes of variables take the connection, and see what TypeScript set", async () => {
    const s = await bridge.sessions.create({ id: "hc-vars" });
    await s.variables.define("temperature", "float", 0.7, { constraints: { min: 0, max: 2 } });
    await bridge.execute("route_read", { name: "temperature" }, { session: s.id }); // connects (over gRPC)
    const before = hostCalls();
    const read = await bridge.execute<{ on_connection: boolean; value: number; p50_us: number }>("route_read", { name: "temperature", reads: 50 }, { session: s.id });
    assert.equal(read.on_connection, true);
    assert.ok(hostCalls() - before >= 50, `the host served the 50 reads on the worker's connection (${hostCalls() - before})`);
    assert.equal(read.value, 0.7);
    await s.variables.set("temperature", 1.1);
    assert.equal((await bridge.execute<{ value: number }>("route_read", { name: "temperature" }, { session: s.id })).value, 1.1);
    assert.equal(await bridge.execute("route_write", { name: "temperature", value: 0.3 }, { session: s.id }), 0.3);
    assert.equal(await s.variables.get("temperature"), 0.3, "the worker's write is the store's");
  });

  test("off the worker's loop (a thread with its own loop) the same read takes gRPC", async () => {
    const s = await bridge.sessions.create({ id: "hc-thread" });
    await s.variables.define("n", "integer", 5);
    const before = hostCalls();
    const read = await bridge.execute<{ on_connection: boolean; value: number }>("route_read_in_thread", { name: "n", session_id: s.id }, { session: s.id });
    assert.deepEqual(read, { on_connection: false, value: 5 });
    assert.equal(hostCalls(), before, "nothing came over the worker's connection");
  });

  test("only a context with the worker's own secret, and not closed, takes the connection", async () => {
    const s = await bridge.sessions.create({ id: "hc-identity" });
    await s.variables.define("x", "integer", 1);
    const out = await bridge.execute<Record<string, unknown>>("route_identity", {}, { session: s.id });
    assert.deepEqual(out, { wrong_token: "AuthenticationError", own_route: true, closed_route: false, closed_call: "BridgeClosedError" });
  });

  test("typed errors come back typed; unknown and malformed calls get clear errors", async () => {
    const s = await bridge.sessions.create({ id: "hc-errors" });
    await s.variables.define("temperature", "float", 0.7, { constraints: { min: 0, max: 2 } });
    const errors = await bridge.execute<Record<string, string>>("route_errors", {}, { session: s.id });
    assert.match(errors.missing_connection!, /^NotFoundError: variable 'no_such_variable' not found/);
    assert.match(errors.bad_value_connection!, /temperature/);
    assert.equal(errors.missing_connection, errors.missing_grpc, "the same error as over gRPC");
    assert.equal(errors.bad_value_connection, errors.bad_value_grpc, "the same error as over gRPC");
    assert.match(errors.unknown_method!, /^InvalidArgumentError: 'NoSuchRpc' is not a unary RPC of the bridge service/);
    assert.match(errors.malformed!, /^InvalidArgumentError: a malformed GetVariables request/);
    assert.equal(errors.ping, "no error", "a well-formed raw call is served");
    assert.equal(await s.variables.get("temperature"), 0.7, "nothing was half-written");
    assert.equal((await bridge.execute<{ value: number }>("route_read", { name: "temperature" }, { session: s.id })).value, 0.7, "the worker still serves");
  });

  test("TypeScript tools: a result, a timeout and a cancellation, each reaching the tool", async () => {
    const aborted: string[] = [];
    bridge.tools.register("hc_add", async (args) => (args.a as number) + (args.b as number), {
      parameters: { a: { type: "number" }, b: { type: "number" } },
    });
    bridge.tools.register("hc_slow", async (_args, ctx) => {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 5_000);
        ctx.signal.addEventListener("abort", () => (clearTimeout(timer), aborted.push(String(ctx.signal.reason?.message ?? ctx.signal.reason)), resolve()));
      });
      return "finished";
    });
    const s = await bridge.sessions.create({ id: "hc-tools" });
    await bridge.execute("route_tool", { name: "hc_add", args: { a: 1, b: 1 } }, { session: s.id }); // the tool client connects
    const before = hostCalls();
    assert.deepEqual(await bridge.execute("route_tool", { name: "hc_add", args: { a: 2, b: 3 } }, { session: s.id }), { on_connection: true, result: 5 });
    assert.equal(hostCalls() - before, 1, "the tool call came over the worker's connection");
    const timedOut = await bridge.execute<{ error: string; in_flight: number }>("route_tool", { name: "hc_slow", args: {}, timeout: 0.2 }, { session: s.id });
    assert.equal(timedOut.error, "BridgeTimeoutError");
    assert.equal(timedOut.in_flight, 0);
    const cancelled = await bridge.execute<{ cancelled: boolean; in_flight: number }>("route_tool", { name: "hc_slow", args: {}, cancel_after: 0.2 }, { session: s.id });
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
    const bridge = await Bridge.start({ workers: 1, modules: ["py_host_calls"], pythonPath: [fixturesDir], healthIntervalMs: 0, bridgeService: false, ...quietLogs });
    try {
      const out = await bridge.execute<Record<string, string>>("route_raw_calls");
      for (const key of ["unknown_method", "malformed", "ping"]) {
        assert.match(out[key]!, /^FailedPreconditionError: the bridge service is disabled \(option bridgeService: false\)/, key);
      }
      assert.deepEqual(await bridge.execute("ping"), { ok: true }, "the worker serves on");
    } finally {
      await bridge.close();
    }
  });
});

describe("host calls and the message limit", () => {
  test("a response or a request over maxMessageBytes is a PayloadTooLargeError, and the worker serves on", async () => {
    const bridge = await Bridge.start({ workers: 1, modules: ["py_host_calls"], pythonPath: [fixturesDir], healthIntervalMs: 0, maxMessageBytes: 4096, ...quietLogs });
    try {
      const pid = bridge.stats().workers[0]!.pid;
      const s = await bridge.sessions.create({ id: "hc-limit" });
      await s.variables.define("big", "string", "x".repeat(6000));
      await s.variables.define("small", "string", "ok");
      await assert.rejects(bridge.execute("route_read", { name: "big" }, { session: s.id }), (err: unknown) => {
        assert.ok(err instanceof PayloadTooLargeError, String(err));
        assert.match((err as Error).message, /GetVariables response is \d+ bytes, over the message limit of 4096 bytes/);
        return true;
      });
      await assert.rejects(bridge.execute("route_write", { name: "small", value: "y", repeat: 6000 }, { session: s.id }), PayloadTooLargeError);
      assert.equal(await s.variables.get("small"), "ok", "the refused write changed nothing");
      assert.equal((await bridge.execute<{ value: string }>("route_read", { name: "small" }, { session: s.id })).value, "ok");
      assert.equal(bridge.stats().workers[0]!.pid, pid, "the same worker, never replaced");
    } finally {
      await bridge.close();
    }
  });
});
