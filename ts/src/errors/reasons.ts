// The error reasons of the shared error table (testdata/errors.json), as a closed union for
// `switch (err.reason)`. Rows are only ever added to the table; a reason this build does not
// know (a newer peer's, or a user's own `new BridgeError(msg, { reason })`) still arrives as a
// plain BridgeError, which is why `BridgeError.reason` also admits other strings.
export const ERROR_REASONS = [
  "invalid_argument",
  "type_mismatch",
  "constraint_violation",
  "unknown_command",
  "not_found",
  "already_exists",
  "permission_denied",
  "unauthenticated",
  "timeout",
  "cancelled",
  "queue_full",
  "payload_too_large",
  "rate_limited",
  "version_conflict",
  "compacted",
  "failed_precondition",
  "not_implemented",
  "protocol_error",
  "internal",
  "worker_crashed",
  "crash_loop",
  "worker_start_failed",
  "bridge_closed",
  "store_unavailable",
  "unavailable",
  "python_error",
  "lm_error",
  "parse_error",
] as const;

/** A reason of the error table; `"unknown"` is a bare `BridgeError`'s. */
export type ErrorReason = (typeof ERROR_REASONS)[number] | "unknown";
