import { InvalidArgumentError } from "../../errors/index.js";

/** The canonical variable type names (docs/variables-types.md). */
export const VARIABLE_TYPES = Object.freeze([
  "float",
  "integer",
  "string",
  "boolean",
  "choice",
  "module",
  "list",
  "map",
  "embedding",
  "tensor",
] as const);

export type VariableType = (typeof VARIABLE_TYPES)[number];

/** Accepted alternative spellings and the canonical name each stands for. */
export const TYPE_ALIASES: Readonly<Record<string, VariableType>> = Object.freeze({
  int: "integer",
  str: "string",
  bool: "boolean",
  dict: "map",
});

const CANONICAL = new Set<string>(VARIABLE_TYPES);

/** The canonical name of a type name or alias; InvalidArgumentError (parameter "type") otherwise. */
export function canonicalType(name: string): VariableType {
  if (typeof name === "string") {
    if (CANONICAL.has(name)) return name as VariableType;
    const alias = Object.hasOwn(TYPE_ALIASES, name) ? TYPE_ALIASES[name] : undefined;
    if (alias !== undefined) return alias;
  }
  const shown = typeof name === "string" ? JSON.stringify(name) : `a ${typeof name}`;
  throw new InvalidArgumentError(
    `unknown variable type ${shown}; known types: ${VARIABLE_TYPES.join(", ")} (aliases: ${Object.entries(TYPE_ALIASES)
      .map(([a, c]) => `${a} = ${c}`)
      .join(", ")})`,
    { parameter: "type" },
  );
}
