import { ConstraintViolationError, TypeMismatchError } from "../../errors/index.js";
import { Tensor } from "../../values/index.js";
import { compiledPattern, DEFAULT_NORM_TOLERANCE, validateConstraints } from "./constraints.js";
import { codePoints, preview, showLimit, typeNameOf } from "./describe.js";
import { canonicalType, type VariableType } from "./names.js";
import type { Pattern } from "./pattern.js";

const MODULE_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

interface Ctx {
  readonly type: VariableType;
  /** The variable's name as given (undefined when unknown). */
  readonly variable: string | undefined;
  /** What messages call the value: the variable's name (or "value"), plus an item index. */
  readonly label: string;
}

function mismatch(ctx: Ctx, value: unknown, expected: string): TypeMismatchError {
  return new TypeMismatchError(`${ctx.label} must be ${expected}, got ${typeNameOf(value)} ${preview(value)}`, {
    ...(ctx.variable === undefined ? {} : { variable: ctx.variable }),
    type: ctx.type,
    got: typeNameOf(value),
  });
}

function violation(ctx: Ctx, shown: string, constraint: string, limit: unknown, why = ""): ConstraintViolationError {
  return new ConstraintViolationError(
    `${ctx.label} = ${shown} violates ${constraint} = ${showLimit(limit)}${why === "" ? "" : ` (${why})`}`,
    { ...(ctx.variable === undefined ? {} : { variable: ctx.variable }), type: ctx.type, constraint, limit },
  );
}

function notFinite(ctx: Ctx, shown: string): ConstraintViolationError {
  return violation(
    ctx,
    shown,
    "finite",
    true,
    "NaN and Infinity are not allowed in float, embedding and tensor values",
  );
}

function checkBounds(ctx: Ctx, v: number | bigint, c: Record<string, unknown>): void {
  if (typeof c.min === "number" && v < c.min) throw violation(ctx, preview(v), "min", c.min);
  if (typeof c.max === "number" && v > c.max) throw violation(ctx, preview(v), "max", c.max);
}

function toFloat(ctx: Ctx, value: unknown): number {
  let v: number;
  if (typeof value === "number") v = value;
  else if (typeof value === "bigint") v = Number(value);
  else throw mismatch(ctx, value, "a number");
  if (!Number.isFinite(v)) throw notFinite(ctx, preview(value));
  return v;
}

function toInteger(ctx: Ctx, value: unknown): number | bigint {
  if (typeof value === "bigint") {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  }
  if (typeof value === "number" && Number.isInteger(value)) {
    return Number.isSafeInteger(value) ? value : BigInt(value);
  }
  throw mismatch(ctx, value, "an integer");
}

/** The string length checks, counting code points only when the UTF-16 length cannot decide. */
function checkStringLength(ctx: Ctx, value: string, c: Record<string, unknown>): void {
  const min = typeof c.min_length === "number" ? c.min_length : undefined;
  const max = typeof c.max_length === "number" ? c.max_length : undefined;
  if (min === undefined && max === undefined) return;
  // A string of n units has between ceil(n / 2) and n code points.
  if ((max === undefined || value.length <= max) && (min === undefined || Math.ceil(value.length / 2) >= min)) return;
  checkLength(ctx, preview(value), codePoints(value), c);
}

/** A pattern check, refused rather than run when the input is past what the check may cost. */
function checkPattern(ctx: Ctx, re: Pattern, value: string, pattern: string): void {
  if (value.length > re.maxInput) {
    throw violation(
      ctx,
      preview(value),
      "pattern",
      pattern,
      `a string of ${value.length} UTF-16 units is too long to check against this pattern: at most ${re.maxInput}`,
    );
  }
  if (!re.test(value)) throw violation(ctx, preview(value), "pattern", pattern);
}

function checkLength(ctx: Ctx, shown: string, length: number, c: Record<string, unknown>): void {
  if (typeof c.min_length === "number" && length < c.min_length) {
    throw violation(ctx, shown, "min_length", c.min_length, `length ${length}`);
  }
  if (typeof c.max_length === "number" && length > c.max_length) {
    throw violation(ctx, shown, "max_length", c.max_length, `length ${length}`);
  }
}

function scalar(type: VariableType, ctx: Ctx, value: unknown, c: Record<string, unknown>): unknown {
  switch (type) {
    case "float": {
      const v = toFloat(ctx, value);
      checkBounds(ctx, v, c);
      return v;
    }
    case "integer": {
      const v = toInteger(ctx, value);
      checkBounds(ctx, v, c);
      return v;
    }
    case "boolean":
      if (typeof value !== "boolean") throw mismatch(ctx, value, "a boolean");
      return value;
    case "string": {
      if (typeof value !== "string") throw mismatch(ctx, value, "a string");
      checkStringLength(ctx, value, c);
      const re = compiledPattern(c);
      if (re !== undefined) checkPattern(ctx, re, value, c.pattern as string);
      return value;
    }
    default:
      throw new Error(`unreachable: ${type}`);
  }
}

// --- embedding / tensor helpers -------------------------------------------------------------

function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Element i of a tensor as a number or bigint (float16 decoded, bool as 0/1). */
function elementAt(t: Tensor, i: number): number | bigint {
  const v = t.data[i]!;
  return t.dtype === "float16" ? halfToFloat(v as number) : v;
}

/** L2 norm summed in element order in float64 (the same arithmetic as the Python side). */
function l2(data: Float32Array | Float64Array): number {
  let sum = 0;
  for (let i = 0; i < data.length; i++) sum += data[i]! * data[i]!;
  return Math.sqrt(sum);
}

function embedding(ctx: Ctx, value: unknown, c: Record<string, unknown>): Float32Array | Float64Array {
  let vec: Float32Array | Float64Array;
  const wanted = c.dtype === "float32" ? "float32" : c.dtype === "float64" ? "float64" : undefined;
  if (value instanceof Float32Array || value instanceof Float64Array) {
    vec = value;
  } else if (
    value instanceof Tensor &&
    value.shape.length === 1 &&
    (value.dtype === "float32" || value.dtype === "float64")
  ) {
    vec = value.data as Float32Array | Float64Array;
  } else if (Array.isArray(value)) {
    const out = wanted === "float32" ? new Float32Array(value.length) : new Float64Array(value.length);
    for (let i = 0; i < value.length; i++) {
      const x: unknown = value[i];
      if (typeof x === "number") out[i] = x;
      else if (typeof x === "bigint") out[i] = Number(x);
      else throw mismatch({ ...ctx, label: `${ctx.label}[${i}]` }, x, "a number (embedding element)");
    }
    vec = out;
  } else {
    throw mismatch(ctx, value, "a 1-D float vector (Float32Array, Float64Array or array of numbers)");
  }
  const dtype = vec instanceof Float32Array ? "float32" : "float64";
  const shown = (): string => preview(vec);
  if (wanted !== undefined && dtype !== wanted) throw violation(ctx, shown(), "dtype", wanted, `dtype ${dtype}`);
  for (let i = 0; i < vec.length; i++) {
    if (!Number.isFinite(vec[i]!)) throw notFinite({ ...ctx, label: `${ctx.label}[${i}]` }, String(vec[i]));
  }
  if (typeof c.dimensions === "number" && vec.length !== c.dimensions) {
    throw violation(ctx, shown(), "dimensions", c.dimensions, `${vec.length} dimensions`);
  }
  if (c.normalize === true) {
    const n = l2(vec);
    if (n === 0) throw violation(ctx, shown(), "normalize", true, "a zero vector cannot be scaled to unit length");
    const out = dtype === "float32" ? new Float32Array(vec.length) : new Float64Array(vec.length);
    for (let i = 0; i < vec.length; i++) out[i] = vec[i]! / n;
    vec = out;
  }
  if (typeof c.norm === "number") {
    const n = l2(vec);
    const tol = typeof c.norm_tolerance === "number" ? c.norm_tolerance : DEFAULT_NORM_TOLERANCE;
    if (!(Math.abs(n - c.norm) <= tol * c.norm)) throw violation(ctx, shown(), "norm", c.norm, `L2 norm ${n}`);
  } else if (typeof c.norm === "string") {
    // "unit" / "l2": L2 norm 1; "l1": the absolute values sum to 1 (summed in order, in float64).
    const tol = typeof c.norm_tolerance === "number" ? c.norm_tolerance : DEFAULT_NORM_TOLERANCE;
    let n = 0;
    if (c.norm === "l1") for (let i = 0; i < vec.length; i++) n += Math.abs(vec[i]!);
    else n = l2(vec);
    if (!(Math.abs(n - 1) <= tol))
      throw violation(ctx, shown(), "norm", c.norm, `${c.norm === "l1" ? "L1" : "L2"} norm ${n}`);
  }
  if (Array.isArray(c.range)) {
    const [lo, hi] = c.range as [number, number];
    for (let i = 0; i < vec.length; i++) {
      if (vec[i]! < lo || vec[i]! > hi)
        throw violation({ ...ctx, label: `${ctx.label}[${i}]` }, String(vec[i]), "range", c.range);
    }
  }
  return vec;
}

function tensor(ctx: Ctx, value: unknown, c: Record<string, unknown>): Tensor {
  let t: Tensor;
  if (value instanceof Tensor) t = value;
  else if (value instanceof Float32Array) t = new Tensor("float32", [value.length], value);
  else if (value instanceof Float64Array) t = new Tensor("float64", [value.length], value);
  else throw mismatch(ctx, value, "a Tensor");
  const shown = (): string => preview(t);
  if (typeof c.dtype === "string" && t.dtype !== c.dtype)
    throw violation(ctx, shown(), "dtype", c.dtype, `dtype ${t.dtype}`);
  if (Array.isArray(c.shape)) {
    const want = c.shape as (number | null)[];
    if (want.length !== t.shape.length || want.some((d, i) => d !== null && d !== t.shape[i])) {
      throw violation(ctx, shown(), "shape", c.shape, `shape [${t.shape.join(", ")}]`);
    }
  }
  const isFloat = t.dtype === "float16" || t.dtype === "float32" || t.dtype === "float64";
  if (isFloat) {
    for (let i = 0; i < t.size; i++) {
      const v = elementAt(t, i) as number;
      if (!Number.isFinite(v)) throw notFinite(ctx, `${shown()} with element ${i} = ${v}`);
    }
  }
  if (Array.isArray(c.range)) {
    const [lo, hi] = c.range as [number, number];
    for (let i = 0; i < t.size; i++) {
      const v = elementAt(t, i);
      if (v < lo || v > hi) throw violation(ctx, `${shown()} with element ${i} = ${v}`, "range", c.range);
    }
  }
  if (typeof c.min_value === "number" || typeof c.max_value === "number") {
    for (let i = 0; i < t.size; i++) {
      const v = elementAt(t, i);
      if (typeof c.min_value === "number" && v < c.min_value)
        throw violation(ctx, `${shown()} with element ${i} = ${v}`, "min_value", c.min_value);
      if (typeof c.max_value === "number" && v > c.max_value)
        throw violation(ctx, `${shown()} with element ${i} = ${v}`, "max_value", c.max_value);
    }
  }
  return t;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Check `value` against a variable type and its constraints and return the value to store:
 * floats as numbers (bigints converted), integers as numbers within ±(2^53−1) and bigints
 * beyond, lists as new arrays (items normalized by `item_type`), embeddings as
 * Float32Array/Float64Array (arrays of numbers → Float64Array, or the constrained dtype;
 * `normalize` scales to unit L2 norm), tensors as `Tensor`.
 *
 * Throws TypeMismatchError (wrong type), ConstraintViolationError (a constraint, or the
 * implicit `finite` / `identifier` checks, fails) and InvalidArgumentError (bad type name or
 * constraints; see validateConstraints).
 */
export function validateValue(type: string, value: unknown, constraints: unknown, variableName?: string): unknown {
  const t = canonicalType(type);
  const c = validateConstraints(t, constraints);
  const ctx: Ctx = { type: t, variable: variableName, label: variableName ?? "value" };
  switch (t) {
    case "float":
    case "integer":
    case "boolean":
    case "string":
      return scalar(t, ctx, value, c);
    case "choice":
    case "module": {
      if (typeof value !== "string") throw mismatch(ctx, value, `a string (${t})`);
      if (t === "module" && !MODULE_NAME.test(value)) {
        throw violation(ctx, preview(value), "identifier", true, "a module name is a (dotted) Python identifier");
      }
      const choices = c.choices as string[] | undefined;
      if (choices !== undefined && !choices.includes(value)) throw violation(ctx, preview(value), "choices", choices);
      return value;
    }
    case "list": {
      if (!Array.isArray(value)) throw mismatch(ctx, value, "a list");
      checkLength(ctx, preview(value), value.length, c);
      const itemType = c.item_type as VariableType | undefined;
      if (itemType === undefined) return [...value];
      return value.map((item: unknown, i) => scalar(itemType, { ...ctx, label: `${ctx.label}[${i}]` }, item, {}));
    }
    case "map": {
      if (!isPlainObject(value)) throw mismatch(ctx, value, "a map (plain object with string keys)");
      const required = c.required_keys as string[] | undefined;
      if (required !== undefined) {
        const missing = required.filter((k) => !Object.hasOwn(value, k));
        if (missing.length > 0) {
          throw violation(
            ctx,
            preview(value),
            "required_keys",
            required,
            `missing ${missing.map((k) => JSON.stringify(k)).join(", ")}`,
          );
        }
      }
      const n = Object.keys(value).length;
      if (typeof c.max_keys === "number" && n > c.max_keys)
        throw violation(ctx, preview(value), "max_keys", c.max_keys, `${n} keys`);
      return value;
    }
    case "embedding":
      return embedding(ctx, value, c);
    case "tensor":
      return tensor(ctx, value, c);
  }
}
