// Edge cases found in review: each test reproduces a failure that once happened.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  InvalidArgumentError,
  PayloadTooLargeError,
  PythonError,
  TimeoutError,
  type WorkerEvent,
} from "../src/index.js";
import { StreamSink } from "../src/stream-sink.js";
import { isAlive, readyWorkers, startPool, waitFor } from "./helpers.js";

describe("edge cases", () => {
  test("close() while a replacement worker is starting does not crash the host", async () => {
    const bridge = await startPool({ workers: 1, recycle: { maxRequests: 1 } });
    const closing = new Promise<void>((resolve) => {
      bridge.on("worker", (e) => {
        if (e.type === "starting") setImmediate(() => void bridge.close().then(resolve));
      });
    });
    await bridge.execute("ping");
    await closing;
    assert.equal(bridge.status, "closed");
  });

  test("an oversized command name or session id is refused before it reaches the worker; other calls are unharmed", async () => {
    const bridge = await startPool({ workers: 1, maxMessageBytes: 4096 });
    try {
      const bystander = bridge.execute("sleep", { seconds: 0.3 });
      await assert.rejects(bridge.execute("x".repeat(100_000)), PayloadTooLargeError);
      await assert.rejects(bridge.execute("ping", {}, { session: "s".repeat(100_000) }), PayloadTooLargeError);
      assert.equal(((await bystander) as { slept: number }).slept, 0.3);
      assert.equal(readyWorkers(bridge), 1);
    } finally {
      await bridge.close();
    }
  });

  test("a Python exception larger than the message limit still arrives as a typed error, shortened", async () => {
    const bridge = await startPool({ workers: 1, maxMessageBytes: 1024 * 1024 });
    try {
      const bystander = bridge.execute("sleep", { seconds: 0.3 });
      await assert.rejects(bridge.execute("fail", { message: "x", repeat: 2_000_000 }), (err: unknown) => {
        assert.ok(err instanceof PythonError);
        assert.match(err.message, /characters cut/);
        return true;
      });
      await bystander;
    } finally {
      await bridge.close();
    }
  });

  test("timeoutMs beyond what a timer can hold is refused instead of firing at once", async () => {
    const bridge = await startPool({ workers: 1 });
    try {
      await assert.rejects(bridge.execute("ping", {}, { timeoutMs: 30 * 24 * 3600 * 1000 }), InvalidArgumentError);
    } finally {
      await bridge.close();
    }
  });

  test("a blocking=True command that outlives its timeout gets its worker killed at the hard deadline", async () => {
    const bridge = await startPool({ workers: 1, cancelGraceMs: 300 });
    const events: WorkerEvent[] = [];
    bridge.on("worker", (e) => events.push(e));
    try {
      await assert.rejects(bridge.execute("block_in_thread", { seconds: 5 }, { timeoutMs: 100 }), TimeoutError);
      await waitFor(() => events.some((e) => e.type === "killed"), 3_000, "the hard-deadline kill");
      await waitFor(() => readyWorkers(bridge) === 1, 5_000, "the replacement");
    } finally {
      await bridge.close();
    }
  });

  test("children of a worker that crashed are killed with it", async () => {
    const bridge = await startPool({ workers: 1 });
    try {
      const child = await bridge.execute<number>("spawn_grandchild", { seconds: 60 }, { session: "c" });
      assert.ok(isAlive(child));
      await bridge.execute("crash", {}, { session: "c" }).catch(() => {});
      await waitFor(() => !isAlive(child), 3_000, "the worker's child to die");
    } finally {
      await bridge.close();
    }
  });

  test("a queued call that times out after its session was released leaves the queue", async () => {
    const bridge = await startPool({ workers: 1, concurrencyPerWorker: 1 });
    try {
      const running = bridge.execute("sleep", { seconds: 0.4 }, { session: "q" });
      const queued = bridge.execute("sleep", { seconds: 0.01, probe: "q2" }, { session: "q", timeoutMs: 100 });
      bridge.releaseSession("q");
      await assert.rejects(queued, TimeoutError);
      assert.equal(bridge.stats().queued, 0);
      await running;
      assert.equal(await bridge.execute("cancellation_probe", { probe: "q2" }), "", "the timed-out call never ran");
    } finally {
      await bridge.close();
    }
  });

  test("a stale DSPY_BRIDGE_TOKEN in the environment does not shadow the host's secret inside workers", async () => {
    const saved = process.env.DSPY_BRIDGE_TOKEN;
    process.env.DSPY_BRIDGE_TOKEN = "stale-token-stale-token-stale-token";
    try {
      const bridge = await startPool({ workers: 1, token: "the-real-secret-0123456789abcdef" });
      try {
        const reply = await bridge.execute<{ message: string }>("host_ping", { message: "ok" });
        assert.equal(reply.message, "ok");
      } finally {
        await bridge.close();
      }
    } finally {
      if (saved === undefined) delete process.env.DSPY_BRIDGE_TOKEN;
      else process.env.DSPY_BRIDGE_TOKEN = saved;
    }
  });

  test("return() on a stream settles every pending next()", async () => {
    let cancelled = 0;
    const sink = new StreamSink<number>(() => cancelled++);
    const a = sink.next();
    const b = sink.next();
    await sink.return();
    assert.deepEqual(await a, { value: undefined, done: true });
    assert.deepEqual(await b, { value: undefined, done: true });
    assert.equal(cancelled, 1);
  });
});
