import { InvalidArgumentError } from "../../errors/index.js";
import { isDTypeName } from "../../values/index.js";
import { canonicalType, type VariableType } from "./names.js";
import { clip } from "./describe.js";
import { compileClientPattern, type Pattern } from "./pattern.js";

/** The constraint names each type accepts (docs/variables-types.md). */
export const CONSTRAINTS_BY_TYPE: Readonly<Record<VariableType, readonly string[]>> = Object.freeze({
  float: ["min", "max"],
  integer: ["min", "max"],
  string: ["min_length", "max_length", "pattern"],
  boolean: [],
  choice: ["choices"],
  module: ["choices"],
  list: ["min_length", "max_length", "item_type"],
  map: ["required_keys", "max_keys"],
  embedding: ["dimensions", "dtype", "normalize", "norm", "norm_tolerance", "range"],
  tensor: ["shape", "dtype", "range", "min_value", "max_value"],
});

/** Item types a `list` may constrain its items to. */
export const LIST_ITEM_TYPES: readonly VariableType[] = Object.freeze(["float", "integer", "string", "boolean"]);

/**
 * The embedding `norm` constraint's names, kept so that Python code written with them keeps
 * working: "unit" and "l2" are L2 norm 1, "l1" is L1 norm 1.
 */
export const NORM_NAMES: readonly string[] = Object.freeze(["unit", "l2", "l1"]);

/** Default relative tolerance of the embedding `norm` constraint. */
export const DEFAULT_NORM_TOLERANCE = 1e-6;

// Normalized constraint objects (the result of validateConstraints) and the type they were
// validated for, so validateValue does not re-validate them; compiled patterns by object.
const validated = new WeakMap<object, VariableType>();
const compiled = new WeakMap<object, Pattern>();

function bad(name: string, message: string): InvalidArgumentError {
  return new InvalidArgumentError(message, { parameter: name === "" ? "constraints" : `constraints.${name}` });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** A constraint's value in a message: JSON, clipped (a client may send anything, of any size or depth). */
const show = (v: unknown): string => {
  try {
    return clip(JSON.stringify(v) ?? typeof v, 100);
  } catch {
    return Array.isArray(v) ? "a list" : typeof v;
  }
};

function finiteNumber(type: VariableType, name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw bad(name, `${type} constraint '${name}' must be a finite number, got ${show(v)}`);
  }
  return v;
}

function count(type: VariableType, name: string, v: unknown, least = 0): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < least) {
    const what = least === 0 ? "a non-negative integer" : `an integer >= ${least}`;
    throw bad(name, `${type} constraint '${name}' must be ${what}, got ${show(v)}`);
  }
  return v;
}

function stringList(type: VariableType, name: string, v: unknown, nonEmpty: boolean): string[] {
  if (!Array.isArray(v) || !v.every((s) => typeof s === "string") || (nonEmpty && v.length === 0)) {
    throw bad(
      name,
      `${type} constraint '${name}' must be a ${nonEmpty ? "non-empty " : ""}list of strings, got ${show(v)}`,
    );
  }
  return [...(v as string[])];
}

function range(type: VariableType, v: unknown): [number, number] {
  if (
    !Array.isArray(v) ||
    v.length !== 2 ||
    !v.every((x) => typeof x === "number" && Number.isFinite(x)) ||
    (v[0] as number) > (v[1] as number)
  ) {
    throw bad("range", `${type} constraint 'range' must be [lo, hi] with finite numbers lo <= hi, got ${show(v)}`);
  }
  return [v[0] as number, v[1] as number];
}

function parse(constraints: unknown): Record<string, unknown> {
  if (constraints === undefined || constraints === null || constraints === "") return {};
  let value: unknown = constraints;
  if (typeof value === "string") {
    try {
      value = JSON.parse(value) as unknown;
    } catch (err) {
      throw new InvalidArgumentError(`constraints are not valid JSON: ${(err as Error).message}`, {
        parameter: "constraints",
        cause: err,
      });
    }
    if (value === null) return {};
  }
  if (!isPlainObject(value)) throw bad("", `constraints must be a JSON object, got ${show(value)}`);
  return value;
}

/**
 * Check `constraints` (a plain object, a JSON object text, or null/undefined for none) for a
 * type and return them normalized: aliases resolved (`item_type`), `-1` in a tensor shape
 * written as `null`. Unknown constraints, wrong value types, min > max, … throw
 * InvalidArgumentError whose `parameter` is `constraints.<name>`.
 */
export function validateConstraints(type: string, constraints: unknown): Record<string, unknown> {
  const t = canonicalType(type);
  if (typeof constraints === "object" && constraints !== null && validated.get(constraints) === t) {
    return constraints as Record<string, unknown>;
  }
  const input = parse(constraints);
  const allowed = CONSTRAINTS_BY_TYPE[t];
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(input)) {
    if (!allowed.includes(key)) {
      const known = allowed.length === 0 ? "it takes none" : `known: ${allowed.join(", ")}`;
      throw bad(key, `unknown constraint '${key}' for type ${t} (${known})`);
    }
  }
  const has = (k: string): boolean => Object.hasOwn(input, k);
  let pattern: Pattern | undefined;

  switch (t) {
    case "float":
    case "integer":
      if (has("min")) out.min = finiteNumber(t, "min", input.min);
      if (has("max")) out.max = finiteNumber(t, "max", input.max);
      if (has("min") && has("max") && (out.min as number) > (out.max as number)) {
        throw bad("min", `${t} constraint 'min' (${show(out.min)}) is greater than 'max' (${show(out.max)})`);
      }
      break;
    case "string":
    case "list":
      if (has("min_length")) out.min_length = count(t, "min_length", input.min_length);
      if (has("max_length")) out.max_length = count(t, "max_length", input.max_length);
      if (has("min_length") && has("max_length") && (out.min_length as number) > (out.max_length as number)) {
        throw bad(
          "min_length",
          `${t} constraint 'min_length' (${show(out.min_length)}) is greater than 'max_length' (${show(out.max_length)})`,
        );
      }
      if (t === "string" && has("pattern")) {
        if (typeof input.pattern !== "string") {
          throw bad(
            "pattern",
            `string constraint 'pattern' must be a regular expression string, got ${show(input.pattern)}`,
          );
        }
        pattern = compileClientPattern(input.pattern, "constraints.pattern", "string constraint 'pattern'");
        out.pattern = input.pattern;
      }
      if (t === "list" && has("item_type")) {
        const item = input.item_type;
        let canon: VariableType | undefined;
        try {
          canon = typeof item === "string" ? canonicalType(item) : undefined;
        } catch {
          canon = undefined;
        }
        if (canon === undefined || !LIST_ITEM_TYPES.includes(canon)) {
          throw bad(
            "item_type",
            `list constraint 'item_type' must be one of ${LIST_ITEM_TYPES.join(", ")}, got ${show(item)}`,
          );
        }
        out.item_type = canon;
      }
      break;
    case "boolean":
      break;
    case "choice":
      if (!has("choices"))
        throw bad("choices", "choice variables need a 'choices' constraint (a non-empty list of strings)");
      out.choices = stringList(t, "choices", input.choices, true);
      break;
    case "module":
      if (has("choices")) out.choices = stringList(t, "choices", input.choices, true);
      break;
    case "map":
      if (has("required_keys")) out.required_keys = stringList(t, "required_keys", input.required_keys, false);
      if (has("max_keys")) out.max_keys = count(t, "max_keys", input.max_keys);
      if (has("required_keys") && has("max_keys")) {
        const required = new Set(out.required_keys as string[]).size;
        if (required > (out.max_keys as number)) {
          throw bad(
            "max_keys",
            `map constraint 'max_keys' (${show(out.max_keys)}) is less than the ${required} required keys`,
          );
        }
      }
      break;
    case "embedding":
      if (has("dimensions")) out.dimensions = count(t, "dimensions", input.dimensions, 1);
      if (has("dtype")) {
        if (input.dtype !== "float32" && input.dtype !== "float64") {
          throw bad("dtype", `embedding constraint 'dtype' must be "float32" or "float64", got ${show(input.dtype)}`);
        }
        out.dtype = input.dtype;
      }
      if (has("normalize")) {
        if (typeof input.normalize !== "boolean") {
          throw bad(
            "normalize",
            `embedding constraint 'normalize' must be true or false, got ${show(input.normalize)}`,
          );
        }
        out.normalize = input.normalize;
      }
      if (has("norm")) {
        // A number (the L2 norm), or one of NORM_NAMES: "unit" and "l2" (L2 norm 1), "l1" (L1 norm 1).
        if (typeof input.norm === "string") {
          if (!NORM_NAMES.includes(input.norm)) {
            throw bad(
              "norm",
              `embedding constraint 'norm' must be a number >= 0 or one of ${NORM_NAMES.map((n) => `"${n}"`).join(", ")}, got ${show(input.norm)}`,
            );
          }
          if (out.normalize === true && input.norm === "l1") {
            throw bad(
              "norm",
              'embedding constraint \'norm\' must be 1, "unit" or "l2" when \'normalize\' is true (it scales to unit L2 norm), got "l1"',
            );
          }
          out.norm = input.norm;
        } else {
          const norm = finiteNumber(t, "norm", input.norm);
          if (norm < 0) throw bad("norm", `embedding constraint 'norm' must be >= 0, got ${show(norm)}`);
          if (out.normalize === true && norm !== 1) {
            throw bad("norm", `embedding constraint 'norm' must be 1 when 'normalize' is true, got ${show(norm)}`);
          }
          out.norm = norm;
        }
      }
      if (has("norm_tolerance")) {
        const tol = finiteNumber(t, "norm_tolerance", input.norm_tolerance);
        if (tol < 0)
          throw bad("norm_tolerance", `embedding constraint 'norm_tolerance' must be >= 0, got ${show(tol)}`);
        out.norm_tolerance = tol;
      }
      if (has("range")) out.range = range(t, input.range);
      break;
    case "tensor":
      if (has("shape")) {
        const shape = input.shape;
        if (
          !Array.isArray(shape) ||
          !shape.every((d) => d === null || d === -1 || (typeof d === "number" && Number.isSafeInteger(d) && d >= 0))
        ) {
          throw bad(
            "shape",
            `tensor constraint 'shape' must be a list of non-negative integers (null or -1 = any size), got ${show(shape)}`,
          );
        }
        out.shape = shape.map((d: unknown) => (d === -1 ? null : d));
      }
      if (has("dtype")) {
        if (typeof input.dtype !== "string" || !isDTypeName(input.dtype)) {
          throw bad(
            "dtype",
            `tensor constraint 'dtype' must be a dtype name such as "float32", got ${show(input.dtype)}`,
          );
        }
        out.dtype = input.dtype;
      }
      if (has("range")) {
        if (out.dtype === "bool")
          throw bad("range", "tensor constraint 'range' applies to numeric dtypes only, not bool");
        out.range = range(t, input.range);
      }
      // Element bounds, one or both, as Python's tensor constraints name them (`range` is both at once).
      for (const key of ["min_value", "max_value"] as const) {
        if (!has(key)) continue;
        if (out.dtype === "bool") throw bad(key, `tensor constraint '${key}' applies to numeric dtypes only, not bool`);
        out[key] = finiteNumber(t, key, input[key]);
      }
      if (typeof out.min_value === "number" && typeof out.max_value === "number" && out.min_value > out.max_value) {
        throw bad(
          "max_value",
          `tensor constraint 'max_value' (${show(out.max_value)}) is less than 'min_value' (${show(out.min_value)})`,
        );
      }
      break;
  }
  Object.freeze(out);
  validated.set(out, t);
  if (pattern !== undefined) compiled.set(out, pattern);
  return out;
}

/** The compiled `pattern` of normalized string constraints (RE2, search semantics). */
export function compiledPattern(constraints: Record<string, unknown>): Pattern | undefined {
  if (typeof constraints.pattern !== "string") return undefined;
  let re = compiled.get(constraints);
  if (re === undefined) {
    re = compileClientPattern(constraints.pattern, "constraints.pattern", "string constraint 'pattern'");
    compiled.set(constraints, re);
  }
  return re;
}
