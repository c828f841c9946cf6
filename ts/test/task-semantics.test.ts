// User commands run in a real asyncio Task of their own (python/tests/core/test_task_semantics.py
// checks every kind of command in detail): through a real Bridge, a user module's commands use
// asyncio.current_task(), asyncio.wait_for and asyncio.timeout (3.11+) and get the expected
// result or TimeoutError; the host's own deadline still cancels them promptly; and a worker
// whose own code fails is reported as a crash with its exit status and error, not as
// "exit code 0". Runs against the interpreter the Bridge picks (DSPY_BRIDGE_PYTHON to try
// another version).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Bridge, TimeoutError, WorkerCrashedError, type WorkerEvent } from "../src/index.js";
import { fixturesDir, quietLogs, waitFor } from "./helpers.js";

type Facts = { python: [number, number]; in_task: boolean; task_name: string | null; leaked: string };

describe("commands run in an asyncio Task", () => {
  let bridge: Bridge;
  let python: [number, number];
  const events: WorkerEvent[] = [];
  before(async () => {
    bridge = await Bridge.start({
      workers: 1,
      preload: [],
      modules: ["py_task_semantics"],
      pythonPath: [fixturesDir],
      healthIntervalMs: 0,
      ...quietLogs,
    });
    bridge.on("worker", (e) => events.push(e));
    python = (await bridge.execute<Facts>("task_info_sync")).python;
  });
  after(() => bridge.close());

  test("sync and async commands each run in a Task of their own, named after the command", async () => {
    for (const name of ["task_info_sync", "task_info_async"]) {
      const first = await bridge.execute<Facts>(name, { tag: `${name}-1` });
      assert.equal(first.in_task, true, `${name}: asyncio.current_task() is a Task (Python ${python.join(".")})`);
      assert.equal(first.task_name, name);
      const second = await bridge.execute<Facts>(name, { tag: `${name}-2` });
      assert.equal(second.leaked, "", "a context variable set by one call is not seen by the next");
    }
  });

  test("asyncio.wait_for inside a command: the result within its deadline, TimeoutError past it", async () => {
    assert.equal(await bridge.execute("deadline_wait_for", { seconds: 5, work: 0.01 }), "done");
    const err = await bridge.execute("deadline_wait_for", { seconds: 0.05, work: 5 }).then(
      () => assert.fail("expected a TimeoutError"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof TimeoutError, `got ${String(err)}`);
    assert.match(err.pythonType ?? "", /TimeoutError$/, "raised by the command's own deadline, in Python");
  });

  test("async with asyncio.timeout(...) inside a command (Python 3.11+)", async (t) => {
    if (python[0] === 3 && python[1] < 11) {
      t.skip(`asyncio.timeout is new in Python 3.11 (workers run ${python.join(".")})`);
      return;
    }
    assert.equal(await bridge.execute("deadline_timeout", { seconds: 5, work: 0.01 }), "done");
    const err = await bridge.execute("deadline_timeout", { seconds: 0.05, work: 5 }).then(
      () => assert.fail("expected a TimeoutError"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof TimeoutError, `got ${String(err)}`);
    assert.equal(err.pythonType, "TimeoutError");
  });

  test("a streaming command's own deadlines: items within them, then TimeoutError", async () => {
    const items: string[] = [];
    for await (const item of bridge.stream<string>("deadline_stream", { seconds: 5, works: [0.01, 0.02] }))
      items.push(item);
    assert.deepEqual(items, ["item after 0.01", "item after 0.02"]);
    const got: string[] = [];
    await assert.rejects(async () => {
      for await (const item of bridge.stream<string>("deadline_stream", { seconds: 0.05, works: [0.01, 5] }))
        got.push(item);
    }, TimeoutError);
    assert.deepEqual(got, ["item after 0.01"]);
  });

  test("the host's deadline still cancels a command waiting under its own, promptly, and the worker lives on", async () => {
    const pid = bridge.stats().workers[0]!.pid;
    const started = performance.now();
    await assert.rejects(
      bridge.execute("deadline_wait_for", { seconds: 30, work: 30 }, { timeoutMs: 100 }),
      TimeoutError,
    );
    assert.ok(performance.now() - started < 2_000, "failed at the host's deadline");
    await waitFor(() => bridge.stats().workers[0]!.inFlight === 0, 2_000, "the worker to answer the cancellation");
    assert.equal(bridge.stats().workers[0]!.pid, pid, "the cancelled task ended: nothing was killed");
    assert.equal(await bridge.execute("deadline_wait_for", { seconds: 5, work: 0 }), "done");
  });

  test("a worker whose own code fails is a crash with exit code 1 and the error, then is replaced", async () => {
    const err = await bridge.execute("break_the_worker_loop").then(
      () => assert.fail("expected a WorkerCrashedError"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof WorkerCrashedError, `got ${String(err)}`);
    assert.equal(err.exitCode, 1, err.message);
    assert.match(
      err.message,
      /exit code 1; fatal error: RuntimeError: the worker's own dispatch failed \(py_task_semantics\)/,
    );
    const crashed = events.find((e) => e.type === "crashed");
    assert.ok(crashed, "a crashed event");
    assert.match(crashed.detail, /exit code 1; fatal error: RuntimeError/);
    await waitFor(() => bridge.stats().workers.some((w) => w.state === "ready"), 10_000, "the replacement worker");
    assert.equal((await bridge.execute<Facts>("task_info_async")).in_task, true);
  });
});
