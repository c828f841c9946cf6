// Regular expressions from clients (the `pattern` constraint, ListVariables patterns, export
// filters) run on RE2 (re2js: a pure-JavaScript port, no native build), whose matching time is
// linear in the input: no pattern can make the host backtrack for seconds. The Python side
// uses RE2 too (google-re2), so both languages accept the same syntax: RE2's, without
// backreferences or lookaround (docs/variables-types.md).
import { RE2JS } from "re2js";
import { InvalidArgumentError } from "../../errors/index.js";
import { clip, codePoints, quote } from "./describe.js";

/** The longest pattern accepted, in code points. */
export const MAX_PATTERN_LENGTH = 1_000;
/**
 * The largest compiled program accepted (RE2's "program size", roughly one instruction per
 * character matched: `[a-z]{500}` is ~500). Bounds compile time, what the first characters
 * cost while the matcher builds its states (about size² × 0.25 µs: 250 ms at 1,000), and
 * what each character can cost.
 */
export const MAX_PATTERN_PROGRAM = 1_000;
/**
 * What one value check may cost, as (program size + 2) × input length in UTF-16 units. RE2 is
 * linear in the input, but its slowest path visits every instruction of the program for each
 * character (about 0.1 µs per instruction and character here, and 0.15-0.35 µs per character
 * at best); past this budget the check is refused rather than run: about 100 ms at worst.
 * `^[a-z ]+$` (6) may check 131,000 characters, `\p{L}{900}` (902) about 1,150.
 */
export const PATTERN_CHECK_BUDGET = 1 << 20;

/** A compiled client pattern: search semantics (`test` finds a match anywhere; anchor with `^…$`). */
export interface Pattern {
  readonly source: string;
  /** RE2's program size. */
  readonly size: number;
  test(text: string): boolean;
  /** The longest input a value check may give `test` (PATTERN_CHECK_BUDGET / (size + 2)). */
  readonly maxInput: number;
}

/**
 * Compiles a pattern from a client with RE2, or throws InvalidArgumentError (`parameter`)
 * naming the problem: too long, not RE2 syntax (a backreference, a lookaround, ...), too
 * large a program. Messages quote the pattern clipped, never whole.
 */
export function compileClientPattern(pattern: string, parameter: string, what = "pattern"): Pattern {
  if (typeof pattern !== "string")
    throw new InvalidArgumentError(`${what} must be a string, got ${typeof pattern}`, { parameter });
  if (pattern.length > MAX_PATTERN_LENGTH) {
    // Counted only when it could matter: past twice the limit in UTF-16 units it is over in code points too.
    const length = pattern.length > 4 * MAX_PATTERN_LENGTH ? undefined : codePoints(pattern);
    if (length === undefined || length > MAX_PATTERN_LENGTH) {
      const shown = length === undefined ? `${pattern.length} UTF-16 units` : `${length} characters`;
      throw new InvalidArgumentError(`${what} is ${shown} long, over the limit of ${MAX_PATTERN_LENGTH} characters`, {
        parameter,
      });
    }
  }
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (err) {
    const why = clip(String((err as Error).message ?? err).replace(/^error parsing regexp: /, ""), 200);
    throw new InvalidArgumentError(
      `${what} ${quote(pattern)} is not a valid RE2 regular expression: ${why} (RE2 syntax: no backreferences, no lookahead or lookbehind)`,
      { parameter },
    );
  }
  const size = re.programSize();
  if (size > MAX_PATTERN_PROGRAM) {
    throw new InvalidArgumentError(
      `${what} ${quote(pattern)} compiles to a program of ${size} instructions, over the limit of ${MAX_PATTERN_PROGRAM} (use smaller repetition counts)`,
      { parameter },
    );
  }
  return {
    source: pattern,
    size,
    maxInput: Math.floor(PATTERN_CHECK_BUDGET / (size + 2)),
    test: (text: string) => re.test(text),
  };
}
