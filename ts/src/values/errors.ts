// Errors raised by the value envelope codec: invalid arguments (reason "invalid_argument")
// whose `path` names where in the value the problem is (`args.items[3]`, `args["odd key"]`).
import { InvalidArgumentError } from "../errors/index.js";

export type PathSegment = string | number;

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `root` followed by `.key` / `["odd key"]` / `[3]` for each segment (outermost first). */
export function formatPath(root: string, segments: readonly PathSegment[]): string {
  let out = root;
  for (const seg of segments) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (seg.length <= 100 && IDENT.test(seg)) out += `.${seg}`;
    // A key is echoed at most 100 characters long: a client may send keys of any length.
    else out += `[${JSON.stringify(seg.length <= 100 ? seg : `${seg.slice(0, 99)}…`)}]`;
  }
  return out;
}

/** A JavaScript value cannot be represented in the value envelope. */
export class ValueEncodingError extends InvalidArgumentError {
  readonly path: string;
  readonly detail: string;
  constructor(path: string, detail: string) {
    super(`cannot encode ${path}: ${detail}`, { details: { path } });
    this.name = "ValueEncodingError";
    this.path = path;
    this.detail = detail;
  }
}

/** A `Value` message is malformed (bad JSON, unknown tag, bad attachment, ...). */
export class ValueDecodingError extends InvalidArgumentError {
  readonly path: string;
  readonly detail: string;
  constructor(path: string, detail: string) {
    super(`cannot decode ${path}: ${detail}`, { details: { path } });
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
