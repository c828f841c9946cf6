// Faults against real processes: kill -9 mid-call, crash loops, the host killed, timeouts
// and aborts that must reach the Python task, workers that ignore cancellation, oversized
// and malformed messages.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { connect } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  type Bridge,
  CancelledError,
  CrashLoopError,
  PayloadTooLargeError,
  TimeoutError,
  WorkerCrashedError,
  WorkerStartError,
  type WorkerEvent,
} from "../src/index.js";
import { fixturesDir, isAlive, readyWorkers, repoRoot, startPool, waitFor, waitForAsync } from "./helpers.js";

describe("a worker killed with SIGKILL in the middle of a call", () => {
  test("fails the caller promptly with WorkerCrashedError and the pool returns to N workers", async () => {
    const bridge = await startPool({ workers: 2 });
    try {
      const info = await bridge.execute<{ pid: number }>("worker_info", {}, { session: "victim" });
      const call = bridge.execute("sleep", { seconds: 30 }, { session: "victim", timeoutMs: 60_000 });
      await waitFor(
        () => bridge.stats().workers.some((w) => w.pid === info.pid && w.inFlight > 0),
        5_000,
        "the call to reach the worker",
      );
      const t0 = performance.now();
      process.kill(info.pid, "SIGKILL");
      await assert.rejects(call, (err: unknown) => {
        assert.ok(err instanceof WorkerCrashedError, `got ${String(err)}`);
        assert.match(err.message, /exited unexpectedly \(SIGKILL\)/);
        assert.equal(err.signal, "SIGKILL", "the fork server reported how the worker died");
        assert.equal(err.workerId, bridge.stats().workers.find((w) => w.pid === info.pid)?.id ?? err.workerId);
        return true;
      });
      assert.ok(performance.now() - t0 < 1_000, "reported promptly, not at the timeout");
      await waitFor(() => readyWorkers(bridge) === 2, 5_000, "the pool to return to 2 workers");
      const after = await bridge.execute<{ pid: number }>("worker_info", {}, { session: "victim" });
      assert.notEqual(after.pid, info.pid, "the session now runs on the replacement");
    } finally {
      await bridge.close();
    }
  });

  test("a worker that crashes itself (the crash command) is replaced too", async () => {
    const bridge = await startPool({ workers: 1 });
    try {
      await assert.rejects(bridge.execute("crash"), WorkerCrashedError);
      await waitFor(() => readyWorkers(bridge) === 1, 5_000, "the replacement");
      assert.deepEqual(await bridge.execute("ping"), { ok: true });
    } finally {
      await bridge.close();
    }
  });
});

describe("crash loops", () => {
  test("repeated crashes end in CrashLoopError, for pending and later calls", async () => {
    const bridge = await startPool({ workers: 1, restart: { maxRestarts: 2, initialDelayMs: 10, windowMs: 60_000 } });
    const events: WorkerEvent[] = [];
    bridge.on("worker", (e) => events.push(e));
    for (let i = 0; i < 3; i++) {
      await waitFor(() => readyWorkers(bridge) === 1 || bridge.status === "failed", 5_000, "a ready worker");
      await assert.rejects(bridge.execute("crash"), WorkerCrashedError);
    }
    await waitFor(() => bridge.status === "failed", 5_000, "the bridge to fail");
    await assert.rejects(bridge.execute("ping"), (err: unknown) => {
      assert.ok(err instanceof CrashLoopError);
      assert.match(err.message, /crashed 3 times/);
      assert.match(err.message, /maxRestarts/);
      return true;
    });
    assert.ok(events.some((e) => e.type === "crash_loop"));
    const restarts = events.filter((e) => e.type === "restarting").map((e) => e.detail);
    assert.equal(restarts.length, 2);
    assert.match(restarts[0]!, /in 10 ms/);
    assert.match(restarts[1]!, /in 20 ms/, "exponential backoff");
    await bridge.close();
  });

  test("a Python side that cannot start fails Bridge.start with WorkerStartError and its stderr", async () => {
    await assert.rejects(
      startPool({ workers: 2, modules: ["no_such_module_for_dspy_bridge_tests"] }),
      (err: unknown) => {
        assert.ok(err instanceof WorkerStartError, String(err));
        assert.match(err.message, /ModuleNotFoundError/);
        assert.match(err.message, /no_such_module_for_dspy_bridge_tests/);
        return true;
      },
    );
    await assert.rejects(startPool({ workers: 1, python: "/nonexistent/python3" }), WorkerStartError);
  });

  test("a Python side of another protocol version is refused at once with a WorkerStartError naming both", async () => {
    const started = performance.now();
    await assert.rejects(
      startPool({ workers: 2, modules: ["py_old_protocol"], pythonPath: [fixturesDir] }),
      (err: unknown) => {
        assert.ok(err instanceof WorkerStartError, String(err));
        assert.match(err.message, /the fork server was refused: it speaks worker protocol 1 and this host 3/);
        assert.match(err.message, /install matching versions/);
        return true;
      },
    );
    assert.ok(performance.now() - started < 8_000, "refused at its hello, not after a start-up timeout");
  });
});

describe("the host killed with SIGKILL", () => {
  test("leaves no Python process of the pool alive after 2 s (workers, fork server, grandchildren)", async () => {
    const host = spawn(process.execPath, [join(fixturesDir, "host-for-kill.mjs")], {
      cwd: join(repoRoot, "ts/test/fixtures"),
      stdio: ["ignore", "pipe", "inherit"],
    });
    // The fixture imports ../../dist: run it from its compiled location's sibling.
    const line = await new Promise<string>((resolve, reject) => {
      let buf = "";
      host.stdout!.on("data", (d: Buffer) => {
        buf += d.toString();
        if (buf.includes("\n")) resolve(buf.split("\n")[0]!);
      });
      host.on("exit", (code) => reject(new Error(`host exited early with ${code}`)));
    });
    const owned = JSON.parse(line) as { workers: number[]; grandchild: number; forkServer: number };
    const pids = [...owned.workers, owned.grandchild, owned.forkServer];
    for (const pid of pids) assert.ok(isAlive(pid), `pid ${pid} alive before the kill`);
    host.kill("SIGKILL");
    // Every process gone, or 2 s passed (the assertion below then names the survivors).
    await waitFor(() => !pids.some(isAlive), 2_000, "the host's processes to exit").catch(() => {});
    const survivors = pids.filter(isAlive);
    assert.deepEqual(survivors, [], `still alive 2 s after the host died: ${survivors.join(", ")}`);
  });
});

describe("deadlines and cancellation", () => {
  let bridge: Bridge;
  before(async () => {
    bridge = await startPool({ workers: 2, cancelGraceMs: 500 });
  });
  after(() => bridge.close());

  test("a timeout fails the call with TimeoutError and cancels the Python task", async () => {
    const t0 = performance.now();
    await assert.rejects(
      bridge.execute("sleep", { seconds: 10, probe: "t1" }, { session: "c", timeoutMs: 150 }),
      (err: unknown) => {
        assert.ok(err instanceof TimeoutError);
        assert.match(err.message, /150 ms/);
        return true;
      },
    );
    const ms = performance.now() - t0;
    assert.ok(ms >= 140 && ms < 1_000, `timed out after ${ms.toFixed(0)} ms`);
    await waitFor(() => bridge.stats().workers.every((w) => w.inFlight === 0), 2_000, "the task to end");
    assert.equal(await bridge.execute("cancellation_probe", { probe: "t1" }, { session: "c" }), "cancelled");
  });

  test("an AbortSignal fails the call with CancelledError and cancels the Python task", async () => {
    const controller = new AbortController();
    const call = bridge.execute("sleep", { seconds: 10, probe: "a1" }, { session: "c", signal: controller.signal });
    await waitForAsync(
      async () => (await bridge.execute("cancellation_probe", { probe: "a1" }, { session: "c" })) === "running",
      5_000,
      "the sleep to start in Python",
    );
    assert.equal(await bridge.execute("cancellation_probe", { probe: "a1" }, { session: "c" }), "running");
    controller.abort();
    await assert.rejects(call, CancelledError);
    await waitFor(() => bridge.stats().workers.every((w) => w.inFlight === 0), 2_000, "the task to end");
    assert.equal(await bridge.execute("cancellation_probe", { probe: "a1" }, { session: "c" }), "cancelled");
    const pre = new AbortController();
    pre.abort();
    await assert.rejects(bridge.execute("ping", {}, { signal: pre.signal }), CancelledError);
  });

  test("a worker that ignores cancellation past the hard deadline is killed and replaced", async () => {
    const events: WorkerEvent[] = [];
    const listener = (e: WorkerEvent) => events.push(e);
    bridge.on("worker", listener);
    const victim = await bridge.execute<{ pid: number }>("worker_info", {}, { session: "stubborn" });
    const bystander = bridge.execute("sleep", { seconds: 5 }, { session: "stubborn" });
    await assert.rejects(
      bridge.execute("ignore_cancel", { seconds: 30 }, { session: "stubborn", timeoutMs: 100 }),
      TimeoutError,
    );
    await assert.rejects(bystander, WorkerCrashedError, "calls sharing the killed worker learn why");
    await waitFor(() => events.some((e) => e.type === "killed"), 2_000, "the kill");
    assert.match(events.find((e) => e.type === "killed")!.detail, /ignored cancellation/);
    await waitFor(() => !isAlive(victim.pid), 2_000, "the stubborn worker to die");
    await waitFor(() => readyWorkers(bridge) === 2, 5_000, "the replacement");
    bridge.off("worker", listener);
  });
});

describe("message size limits", () => {
  test("a 64 MiB payload round-trips under the default limit", async () => {
    const bridge = await startPool({ workers: 1 });
    try {
      const big = new Uint8Array(64 * 1024 * 1024);
      for (let i = 0; i < big.length; i += 4096) big[i] = i % 251;
      const back = await bridge.execute<Uint8Array>("echo", { value: big });
      assert.equal(back.length, big.length);
      for (let i = 0; i < big.length; i += 4096) assert.equal(back[i], big[i]);
    } finally {
      await bridge.close();
    }
  });

  test("over a configured limit: refused with PayloadTooLargeError both ways; the pool keeps serving", async () => {
    const bridge = await startPool({ workers: 1, maxMessageBytes: 16 * 1024 * 1024 });
    try {
      await assert.rejects(bridge.execute("echo", { value: new Uint8Array(64 * 1024 * 1024) }), (err: unknown) => {
        assert.ok(err instanceof PayloadTooLargeError);
        assert.match(err.message, /maxMessageBytes/);
        return true;
      });
      await assert.rejects(bridge.execute("make_bytes", { size: 20 * 1024 * 1024 }), PayloadTooLargeError);
      assert.deepEqual(await bridge.execute("ping"), { ok: true });
    } finally {
      await bridge.close();
    }
  });
});

describe("malformed input on the worker socket", () => {
  test("connections without a valid hello are refused; the pool keeps serving", async () => {
    const refusals: string[] = [];
    const bridge = await startPool({
      workers: 1,
      onLog: (e) => {
        if (e.source === "host") refusals.push(e.line);
      },
    });
    try {
      const attempts: Buffer[] = [
        Buffer.from("GET / HTTP/1.1\r\n\r\n"), // garbage length prefix (huge)
        Buffer.concat([Buffer.from([5, 0, 0, 0]), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff])]), // undecodable frame
        Buffer.concat([Buffer.from([4, 0, 0, 0]), Buffer.from([0x22, 0x02, 0x78, 0x79])]), // hello with a wrong token
      ];
      for (const bytes of attempts) {
        await new Promise<void>((resolve) => {
          const sock = connect(bridge.workerSocketPath, () => sock.write(bytes));
          sock.on("close", () => resolve());
          sock.on("error", () => {});
        });
      }
      assert.equal(refusals.length, 3, refusals.join("\n"));
      assert.match(refusals.join("\n"), /wrong token|not hello|protocol error/);
      assert.deepEqual(await bridge.execute("ping"), { ok: true });
      assert.equal(readyWorkers(bridge), 1);
    } finally {
      await bridge.close();
    }
  });
});
