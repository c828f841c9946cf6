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
// - more tasks are runnable right now than the machine has CPUs (/proc/loadavg's running
//   count, ourselves included), so that someone is not just our own peer.
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

import { readFileSync } from "node:fs";
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

/** What CpuContention reads; undefined where the kernel does not say. */
export interface ContentionSignals {
  /** The loop thread's total wait for a CPU so far (ns). */
  cpuWaitNs(): number | undefined;
  /** Tasks runnable on the whole machine now, the caller included. */
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

/** The kernel's figures: /proc/thread-self/schedstat's run_delay, /proc/loadavg's running count. */
export const procSignals: ContentionSignals = {
  cpuWaitNs: () => {
    const waited = Number(readProc("/proc/thread-self/schedstat")?.split(" ")[1]);
    return Number.isFinite(waited) ? waited : undefined;
  },
  runnableTasks: () => {
    const running = Number(readProc("/proc/loadavg")?.split(" ")[3]?.split("/")[0]);
    return Number.isFinite(running) ? running : undefined;
  },
  cpus: Math.max(1, cpus().length),
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
