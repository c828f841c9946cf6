// ConfigSpace JSON (json_format_version 0.4) import/export where it maps.
// Mapped: hyperparameters uniform_float, uniform_int (lower/upper/log/default), categorical
// (without weights), constant; conditions EQ, NEQ, LT, GT, IN, AND, OR (→ active_when);
// forbiddens EQUALS, IN, AND, RELATION (LESS/EQUALS/GREATER) (→ a constraint `not` clause).
// Anything else throws InvalidArgumentError naming the path: nothing is dropped silently.
// Python twin: python/dspy_bridge/spaces/_configspace.py.
import { bad } from "./lang.js";
import { type SpaceDoc, compileSpace } from "./space.js";

export const JSON_FORMAT_VERSION = 0.4;
type Json = Record<string, unknown>;

const COND_OPS: Record<string, string> = { EQ: "==", NEQ: "!=", LT: "<", GT: ">" };
const REL_OPS: Record<string, string> = { LESS: "<", EQUALS: "==", GREATER: ">" };
const invert = (m: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(m).map(([k, v]) => [v, k]));

function obj(node: unknown, path: string): Json {
  if (typeof node !== "object" || node === null || Array.isArray(node)) throw bad(path, "expected an object");
  return node as Json;
}
const has = (o: Json, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);
const isSet = (v: unknown): boolean => v !== undefined && v !== null;

function hyperparameter(hp: Json, path: string): Json {
  const t = hp.type;
  const out: Json = { name: hp.name };
  if (t === "uniform_float" || t === "uniform_int") {
    if (isSet(hp.q)) throw bad(`${path}.q`, "quantized hyperparameters (q) do not map");
    Object.assign(out, { type: t === "uniform_float" ? "float" : "integer", min: hp.lower, max: hp.upper });
    if (hp.log) out.log = true;
  } else if (t === "categorical") {
    if (isSet(hp.weights)) throw bad(`${path}.weights`, "weighted categoricals do not map");
    Object.assign(out, { type: "choice", values: hp.choices });
  } else if (t === "constant") {
    Object.assign(out, { type: "constant", value: hp.value });
  } else {
    throw bad(
      `${path}.type`,
      `hyperparameter type ${JSON.stringify(t ?? null)} does not map (mapped: uniform_float, uniform_int, categorical, constant)`,
    );
  }
  if (has(hp, "default") && isSet(hp.default) && t !== "constant") out.default = hp.default;
  return out;
}

function condition(c: Json, path: string): Json {
  const t = c.type;
  if (t === "AND" || t === "OR") {
    const subs = c.conditions;
    if (!Array.isArray(subs)) throw bad(`${path}.conditions`, `${t} needs \`conditions\``);
    return {
      [t.toLowerCase()]: subs.map((s, i) => condition(obj(s, `${path}.conditions[${i}]`), `${path}.conditions[${i}]`)),
    };
  }
  const parent = { var: c.parent };
  if (t === "IN") return { op: "in", left: parent, values: c.values };
  if (typeof t === "string" && t in COND_OPS) return { op: COND_OPS[t], left: parent, right: { const: c.value } };
  throw bad(
    `${path}.type`,
    `condition type ${JSON.stringify(t ?? null)} does not map (mapped: EQ, NEQ, LT, GT, IN, AND, OR)`,
  );
}

function forbidden(f: Json, path: string): Json {
  const t = f.type;
  if (t === "EQUALS") return { op: "==", left: { var: f.name }, right: { const: f.value } };
  if (t === "IN") return { op: "in", left: { var: f.name }, values: f.values };
  if (t === "AND") {
    const clauses = f.clauses;
    if (!Array.isArray(clauses)) throw bad(`${path}.clauses`, "AND needs `clauses`");
    return { and: clauses.map((s, i) => forbidden(obj(s, `${path}.clauses[${i}]`), `${path}.clauses[${i}]`)) };
  }
  if (t === "RELATION") {
    const lam = f.lambda;
    if (typeof lam !== "string" || !(lam in REL_OPS)) {
      throw bad(
        `${path}.lambda`,
        `relation ${JSON.stringify(lam ?? null)} does not map (mapped: LESS, EQUALS, GREATER)`,
      );
    }
    return { op: REL_OPS[lam], left: { var: f.left }, right: { var: f.right } };
  }
  throw bad(
    `${path}.type`,
    `forbidden type ${JSON.stringify(t ?? null)} does not map (mapped: EQUALS, IN, AND, RELATION)`,
  );
}

function varsIn(node: unknown, acc: Set<string>): Set<string> {
  if (Array.isArray(node)) for (const v of node) varsIn(v, acc);
  else if (typeof node === "object" && node !== null) {
    const o = node as Json;
    if (typeof o.var === "string") acc.add(o.var);
    for (const v of Object.values(o)) varsIn(v, acc);
  }
  return acc;
}

/** Declaration order with every parent before its children (stable), as active_when needs. */
function order(variables: Json[], parents: Map<string, Set<string>>): Json[] {
  const done = new Set<string>();
  const out: Json[] = [];
  let pending = variables;
  while (pending.length > 0) {
    const rest: Json[] = [];
    for (const v of pending) {
      const ps = parents.get(v.name as string) ?? new Set<string>();
      if ([...ps].every((p) => done.has(p))) {
        out.push(v);
        done.add(v.name as string);
      } else rest.push(v);
    }
    if (rest.length === pending.length) {
      throw bad("conditions", `conditions form a cycle through ${JSON.stringify(rest.map((v) => v.name).sort())}`);
    }
    pending = rest;
  }
  return out;
}

/** A space document from ConfigSpace JSON (a parsed object). Checked by compileSpace. */
export function fromConfigSpace(document: unknown): SpaceDoc {
  const doc = obj(document, "configspace");
  const version = doc.json_format_version;
  if (isSet(version) && version !== JSON_FORMAT_VERSION) {
    throw bad("json_format_version", `only format ${JSON_FORMAT_VERSION} is supported, got ${JSON.stringify(version)}`);
  }
  const hps = doc.hyperparameters;
  if (!Array.isArray(hps)) throw bad("hyperparameters", "expected an array");
  const variables = hps.map((hp, i) => hyperparameter(obj(hp, `hyperparameters[${i}]`), `hyperparameters[${i}]`));
  const byName = new Map(variables.map((v) => [v.name, v]));
  const conditions = new Map<string, Json[]>();
  ((doc.conditions ?? []) as unknown[]).forEach((raw, i) => {
    const path = `conditions[${i}]`;
    const c = obj(raw, path);
    if (!byName.has(c.child)) throw bad(`${path}.child`, `unknown hyperparameter ${JSON.stringify(c.child ?? null)}`);
    const list = conditions.get(c.child as string) ?? [];
    list.push(condition(c, path));
    conditions.set(c.child as string, list);
  });
  const parents = new Map<string, Set<string>>();
  for (const [child, conds] of conditions) {
    const v = byName.get(child)!;
    v.active_when = conds.length === 1 ? conds[0] : { and: conds };
    parents.set(child, varsIn(v.active_when, new Set()));
  }
  const constraints = ((doc.forbiddens ?? []) as unknown[]).map((f, i) => ({
    name: `forbidden_${i}`,
    not: forbidden(obj(f, `forbiddens[${i}]`), `forbiddens[${i}]`),
  }));
  const space: Json = { variables: order(variables, parents), constraints };
  if (typeof doc.name === "string") space.name = doc.name;
  compileSpace(space as unknown as SpaceDoc);
  return space as unknown as SpaceDoc;
}

function exportCondition(c: Json, child: string, path: string): Json {
  for (const op of ["and", "or"]) {
    if (has(c, op)) {
      return {
        child,
        type: op.toUpperCase(),
        conditions: (c[op] as Json[]).map((s, i) => exportCondition(s, child, `${path}.${op}[${i}]`)),
      };
    }
  }
  const op = c.op as string;
  const left = (c.left ?? {}) as Json;
  if (!has(left, "var")) throw bad(`${path}.left`, "only `variable op constant` conditions map to ConfigSpace");
  if (op === "in") return { child, parent: left.var, type: "IN", values: [...(c.values as unknown[])] };
  const right = (c.right ?? {}) as Json;
  const inverse = invert(COND_OPS);
  if (op in inverse && has(right, "const")) return { child, parent: left.var, type: inverse[op], value: right.const };
  throw bad(path, "only ==, !=, <, >, in, and, or conditions of a variable against constants map to ConfigSpace");
}

function exportForbidden(c: Json, path: string): Json {
  if (has(c, "and")) {
    const clauses = (c.and as Json[]).map((s, i) => exportForbidden(s, `${path}.and[${i}]`));
    return { name: clauses[0]!.name ?? clauses[0]!.left, type: "AND", clauses };
  }
  const op = c.op as string;
  const left = (c.left ?? {}) as Json;
  const right = (c.right ?? {}) as Json;
  if (has(left, "var") && op === "in") return { name: left.var, type: "IN", values: [...(c.values as unknown[])] };
  if (has(left, "var") && op === "==" && has(right, "const"))
    return { name: left.var, type: "EQUALS", value: right.const };
  const inverse = invert(REL_OPS);
  if (has(left, "var") && has(right, "var") && op in inverse) {
    return { left: left.var, right: right.var, type: "RELATION", lambda: inverse[op] };
  }
  throw bad(
    path,
    "only forbidden clauses (==/in against constants, and, <, ==, > between two variables) map to ConfigSpace",
  );
}

/** Python's round(): half to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function defaultOf(v: Json): unknown {
  if (has(v, "default")) return v.default;
  const min = v.min as number;
  const max = v.max as number;
  if (v.type === "float") return v.log ? Math.exp((Math.log(min) + Math.log(max)) / 2) : (min + max) / 2;
  if (v.type === "integer")
    return roundHalfEven(v.log ? Math.exp((Math.log(min) + Math.log(max)) / 2) : (min + max) / 2);
  return v.type === "choice" ? (v.values as unknown[])[0] : false;
}

/**
 * ConfigSpace JSON (format 0.4) for a space document, or InvalidArgumentError naming the part
 * that does not map. Booleans export as categorical [false, true]; constraints must be
 * `{"not": <forbidden clause>}`.
 */
export function toConfigSpace(space: SpaceDoc): Json {
  compileSpace(space);
  const hps: Json[] = [];
  const conditions: Json[] = [];
  space.variables.forEach((raw, i) => {
    const v = raw as unknown as Json;
    const t = v.type;
    if (t === "float" || t === "integer") {
      hps.push({
        name: v.name,
        type: t === "float" ? "uniform_float" : "uniform_int",
        log: Boolean(v.log ?? false),
        lower: v.min,
        upper: v.max,
        default: defaultOf(v),
      });
    } else if (t === "choice" || t === "boolean") {
      hps.push({
        name: v.name,
        type: "categorical",
        choices: t === "choice" ? [...(v.values as unknown[])] : [false, true],
        default: defaultOf(v),
        weights: null,
      });
    } else {
      hps.push({ name: v.name, type: "constant", value: v.value });
    }
    if (has(v, "active_when"))
      conditions.push(exportCondition(v.active_when as Json, v.name as string, `variables[${i}].active_when`));
  });
  const forbiddens = (space.constraints ?? []).map((c, i) => {
    const o = c as unknown as Json;
    if (!has(o, "not"))
      throw bad(`constraints[${i}]`, "only `not` of a forbidden clause maps to a ConfigSpace forbidden");
    return exportForbidden(o.not as Json, `constraints[${i}].not`);
  });
  const out: Json = {};
  if (typeof space.name === "string") out.name = space.name;
  Object.assign(out, { hyperparameters: hps, conditions, forbiddens, json_format_version: JSON_FORMAT_VERSION });
  return out;
}
