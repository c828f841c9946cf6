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
// The worker side does the same in Python (dspy_bridge.core._busy_poll).

const GROW_START_US = 25;
const OFF_BELOW_US = 20;

/** The spin driver of one event loop, shared by the connections that poll through it. */
export class BusyPoll {
  private spinning = false;
  /** now() until which some connection still wants the loop kept turning. */
  private deadline = 0;
  /** Connections that flushed a lone frame and have not heard back yet. */
  private expecting = 0;
  private stopped = false;

  /**
   * @param limitUs the longest window of any connection; 0 disables polling.
   * @param now the clock, in ms (injectable for tests).
   */
  constructor(
    readonly limitUs: number,
    readonly now: () => number = () => performance.now(),
  ) {}

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
  expect(untilMs: number): void {
    this.expecting++;
    if (untilMs > this.deadline) this.deadline = untilMs;
    if (!this.spinning && !this.stopped && untilMs > 0) {
      this.spinning = true;
      setImmediate(this.spin);
    }
  }

  /** @internal */
  settle(): void {
    if (--this.expecting === 0) this.deadline = 0;
  }

  private readonly spin = (): void => {
    if (this.expecting > 0 && this.now() < this.deadline) setImmediate(this.spin);
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
    driver.expect(this.windowUs > 0 ? now + this.windowUs / 1000 : 0);
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
