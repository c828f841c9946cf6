// Events the bridge emits. Subscribe with `bridge.on("call", listener)`; listeners run
// synchronously on the host's event loop, so keep them cheap (aggregate, don't log each).

/** One finished call (success or failure). Durations in milliseconds. */
export interface CallEvent {
  command: string;
  sessionId: string | undefined;
  /** The worker that ran it; undefined when it never left the queue. */
  workerId: string | undefined;
  /** Time spent waiting for a worker slot. */
  queueMs: number;
  /** From execute() to the answer, queue time included. */
  latencyMs: number;
  ok: boolean;
  /** The error reason (e.g. "timeout", "worker_crashed") when not ok. */
  reason: string | undefined;
  stream: boolean;
  /** The error itself when not ok (a PythonError carries its traceback). */
  error?: unknown;
}

export type WorkerEventType =
  | "starting"
  | "ready"
  | "crashed"
  | "restarting"
  | "recycling"
  | "killed"
  | "stopped"
  | "crash_loop";

export interface WorkerEvent {
  type: WorkerEventType;
  workerId: string;
  pid: number | undefined;
  /** Why, in words: "exceeded maxRequests", "ignored cancellation past the hard deadline", ... */
  detail: string;
  /** Sessions whose Python objects were lost with this worker (crash, kill, recycle). */
  lostSessions?: string[];
}

export interface LogEvent {
  /** "python" (what the fork server and workers print), "host", or a worker id. */
  source: string;
  stream: "stdout" | "stderr";
  line: string;
}

export interface BridgeEvents {
  call: [CallEvent];
  worker: [WorkerEvent];
  log: [LogEvent];
}
