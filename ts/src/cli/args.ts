// Command-line options on Node's own parser (node:util parseArgs): `--flag value` and
// `--flag=value`, `--help`/`-h` on every command, and usage errors that say which option and
// what it needs. Exit codes of the CLI (docs/cli.md): 0 done, 1 failed, 2 usage error,
// 130 interrupted (Ctrl-C / SIGTERM).
import { parseArgs, type ParseArgsConfig } from "node:util";

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

/** A usage mistake: printed with the command's help, exit code 2. */
export class UsageError extends Error {}

export type OptionTable = NonNullable<ParseArgsConfig["options"]>;

/** Added to every command's table: `--help` / `-h`. */
const HELP_OPTION: OptionTable = { help: { type: "boolean", short: "h" } };

export type Parsed = { help: boolean; values: Record<string, string | boolean | string[] | undefined> };

/** Parses `argv` against `options` (strict: unknown options, stray words and missing values are UsageErrors). */
export function parseOptions(argv: string[], options: OptionTable): Parsed {
  try {
    const { values } = parseArgs({
      args: argv,
      options: { ...options, ...HELP_OPTION },
      strict: true,
      allowPositionals: false,
    });
    const { help, ...rest } = values as Record<string, string | boolean | string[] | undefined>;
    return { help: help === true, values: rest };
  } catch (err) {
    throw new UsageError(usageMessage(err as Error & { code?: string }));
  }
}

/** Node's parse errors, shorter and naming the option the way the help does. */
function usageMessage(err: Error & { code?: string }): string {
  const option = /'(-{1,2}[^' ]+)/.exec(err.message)?.[1];
  switch (err.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown option ${option ?? err.message}`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      // A string option without its value ("argument missing", or followed by another option),
      // or a boolean option given a value (`--json=yes`).
      if (/argument missing|ambiguous/.test(err.message))
        return `${option} needs a value (${option} VALUE or ${option}=VALUE)`;
      return `${option} takes no value`;
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument ${/'([^']*)'/.exec(err.message)?.[1] ?? ""} (options start with --)`.trim();
    default:
      return err.message;
  }
}

export function str(values: Parsed["values"], name: string): string | undefined {
  const v = values[name];
  return typeof v === "string" ? v : undefined;
}

export function flag(values: Parsed["values"], name: string): boolean {
  return values[name] === true;
}

export function list(values: Parsed["values"], name: string, separator: string): string[] | undefined {
  const v = str(values, name);
  return v === undefined ? undefined : v.split(separator).filter(Boolean);
}

/** A number option: finite (an integer with `integer`), at least `min` when given. */
export function num(
  values: Parsed["values"],
  name: string,
  opts: { integer?: boolean; min?: number; what?: string } = {},
): number | undefined {
  const raw = str(values, name);
  if (raw === undefined) return undefined;
  const n = raw.trim() === "" ? Number.NaN : Number(raw);
  const what =
    opts.what ??
    (opts.integer
      ? opts.min === 1
        ? "a positive integer"
        : opts.min === 0
          ? "a non-negative integer"
          : "an integer"
      : "a number");
  if (!Number.isFinite(n) || (opts.integer && !Number.isInteger(n)) || (opts.min !== undefined && n < opts.min)) {
    throw new UsageError(`--${name} needs ${what}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** One of a closed set of words. */
export function choice<T extends string>(values: Parsed["values"], name: string, allowed: readonly T[]): T | undefined {
  const raw = str(values, name);
  if (raw === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(raw))
    throw new UsageError(`--${name} must be ${allowed.join(", ")}; got ${JSON.stringify(raw)}`);
  return raw as T;
}
