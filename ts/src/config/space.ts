// Configuration spaces: typed variables with domains, conditional activity, constraints;
// validation with structured results and seeded sampling (narrowing, then bounded rejection).
// Format and semantics: docs/configuration.md. Python twin: python/dspy_bridge/spaces/_space.py.
import { ConstraintViolationError, FailedPreconditionError, InvalidArgumentError } from "../errors/index.js";
import {
  type CompileContext,
  type Cond,
  type ConditionDoc,
  type ConstraintDoc,
  EvalError,
  type Expr,
  type Scalar,
  type Values,
  bad,
  checkKeys,
  compileCondition,
  evaluate,
  holds,
  kindOf,
  refsOf,
  sameValue,
} from "./lang.js";
import { Rng } from "./rng.js";

export const VARIABLE_TYPES = ["float", "integer", "choice", "boolean", "constant"] as const;
export type VariableType = (typeof VARIABLE_TYPES)[number];

/** A variable document. */
export interface VariableDoc {
  name: string;
  type: VariableType;
  min?: number;
  max?: number;
  log?: boolean;
  values?: Scalar[];
  value?: Scalar;
  default?: Scalar;
  description?: string;
  active_when?: ConditionDoc;
}

/** A space document (JSON). */
export interface SpaceDoc {
  name?: string;
  description?: string;
  variables: VariableDoc[];
  constraints?: ConstraintDoc[];
}

export interface Variable {
  readonly name: string;
  readonly type: VariableType;
  readonly index: number;
  readonly min: number;
  readonly max: number;
  readonly log: boolean;
  readonly values: readonly Scalar[];
  readonly value: Scalar | undefined;
  readonly default: Scalar | undefined;
  readonly hasDefault: boolean;
  readonly activeWhen: Cond | undefined;
  readonly activeRefs: readonly string[];
}

export interface Constraint {
  readonly name: string | null;
  readonly path: string;
  readonly cond: Cond;
  /** Referenced variables, in declaration order. */
  readonly refs: readonly string[];
}

interface Narrower {
  readonly cond: Cond;
  readonly needs: readonly string[];
  /** Numeric bound with the variable on the left; "" = filter choices. */
  readonly op: string;
  readonly other: Expr | undefined;
}

/** A configuration: variable name → value (inactive variables are absent). */
export type Config = Record<string, Scalar>;

/**
 * One problem of a configuration. `kind`: `unknown` (a key that is no variable), `missing`
 * (an active variable without a value), `inactive` (a value for an inactive variable),
 * `domain` (outside its variable's domain; `name` is the facet: type, integer, min, max,
 * values, value), `constraint` (`name` is the constraint's name, or null).
 */
export interface Violation {
  kind: "unknown" | "missing" | "inactive" | "domain" | "constraint";
  name: string | null;
  path: string | null;
  variables: Record<string, unknown>;
  message: string;
}

export interface ValidationResult {
  ok: boolean;
  violations: Violation[];
}

export interface SampleResult {
  samples: Config[];
  attempts: number;
  accepted: number;
  acceptanceRate: number;
}

export interface SampleOptions {
  /** Attempts before giving up with FailedPreconditionError; default 100 × n. */
  maxAttempts?: number;
}

const VAR_KEYS: Record<VariableType, readonly string[]> = {
  float: ["min", "max", "log"],
  integer: ["min", "max", "log"],
  choice: ["values"],
  boolean: [],
  constant: ["value"],
};
const COMMON_KEYS = ["name", "type", "default", "description", "active_when"];
const FLIP: Record<string, string> = { "<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==" };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isInt = (v: unknown): v is number => Number.isSafeInteger(v);
const show = (v: unknown): string => (typeof v === "string" ? `'${v}'` : JSON.stringify(v));

function domainProblem(v: Variable, value: unknown): [string, string] | undefined {
  switch (v.type) {
    case "float":
    case "integer":
      if (!isNum(value)) return ["type", `${v.name} must be a finite number, got ${show(value)}`];
      if (v.type === "integer" && !isInt(value)) return ["integer", `${v.name} must be an integer, got ${show(value)}`];
      if (value < v.min) return ["min", `${v.name} = ${show(value)} is below min ${v.min}`];
      if (value > v.max) return ["max", `${v.name} = ${show(value)} is above max ${v.max}`];
      return undefined;
    case "boolean":
      return typeof value === "boolean" ? undefined : ["type", `${v.name} must be a boolean, got ${show(value)}`];
    case "choice":
      return v.values.some((c) => sameValue(value, c))
        ? undefined
        : ["values", `${v.name} = ${show(value)} is not one of ${JSON.stringify(v.values)}`];
    case "constant":
      return sameValue(value, v.value)
        ? undefined
        : ["value", `${v.name} is the constant ${show(v.value)}, got ${show(value)}`];
  }
}

function compileVariable(node: unknown, i: number, kinds: Map<string, Set<string>>): Variable {
  const path = `variables[${i}]`;
  if (!isObject(node)) throw bad(path, "a variable must be an object");
  const name = node.name;
  if (typeof name !== "string" || name === "") throw bad(`${path}.name`, "a variable needs a non-empty string `name`");
  if (kinds.has(name)) throw bad(`${path}.name`, `duplicate variable '${name}'`);
  const t = node.type;
  if (typeof t !== "string" || !(VARIABLE_TYPES as readonly string[]).includes(t)) {
    throw bad(`${path}.type`, `unknown type ${JSON.stringify(t ?? null)} (one of: ${VARIABLE_TYPES.join(", ")})`);
  }
  const type = t as VariableType;
  checkKeys(node, path, [...COMMON_KEYS, ...VAR_KEYS[type]], `a ${type} variable`);
  let min = 0;
  let max = 0;
  let log = false;
  let values: Scalar[] = [];
  let value: Scalar | undefined;
  let kind: Set<string>;
  if (type === "float" || type === "integer") {
    const check = type === "integer" ? isInt : isNum;
    for (const k of ["min", "max"]) {
      if (!(k in node) || !check(node[k])) {
        throw bad(
          `${path}.${k}`,
          `a ${type} variable needs ${type === "integer" ? "an integer" : "a finite number"} \`${k}\``,
        );
      }
    }
    min = node.min as number;
    max = node.max as number;
    if (min > max) throw bad(`${path}.min`, `min ${min} is greater than max ${max}`);
    const lg = node.log ?? false;
    if (typeof lg !== "boolean") throw bad(`${path}.log`, "`log` must be a boolean");
    if (lg && min <= 0) throw bad(`${path}.min`, "a log-scaled variable needs min > 0");
    log = lg;
    kind = new Set(["number"]);
  } else if (type === "choice") {
    const vs = node.values;
    if (!Array.isArray(vs) || vs.length === 0)
      throw bad(`${path}.values`, "a choice variable needs a non-empty `values` array");
    vs.forEach((v, j) => {
      if (kindOf(v) === undefined)
        throw bad(`${path}.values[${j}]`, `choices must be strings, finite numbers or booleans, got ${show(v)}`);
      if (vs.slice(0, j).some((w) => sameValue(v, w))) throw bad(`${path}.values[${j}]`, `duplicate choice ${show(v)}`);
    });
    values = vs as Scalar[];
    kind = new Set(values.map((v) => kindOf(v) as string));
  } else if (type === "boolean") {
    values = [false, true];
    kind = new Set(["boolean"]);
  } else {
    if (!("value" in node) || kindOf(node.value) === undefined) {
      throw bad(`${path}.value`, "a constant needs a string, finite number or boolean `value`");
    }
    value = node.value as Scalar;
    kind = new Set([kindOf(value) as string]);
  }
  let activeWhen: Cond | undefined;
  let activeRefs: string[] = [];
  const base: Variable = {
    name,
    type,
    index: i,
    min,
    max,
    log,
    values,
    value,
    default: undefined,
    hasDefault: false,
    activeWhen,
    activeRefs,
  };
  let dflt: Scalar | undefined;
  if ("default" in node) {
    const problem = domainProblem(base, node.default);
    if (problem !== undefined) throw bad(`${path}.default`, `default is outside the domain: ${problem[1]}`);
    dflt = node.default as Scalar;
  }
  if ("active_when" in node) {
    const ctx: CompileContext = {
      kinds: new Map([...kinds, [name, new Set<string>()]]),
      allowed: kinds,
      whyNot: "must be declared before the variable it activates",
      refs: new Set(),
    };
    activeWhen = compileCondition(node.active_when, `${path}.active_when`, ctx);
    activeRefs = [...ctx.refs];
  }
  kinds.set(name, kind);
  return { ...base, default: dflt, hasDefault: "default" in node, activeWhen, activeRefs };
}

function conjuncts(cond: Cond): Cond[] {
  return cond.t === "and" ? cond.items.flatMap(conjuncts) : [cond];
}

const isVar = (e: Expr, name: string): boolean => e.t === "var" && e.name === name;

function buildNarrowers(variables: readonly Variable[], constraints: readonly Constraint[]): Map<string, Narrower[]> {
  const index = new Map(variables.map((v) => [v.name, v.index]));
  const byName = new Map(variables.map((v) => [v.name, v]));
  const out = new Map<string, Narrower[]>(variables.map((v) => [v.name, []]));
  for (const con of constraints) {
    for (const conj of conjuncts(con.cond)) {
      const refs = refsOf(conj);
      for (const x of refs) {
        const xi = index.get(x)!;
        if ([...refs].some((o) => o !== x && index.get(o)! > xi)) continue; // needs a later variable
        // The whole constraint applies only when all its variables are active: the earlier
        // ones are checked at sampling time, later ones must be unconditional.
        const later = con.refs.filter((r) => r !== x && index.get(r)! > xi);
        if (later.some((r) => byName.get(r)!.activeWhen !== undefined)) continue;
        const needs = con.refs.filter((r) => r !== x && index.get(r)! < xi);
        const v = byName.get(x)!;
        const list = out.get(x)!;
        if (v.type === "choice" || v.type === "boolean") {
          list.push({ cond: conj, needs, op: "", other: undefined });
        } else if ((v.type === "float" || v.type === "integer") && conj.t === "cmp" && conj.op in FLIP) {
          if (isVar(conj.left, x) && !refsOf(conj.right).has(x)) {
            list.push({ cond: conj, needs, op: conj.op, other: conj.right });
          } else if (isVar(conj.right, x) && !refsOf(conj.left).has(x)) {
            list.push({ cond: conj, needs, op: FLIP[conj.op]!, other: conj.left });
          }
        }
      }
    }
  }
  return out;
}

/** A compiled, checked space (build it with `compileSpace`). */
export class Space {
  readonly byName: ReadonlyMap<string, Variable>;
  /** @internal */
  readonly narrowers: ReadonlyMap<string, readonly Narrower[]>;

  private constructor(
    readonly document: SpaceDoc,
    readonly variables: readonly Variable[],
    readonly constraints: readonly Constraint[],
  ) {
    this.byName = new Map(variables.map((v) => [v.name, v]));
    this.narrowers = buildNarrowers(variables, constraints);
  }

  /** Check a space document and compile it. Throws InvalidArgumentError naming the path. */
  static compile(document: unknown): Space {
    if (document instanceof Space) return document;
    if (!isObject(document)) throw bad("space", "a space must be an object");
    checkKeys(document, "space", ["name", "description", "variables", "constraints"], "a space");
    const rawVars = document.variables;
    if (!Array.isArray(rawVars) || rawVars.length === 0)
      throw bad("variables", "a space needs a non-empty `variables` array");
    const kinds = new Map<string, Set<string>>();
    const variables = rawVars.map((v, i) => compileVariable(v, i, kinds));
    const rawCons = document.constraints ?? [];
    if (!Array.isArray(rawCons)) throw bad("constraints", "`constraints` must be an array");
    const order = new Map(variables.map((v) => [v.name, v.index]));
    const names = new Set<string>();
    const constraints: Constraint[] = rawCons.map((node: unknown, i) => {
      const path = `constraints[${i}]`;
      const ctx: CompileContext = { kinds, refs: new Set() };
      const cond = compileCondition(node, path, ctx, true);
      const name = (node as Record<string, unknown>).name;
      if (name !== undefined && name !== null) {
        if (typeof name !== "string" || name === "")
          throw bad(`${path}.name`, "a constraint name must be a non-empty string");
        if (names.has(name)) throw bad(`${path}.name`, `duplicate constraint name '${name}'`);
        names.add(name);
      }
      const refs = [...ctx.refs].sort((a, b) => order.get(a)! - order.get(b)!);
      return { name: typeof name === "string" ? name : null, path, cond, refs };
    });
    return new Space(document as unknown as SpaceDoc, variables, constraints);
  }
}

const cache = new WeakMap<object, Space>();

/** Compile (and cache per document object) a space. */
export function compileSpace(document: SpaceDoc | Space): Space {
  if (document instanceof Space) return document;
  if (isObject(document)) {
    const hit = cache.get(document);
    if (hit !== undefined) return hit;
  }
  const space = Space.compile(document);
  if (isObject(document)) cache.set(document, space);
  return space;
}

// ---------------------------------------------------------------------------------------------
// Validation

function isActive(v: Variable, values: Values): boolean {
  if (v.activeWhen === undefined) return true;
  if (v.activeRefs.some((r) => !values.has(r))) return false;
  try {
    return holds(v.activeWhen, values);
  } catch (err) {
    if (err instanceof EvalError) return false;
    throw err;
  }
}

function checkConstraints(
  space: Space,
  values: Values,
  skip: ReadonlySet<string>,
  out: Violation[] | undefined,
): boolean {
  let ok = true;
  for (const con of space.constraints) {
    if (con.refs.some((r) => !values.has(r) || skip.has(r))) continue; // skipped: inactive or invalid variable
    let good: boolean;
    let why = "is violated";
    try {
      good = holds(con.cond, values);
    } catch (err) {
      if (!(err instanceof EvalError)) throw err;
      good = false;
      why = `cannot be evaluated (${err.message})`;
    }
    if (!good) {
      ok = false;
      if (out === undefined) return false;
      const label = con.name !== null ? `constraint '${con.name}'` : `constraint ${con.path}`;
      const involved: Record<string, unknown> = {};
      for (const r of con.refs) involved[r] = values.get(r);
      const shown = Object.entries(involved)
        .map(([k, v]) => `${k}=${show(v)}`)
        .join(", ");
      out.push({
        kind: "constraint",
        name: con.name,
        path: con.path,
        variables: involved,
        message: `${label} ${why}${shown ? ` by ${shown}` : ""}`,
      });
    }
  }
  return ok;
}

/**
 * Check a configuration against a space. Never throws for a bad configuration (only for a bad
 * space document, or a config that is not an object).
 */
export function validate(space: SpaceDoc | Space, config: Record<string, unknown>): ValidationResult {
  const sp = compileSpace(space);
  if (!isObject(config)) throw new InvalidArgumentError("a configuration must be an object", { parameter: "config" });
  const out: Violation[] = [];
  for (const key of Object.keys(config)
    .filter((k) => !sp.byName.has(k))
    .sort()) {
    out.push({
      kind: "unknown",
      name: null,
      path: null,
      variables: { [key]: config[key] },
      message: `'${key}' is not a variable of this space`,
    });
  }
  const values: Values = new Map();
  const badVars = new Set<string>();
  for (const v of sp.variables) {
    const path = `variables[${v.index}]`;
    const present = Object.prototype.hasOwnProperty.call(config, v.name);
    if (!isActive(v, values)) {
      if (present) {
        out.push({
          kind: "inactive",
          name: null,
          path,
          variables: { [v.name]: config[v.name] },
          message: `${v.name} is inactive (its active_when does not hold) but has a value`,
        });
      }
      continue;
    }
    if (!present) {
      out.push({ kind: "missing", name: null, path, variables: {}, message: `${v.name} is active but has no value` });
      continue;
    }
    const value = config[v.name];
    values.set(v.name, value as Scalar);
    const problem = domainProblem(v, value);
    if (problem !== undefined) {
      badVars.add(v.name);
      out.push({ kind: "domain", name: problem[0], path, variables: { [v.name]: value }, message: problem[1] });
    }
  }
  checkConstraints(sp, values, badVars, out);
  return { ok: out.length === 0, violations: out };
}

function limitOf(v: Variable, facet: string | null): unknown {
  if (facet === "min") return v.min;
  if (facet === "max") return v.max;
  if (facet === "values") return [...v.values];
  if (facet === "value") return v.value;
  return undefined;
}

/** Throw ConstraintViolationError (details.violations lists them all) if `config` is not valid. */
export function assertValid(space: SpaceDoc | Space, config: Record<string, unknown>): void {
  const sp = compileSpace(space);
  const result = validate(sp, config);
  if (result.ok) return;
  const first = result.violations[0]!;
  const varName = Object.keys(first.variables)[0];
  const v = varName === undefined ? undefined : sp.byName.get(varName);
  const more = result.violations.length - 1;
  throw new ConstraintViolationError(first.message + (more ? ` (and ${more} more)` : ""), {
    variable: varName,
    type: v?.type,
    constraint: first.name ?? first.path ?? first.kind,
    limit: v !== undefined && first.kind === "domain" ? limitOf(v, first.name) : undefined,
    details: { violations: result.violations },
  });
}

// ---------------------------------------------------------------------------------------------
// Sampling

const EMPTY = Symbol("empty");

/** Narrow the variable's domain given the values sampled so far, then draw (EMPTY if none). */
function draw(v: Variable, rng: Rng, values: Values, space: Space): Scalar | typeof EMPTY {
  const narrowers = space.narrowers.get(v.name)!;
  if (v.type === "constant") return v.value!;
  if (v.type === "choice" || v.type === "boolean") {
    let choices: readonly Scalar[] = v.values;
    for (const nw of narrowers) {
      if (nw.needs.some((r) => !values.has(r))) continue;
      const kept: Scalar[] = [];
      for (const c of choices) {
        values.set(v.name, c);
        try {
          if (holds(nw.cond, values)) kept.push(c);
        } catch (err) {
          if (!(err instanceof EvalError)) throw err;
        }
      }
      values.delete(v.name);
      choices = kept;
      if (choices.length === 0) return EMPTY;
    }
    return choices[rng.nextBelow(choices.length)]!;
  }
  let lo = v.min;
  let hi = v.max;
  for (const nw of narrowers) {
    if (nw.needs.some((r) => !values.has(r))) continue;
    let bound: Scalar;
    try {
      bound = evaluate(nw.other!, values);
    } catch (err) {
      if (err instanceof EvalError) return EMPTY;
      throw err;
    }
    if (typeof bound !== "number") return EMPTY;
    const op = nw.op;
    if (v.type === "integer") {
      if (op === "<=") hi = Math.min(hi, Math.floor(bound));
      else if (op === "<") hi = Math.min(hi, Math.ceil(bound) - 1);
      else if (op === ">=") lo = Math.max(lo, Math.ceil(bound));
      else if (op === ">") lo = Math.max(lo, Math.floor(bound) + 1);
      else if (Number.isInteger(bound)) {
        lo = Math.max(lo, bound);
        hi = Math.min(hi, bound);
      } else return EMPTY;
    } else if (op === "<=" || op === "<") hi = Math.min(hi, bound);
    else if (op === ">=" || op === ">") lo = Math.max(lo, bound);
    else {
      lo = Math.max(lo, bound);
      hi = Math.min(hi, bound);
    }
    if (lo > hi) return EMPTY;
  }
  const u = rng.nextFloat();
  if (v.type === "float") {
    let x: number;
    if (v.log) {
      const llo = Math.log(lo);
      x = Math.exp(llo + u * (Math.log(hi) - llo));
    } else {
      x = lo + u * (hi - lo);
    }
    return Math.min(Math.max(x, lo), hi);
  }
  let k: number;
  if (v.log) {
    const llo = Math.log(lo);
    k = Math.floor(Math.exp(llo + u * (Math.log(hi + 1) - llo)));
  } else {
    k = lo + Math.floor(u * (hi - lo + 1));
  }
  return Math.min(Math.max(k, lo), hi);
}

function attempt(space: Space, rng: Rng): Values | undefined {
  const values: Values = new Map();
  for (const v of space.variables) {
    if (!isActive(v, values)) continue;
    const x = draw(v, rng, values, space);
    if (x === EMPTY) return undefined;
    values.set(v.name, x);
  }
  return values;
}

/** A variable that is always active and whose domain is empty before anything is sampled. */
function staticallyInfeasible(space: Space): string | undefined {
  const probe = new Rng(0);
  for (const v of space.variables) {
    if (v.activeWhen !== undefined) continue;
    if (draw(v, probe, new Map(), space) === EMPTY) return v.name;
  }
  return undefined;
}

/**
 * `n` valid configurations, deterministic for `seed` and identical to Python's `sample`.
 * Throws FailedPreconditionError (details: attempts, accepted, acceptance_rate, requested)
 * when fewer than `n` are found within `maxAttempts` (default 100 × n).
 */
export function sample(space: SpaceDoc | Space, n: number, seed: number, options: SampleOptions = {}): SampleResult {
  const sp = compileSpace(space);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new InvalidArgumentError(`n must be a non-negative integer, got ${String(n)}`, { parameter: "n" });
  let limit = options.maxAttempts ?? Math.max(100 * n, 1);
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new InvalidArgumentError(`maxAttempts must be a positive integer, got ${String(options.maxAttempts)}`, {
      parameter: "max_attempts",
    });
  }
  const rng = new Rng(seed);
  const samples: Config[] = [];
  let attempts = 0;
  const empty = n > 0 ? staticallyInfeasible(sp) : undefined;
  if (empty !== undefined) limit = 0;
  while (samples.length < n) {
    if (attempts >= limit) {
      const rate = attempts ? samples.length / attempts : 0;
      const why =
        empty !== undefined
          ? `the domain of '${empty}' is empty under the constraints`
          : `${samples.length} of ${n} found in ${attempts} attempts (acceptance rate ${Number(rate.toPrecision(4))})`;
      throw new FailedPreconditionError(`infeasible space: ${why}`, {
        details: {
          attempts,
          accepted: samples.length,
          acceptance_rate: rate,
          requested: n,
          ...(empty !== undefined ? { variable: empty } : {}),
        },
      });
    }
    attempts++;
    const cand = attempt(sp, rng);
    if (cand !== undefined && checkConstraints(sp, cand, new Set(), undefined)) samples.push(Object.fromEntries(cand));
  }
  return { samples, attempts, accepted: samples.length, acceptanceRate: attempts ? samples.length / attempts : 0 };
}
