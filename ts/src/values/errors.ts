// Errors raised by the value envelope codec. Self-contained on purpose (they extend Error
// directly) so the shared error hierarchy in ts/src/errors/ can re-parent them later without
// changing callers: `reason` is the wire-level error reason and `path` names where in the value
// the problem is (`args.items[3]`, `args["odd key"]`).

export type PathSegment = string | number;

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `root` followed by `.key` / `["odd key"]` / `[3]` for each segment (outermost first). */
export function formatPath(root: string, segments: readonly PathSegment[]): string {
  let out = root;
  for (const seg of segments) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (IDENT.test(seg)) out += `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** A JavaScript value cannot be represented in the value envelope. */
export class ValueEncodingError extends Error {
  readonly reason = "invalid_argument" as const;
  readonly path: string;
  readonly detail: string;
  constructor(path: string, detail: string) {
    super(`cannot encode ${path}: ${detail}`);
    this.name = "ValueEncodingError";
    this.path = path;
    this.detail = detail;
  }
}

/** A `Value` message is malformed (bad JSON, unknown tag, bad attachment, ...). */
export class ValueDecodingError extends Error {
  readonly reason = "invalid_argument" as const;
  readonly path: string;
  readonly detail: string;
  constructor(path: string, detail: string) {
    super(`cannot decode ${path}: ${detail}`);
    this.name = "ValueDecodingError";
    this.path = path;
    this.detail = detail;
  }
}

/** Internal: thrown deep inside a walk; containers push their segment while it unwinds. */
export class WalkFailure extends Error {
  readonly segments: PathSegment[] = [];
  constructor(readonly detail: string) {
    super(detail);
  }
}
