export { Code, codeName, type CodeName } from "./code.js";
export { formatPythonTraceback, type TracebackFrame } from "./traceback.js";
export {
  AlreadyExistsError,
  AuthenticationError,
  BridgeClosedError,
  BridgeError,
  type BridgeErrorOptions,
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
  StoreUnavailableError,
  RateLimitError,
  TimeoutError,
  TypeMismatchError,
  UnavailableError,
  UnknownCommandError,
  VersionConflictError,
  WorkerCrashedError,
  WorkerStartError,
} from "./bridge-error.js";
export { ERROR_REASONS, type ErrorReason } from "./reasons.js";
export { ERROR_CLASSES, errorClassForReason, type BridgeErrorClass } from "./registry.js";
export { errorFromDetail, errorToDetail } from "./detail.js";
