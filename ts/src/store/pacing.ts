// Long store work cut into slices that let other work in. An export, an import or the commit
// of a 100,000-variable import takes seconds of CPU; done in one go it stalls every other
// client of the host (their calls, their watches, the worker pool) for as long. Such work
// runs here a few milliseconds at a time, yielding to the event loop between slices.
//
// Loops that must also run in one go (a small commit is planned, written and applied inside
// one call) are written once, as generators that yield after each item: `runSteps` runs one
// to the end, `runPaced` runs it in slices.

/** What an import or export has done so far: `done` of `total` items in `phase`. */
export interface CodecProgress {
  /**
   * read, encode: an export. decode, check: an import's document and its variables.
   * commit: the import checked against the store's state and planned as one commit;
   * write: that commit written by a durable backend; apply: applied to this host's copy.
   */
  phase: "read" | "encode" | "decode" | "check" | "commit" | "write" | "apply";
  done: number;
  total: number;
}

/**
 * The longest a slice runs before it lets other work in. A few milliseconds: a timer or a
 * client's call waits about that much (plus what a garbage collection takes), and the
 * work itself slows by the cost of one turn of the event loop per slice (tens of µs).
 */
export const SLICE_MS = 5;

/** A loop written once, run in one go (runSteps) or in slices (runPaced): it yields after each item. */
export type Steps<T> = Generator<void, T, void>;

/** Yields to the event loop when the work since the last yield took SLICE_MS; reports progress when it does. */
export class Pacer {
  private last = performance.now();
  done = 0;

  constructor(
    private readonly onProgress: ((p: CodecProgress) => void) | undefined,
    private phase: CodecProgress["phase"],
    private total: number,
  ) {}

  /** True when this slice has run its time: the caller should `pause()` (a check costs tens of ns). */
  due(): boolean {
    return performance.now() - this.last >= SLICE_MS;
  }

  /** Reports progress and lets other work in; the next slice starts now. */
  async pause(): Promise<void> {
    this.report();
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.last = performance.now();
  }

  /** Counts `n` items done; yields if this slice has run long enough. */
  async tick(n = 1): Promise<void> {
    this.done += n;
    if (this.due()) await this.pause();
  }

  /** Starts another phase (reported at once). */
  next(phase: CodecProgress["phase"], total: number): void {
    this.phase = phase;
    this.total = total;
    this.done = 0;
    this.report();
  }

  report(): void {
    this.onProgress?.({ phase: this.phase, done: this.done, total: this.total });
  }
}

/** Runs `steps` to the end in one go. */
export function runSteps<T>(steps: Steps<T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** Runs `steps` to the end, a slice at a time; each step counts as one item of `pace`'s phase. */
export async function runPaced<T>(steps: Steps<T>, pace: Pacer): Promise<T> {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    pace.done++;
    if (pace.due()) await pace.pause();
  }
}
