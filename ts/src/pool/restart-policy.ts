// Exponential backoff with a crash-loop limit, per worker slot.

export interface RestartDecision {
  /** Give up: the slot crashed more than `maxRestarts` times within `windowMs`. */
  crashLoop: boolean;
  delayMs: number;
  recentCrashes: number;
}

export class RestartPolicy {
  private crashes: number[] = [];

  constructor(
    private readonly initialDelayMs: number,
    private readonly maxDelayMs: number,
    private readonly maxRestarts: number,
    private readonly windowMs: number,
  ) {}

  recordCrash(now = performance.now()): RestartDecision {
    this.crashes = this.crashes.filter((t) => now - t < this.windowMs);
    this.crashes.push(now);
    const n = this.crashes.length;
    return {
      crashLoop: n > this.maxRestarts,
      delayMs: Math.min(this.maxDelayMs, this.initialDelayMs * 2 ** (n - 1)),
      recentCrashes: n,
    };
  }
}
