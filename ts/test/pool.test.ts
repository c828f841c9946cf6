// The worker pool against real Python workers: start, round trips, streams, affinity,
// queueing, recycling, drain and telemetry.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  Bridge,
  BridgeClosedError,
  InvalidArgumentError,
  PythonError,
  QueueFullError,
  UnknownCommandError,
  WorkerCrashedError,
  type CallEvent,
  type WorkerEvent,
} from "../src/index.js";
import { isAlive, readyWorkers, startPool, waitFor } from "./helpers.js";

describe("a pool of 4 workers", () => {
  let bridge: Bridge;
  before(async () => {
    bridge = await startPool({ workers: 4 });
  });
  after(() => bridge.close());

  test("starts 4 distinct, live Python processes, each in its own process group", async () => {
    const workers = bridge.stats().workers;
    assert.equal(workers.length, 4);
    assert.equal(readyWorkers(bridge), 4);
    const pids = new Set(workers.map((w) => w.pid));
    assert.equal(pids.size, 4);
    for (const pid of pids) assert.ok(isAlive(pid!), `worker pid ${pid} is alive`);
    const infos = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        bridge.execute<{ pid: number; pgid: number }>("worker_info", {}, { session: `s${i}` }),
      ),
    );
    for (const info of infos) assert.equal(info.pgid, info.pid, "worker leads its own process group");
    assert.equal(new Set(infos.map((i) => i.pid)).size, 4, "four sessions spread over four workers");
  });

  test("execute round trip returns the Python result", async () => {
    assert.deepEqual(await bridge.execute("ping"), { ok: true });
    assert.deepEqual(await bridge.execute("echo", { value: { a: [1, "two", null, true] } }), {
      a: [1, "two", null, true],
    });
  });

  test("stream round trip yields every item in order, then ends", async () => {
    const items: number[] = [];
    for await (const n of bridge.stream<number>("count", { n: 50 })) items.push(n);
    assert.deepEqual(
      items,
      Array.from({ length: 50 }, (_, i) => i),
    );
  });

  test("breaking out of a stream cancels it and the pool keeps serving", async () => {
    const items: number[] = [];
    for await (const n of bridge.stream<number>("count", { n: 1000, delay_ms: 5 })) {
      items.push(n);
      if (items.length === 3) break;
    }
    assert.deepEqual(items, [0, 1, 2]);
    await waitFor(
      () => bridge.stats().workers.every((w) => w.inFlight === 0),
      2_000,
      "the cancelled stream to finish in Python",
    );
    assert.deepEqual(await bridge.execute("ping"), { ok: true });
  });

  test("session affinity holds across 1,000 calls of several sessions", async () => {
    const sessions = ["alpha", "beta", "gamma", "delta", "epsilon"];
    const seen = new Map<string, Set<number>>();
    await Promise.all(
      Array.from({ length: 1000 }, async (_, i) => {
        const session = sessions[i % sessions.length]!;
        const info = await bridge.execute<{ pid: number; session_id: string }>("worker_info", {}, { session });
        assert.equal(info.session_id, session, "the worker sees the call's session id");
        if (!seen.has(session)) seen.set(session, new Set());
        seen.get(session)!.add(info.pid);
      }),
    );
    for (const [session, pids] of seen) assert.equal(pids.size, 1, `session ${session} ran on exactly one worker`);
    assert.ok(new Set([...seen.values()].map((s) => [...s][0])).size >= 2, "sessions are spread over workers");
  });

  test("many calls run concurrently inside one worker (asyncio)", async () => {
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: 100 }, () => bridge.execute("sleep", { seconds: 0.2 }, { session: "one-worker" })),
    );
    const ms = performance.now() - t0;
    assert.ok(ms < 2_000, `100 × 200 ms sleeps on one worker took ${ms.toFixed(0)} ms; serial would be 20,000 ms`);
  });

  test("an unknown command gets UnknownCommandError naming it; the pool keeps serving", async () => {
    await assert.rejects(bridge.execute("no_such_command"), (err: unknown) => {
      assert.ok(err instanceof UnknownCommandError);
      assert.match(err.message, /no_such_command/);
      return true;
    });
    assert.deepEqual(await bridge.execute("ping"), { ok: true });
  });

  test("wrong argument types and names get InvalidArgumentError naming the parameter", async () => {
    await assert.rejects(bridge.execute("sleep", { seconds: "soon" }), (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError);
      assert.equal(err.details.parameter, "seconds");
      assert.match(err.message, /seconds/);
      return true;
    });
    await assert.rejects(bridge.execute("sleep", { seconds: 0.01, nope: 1 }), (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError);
      assert.equal(err.details.parameter, "nope");
      return true;
    });
    await assert.rejects(bridge.execute("sleep", {}), (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError);
      assert.equal(err.details.parameter, "seconds");
      return true;
    });
    await assert.rejects(
      bridge.execute("count", { n: 3 }),
      InvalidArgumentError,
      "a streaming command called with execute()",
    );
    await assert.rejects(bridge.execute("ping", [] as unknown as Record<string, unknown>), InvalidArgumentError);
    assert.deepEqual(await bridge.execute("ping"), { ok: true });
  });

  test("a Python exception arrives with its type, message and traceback frames", async () => {
    await assert.rejects(bridge.execute("fail", { message: "bad thing", kind: "ValueError" }), (err: unknown) => {
      assert.ok(err instanceof PythonError);
      assert.equal(err.pythonType, "ValueError");
      assert.match(err.message, /bad thing/);
      const names = err.traceback.map((f) => f.name);
      assert.ok(names.includes("fail") && names.includes("_raise_nested"), `frames: ${names.join(", ")}`);
      const last = err.traceback[err.traceback.length - 1]!;
      assert.equal(last.name, "_raise_nested");
      assert.match(last.filename, /builtins\.py$/);
      assert.ok(last.lineno > 0);
      return true;
    });
  });
});

describe("telemetry", () => {
  test("every call reports latency, queue time and the worker that ran it", async () => {
    const bridge = await startPool({ workers: 2 });
    try {
      const events: CallEvent[] = [];
      bridge.on("call", (e) => events.push(e));
      await Promise.all(Array.from({ length: 20 }, () => bridge.execute("sleep", { seconds: 0.01 })));
      await bridge.execute("no_such_command").catch(() => {});
      assert.equal(events.length, 21);
      const ids = new Set(bridge.stats().workers.map((w) => w.id));
      for (const e of events.slice(0, 20)) {
        assert.equal(e.command, "sleep");
        assert.equal(e.ok, true);
        assert.ok(e.workerId && ids.has(e.workerId), `workerId ${e.workerId} is a pool worker`);
        assert.ok(e.latencyMs >= 10, `latency ${e.latencyMs} covers the 10 ms sleep`);
        assert.ok(e.queueMs >= 0 && e.queueMs <= e.latencyMs);
      }
      assert.equal(events[20]!.ok, false);
      assert.equal(events[20]!.reason, "unknown_command");
    } finally {
      await bridge.close();
    }
  });
});

describe("logs", () => {
  test("what Python prints reaches the onLog option and the log event, line by line", async () => {
    const viaOption: string[] = [];
    const bridge = await startPool({ workers: 1, onLog: (e) => viaOption.push(`${e.source}/${e.stream}: ${e.line}`) });
    try {
      const viaEvent: string[] = [];
      bridge.on("log", (e) => viaEvent.push(`${e.source}/${e.stream}: ${e.line}`));
      await bridge.execute("print_line", { text: "to stdout" });
      await bridge.execute("print_line", { text: "to stderr", stderr: true });
      await waitFor(() => viaEvent.length >= 2, 2_000, "two log lines");
      assert.deepEqual(viaEvent, ["python/stdout: to stdout", "python/stderr: to stderr"]);
      assert.ok(viaOption.includes("python/stderr: to stderr"));
    } finally {
      await bridge.close();
    }
  });
});

describe("backpressure", () => {
  test("a full queue refuses the call at once with QueueFullError; queued calls still complete", async () => {
    const bridge = await startPool({ workers: 1, concurrencyPerWorker: 1, maxQueue: 2 });
    try {
      const running = bridge.execute("sleep", { seconds: 0.3 });
      const queued = [bridge.execute("sleep", { seconds: 0.01 }), bridge.execute("sleep", { seconds: 0.01 })];
      const t0 = performance.now();
      await assert.rejects(bridge.execute("ping"), (err: unknown) => {
        assert.ok(err instanceof QueueFullError);
        assert.match(err.message, /queue is full/);
        return true;
      });
      assert.ok(performance.now() - t0 < 100, "refused immediately, not after waiting");
      await Promise.all([running, ...queued]);
      assert.equal(bridge.stats().queued, 0);
    } finally {
      await bridge.close();
    }
  });
});

describe("recycling", () => {
  test("workers are replaced after maxRequests without failing a call", async () => {
    const bridge = await startPool({ workers: 2, recycle: { maxRequests: 40 } });
    const events: WorkerEvent[] = [];
    bridge.on("worker", (e) => events.push(e));
    try {
      const firstPids = new Set(bridge.stats().workers.map((w) => w.pid));
      const results = await Promise.all(Array.from({ length: 300 }, () => bridge.execute("sleep", { seconds: 0.002 })));
      assert.equal(results.length, 300);
      const recycled = events.filter((e) => e.type === "recycling");
      assert.ok(recycled.length >= 2, `expected recycling, saw ${recycled.length}`);
      assert.match(recycled[0]!.detail, /maxRequests/);
      await waitFor(() => readyWorkers(bridge) === 2, 5_000, "two ready workers");
      const nowPids = bridge
        .stats()
        .workers.filter((w) => w.state === "ready")
        .map((w) => w.pid);
      assert.ok(
        nowPids.some((p) => !firstPids.has(p)),
        "new processes replaced the old ones",
      );
      for (const p of firstPids) await waitFor(() => !isAlive(p!), 3_000, `recycled worker ${p} to exit`);
    } finally {
      await bridge.close();
    }
  });
});

describe("health probes", () => {
  test("a worker whose event loop is blocked past healthTimeoutMs is killed and replaced", async () => {
    const bridge = await startPool({ workers: 1, healthIntervalMs: 100, healthTimeoutMs: 400 });
    const events: WorkerEvent[] = [];
    bridge.on("worker", (e) => events.push(e));
    try {
      const before = bridge.stats().workers[0]!.pid!;
      await assert.rejects(bridge.execute("block", { seconds: 30 }), (err: unknown) => {
        assert.ok(err instanceof WorkerCrashedError);
        assert.match(err.message, /health probe/);
        return true;
      });
      const killed = events.find((e) => e.type === "killed");
      assert.ok(killed, "a killed event");
      assert.match(killed.detail, /no answer to a health probe within 400 ms/);
      await waitFor(() => readyWorkers(bridge) === 1, 5_000, "the replacement");
      assert.notEqual(bridge.stats().workers[0]!.pid, before);
      assert.deepEqual(await bridge.execute("ping"), { ok: true });
    } finally {
      await bridge.close();
    }
  });

  test("health replies report resident memory; recycle.maxMemoryMb and recycle.maxAgeMs replace workers", async () => {
    const bridge = await startPool({ workers: 1, healthIntervalMs: 50, recycle: { maxMemoryMb: 1 } });
    const events: WorkerEvent[] = [];
    bridge.on("worker", (e) => events.push(e));
    try {
      await waitFor(() => events.some((e) => e.type === "recycling"), 3_000, "a memory recycle");
      assert.match(events.find((e) => e.type === "recycling")!.detail, /maxMemoryMb/);
      assert.deepEqual(await bridge.execute("ping"), { ok: true });
    } finally {
      await bridge.close();
    }
    const aged = await startPool({ workers: 1, healthIntervalMs: 50, recycle: { maxAgeMs: 200 } });
    const agedEvents: WorkerEvent[] = [];
    aged.on("worker", (e) => agedEvents.push(e));
    try {
      await waitFor(() => agedEvents.some((e) => e.type === "recycling"), 3_000, "an age recycle");
      assert.match(agedEvents.find((e) => e.type === "recycling")!.detail, /maxAgeMs/);
      await waitFor(() => readyWorkers(aged) === 1, 3_000, "the replacement");
      assert.deepEqual(await aged.execute("ping"), { ok: true });
    } finally {
      await aged.close();
    }
  });
});

describe("close", () => {
  test("drains in-flight calls, refuses new ones, and leaves no Python process", async () => {
    const bridge = await startPool({ workers: 2, closeGraceMs: 3_000 });
    const pids = [...bridge.stats().workers.map((w) => w.pid!), bridge.forkServerPid!];
    const inFlight = bridge.execute<{ slept: number }>("sleep", { seconds: 0.3 });
    await waitFor(() => bridge.stats().workers.some((w) => w.inFlight > 0), 5_000, "the call to reach a worker");
    const closing = bridge.close();
    await assert.rejects(bridge.execute("ping"), BridgeClosedError);
    assert.equal((await inFlight).slept, 0.3, "the in-flight call finished during the drain");
    await closing;
    assert.equal(bridge.status, "closed");
    for (const pid of pids) await waitFor(() => !isAlive(pid), 3_000, `pid ${pid} to exit`);
  });

  test("forces calls that outlive the grace period with BridgeClosedError", async () => {
    const bridge = await startPool({ workers: 1, closeGraceMs: 100 });
    const slow = assert.rejects(bridge.execute("sleep", { seconds: 10 }), BridgeClosedError);
    await waitFor(() => bridge.stats().workers.some((w) => w.inFlight > 0), 5_000, "the call to reach the worker");
    const t0 = performance.now();
    await bridge.close();
    await slow;
    assert.ok(performance.now() - t0 < 3_000);
  });
});

describe("options", () => {
  test("bad options get InvalidArgumentError naming the option", async () => {
    await assert.rejects(Bridge.start({ workers: 0 }), (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError);
      assert.match(err.message, /workers/);
      return true;
    });
  });

  test("with DSPy preloaded (the default) workers report the DSPy version", async () => {
    const bridge = await Bridge.start({ workers: 1, onLog: () => {}, healthIntervalMs: 0 });
    try {
      const info = await bridge.execute<{ pid: number }>("worker_info");
      assert.ok(info.pid > 0);
      const version = await bridge.execute<string>("dspy_version");
      assert.match(version, /^3\.4\./);
    } finally {
      await bridge.close();
    }
  });
});
