// How the rest of the host runs a command in a Python worker. A leaf module (it imports
// nothing), so that the DSPy API, sessions, tools and optimization runs can depend on "something
// that runs commands" without depending on the pool that implements it or on each other.

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

/** Runs commands in the workers: `Bridge`, and the worker pool behind it. */
export interface CommandRunner {
  /** Runs `command` in a worker and resolves with its result. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, options?: CallOptions): Promise<T>;
  /** Runs a streaming command; iterate the result with `for await`. Breaking out cancels it. */
  stream<T = unknown>(command: string, args?: Record<string, unknown>, options?: CallOptions): AsyncIterableIterator<T>;
}
