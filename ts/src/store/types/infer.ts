import { TypeMismatchError } from "../../errors/index.js";
import { Tensor } from "../../values/index.js";
import { preview, typeNameOf } from "./describe.js";
import type { VariableType } from "./names.js";

/**
 * The type a value implies when a variable is created without a type: integer numbers and
 * bigints → integer, other numbers → float, string, boolean, arrays → list,
 * Float32Array/Float64Array → embedding, Tensor → tensor, plain objects → map. Anything else
 * (null, undefined, Uint8Array, Map, class instances) → TypeMismatchError.
 */
export function inferType(value: unknown): VariableType {
  switch (typeof value) {
    case "number":
      return Number.isInteger(value) ? "integer" : "float";
    case "bigint":
      return "integer";
    case "string":
      return "string";
    case "boolean":
      return "boolean";
    default:
  }
  if (Array.isArray(value)) return "list";
  if (value instanceof Float32Array || value instanceof Float64Array) return "embedding";
  if (value instanceof Tensor) return "tensor";
  if (typeof value === "object" && value !== null) {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) return "map";
  }
  throw new TypeMismatchError(
    `cannot infer a variable type for ${typeNameOf(value)} ${preview(value)}; give the type explicitly`,
    {
      got: typeNameOf(value),
    },
  );
}
