// One call's bookkeeping from execute()/stream() to its answer.
import type { Value } from "../gen/dspy_bridge/v1/values_pb.js";
import type { StreamSink } from "./stream-sink.js";
import type { WorkerProcess } from "./worker-process.js";

export interface CallOptions {
  /** Route to the worker that holds this session's objects (strict affinity). */
  session?: string;
  /** Fail with TimeoutError after this long (queue time included) and cancel the Python task. */
  timeoutMs?: number;
  /** Aborting fails the call with CancelledError and cancels the Python task. */
  signal?: AbortSignal;
  /**
   * stream() only: items the worker may send ahead of the consumer (flow control); 0 = no
   * limit. Default: the pool's `streamWindow` option.
   */
  streamWindow?: number;
}

const unset = (): void => {};

export class Call {
  /** Id on the worker connection; assigned when dispatched. */
  id = 0;
  worker: WorkerProcess | undefined;
  readonly enqueuedAt = performance.now();
  dispatchedAt = 0;
  settled = false;
  /** Settled for the caller but still running in Python (cancel sent, answer awaited). */
  abandoned = false;
  timer: NodeJS.Timeout | undefined;
  hardDeadline: NodeJS.Timeout | undefined;
  removeAbortListener: (() => void) | undefined;
  // A shared placeholder, not a closure per call: execute() sets both at once.
  resolve: (value: unknown) => void = unset;
  reject: (error: unknown) => void = unset;
  sink: StreamSink<unknown> | undefined;
  /** The queue holding the call while it waits for a worker. */
  queue: Call[] | undefined;
  /** Stream calls: the flow-control window sent to the worker (0 = no limit). */
  streamWindow = 0;

  constructor(
    readonly command: string,
    readonly args: Value,
    readonly sessionId: string | undefined,
    readonly timeoutMs: number,
    readonly stream: boolean,
  ) {}

  /** Milliseconds left before the call's own deadline (0 = none). */
  remainingMs(): number {
    if (!this.timeoutMs) return 0;
    return Math.max(1, Math.ceil(this.timeoutMs - (performance.now() - this.enqueuedAt)));
  }
}
