// Small checks of request input shared by the store and export/import.
import { InvalidArgumentError } from "../errors/index.js";
import { setOwn } from "../values/encode.js";
import { quote } from "./types/describe.js";
import { compileClientPattern, type Pattern } from "./types/pattern.js";

/**
 * A map of strings, copied into a fresh object: a `__proto__` key is an ordinary key (never
 * the copy's prototype). Messages quote keys clipped.
 */
export function stringMap(input: unknown, where: string): Record<string, string> {
  if (input === undefined || input === null) return {};
  if (typeof input !== "object" || Array.isArray(input))
    throw new InvalidArgumentError(`${where} must be a map of strings`, { parameter: where });
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(input)) {
    if (typeof v !== "string") {
      const short = k.length <= 100;
      throw new InvalidArgumentError(
        `${short ? `${where}.${k}` : `${where}[${quote(k)}]`} must be a string, got ${v === null ? "null" : typeof v}`,
        {
          parameter: short ? `${where}.${k}` : where,
        },
      );
    }
    setOwn(out, k, v);
  }
  return out;
}

// Patterns of ListVariables and export filters: compiled once each (RE2 compiles in
// milliseconds, but a client may send the same one on every call).
const recent = new Map<string, Pattern>();
const RECENT_PATTERNS = 64;

/** A name filter from a client (ListVariables `pattern`, export `filter_pattern`): RE2, search semantics. */
export function compilePattern(pattern: string | undefined, parameter = "pattern"): Pattern | undefined {
  if (!pattern) return undefined;
  const cached = recent.get(pattern);
  if (cached) return cached;
  const compiled = compileClientPattern(pattern, parameter);
  if (recent.size >= RECENT_PATTERNS) recent.delete(recent.keys().next().value!);
  recent.set(pattern, compiled);
  return compiled;
}
