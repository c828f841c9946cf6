// The constraint language: compile JSON documents into a checked tree, and evaluate it.
// Format and semantics: docs/configuration.md. Python twin: python/dspy_bridge/spaces/_lang.py;
// both must agree on every rule here (testdata/config-spaces.json checks it).
import { InvalidArgumentError } from "../errors/index.js";

export type Scalar = string | number | boolean;
export type Kind = "number" | "string" | "boolean";

/** Expression documents. */
export type ExprDoc =
  | { var: string }
  | { const: Scalar }
  | { op: "+" | "-" | "*" | "/"; args: ExprDoc[] }
  | { lookup: ExprDoc; table: Record<string, Scalar>; default?: Scalar };

/** Condition documents (a top-level constraint may also carry `name` and `description`). */
export type ConditionDoc =
  | { op: "==" | "!=" | "<" | "<=" | ">" | ">="; left: ExprDoc; right: ExprDoc }
  | { op: "in"; left: ExprDoc; values: Scalar[] }
  | { and: ConditionDoc[] }
  | { or: ConditionDoc[] }
  | { not: ConditionDoc }
  | { if: ConditionDoc; then: ConditionDoc };

export type ConstraintDoc = ConditionDoc & { name?: string; description?: string };

export const COMPARISONS = ["==", "!=", "<", "<=", ">", ">="] as const;
const ARITH = ["+", "-", "*", "/"];
const ORDERING = ["<", "<=", ">", ">="];

export type Expr =
  | { t: "var"; name: string }
  | { t: "const"; value: Scalar }
  | { t: "arith"; op: string; args: Expr[] }
  | { t: "lookup"; key: Expr; table: Map<string, Scalar>; hasDefault: boolean; default: Scalar | undefined };

export type Cond =
  | { t: "cmp"; op: string; left: Expr; right: Expr }
  | { t: "in"; left: Expr; values: Scalar[] }
  | { t: "and" | "or"; items: Cond[] }
  | { t: "not"; item: Cond }
  | { t: "if"; cond: Cond; then: Cond };

/** A clause could not be evaluated (division by zero, a non-number in arithmetic, …). */
export class EvalError extends Error {}

export function kindOf(value: unknown): Kind | undefined {
  if (typeof value === "boolean") return "boolean";
  if (typeof value === "number") return Number.isFinite(value) ? "number" : undefined;
  if (typeof value === "string") return "string";
  return undefined;
}

export interface CompileContext {
  kinds: ReadonlyMap<string, ReadonlySet<string>>;
  /** Names allowed (active_when: earlier variables only); undefined = all declared. */
  allowed?: ReadonlyMap<string, unknown>;
  whyNot?: string;
  refs: Set<string>;
}

export const bad = (path: string, message: string): InvalidArgumentError =>
  new InvalidArgumentError(`${path}: ${message}`, { parameter: path });

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export const describe = (v: unknown): string =>
  v === null ? "null" : Array.isArray(v) ? "list" : typeof v === "object" ? "dict" : typeof v;

export function checkKeys(node: Record<string, unknown>, path: string, allowed: readonly string[], what: string): void {
  const extra = Object.keys(node)
    .filter((k) => !allowed.includes(k))
    .sort();
  if (extra.length > 0) throw bad(path, `unknown key '${extra[0]}' in ${what} (allowed: ${allowed.join(", ")})`);
}

function scalar(value: unknown, path: string): Scalar {
  if (kindOf(value) === undefined) {
    throw bad(path, `expected a string, finite number or boolean, got ${describe(value)}`);
  }
  return value as Scalar;
}

const kindsText = (k: ReadonlySet<string>): string => [...k].sort().join("/");

export function compileExpr(node: unknown, path: string, ctx: CompileContext): [Expr, Set<string>] {
  if (!isObject(node)) throw bad(path, `an expression must be an object, got ${describe(node)}`);
  if ("var" in node) {
    checkKeys(node, path, ["var"], "a variable reference");
    const name = node.var;
    if (typeof name !== "string") throw bad(`${path}.var`, "a variable name must be a string");
    const kinds = ctx.kinds.get(name);
    if (kinds === undefined) throw bad(`${path}.var`, `unknown variable '${name}'`);
    if (ctx.allowed !== undefined && !ctx.allowed.has(name))
      throw bad(`${path}.var`, `variable '${name}' ${ctx.whyNot ?? ""}`);
    ctx.refs.add(name);
    return [{ t: "var", name }, new Set(kinds)];
  }
  if ("const" in node) {
    checkKeys(node, path, ["const"], "a constant");
    const value = scalar(node.const, `${path}.const`);
    return [{ t: "const", value }, new Set([kindOf(value) as string])];
  }
  if ("lookup" in node) {
    checkKeys(node, path, ["lookup", "table", "default"], "a lookup");
    const [key] = compileExpr(node.lookup, `${path}.lookup`, ctx);
    const table = node.table;
    if (!isObject(table) || Object.keys(table).length === 0) {
      throw bad(`${path}.table`, "a lookup needs a non-empty object `table`");
    }
    const kinds = new Set<string>();
    const out = new Map<string, Scalar>();
    for (const [k, v] of Object.entries(table)) {
      out.set(k, scalar(v, `${path}.table.${k}`));
      kinds.add(kindOf(v) as string);
    }
    const hasDefault = "default" in node;
    const dflt = hasDefault ? scalar(node.default, `${path}.default`) : undefined;
    if (hasDefault) kinds.add(kindOf(dflt) as string);
    return [{ t: "lookup", key, table: out, hasDefault, default: dflt }, kinds];
  }
  if ("op" in node) {
    const op = node.op;
    if (typeof op !== "string" || !ARITH.includes(op)) {
      if ((COMPARISONS as readonly unknown[]).includes(op) || op === "in") {
        throw bad(`${path}.op`, `'${String(op)}' is a condition, not an expression`);
      }
      throw bad(`${path}.op`, `unknown operator ${JSON.stringify(op)} (expressions: ${ARITH.join(", ")})`);
    }
    checkKeys(node, path, ["op", "args"], "an arithmetic expression");
    const args = node.args;
    if (!Array.isArray(args)) throw bad(`${path}.args`, `'${op}' needs an \`args\` array`);
    if ((op === "-" || op === "/") && args.length !== 2) {
      throw bad(`${path}.args`, `'${op}' takes exactly 2 arguments, got ${args.length}`);
    }
    if (args.length < 2) throw bad(`${path}.args`, `'${op}' takes at least 2 arguments, got ${args.length}`);
    const compiled = args.map((a, i) => {
      const [e, k] = compileExpr(a, `${path}.args[${i}]`, ctx);
      if (!k.has("number"))
        throw bad(`${path}.args[${i}]`, `'${op}' needs numbers, but this is always ${kindsText(k)}`);
      return e;
    });
    return [{ t: "arith", op, args: compiled }, new Set(["number"])];
  }
  throw bad(path, "unknown expression (expected one of: var, const, op with args, lookup)");
}

export function compileCondition(node: unknown, path: string, ctx: CompileContext, top = false): Cond {
  if (!isObject(node)) throw bad(path, `a condition must be an object, got ${describe(node)}`);
  const extra = top ? ["name", "description"] : [];
  if ("and" in node || "or" in node) {
    const op = "and" in node ? "and" : "or";
    checkKeys(node, path, [op, ...extra], `an '${op}' condition`);
    const items = node[op];
    if (!Array.isArray(items) || items.length === 0)
      throw bad(`${path}.${op}`, `'${op}' needs a non-empty array of conditions`);
    return { t: op, items: items.map((c, i) => compileCondition(c, `${path}.${op}[${i}]`, ctx)) };
  }
  if ("not" in node) {
    checkKeys(node, path, ["not", ...extra], "a 'not' condition");
    return { t: "not", item: compileCondition(node.not, `${path}.not`, ctx) };
  }
  if ("if" in node) {
    checkKeys(node, path, ["if", "then", ...extra], "an 'if' condition");
    if (!("then" in node)) throw bad(path, "'if' needs 'then'");
    return {
      t: "if",
      cond: compileCondition(node.if, `${path}.if`, ctx),
      then: compileCondition(node.then, `${path}.then`, ctx),
    };
  }
  if ("op" in node) {
    const op = node.op;
    if (op === "in") {
      checkKeys(node, path, ["op", "left", "values", ...extra], "an 'in' condition");
      if (!("left" in node)) throw bad(path, "'in' needs 'left'");
      const [left] = compileExpr(node.left, `${path}.left`, ctx);
      const values = node.values;
      if (!Array.isArray(values) || values.length === 0)
        throw bad(`${path}.values`, "'in' needs a non-empty `values` array");
      return { t: "in", left, values: values.map((v, i) => scalar(v, `${path}.values[${i}]`)) };
    }
    if (typeof op === "string" && (COMPARISONS as readonly string[]).includes(op)) {
      checkKeys(node, path, ["op", "left", "right", ...extra], `a '${op}' comparison`);
      for (const side of ["left", "right"]) if (!(side in node)) throw bad(path, `'${op}' needs '${side}'`);
      const [left, lk] = compileExpr(node.left, `${path}.left`, ctx);
      const [right, rk] = compileExpr(node.right, `${path}.right`, ctx);
      if (ORDERING.includes(op)) {
        for (const [side, k] of [
          ["left", lk],
          ["right", rk],
        ] as const) {
          if (!k.has("number"))
            throw bad(`${path}.${side}`, `'${op}' compares numbers, but this is always ${kindsText(k)}`);
        }
      }
      return { t: "cmp", op, left, right };
    }
    if (typeof op === "string" && ARITH.includes(op)) {
      throw bad(`${path}.op`, `'${op}' is an expression, not a condition (compare it with something)`);
    }
    throw bad(`${path}.op`, `unknown operator ${JSON.stringify(op)} (conditions: ${COMPARISONS.join(", ")}, in)`);
  }
  throw bad(path, "unknown condition (expected one of: op, and, or, not, if)");
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/** Equality of the language: numbers by value, never a boolean equal to a number. */
export function sameValue(a: unknown, b: unknown): boolean {
  return typeof a === typeof b && (typeof a === "number" || typeof a === "string" || typeof a === "boolean") && a === b;
}

/** Table key: strings as they are, booleans "true"/"false", integral numbers (|x| < 2**53) in decimal. */
export function lookupKey(value: unknown): string | undefined {
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "string") return value;
  if (typeof value === "number" && Number.isInteger(value) && Math.abs(value) < 2 ** 53) return String(value);
  return undefined;
}

function num(value: unknown, what: string): number {
  if (typeof value !== "number") throw new EvalError(`${what} needs a number, got ${JSON.stringify(value)}`);
  return value;
}

export type Values = Map<string, Scalar>;

export function evaluate(expr: Expr, values: Values): Scalar {
  switch (expr.t) {
    case "var": {
      const v = values.get(expr.name);
      if (v === undefined) throw new EvalError(`variable '${expr.name}' has no value`);
      return v;
    }
    case "const":
      return expr.value;
    case "arith": {
      const op = expr.op;
      let acc = num(evaluate(expr.args[0]!, values), `'${op}'`);
      for (let i = 1; i < expr.args.length; i++) {
        const x = num(evaluate(expr.args[i]!, values), `'${op}'`);
        if (op === "+") acc = acc + x;
        else if (op === "-") acc = acc - x;
        else if (op === "*") acc = acc * x;
        else {
          if (x === 0) throw new EvalError("division by zero");
          acc = acc / x;
        }
      }
      if (!Number.isFinite(acc)) throw new EvalError(`'${op}' overflowed`);
      return acc;
    }
    case "lookup": {
      const key = lookupKey(evaluate(expr.key, values));
      if (key !== undefined && expr.table.has(key)) return expr.table.get(key)!;
      if (expr.hasDefault) return expr.default!;
      throw new EvalError(`no table entry for ${JSON.stringify(key ?? null)} and no default`);
    }
  }
}

/** Whether a condition holds; throws EvalError when it cannot be evaluated. */
export function holds(cond: Cond, values: Values): boolean {
  switch (cond.t) {
    case "cmp": {
      const left = evaluate(cond.left, values);
      const right = evaluate(cond.right, values);
      const op = cond.op;
      if (op === "==") return sameValue(left, right);
      if (op === "!=") return !sameValue(left, right);
      const l = num(left, `'${op}'`);
      const r = num(right, `'${op}'`);
      if (op === "<") return l < r;
      if (op === "<=") return l <= r;
      if (op === ">") return l > r;
      return l >= r;
    }
    case "in": {
      const left = evaluate(cond.left, values);
      return cond.values.some((v) => sameValue(left, v));
    }
    case "and":
      return cond.items.every((c) => holds(c, values));
    case "or":
      return cond.items.some((c) => holds(c, values));
    case "not":
      return !holds(cond.item, values);
    case "if":
      return !holds(cond.cond, values) || holds(cond.then, values);
  }
}

/** Variables a compiled node refers to. */
export function refsOf(node: Expr | Cond, acc: Set<string> = new Set()): Set<string> {
  switch (node.t) {
    case "var":
      acc.add(node.name);
      break;
    case "const":
      break;
    case "arith":
      for (const a of node.args) refsOf(a, acc);
      break;
    case "lookup":
      refsOf(node.key, acc);
      break;
    case "cmp":
      refsOf(node.left, acc);
      refsOf(node.right, acc);
      break;
    case "in":
      refsOf(node.left, acc);
      break;
    case "and":
    case "or":
      for (const c of node.items) refsOf(c, acc);
      break;
    case "not":
      refsOf(node.item, acc);
      break;
    case "if":
      refsOf(node.cond, acc);
      refsOf(node.then, acc);
      break;
  }
  return acc;
}
