// Busy polling: the host's BusyPoll driver and per-connection windows on the real event
// loop (adaptation judged with an injected clock, so no assertion depends on how fast this
// machine is right now), the option's check, and pools with it on and off.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Bridge, InvalidArgumentError } from "../src/index.js";
import type { ForkServer } from "../src/pool/fork-server.js";
import {
  BusyPoll,
  competingTasks,
  CpuContention,
  LOW_NICE,
  procSignals,
  taskState,
  type ContentionSignals,
} from "../src/transport/busy-poll.js";
import { startPool } from "./helpers.js";

const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

/**
 * A 2-CPU machine's figures as the test sets them: the loop thread's total wait for a CPU
 * (ns) and the tasks runnable now (2: the host and one worker, both spinning).
 */
function machine() {
  const m = { waitedNs: 0, runnable: 2, cpus: 2 };
  const signals: ContentionSignals = { cpuWaitNs: () => m.waitedNs, runnableTasks: () => m.runnable, cpus: 2 };
  return { m, signals };
}

/** A driver on a clock that moves only when the test says so (ms), on a machine that is quiet unless a test says not. */
function frozen(limitUs: number) {
  const clock = { t: 1_000 };
  const { m, signals } = machine();
  return { clock, cpu: m, poll: new BusyPoll(limitUs, () => clock.t, signals) };
}

describe("BusyPoll", () => {
  test("a lone flush keeps the loop turning, timers still fire, and the answer ends it", async () => {
    const { poll } = frozen(100);
    const conn = poll.connection();
    conn.sent(1);
    assert.ok(poll.isSpinning);
    await turns(10);
    await sleep(2);
    assert.ok(poll.isSpinning, "the clock has not moved: still inside the window");
    conn.received();
    await turns(2);
    assert.ok(!poll.isSpinning, "the answer came: nothing more to wait for");
  });

  test("on the real clock the spin ends when the window has passed", async () => {
    const poll = new BusyPoll(10_000);
    poll.connection().sent(1);
    assert.ok(poll.isSpinning);
    await sleep(60);
    assert.ok(!poll.isSpinning, "10 ms window, 60 ms later");
  });

  test("a batch starts nothing, and leaves another connection's wait alone", async () => {
    const { poll } = frozen(100);
    const a = poll.connection();
    const b = poll.connection();
    b.sent(5);
    assert.ok(!poll.isSpinning, "a batch of frames means the loop is busy anyway");
    a.sent(1);
    b.sent(3);
    await turns(3);
    assert.ok(poll.isSpinning, "a is still waiting for its answer");
    b.sent(1);
    a.received();
    await turns(3);
    assert.ok(poll.isSpinning, "b is still waiting for its answer");
    b.received();
    await turns(2);
    assert.ok(!poll.isSpinning);
  });

  test("late answers shrink a connection's window to zero; quick ones grow it back", async () => {
    const { clock, poll } = frozen(100);
    const conn = poll.connection();
    const exchange = (waitedUs: number) => {
      conn.sent(1);
      clock.t += waitedUs / 1000;
      conn.received();
      return conn.window;
    };
    assert.equal(exchange(150), 100, "within twice the limit: stays on");
    assert.deepEqual(
      [300, 300, 300, 300].map(exchange),
      [50, 25, 12.5, 0],
      "later than twice the limit: halved, then off",
    );
    await turns(2); // the earlier exchanges' chains see their answers and end
    conn.sent(1);
    assert.ok(!poll.isSpinning, "a zero window spins nothing");
    clock.t += 0.5;
    conn.received();
    assert.equal(conn.window, 0, "a slow answer leaves it off");
    assert.deepEqual([150, 150, 150, 150].map(exchange), [25, 50, 100, 100], "quick answers double it up to the limit");
    assert.equal(exchange(10), 100, "an answer inside the window changes nothing");
  });

  test("windows are per connection", () => {
    const { clock, poll } = frozen(100);
    const slow = poll.connection();
    const quick = poll.connection();
    slow.sent(1);
    quick.sent(1);
    clock.t += 0.01;
    quick.received();
    clock.t += 1;
    slow.received();
    assert.equal(slow.window, 50);
    assert.equal(quick.window, 100);
  });

  test("stop() ends a spin for good; a zero limit never spins", async () => {
    const { poll } = frozen(100);
    poll.connection().sent(1);
    poll.stop();
    await turns(2);
    assert.ok(!poll.isSpinning);
    poll.connection().sent(1);
    assert.ok(!poll.isSpinning, "stopped");
    const off = new BusyPoll(0);
    off.connection().sent(1);
    assert.ok(!off.isSpinning);
  });
});

describe("standing aside when the machine has no CPU to spare", () => {
  /**
   * A CpuContention on an injected clock and machine; `run(ms, share, runnable)` spins for
   * `ms`, checking every ms, the thread waiting `share` of the time while `runnable` tasks
   * are runnable; it says whether polling was told to stand aside.
   */
  function contention() {
    const clock = { t: 1_000 };
    const { m, signals } = machine();
    const c = new CpuContention(signals);
    const run = (ms: number, share: number, runnable: number): boolean => {
      m.runnable = runnable;
      for (let i = 0; i < ms; i++) {
        clock.t += 1;
        m.waitedNs += share * 1e6;
        if (c.check(clock.t)) return true;
      }
      return false;
    };
    return { clock, m, c, run };
  }

  test("an idle machine keeps polling: two spinners on two CPUs, even stacked on one for a while", () => {
    const { clock, c, run } = contention();
    assert.equal(run(10_000, 0, 2), false, "the host and a worker spinning, each on its CPU: neither waits");
    assert.equal(run(10_000, 0.05, 3), false, "a passing third task that costs little waiting");
    assert.equal(
      run(10_000, 0.45, 2),
      false,
      "both on one CPU with the other idle: waiting, but not for want of a CPU",
    );
    assert.ok(!c.holding(clock.t));
  });

  test("a CPU-bound neighbour stands polling aside for a hold; probes double it; a quiet machine brings polling back", () => {
    const { clock, c, run } = contention();
    assert.equal(run(10, 0.4, 3), false, "the first sample is only a baseline");
    assert.equal(run(100, 0.4, 3), true, "three runnable on two CPUs, and the spinner waits 40% of the time");
    const heldAt = clock.t;
    assert.ok(c.holding(heldAt + 999) && !c.holding(heldAt + 1_000), "held for 1 s");
    clock.t = heldAt + 1_000;
    assert.equal(run(100, 0.4, 3), true, "the probe after the hold: still contended");
    const probedAt = clock.t;
    assert.ok(c.holding(probedAt + 1_999) && !c.holding(probedAt + 2_000), "held for 2 s this time");
    for (const ms of [4_000, 8_000, 8_000]) {
      clock.t += 10_000;
      run(100, 0.4, 3);
      assert.ok(c.holding(clock.t + ms - 1) && !c.holding(clock.t + ms), `then ${ms} ms, at most 8 s`);
    }
    clock.t += 10_000;
    assert.equal(run(1_000, 0, 2), false, "the neighbour is gone: the probe finds the machine quiet and polling stays");
    assert.equal(run(100, 0.4, 3), true, "contended again later");
    assert.ok(c.holding(clock.t + 999) && !c.holding(clock.t + 1_000), "a clean interval reset the hold to 1 s");
  });

  test("an interval with a gap in it (no spinning for a while) is not judged, only a new baseline", () => {
    const { clock, m, c } = contention();
    m.runnable = 3;
    c.check(clock.t);
    clock.t += 500; // a throughput burst in between: own host and workers filled the CPUs, nothing spun
    m.waitedNs += 400e6;
    assert.equal(c.check(clock.t), false);
    clock.t += 25;
    assert.equal(c.check(clock.t), false, "judged on the 25 ms since, in which nothing waited");
    clock.t += 25;
    m.waitedNs += 10e6;
    assert.equal(c.check(clock.t), true, "then 10 ms of 25 waiting: contended");
  });

  test("missing figures (not Linux): polling never stands aside", () => {
    let reads = 0;
    const noWait = new CpuContention({
      cpuWaitNs: () => {
        reads++;
        return undefined;
      },
      runnableTasks: () => 99,
      cpus: 2,
    });
    for (let t = 0; t < 1_000; t++) assert.equal(noWait.check(t), false);
    assert.equal(reads, 1, "asked once, then never again");
    let waited = 0;
    const noCount = new CpuContention({ cpuWaitNs: () => (waited += 20e6), runnableTasks: () => undefined, cpus: 2 });
    for (let t = 0; t < 1_000; t++) assert.equal(noCount.check(t), false);
  });

  /** A task's /proc stat line: pid, (name), state, then fields 4-18, nice (19) and the rest. */
  const statLine = (tid: number, name: string, state: string, nice: number) =>
    `${tid} (${name}) ${state} 1 ${tid} ${tid} 0 -1 4194560 100 0 0 0 10 5 0 0 ${20 + nice} ${nice} 1 0 100 0 0\n`;

  test("batch jobs at nice 10 or more are not counted: runnable tasks of a /proc counted one by one", () => {
    const root = mkdtempSync(join(tmpdir(), "dspy-bridge-proc-"));
    try {
      const task = (pid: number, tid: number, name: string, state: string, nice: number) => {
        mkdirSync(join(root, String(pid), "task", String(tid)), { recursive: true });
        writeFileSync(join(root, String(pid), "task", String(tid), "stat"), statLine(tid, name, state, nice));
      };
      task(100, 100, "node", "R", 0); // the host, spinning
      task(100, 101, "node worker", "S", 0); // one of its threads, asleep
      task(200, 200, "python3 (a) b", "R", 0); // a worker, spinning; a name with spaces and parentheses
      task(300, 300, "batch", "R", 19); // niced batch jobs: weigh 15 and 110 against 1024
      task(301, 301, "batch", "R", 10);
      mkdirSync(join(root, "self")); // not a process
      assert.equal(competingTasks(root, Infinity), 2, "the host and the worker; the niced jobs do not count");
      task(400, 400, "make", "R", 9); // nice 9 still takes a CPU's worth beside a spinner
      assert.equal(competingTasks(root, Infinity), 3);
      task(500, 500, "gone", "R", 0);
      rmSync(join(root, "500", "task", "500", "stat"));
      assert.equal(competingTasks(root, Infinity), 3, "a task that exited while it was counted is skipped");
      assert.equal(competingTasks(join(root, "missing")), undefined, "no /proc: no figure");
      assert.equal(
        competingTasks(root, -1),
        undefined,
        "a count past its budget gives no figure (loadavg's count is used)",
      );
      assert.deepEqual(taskState(statLine(7, ") R (", "S", -5)), { state: "S", nice: -5 });
      assert.equal(taskState("garbage"), undefined);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test("on Linux a process at nice 19 is runnable but not competing", async () => {
    if (process.platform !== "linux") return;
    const child = spawn("nice", ["-n", "19", process.execPath, "-e", "for (;;) {}"], { stdio: "ignore" });
    try {
      let task: ReturnType<typeof taskState>;
      const deadline = performance.now() + 10_000;
      do {
        await sleep(10);
        const stat = existsSync(`/proc/${child.pid}/stat`) ? readFileSync(`/proc/${child.pid}/stat`, "latin1") : "";
        task = taskState(stat);
      } while ((task?.state !== "R" || task.nice !== 19) && performance.now() < deadline);
      assert.deepEqual(task, { state: "R", nice: 19 }, "the niced spinner is runnable at nice 19");
      assert.ok(task!.nice >= LOW_NICE, "so competingTasks() leaves it out");
    } finally {
      child.kill("SIGKILL");
    }
  });

  test("the kernel's figures are read on Linux", () => {
    if (process.platform !== "linux") return;
    const waited = procSignals.cpuWaitNs();
    const runnable = procSignals.runnableTasks();
    assert.ok(typeof waited === "number" && waited >= 0, `run_delay ${waited}`);
    assert.ok(typeof runnable === "number" && runnable >= 1, `runnable ${runnable}, this thread included`);
    assert.ok(procSignals.cpus >= 1);
  });

  test("BusyPoll: a contended sample ends the spin at once, lone frames spin nothing during the hold, and a probe after it does", async () => {
    const { clock, cpu, poll } = frozen(100);
    const conn = poll.connection();
    conn.sent(1);
    await turns(3); // the baseline sample
    conn.received();
    await turns(2);
    clock.t += 30;
    cpu.waitedNs += 15e6; // half of the last 30 ms spent waiting for a CPU,
    cpu.runnable = 3; // with three tasks runnable on two CPUs
    conn.sent(1);
    assert.ok(poll.isSpinning, "the spin starts; its first turn samples");
    await turns(2);
    assert.ok(!poll.isSpinning, "contended: the spin ends though the answer is still due");
    assert.ok(poll.contention.holding(clock.t));
    conn.received();
    assert.equal(conn.window, 100, "standing aside leaves the window as it was");
    clock.t += 999;
    conn.sent(1);
    assert.ok(!poll.isSpinning, "a lone frame during the hold spins nothing");
    conn.received();
    clock.t += 1;
    conn.sent(1);
    assert.ok(poll.isSpinning, "the hold is over: the next lone frame probes");
    await turns(2);
    assert.ok(poll.isSpinning, "the probe's first sample is a baseline (the last was before the hold)");
    conn.received();
    await turns(2);
  });
});

describe("the busyPollUs option", () => {
  test("a bad value gets InvalidArgumentError naming the option", async () => {
    for (const busyPollUs of [-1, 1.5, 20_000, "100" as unknown as number]) {
      await assert.rejects(Bridge.start({ workers: 1, busyPollUs }), (err: unknown) => {
        assert.ok(err instanceof InvalidArgumentError);
        assert.match(err.message, /busyPollUs/);
        return true;
      });
    }
  });

  for (const busyPollUs of [0, 100, 10_000]) {
    test(`a pool with busyPollUs ${busyPollUs} passes it to its workers and answers sequential, concurrent and slow calls`, async () => {
      const bridge = await startPool({ workers: 2, busyPollUs });
      try {
        const args = (bridge as unknown as { pool: { forkServer: ForkServer } }).pool.forkServer.child.spawnargs;
        assert.equal(args[args.indexOf("--busy-poll-us") + 1], String(busyPollUs));
        for (let i = 0; i < 200; i++) assert.deepEqual(await bridge.execute("echo", { value: i }), i);
        const many = await Promise.all(
          Array.from({ length: 500 }, (_, i) => bridge.execute<number>("echo", { value: i })),
        );
        assert.deepEqual(
          many,
          Array.from({ length: 500 }, (_, i) => i),
        );
        const t0 = performance.now();
        await bridge.execute("sleep", { seconds: 0.05 });
        assert.ok(performance.now() - t0 >= 45, "a slow call still takes its time");
      } finally {
        await bridge.close();
      }
    });
  }
});
