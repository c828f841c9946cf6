// Adaptive busy polling of the event loop while a quick answer is expected.
//
// A call that leaves the process and comes back within tens of microseconds spends most of
// its round trip waking CPUs: an idle event loop sleeps in epoll, its vCPU halts, and
// waking a halted vCPU costs 10-20 µs on each side (on the 2-vCPU VM of docs/benchmarks.md
// a raw socket echo went from 46 µs p50 to 10 µs when both ends polled). So after a lone
// frame is flushed on a worker connection, the loop is kept turning (a setImmediate
// chain: libuv then polls with a zero timeout and never sleeps, while timers and I/O run
// as usual) until the answer lands or the connection's window ends.
//
// What keeps the spinning from costing what it saves:
// - Only a flush of exactly one frame starts it. With many calls in flight on a
//   connection its frames leave in batches, the loop is busy anyway, and spinning would
//   only take CPU from the processes doing the work.
// - Each connection's window adapts, as Linux's cpuidle haltpoll governor does: an answer
//   later than its window but within twice the limit doubles it (up to the limit); one
//   later than that halves it (to zero below 20 µs), so slow calls (an LM, say) soon stop
//   paying for it, and a run of quick ones turns it back on. Twice the limit, because an
//   answer that arrives while nobody polls includes the very wake-ups polling saves.
// - It stands aside while the machine has no CPU to spare (CpuContention below). Spinning
//   pays while each side has a CPU to itself; beside a CPU-bound process on a 2-core machine,
//   a spinning host and a spinning worker are three runnable tasks on two CPUs, and whoever
//   must answer waits for a spinner's time slice (bench:bridge p50 164 µs against pythonia's
//   109, where it is a fraction of pythonia's on an idle machine). Then both sides sleep in
//   epoll while they wait, as they did before busy polling.
// The worker side does the same in Python (dspy_bridge.core._busy_poll), deciding on its own.
//
// When to stand aside: every SAMPLE_MS of spinning, the loop's thread reads two figures
// (two small /proc reads, off the call path), and it stands aside when both say so:
// - it waited for a CPU more than WAIT_SHARE of the interval (its own run_delay, the second
//   field of /proc/thread-self/schedstat: time runnable but not running), so a spinner
//   really is taking a CPU someone wants; and
// - more tasks that weigh with the scheduler are runnable right now than the machine has
//   CPUs (ourselves included), so that someone is not just our own peer. /proc/loadavg's
//   running count says how many are runnable; when that is more than the CPUs, the tasks
//   themselves are counted (/proc/<pid>/task/<tid>/stat: state R, nice below LOW_NICE), so
//   that batch jobs at nice 19 do not count. A nice-19 task weighs 15 against a nice-0
//   task's 1024 (the kernel's sched_prio_to_weight): beside a spinner it gets about 1.5% of
//   a CPU, so it takes nothing from the peer that must answer; it runs in the time our
//   sched_yield gives away, so our thread's wait alone looks contended. Counting all tasks
//   made a bridge beside niced batch jobs stand aside (bench:bridge p50 170-202 µs against
//   pythonia's 132-139). The count reads a file per thread on the machine (13-20 ms of the
//   event loop here, a loaded 2-core machine with about 260 processes; the worker's Python
//   count about 6 ms), so it is taken only when the other figures say contended, and reused
//   for COUNT_REUSE_MS: at most once a second; past COUNT_BUDGET_MS it is given up for
//   loadavg's count, niced tasks included (a bridge beside niced jobs then stands aside as
//   before, rather than stall the loop on a machine with thousands of threads). PSI
//   (/proc/pressure/cpu) was not used: it counts a niced task's wait for a CPU like any other.
// The second test is needed because the first alone fires on an idle machine: the kernel
// often wakes the worker on the host's CPU and leaves the two spinners stacked there for a
// while with the other CPU idle (measured on the 2-vCPU VM: waits of 10-47% in about a third
// of the 25 ms intervals of an idle bench:bridge). The first is needed because the count is
// an instant: the host and one spinning worker are already two runnable tasks on an idle
// 2-core machine, and a third passing task makes three for a moment. Idle-CPU time from
// /proc/stat was not used: two spinners make an idle machine look fully busy, and it is
// counted in 10 ms ticks.
// Standing aside lasts HOLD_MIN_MS, then the next lone frame spins again as a probe; a probe
// that finds the machine still full doubles the hold (up to HOLD_MAX_MS), and one clean
// interval resets it, so polling comes back within seconds of the machine going quiet.
// Intervals longer than STALE_MS (no spinning for a while, e.g. a burst of batches, where
// our own host and workers fill the CPUs) only set a new baseline. Where a figure is
// missing (not Linux), polling never stands aside.

import { closeSync, openSync, readdirSync, readFileSync, readSync } from "node:fs";
import { cpus } from "node:os";

const GROW_START_US = 25;
const OFF_BELOW_US = 20;
/** How often a spinning loop takes a sample (ms). */
const SAMPLE_MS = 25;
/** Intervals longer than this are not judged, only a new baseline (ms). */
const STALE_MS = 100;
/** Waiting for a CPU more than this share of an interval counts as being kept waiting. */
const WAIT_SHARE = 0.1;
/** How long polling stands aside, at first and at most (ms). */
const HOLD_MIN_MS = 1_000;
const HOLD_MAX_MS = 8_000;

/**
 * Tasks at this nice value or above do not count as contention: they weigh at most 110
 * against a nice-0 task's 1024 with the scheduler (under a tenth of a CPU beside it).
 */
export const LOW_NICE = 10;
/** How long a count of the machine's competing tasks is reused (ms): it reads a file per thread. */
const COUNT_REUSE_MS = 1_000;

/** What CpuContention reads; undefined where the kernel does not say. */
export interface ContentionSignals {
  /** The loop thread's total wait for a CPU so far (ns). */
  cpuWaitNs(): number | undefined;
  /**
   * Tasks runnable on the whole machine now that compete for a CPU (nice below LOW_NICE),
   * the caller included; asked only when the thread waited for a CPU.
   */
  runnableTasks(): number | undefined;
  /** The machine's CPUs. */
  readonly cpus: number;
}

const readProc = (path: string): string | undefined => {
  try {
    return readFileSync(path, "latin1");
  } catch {
    return undefined;
  }
};

/**
 * A task's state and nice value from its /proc stat line: fields 3 and 19, counted after the
 * command name's closing parenthesis (a name may hold spaces and parentheses).
 */
export function taskState(stat: string): { state: string; nice: number } | undefined {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const nice = Number(fields[16]);
  return fields[0] && Number.isInteger(nice) ? { state: fields[0], nice } : undefined;
}

/** One buffer for every stat file a count reads (readFileSync's own allocations made a count take about twice as long). */
const statBuffer = Buffer.alloc(1024);

function readStat(path: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    return statBuffer.toString("latin1", 0, readSync(fd, statBuffer, 0, statBuffer.length, 0));
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * The most a count may take (ms): it reads a file per thread on the machine, on the host's
 * event loop. Past it the count is given up (undefined: the caller falls back to
 * /proc/loadavg's count, niced tasks included), so a machine with thousands of threads never
 * stalls the host.
 */
export const COUNT_BUDGET_MS = 5;

/**
 * Runnable tasks (threads) under `root` (a /proc) whose nice is below LOW_NICE; undefined if
 * it cannot be read, or not within `budgetMs`.
 */
export function competingTasks(root = "/proc", budgetMs = COUNT_BUDGET_MS): number | undefined {
  const deadline = performance.now() + budgetMs;
  let pids: string[];
  try {
    pids = readdirSync(root);
  } catch {
    return undefined;
  }
  let n = 0;
  for (const pid of pids) {
    const c = pid.charCodeAt(0);
    if (c < 48 || c > 57) continue; // not a process
    if (performance.now() > deadline) return undefined;
    let tids: string[];
    try {
      tids = readdirSync(`${root}/${pid}/task`);
    } catch {
      continue; // exited meanwhile
    }
    for (const tid of tids) {
      const stat = readStat(`${root}/${pid}/task/${tid}/stat`);
      const task = stat === undefined ? undefined : taskState(stat);
      if (task?.state === "R" && task.nice < LOW_NICE) n++;
    }
  }
  return n;
}

const machineCpus = Math.max(1, cpus().length);
let counted: { at: number; n: number } | undefined;

/** The kernel's figures: /proc/thread-self/schedstat's run_delay; /proc/loadavg's running count, then competingTasks. */
export const procSignals: ContentionSignals = {
  cpuWaitNs: () => {
    const waited = Number(readProc("/proc/thread-self/schedstat")?.split(" ")[1]);
    return Number.isFinite(waited) ? waited : undefined;
  },
  runnableTasks: () => {
    const running = Number(readProc("/proc/loadavg")?.split(" ")[3]?.split("/")[0]);
    if (!Number.isFinite(running)) return undefined;
    if (running <= machineCpus) return running; // no more than the CPUs, whatever their weight
    const now = performance.now();
    if (counted === undefined || now - counted.at >= COUNT_REUSE_MS)
      counted = { at: now, n: competingTasks() ?? running };
    return counted.n;
  },
  cpus: machineCpus,
};

/** Whether the machine is too full for polling to pay: see the header. */
export class CpuContention {
  private sampledAt = -Infinity;
  private waitedAt = 0;
  private nextSampleAt = -Infinity;
  private holdUntil = -Infinity;
  private holdMs = HOLD_MIN_MS;

  /** @param signals the figures it judges by (injectable for tests). */
  constructor(private readonly signals: ContentionSignals = procSignals) {}

  /** Whether polling stands aside at `now` (ms). */
  holding(now: number): boolean {
    return now < this.holdUntil;
  }

  /** Called on every spin turn: takes a sample when one is due; whether to stand aside now. */
  check(now: number): boolean {
    if (now >= this.nextSampleAt) this.sample(now);
    return now < this.holdUntil;
  }

  private sample(now: number): void {
    const waited = this.signals.cpuWaitNs();
    if (waited === undefined) {
      this.nextSampleAt = Infinity; // no figure here: never stand aside
      return;
    }
    const span = now - this.sampledAt;
    if (span <= STALE_MS) {
      if (waited - this.waitedAt > WAIT_SHARE * span * 1e6 && (this.signals.runnableTasks() ?? 0) > this.signals.cpus) {
        this.holdUntil = now + this.holdMs;
        this.holdMs = Math.min(2 * this.holdMs, HOLD_MAX_MS);
      } else {
        this.holdMs = HOLD_MIN_MS;
      }
    }
    this.sampledAt = now;
    this.waitedAt = waited;
    this.nextSampleAt = now + SAMPLE_MS;
  }
}

/** The spin driver of one event loop, shared by the connections that poll through it. */
export class BusyPoll {
  private spinning = false;
  /** now() until which some connection still wants the loop kept turning. */
  private deadline = 0;
  /** Connections that flushed a lone frame and have not heard back yet. */
  private expecting = 0;
  private stopped = false;

  /** When to stand aside (see the header). */
  readonly contention: CpuContention;

  /**
   * @param limitUs the longest window of any connection; 0 disables polling.
   * @param now the clock, in ms (injectable for tests).
   * @param signals what tells it to stand aside (injectable for tests; see CpuContention).
   */
  constructor(
    readonly limitUs: number,
    readonly now: () => number = () => performance.now(),
    signals?: ContentionSignals,
  ) {
    this.contention = new CpuContention(signals);
  }

  /** Whether the loop is being kept turning now. */
  get isSpinning(): boolean {
    return this.spinning;
  }

  /** The polling state of one more connection. */
  connection(): ConnectionPoll {
    return new ConnectionPoll(this);
  }

  /** Ends any spinning for good (the pool is closing). */
  stop(): void {
    this.stopped = true;
    this.deadline = 0;
  }

  /** @internal */
  expect(untilMs: number, now: number): void {
    this.expecting++;
    if (untilMs > this.deadline) this.deadline = untilMs;
    if (!this.spinning && !this.stopped && untilMs > 0 && !this.contention.holding(now)) {
      this.spinning = true;
      setImmediate(this.spin);
    }
  }

  /** @internal */
  settle(): void {
    if (--this.expecting === 0) this.deadline = 0;
  }

  private readonly spin = (): void => {
    const now = this.now();
    if (this.expecting > 0 && now < this.deadline && !this.contention.check(now)) setImmediate(this.spin);
    else this.spinning = false;
  };
}

/** One connection's window and its pending expectation. */
export class ConnectionPoll {
  private windowUs: number;
  /** now() of this connection's last lone flush; 0 when it expects nothing. */
  private sentAt = 0;

  constructor(private readonly driver: BusyPoll) {
    this.windowUs = driver.limitUs;
  }

  /** The current window (µs). */
  get window(): number {
    return this.windowUs;
  }

  /** A flush of `frames` frames has just been written on this connection. */
  sent(frames: number): void {
    const driver = this.driver;
    if (driver.limitUs === 0) return;
    if (frames !== 1) {
      this.forget(); // a batch: the loop is busy, this connection does not need it kept turning
      return;
    }
    this.forget(); // a second lone frame before any answer is still one expectation
    const now = driver.now();
    this.sentAt = now;
    // A zero window is still counted, so that received() can adapt it, but spins nothing.
    driver.expect(this.windowUs > 0 ? now + this.windowUs / 1000 : 0, now);
  }

  /** Bytes have arrived: adapt the window to how long they took after the last lone flush. */
  received(): void {
    if (this.sentAt === 0) return;
    const waitedUs = (this.driver.now() - this.sentAt) * 1000;
    this.forget();
    const limit = this.driver.limitUs;
    if (waitedUs > 2 * limit) {
      this.windowUs = this.windowUs < OFF_BELOW_US ? 0 : this.windowUs / 2;
    } else if (waitedUs > this.windowUs) {
      this.windowUs = Math.min(limit, Math.max(2 * this.windowUs, GROW_START_US));
    }
  }

  /** The connection closed, or sent a batch: it expects nothing any more. */
  forget(): void {
    if (this.sentAt === 0) return;
    this.sentAt = 0;
    this.driver.settle();
  }
}
