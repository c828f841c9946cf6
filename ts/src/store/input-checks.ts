// Small checks of request input shared by the store and export/import.
import { InvalidArgumentError } from "../errors/index.js";

export function stringMap(input: unknown, where: string): Record<string, string> {
  if (input === undefined || input === null) return {};
  if (typeof input !== "object" || Array.isArray(input)) throw new InvalidArgumentError(`${where} must be a map of strings`, { parameter: where });
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(input)) {
    if (typeof v !== "string") throw new InvalidArgumentError(`${where}.${k} must be a string, got ${typeof v}`, { parameter: `${where}.${k}` });
    out[k] = v;
  }
  return out;
}

export function compilePattern(pattern: string | undefined): RegExp | undefined {
  if (!pattern) return undefined;
  try {
    return new RegExp(pattern);
  } catch (err) {
    throw new InvalidArgumentError(`invalid pattern ${JSON.stringify(pattern)}: ${(err as Error).message}`, { parameter: "pattern" });
  }
}
