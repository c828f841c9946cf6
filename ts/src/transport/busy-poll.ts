// Adaptive busy polling of the event loop while a quick answer is expected.
//
// A call that leaves the process and comes back within tens of microseconds spends most of
// its round trip waking CPUs: an idle event loop sleeps in epoll, its vCPU halts, and
// waking a halted vCPU costs 10-20 µs on each side (measured on the 2-vCPU VM of
// docs/benchmarks.md: a raw echo went from 46 µs p50 to 10 µs when both sides polled).
// So after a lone frame is flushed, the loop is kept turning (a setImmediate chain: libuv
// then polls with a zero timeout and never sleeps) for up to the current window, and the
// answer is read the moment it lands.
//
// Two rules keep the spinning from costing what it saves:
// - Only a flush of exactly one frame starts it. With many calls in flight frames leave in
//   batches, the loop is busy anyway, and a spinning process would only take CPU from the
//   ones doing the work.
// - The window adapts as Linux's cpuidle haltpoll governor does: an answer that arrives
//   after the window but within the limit doubles it; one later than the limit halves it
//   (to zero below 20 µs), so slow calls (an LM, say) soon stop paying for it, and a run
//   of quick ones turns it back on.
// The worker side does the same in Python (dspy_bridge.core._busy_poll).

const GROW_START_US = 25;
const OFF_BELOW_US = 20;

export class BusyPoll {
  private windowUs: number;
  private spinning = false;
  /** performance.now() of the last lone flush; 0 when nothing is expected. */
  private sentAt = 0;

  /** @param limitUs the longest window; 0 disables polling. */
  constructor(readonly limitUs: number) {
    this.windowUs = limitUs;
  }

  /** The current window (µs), for tests and diagnostics. */
  get window(): number {
    return this.windowUs;
  }

  /** Whether the loop is being kept turning now. */
  get isSpinning(): boolean {
    return this.spinning;
  }

  /** A flush of `frames` frames has just been written. */
  sent(frames: number): void {
    if (this.limitUs === 0) return;
    if (frames !== 1) {
      this.sentAt = 0; // a batch: the loop is busy, stop any spinning at its next turn
      return;
    }
    this.sentAt = performance.now();
    if (!this.spinning && this.windowUs > 0) {
      this.spinning = true;
      setImmediate(this.spin);
    }
  }

  /** Bytes have arrived: adapt the window to how long they took after the last lone flush. */
  received(): void {
    if (this.limitUs === 0 || this.sentAt === 0) return;
    const waitedUs = (performance.now() - this.sentAt) * 1000;
    this.sentAt = 0;
    if (waitedUs > this.limitUs) {
      this.windowUs = this.windowUs < OFF_BELOW_US ? 0 : this.windowUs / 2;
    } else if (waitedUs > this.windowUs) {
      this.windowUs = Math.min(this.limitUs, Math.max(2 * this.windowUs, GROW_START_US));
    }
  }

  private readonly spin = (): void => {
    if (this.sentAt !== 0 && (performance.now() - this.sentAt) * 1000 < this.windowUs) setImmediate(this.spin);
    else this.spinning = false;
  };
}
