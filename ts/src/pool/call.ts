// One call's bookkeeping from execute()/stream() to its answer.
import type { Value } from "../gen/dspy_bridge/v1/values_pb.js";
import type { StreamSink } from "../stream-sink.js";
import type { CallSpan } from "../telemetry/otel.js";

const unset = (): void => {};

/** `W` is the worker type of the pool that runs it (kept open so this module imports no worker). */
export class Call<W = unknown> {
  /** Id on the worker connection; assigned when dispatched. */
  id = 0;
  worker: W | undefined;
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
  queue: Call<W>[] | undefined;
  /** Stream calls: the flow-control window sent to the worker (0 = no limit). */
  streamWindow = 0;
  /** The call's OpenTelemetry span, when the host traces (its traceparent goes in the frame). */
  span: CallSpan | undefined = undefined;

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
