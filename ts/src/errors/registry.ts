import {
  AlreadyExistsError,
  AuthenticationError,
  BridgeClosedError,
  type BridgeError,
  StoreUnavailableError,
  CancelledError,
  CompactedError,
  ConstraintViolationError,
  CrashLoopError,
  FailedPreconditionError,
  type FixedErrorOptions,
  InternalError,
  InvalidArgumentError,
  LMError,
  NotFoundError,
  NotImplementedError,
  ParseError,
  PayloadTooLargeError,
  PermissionDeniedError,
  ProtocolError,
  PythonError,
  QueueFullError,
  RateLimitError,
  TimeoutError,
  TypeMismatchError,
  UnavailableError,
  UnknownCommandError,
  VersionConflictError,
  WorkerCrashedError,
  WorkerStartError,
} from "./bridge-error.js";

/** A concrete error class of the table: constructible from a message and options, with static code/reason. */
export interface BridgeErrorClass {
  new (message: string, options?: FixedErrorOptions): BridgeError;
  readonly name: string;
  readonly code: number;
  readonly reason: string;
  readonly retryable: boolean;
}

/** Every class of testdata/errors.json, one per reason. */
export const ERROR_CLASSES: readonly BridgeErrorClass[] = Object.freeze([
  InvalidArgumentError,
  TypeMismatchError,
  ConstraintViolationError,
  UnknownCommandError,
  NotFoundError,
  AlreadyExistsError,
  PermissionDeniedError,
  AuthenticationError,
  TimeoutError,
  CancelledError,
  QueueFullError,
  PayloadTooLargeError,
  RateLimitError,
  VersionConflictError,
  CompactedError,
  FailedPreconditionError,
  NotImplementedError,
  ProtocolError,
  InternalError,
  WorkerCrashedError,
  CrashLoopError,
  WorkerStartError,
  BridgeClosedError,
  StoreUnavailableError,
  UnavailableError,
  PythonError,
  LMError,
  ParseError,
]);

const byReason = new Map<string, BridgeErrorClass>();
for (const cls of ERROR_CLASSES) {
  if (byReason.has(cls.reason)) throw new Error(`duplicate error reason ${cls.reason}`);
  byReason.set(cls.reason, cls);
}

/** The class for a reason, or undefined for reasons this build does not know. */
export function errorClassForReason(reason: string): BridgeErrorClass | undefined {
  return byReason.get(reason);
}
