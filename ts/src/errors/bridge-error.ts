import { Code } from "./code.js";
import { formatPythonTraceback, type TracebackFrame } from "./traceback.js";
import type { ErrorReason } from "./reasons.js";

/** Everything a BridgeError can be built from; `code` and `reason` only count for the base class. */
export interface BridgeErrorOptions {
  /** The error this one wraps or translates (kept as the standard `Error.cause`). */
  cause?: unknown;
  /** JSON-safe structured facts; travels as `ErrorDetail.details_json`. Keys are snake_case. */
  details?: Record<string, unknown>;
  /** gRPC code; only honoured by `BridgeError` itself (subclasses have a fixed code). */
  code?: number;
  /** Stable snake_case reason; only honoured by `BridgeError` itself. */
  reason?: ErrorReason | (string & {});
  /** Qualified Python exception type when the error originated in Python. */
  pythonType?: string;
  /** Python frames, outermost first (as Python prints them). */
  traceback?: readonly TracebackFrame[];
}

/** Options of the subclasses: their code and reason are fixed by the class. */
export type FixedErrorOptions = Omit<BridgeErrorOptions, "code" | "reason">;

/**
 * The one error type of the bridge: a gRPC `code`, a stable snake_case `reason` (see
 * testdata/errors.json), a message, optional `cause` and JSON-safe `details`.
 *
 * Every subclass carries its code and reason both as static members (`QueueFullError.reason`)
 * and on instances. Errors that came from Python also carry `pythonType` and `traceback`.
 */
export class BridgeError extends Error {
  static readonly code: number = Code.UNKNOWN;
  /** Reason of a bare `new BridgeError(message)`; prefer a subclass or an explicit reason. */
  static readonly reason: string = "unknown";
  /** The error table's default answer to "may the same request succeed if sent again later?". */
  static readonly retryable: boolean = false;

  readonly code: number;
  /**
   * The table's reason (`ErrorReason`, completed by the editor; each subclass narrows it to its
   * own), or another string for a reason this build does not know.
   */
  readonly reason: ErrorReason | (string & {});
  readonly details: Record<string, unknown>;
  readonly pythonType: string | undefined;
  readonly traceback: readonly TracebackFrame[];

  constructor(message: string, options: BridgeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    const ctor = new.target as typeof BridgeError;
    const isBase = ctor === BridgeError;
    this.name = ctor.name;
    this.code = (isBase ? options.code : undefined) ?? ctor.code;
    this.reason = (isBase ? options.reason : undefined) ?? ctor.reason;
    this.details = { ...options.details };
    this.pythonType = options.pythonType;
    this.traceback = (options.traceback ?? []).map(({ filename, lineno, name, line }) => ({
      filename,
      lineno,
      name,
      line,
    }));
  }

  /**
   * Whether sending the same request again later may succeed: `details.retryable` when the
   * raiser knew better (an LM error from an HTTP 503 is retryable, one from a 400 is not),
   * else the class's default from the error table (rate limits, timeouts, full queues,
   * crashed workers and an unavailable store are; invalid arguments are not).
   */
  get retryable(): boolean {
    const value = this.details.retryable;
    return typeof value === "boolean" ? value : (this.constructor as typeof BridgeError).retryable;
  }

  /** The Python traceback as Python would print it; "" if the error did not come from Python. */
  get pythonTraceback(): string {
    if (this.pythonType === undefined && this.traceback.length === 0) return "";
    return formatPythonTraceback(this.traceback, this.pythonType ?? "", this.message);
  }

  /**
   * Turn anything thrown into a BridgeError. Bridge errors are returned as they are; abort
   * reasons (`AbortError`, e.g. `AbortSignal.abort().reason`) become CancelledError, timeout
   * reasons (`TimeoutError` DOMException from `AbortSignal.timeout()`) become TimeoutError;
   * anything else becomes InternalError with the original as `cause`.
   */
  static from(err: unknown): BridgeError {
    if (err instanceof BridgeError) return err;
    const name = nameOf(err);
    if (name === "AbortError") {
      return new CancelledError(messageOf(err) || "the operation was aborted", { cause: err });
    }
    if (name === "TimeoutError") {
      return new TimeoutError(messageOf(err) || "the operation timed out", { cause: err });
    }
    if (err instanceof Error) return new InternalError(err.message, { cause: err });
    if (typeof err === "string") return new InternalError(err);
    return new InternalError(describe(err), { cause: err });
  }
}

function nameOf(err: unknown): string | undefined {
  if (typeof err !== "object" || err === null || !("name" in err)) return undefined;
  return typeof err.name === "string" ? err.name : undefined;
}

function messageOf(err: unknown): string {
  if (typeof err !== "object" || err === null || !("message" in err)) return "";
  return typeof err.message === "string" ? err.message : "";
}

function describe(value: unknown): string {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value); // e.g. Object.create(null)
  }
}

const asString = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const asJson = (v: unknown): unknown => v;
const asNumber = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

/**
 * A typed field backed by the snake_case `details[key]` (the wire form). An explicit option
 * wins and is written into `details` so it travels; a camelCase key in `details` is accepted
 * when reading, for callers who wrote `details: { workerId }`.
 */
function field<T>(
  details: Record<string, unknown>,
  key: string,
  explicit: T | undefined,
  read: (v: unknown) => T | undefined,
): T | undefined {
  if (explicit !== undefined) {
    details[key] = explicit;
    return explicit;
  }
  return read(details[key]) ?? read(details[key.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase())]);
}

export class InvalidArgumentError extends BridgeError {
  static override readonly code: number = Code.INVALID_ARGUMENT;
  static override readonly reason: string = "invalid_argument";
  declare readonly reason: "invalid_argument" | "type_mismatch" | "constraint_violation";
  /** Name of the offending argument (`details.parameter`). */
  readonly parameter: string | undefined;
  constructor(message: string, options: FixedErrorOptions & { parameter?: string } = {}) {
    super(message, options);
    this.parameter = field(this.details, "parameter", options.parameter, asString);
  }
}

/**
 * A value is not of its variable's type (e.g. a string for a `float` variable, `true` for an
 * `integer`). An InvalidArgumentError, so `catch` sites for bad arguments still catch it.
 */
export class TypeMismatchError extends InvalidArgumentError {
  static override readonly reason: string = "type_mismatch";
  declare readonly reason: "type_mismatch";
  /** The variable's name, when known (`details.variable`). */
  readonly variable: string | undefined;
  /** The variable's type, e.g. "float" (`details.type`). */
  readonly type: string | undefined;
  /** The type name of the value that was given (`details.got`). */
  readonly got: string | undefined;
  constructor(message: string, options: FixedErrorOptions & { variable?: string; type?: string; got?: string } = {}) {
    super(message, options);
    this.variable = field(this.details, "variable", options.variable, asString);
    this.type = field(this.details, "type", options.type, asString);
    this.got = field(this.details, "got", options.got, asString);
  }
}

/**
 * A value has its variable's type but breaks one of its constraints (`max`, `pattern`,
 * `dimensions`, …). The message says both the value and the limit.
 */
export class ConstraintViolationError extends InvalidArgumentError {
  static override readonly reason: string = "constraint_violation";
  declare readonly reason: "constraint_violation";
  /** The variable's name, when known (`details.variable`). */
  readonly variable: string | undefined;
  /** The variable's type (`details.type`). */
  readonly type: string | undefined;
  /** The constraint's name, e.g. "max" (`details.constraint`). */
  readonly constraint: string | undefined;
  /** The constraint's value (any JSON value; `details.limit`). */
  readonly limit: unknown;
  constructor(
    message: string,
    options: FixedErrorOptions & { variable?: string; type?: string; constraint?: string; limit?: unknown } = {},
  ) {
    super(message, options);
    this.variable = field(this.details, "variable", options.variable, asString);
    this.type = field(this.details, "type", options.type, asString);
    this.constraint = field(this.details, "constraint", options.constraint, asString);
    this.limit = field(this.details, "limit", options.limit, asJson);
  }
}

export class UnknownCommandError extends BridgeError {
  static override readonly code: number = Code.NOT_FOUND;
  static override readonly reason: string = "unknown_command";
  declare readonly reason: "unknown_command";
  /** The command name the worker did not know (`details.command`). */
  readonly command: string | undefined;
  constructor(message: string, options: FixedErrorOptions & { command?: string } = {}) {
    super(message, options);
    this.command = field(this.details, "command", options.command, asString);
  }
}

export class NotFoundError extends BridgeError {
  static override readonly code: number = Code.NOT_FOUND;
  static override readonly reason: string = "not_found";
  declare readonly reason: "not_found";
}

export class AlreadyExistsError extends BridgeError {
  static override readonly code: number = Code.ALREADY_EXISTS;
  static override readonly reason: string = "already_exists";
  declare readonly reason: "already_exists";
}

export class PermissionDeniedError extends BridgeError {
  static override readonly code: number = Code.PERMISSION_DENIED;
  static override readonly reason: string = "permission_denied";
  declare readonly reason: "permission_denied";
}

/** Missing or invalid credentials: the bridge's token, or an LM provider refusing the API key (HTTP 401) or the request (403), with `status` set. Not retryable. */
export class AuthenticationError extends BridgeError {
  static override readonly code: number = Code.UNAUTHENTICATED;
  static override readonly reason: string = "unauthenticated";
  declare readonly reason: "unauthenticated";
  /** The LM provider's HTTP status, when the error came from one (`details.status`). */
  readonly status: number | undefined;
  constructor(message: string, options: FixedErrorOptions & { status?: number } = {}) {
    super(message, options);
    this.status = field(this.details, "status", options.status, asNumber);
  }
}

/** Deadline exceeded. Named like the DOMException on purpose; `BridgeError.from` maps that one to this. */
export class TimeoutError extends BridgeError {
  static override readonly code: number = Code.DEADLINE_EXCEEDED;
  static override readonly reason: string = "timeout";
  declare readonly reason: "timeout";
  static override readonly retryable: boolean = true;
  /** The deadline that passed (`details.timeout_ms`). */
  readonly timeoutMs: number | undefined;
  constructor(message: string, options: FixedErrorOptions & { timeoutMs?: number } = {}) {
    super(message, options);
    this.timeoutMs = field(this.details, "timeout_ms", options.timeoutMs, asNumber);
  }
}

export class CancelledError extends BridgeError {
  static override readonly code: number = Code.CANCELLED;
  static override readonly reason: string = "cancelled";
  declare readonly reason: "cancelled";
}

export class QueueFullError extends BridgeError {
  static override readonly code: number = Code.RESOURCE_EXHAUSTED;
  static override readonly reason: string = "queue_full";
  declare readonly reason: "queue_full";
  static override readonly retryable: boolean = true;
  /** The queue's capacity (`details.limit`). */
  readonly limit: number | undefined;
  constructor(message: string, options: FixedErrorOptions & { limit?: number } = {}) {
    super(message, options);
    this.limit = field(this.details, "limit", options.limit, asNumber);
  }
}

export class PayloadTooLargeError extends BridgeError {
  static override readonly code: number = Code.RESOURCE_EXHAUSTED;
  static override readonly reason: string = "payload_too_large";
  declare readonly reason: "payload_too_large";
  /** Payload size in bytes (`details.size`). */
  readonly size: number | undefined;
  /** Maximum size in bytes (`details.limit`). */
  readonly limit: number | undefined;
  constructor(message: string, options: FixedErrorOptions & { size?: number; limit?: number } = {}) {
    super(message, options);
    this.size = field(this.details, "size", options.size, asNumber);
    this.limit = field(this.details, "limit", options.limit, asNumber);
  }
}

/** A rate limit: the bridge's, or an LM provider's HTTP 429. Retryable, after `retryAfterMs` when the provider said. */
export class RateLimitError extends BridgeError {
  static override readonly code: number = Code.RESOURCE_EXHAUSTED;
  static override readonly reason: string = "rate_limited";
  declare readonly reason: "rate_limited";
  static override readonly retryable: boolean = true;
  /** How long the provider asked to wait (its Retry-After), in ms (`details.retry_after_ms`). */
  readonly retryAfterMs: number | undefined;
  /** The provider's HTTP status (`details.status`). */
  readonly status: number | undefined;
  constructor(message: string, options: FixedErrorOptions & { retryAfterMs?: number; status?: number } = {}) {
    super(message, options);
    this.retryAfterMs = field(this.details, "retry_after_ms", options.retryAfterMs, asNumber);
    this.status = field(this.details, "status", options.status, asNumber);
  }
}

export class VersionConflictError extends BridgeError {
  static override readonly code: number = Code.ABORTED;
  static override readonly reason: string = "version_conflict";
  declare readonly reason: "version_conflict";
}

export class CompactedError extends BridgeError {
  static override readonly code: number = Code.OUT_OF_RANGE;
  static override readonly reason: string = "compacted";
  declare readonly reason: "compacted";
}

export class FailedPreconditionError extends BridgeError {
  static override readonly code: number = Code.FAILED_PRECONDITION;
  static override readonly reason: string = "failed_precondition";
  declare readonly reason: "failed_precondition";
}

export class NotImplementedError extends BridgeError {
  static override readonly code: number = Code.UNIMPLEMENTED;
  static override readonly reason: string = "not_implemented";
  declare readonly reason: "not_implemented";
}

export class ProtocolError extends BridgeError {
  static override readonly code: number = Code.INTERNAL;
  static override readonly reason: string = "protocol_error";
  declare readonly reason: "protocol_error";
}

export class InternalError extends BridgeError {
  static override readonly code: number = Code.INTERNAL;
  static override readonly reason: string = "internal";
  declare readonly reason: "internal";
}

export class WorkerCrashedError extends BridgeError {
  static override readonly code: number = Code.UNAVAILABLE;
  static override readonly reason: string = "worker_crashed";
  declare readonly reason: "worker_crashed";
  static override readonly retryable: boolean = true;
  /** `details.worker_id` */
  readonly workerId: string | undefined;
  /** Process exit code, if it exited (`details.exit_code`). */
  readonly exitCode: number | undefined;
  /** Signal name such as "SIGKILL", if it was killed (`details.signal`). */
  readonly signal: string | undefined;
  constructor(
    message: string,
    options: FixedErrorOptions & { workerId?: string; exitCode?: number; signal?: string } = {},
  ) {
    super(message, options);
    this.workerId = field(this.details, "worker_id", options.workerId, asString);
    this.exitCode = field(this.details, "exit_code", options.exitCode, asNumber);
    this.signal = field(this.details, "signal", options.signal, asString);
  }
}

export class CrashLoopError extends BridgeError {
  static override readonly code: number = Code.UNAVAILABLE;
  static override readonly reason: string = "crash_loop";
  declare readonly reason: "crash_loop";
}

export class WorkerStartError extends BridgeError {
  static override readonly code: number = Code.UNAVAILABLE;
  static override readonly reason: string = "worker_start_failed";
  declare readonly reason: "worker_start_failed";
}

/** The durable store (Redis unreachable, a SQLite write failed) could not take the request: it was not applied (unless `details.outcome` is "unknown": it may have been; or "applied": it was, but its result could not be read back). Retryable. */
export class StoreUnavailableError extends BridgeError {
  static override readonly code: number = Code.UNAVAILABLE;
  static override readonly reason: string = "store_unavailable";
  declare readonly reason: "store_unavailable";
  static override readonly retryable: boolean = true;
  /** `details.outcome`: "unknown" when a commit may or may not have been applied, "applied" when it was but its result could not be read back. */
  readonly outcome: string | undefined;
  constructor(message: string, options: FixedErrorOptions & { outcome?: string } = {}) {
    super(message, options);
    this.outcome = field(this.details, "outcome", options.outcome, asString);
  }
}

export class BridgeClosedError extends BridgeError {
  static override readonly code: number = Code.UNAVAILABLE;
  static override readonly reason: string = "bridge_closed";
  declare readonly reason: "bridge_closed";
}

/** The host could not be reached or the connection to it broke (a transport failure, gRPC's UNAVAILABLE without a more specific reason). Retryable. */
export class UnavailableError extends BridgeError {
  static override readonly code: number = Code.UNAVAILABLE;
  static override readonly reason: string = "unavailable";
  declare readonly reason: "unavailable";
  static override readonly retryable: boolean = true;
}

/**
 * An uncaught Python exception without a more specific mapping. `message` reads like
 * Python's last traceback line ("ValueError: bad"); `pythonMessage` is the bare message.
 */
export class PythonError extends BridgeError {
  static override readonly code: number = Code.UNKNOWN;
  static override readonly reason: string = "python_error";
  declare readonly reason: "python_error";
  declare readonly pythonType: string;
  readonly pythonMessage: string;
  constructor(message: string, options: FixedErrorOptions = {}) {
    const pythonType = options.pythonType ?? "";
    super(pythonType === "" ? message : message === "" ? pythonType : `${pythonType}: ${message}`, {
      ...options,
      pythonType,
    });
    this.pythonMessage = message;
  }

  override get pythonTraceback(): string {
    return formatPythonTraceback(this.traceback, this.pythonType, this.pythonMessage);
  }
}

/**
 * A language-model call failed: the provider answered an error (`status` when known), a bad
 * or empty response, a transport failure, or no LM was configured. `retryable` says whether
 * the same call may succeed later (5xx and transport failures: yes; 4xx: no).
 */
export class LMError extends BridgeError {
  static override readonly code: number = Code.UNKNOWN;
  static override readonly reason: string = "lm_error";
  declare readonly reason: "lm_error";
  /** The LM provider's HTTP status, when the error came from one (`details.status`). */
  readonly status: number | undefined;
  constructor(message: string, options: FixedErrorOptions & { status?: number } = {}) {
    super(message, options);
    this.status = field(this.details, "status", options.status, asNumber);
  }
}

export class ParseError extends BridgeError {
  static override readonly code: number = Code.UNKNOWN;
  static override readonly reason: string = "parse_error";
  declare readonly reason: "parse_error";
}
