/**
 * gRPC status codes, by their canonical gRPC names (the same names as `grpc.status` in
 * @grpc/grpc-js and `grpc.StatusCode` in Python), so `status[codeName(code)]` maps across.
 */
export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type Code = (typeof Code)[keyof typeof Code];
export type CodeName = keyof typeof Code;

const names = new Map<number, CodeName>(
  (Object.entries(Code) as [CodeName, Code][]).map(([name, value]) => [value, name]),
);

/** The gRPC name of a code number ("INVALID_ARGUMENT"), or `CODE_<n>` for numbers outside 0..16. */
export function codeName(code: number): string {
  return names.get(code) ?? `CODE_${code}`;
}
