import { InvalidArgumentError } from "../../errors/index.js";
import type { Tensor } from "../../values/index.js";

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

/** A variable type name as `define` takes it: a canonical name or an alias (`int`, `str`, `bool`, `dict`). */
export type VariableTypeName =
  | "float"
  | "integer"
  | "int"
  | "string"
  | "str"
  | "boolean"
  | "bool"
  | "choice"
  | "module"
  | "list"
  | "map"
  | "dict"
  | "embedding"
  | "tensor";

/** The values a variable of type `T` accepts (docs/variables-types.md). */
export interface VariableValueTypes {
  float: number | bigint;
  integer: number | bigint;
  int: number | bigint;
  string: string;
  str: string;
  boolean: boolean;
  bool: boolean;
  choice: string;
  module: string;
  list: unknown[];
  map: Record<string, unknown>;
  dict: Record<string, unknown>;
  embedding: Float32Array | Float64Array | Tensor | number[];
  tensor: Tensor | Float32Array | Float64Array;
}

/** The value type of a variable type name. */
export type VariableValue<T extends VariableTypeName> = VariableValueTypes[T];
