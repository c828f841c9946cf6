// Export and import of a session's variables as JSON or YAML. Values travel in the
// protobuf JSON form of the `Value` envelope (tensors and embeddings as base64 bytes with
// dtype and shape), so an export is self-contained and loads the same in Python.
// Pickle is refused: loading a pickle runs arbitrary code.
import type { JsonValue } from "@bufbuild/protobuf";
import { BridgeError, InvalidArgumentError, NotImplementedError } from "../errors/index.js";
import { isAllowed, normalizeRules } from "./access.js";
import { DEPENDENCY_TYPES } from "./dependency-graph.js";
import { valueFromJson, valueToJson, type PutChange } from "./entries.js";
import { checkVariableName, compilePattern, stringMap, type Store } from "./store.js";
import type { CheckedUpdate } from "./store-types.js";
import { measureWrite } from "./limits.js";
import { canonicalType, validateConstraints, validateValue } from "./types/index.js";
import { decodeDocument, encodeDocument, Pacer, type CodecProgress, type ParseWarnings } from "./codec.js";
import { setOwn } from "../values/encode.js";
import { clip, quote } from "./types/describe.js";

export const EXPORT_FORMAT = "dspy-bridge/variables";
export const EXPORT_VERSION = 1;
export type MergeStrategy = "replace" | "keep" | "merge";

export interface ExportOptions {
  format?: string;
  includeHistory?: boolean;
  includeDependencies?: boolean;
  filterPattern?: string;
  caller?: string;
  /** Called as the export goes (phases "read", "encode"); a large export yields to other work between slices. */
  onProgress?: (progress: CodecProgress) => void;
}

export interface ImportOptions {
  format?: string;
  mergeStrategy?: string;
  dryRun?: boolean;
  caller?: string;
  /** Called as the import goes (phases "decode", "check", "commit"); a large import yields to other work between slices. */
  onProgress?: (progress: CodecProgress) => void;
}

export interface ImportDetail {
  name: string;
  action: "create" | "replace" | "merge" | "skip" | "error";
  error?: string;
}

export interface ImportSummary {
  imported: number;
  skipped: number;
  errors: number;
  details: ImportDetail[];
  revision: number;
  dryRun: boolean;
  /** What the YAML parser warned about (an unknown tag, ...): the first few, each bounded; never printed. */
  warnings: string[];
  /** How many warnings there were in all. */
  warningCount: number;
}

function checkFormat(format: string | undefined): "json" | "yaml" {
  const f = (format ?? "json").toLowerCase();
  if (f === "json" || f === "yaml" || f === "yml") return f === "json" ? "json" : "yaml";
  if (f === "pickle") {
    throw new InvalidArgumentError(
      "format 'pickle' is refused: loading a pickle executes arbitrary code, so dspy-bridge never reads or writes one; use 'json' or 'yaml'",
      { parameter: "format" },
    );
  }
  if (f === "parquet") throw new NotImplementedError("format 'parquet' is not implemented; use 'json' or 'yaml'");
  throw new InvalidArgumentError(`unknown export format ${quote(format)}; use 'json' or 'yaml'`, {
    parameter: "format",
  });
}

export async function exportVariables(
  store: Store,
  sessionId: string,
  options: ExportOptions = {},
): Promise<{ data: Buffer; count: number }> {
  const format = checkFormat(options.format);
  const re = compilePattern(options.filterPattern, "filter_pattern");
  const records = (await store.list(sessionId, undefined, options.caller ?? sessionId)).filter(
    (r) => !re || re.test(r.name),
  );
  const session = store.sessionRecord(sessionId);
  // One revision's state, taken now: a commit replaces a record's value, metadata and rules
  // (never changes them in place) but appends to its history, so that is copied.
  const snapshot = records.map((r) => ({
    name: r.name,
    type: r.type,
    value: r.value,
    constraints: r.constraints,
    metadata: r.metadata,
    accessRules: r.accessRules,
    version: r.version,
    history: options.includeHistory ? r.history.slice() : undefined,
  }));
  const revision = store.revisionOf(sessionId);
  const dependencies =
    options.includeDependencies === false
      ? undefined
      : exportedEdges(session.dependencies.allEdges(), records, session.variables.size);
  // Converted and written a slice at a time: other clients are served in between.
  const pace = new Pacer(options.onProgress, "read", snapshot.length);
  const variables: unknown[] = [];
  for (const r of snapshot) {
    variables.push({
      name: r.name,
      type: r.type,
      value: valueToJson(r.value),
      constraints: r.constraints,
      metadata: r.metadata,
      access_rules: r.accessRules.map((a) => ({
        session_pattern: a.sessionPattern,
        permissions: a.permissions,
        conditions: a.conditions,
      })),
      version: r.version,
      ...(r.history
        ? {
            history: r.history.map((h) => ({
              version: h.version,
              value: valueToJson(h.value),
              updated_at_ms: h.updatedAtMs,
              updated_by: h.updatedBy,
              metadata: h.metadata,
            })),
          }
        : {}),
    });
    await pace.tick();
  }
  const doc = {
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    session_id: sessionId,
    revision,
    exported_at_ms: Date.now(),
    variables,
    ...(dependencies ? { dependencies } : {}),
  };
  const data = await encodeDocument(doc, format, pace);
  pace.report();
  return { data, count: records.length };
}

/** The edges between exported variables; the set of names is made only when some variables are left out (100k names take 100 ms). */
function exportedEdges<E extends { from: string; to: string }>(
  edges: E[],
  records: { name: string }[],
  sessionSize: number,
): E[] {
  if (edges.length === 0 || records.length === sessionSize) return edges;
  const names = new Set(records.map((r) => r.name));
  return edges.filter((e) => names.has(e.from) && names.has(e.to));
}

interface ImportedVariable {
  name: string;
  type: string;
  value: unknown;
  constraints: Record<string, unknown>;
  metadata: Record<string, string>;
  accessRules: unknown;
}

async function parseDocument(
  data: Uint8Array,
  format: "json" | "yaml",
  pace: Pacer,
  onProgress: ImportOptions["onProgress"],
): Promise<{
  variables: ImportedVariable[];
  dependencies: { from: string; to: string; type: string }[];
  warnings: ParseWarnings;
}> {
  // Parsed off this thread when large or YAML (codec.ts); malformed text, and JSON nested too
  // deep or holding too many lists and maps (values/json-depth.ts), is an InvalidArgumentError.
  const { value: doc, warnings } = await decodeDocument(data, format, onProgress);
  const d = doc as Record<string, unknown> | null;
  if (!d || typeof d !== "object" || d.format !== EXPORT_FORMAT) {
    throw new InvalidArgumentError(`not a dspy-bridge export: expected format '${EXPORT_FORMAT}'`, {
      parameter: "data",
    });
  }
  if (d.version !== EXPORT_VERSION)
    throw new InvalidArgumentError(`unsupported export version ${quote(d.version)}`, { parameter: "data" });
  if (!Array.isArray(d.variables))
    throw new InvalidArgumentError("malformed import: 'variables' must be a list", { parameter: "data" });
  const variables: ImportedVariable[] = [];
  pace.next("decode", d.variables.length);
  for (const [i, raw] of (d.variables as unknown[]).entries()) {
    variables.push(readVariable(raw, i));
    await pace.tick();
  }
  const deps = Array.isArray(d.dependencies) ? (d.dependencies as unknown[]) : [];
  deps.forEach((dep, i) => {
    const e = dep as Record<string, unknown> | null;
    if (
      !e ||
      typeof e !== "object" ||
      typeof e.from !== "string" ||
      typeof e.to !== "string" ||
      (e.type !== undefined && e.type !== null && typeof e.type !== "string")
    ) {
      throw new InvalidArgumentError(
        `malformed import: dependencies[${i}] must be {from, to, type} with string names, got ${quote(dep)}`,
        { parameter: `dependencies[${i}]` },
      );
    }
  });
  return { variables, dependencies: deps as { from: string; to: string; type: string }[], warnings };
}

function readVariable(raw: unknown, i: number): ImportedVariable {
  const v = raw as Record<string, unknown>;
  if (!v || typeof v !== "object" || typeof v.name !== "string" || typeof v.type !== "string") {
    throw new InvalidArgumentError(`malformed import: variables[${i}] needs a name and a type`, {
      parameter: `variables[${i}]`,
    });
  }
  let value: unknown;
  try {
    value = valueFromJson(v.value as JsonValue);
  } catch (err) {
    throw new InvalidArgumentError(
      `malformed import: variables[${i}] ${quote(v.name)} has an unreadable value: ${clip(String((err as Error).message), 300)}`,
      {
        parameter: `variables[${i}].value`,
      },
    );
  }
  return {
    name: v.name,
    type: v.type,
    value,
    constraints: (v.constraints ?? {}) as Record<string, unknown>,
    metadata: (v.metadata ?? {}) as Record<string, string>,
    accessRules: v.access_rules ?? [],
  };
}

function isPlainMap(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v) || ArrayBuffer.isView(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Imported keys win; a `__proto__` key is data like any other (set as an own property, never the prototype). */
function deepMerge(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(extra)) {
    const mine = Object.hasOwn(out, k) ? out[k] : undefined;
    setOwn(out, k, isPlainMap(mine) && isPlainMap(v) ? deepMerge(mine, v) : v);
  }
  return out;
}

/**
 * Imports all or nothing. Every variable is checked first (type, constraints, value,
 * dependencies); with any error nothing changes and the summary lists the errors.
 * Strategies for a name that exists: replace (the imported value wins), keep (the
 * existing variable is left alone), merge (map values are deep-merged with imported keys
 * winning, metadata merged; other types keep their value and gain the metadata).
 */
export async function importVariables(
  store: Store,
  sessionId: string,
  data: Uint8Array,
  options: ImportOptions = {},
): Promise<ImportSummary> {
  const format = checkFormat(options.format);
  const strategy = (options.mergeStrategy ?? "replace") as MergeStrategy;
  if (!["replace", "keep", "merge"].includes(strategy)) {
    throw new InvalidArgumentError(
      `merge_strategy must be replace, keep or merge, got ${quote(options.mergeStrategy)}`,
      { parameter: "merge_strategy" },
    );
  }
  const caller = options.caller ?? sessionId;
  await store.getSession(sessionId); // catch up with the other hosts (shared store), NotFoundError if unknown
  const session = store.sessionRecord(sessionId);
  const pace = new Pacer(options.onProgress, "decode", 0);
  const { variables, dependencies, warnings } = await parseDocument(data, format, pace, options.onProgress);
  pace.next("check", variables.length);
  const details: ImportDetail[] = [];
  // Checked here once, completely: the commit checks them only against what changed since (Store.commitImport).
  const creates: PutChange[] = [];
  const updates: CheckedUpdate[] = [];
  const seen = new Set<string>();
  const limits = store.sizeLimits;
  for (const v of variables) {
    try {
      if (seen.has(v.name)) throw new InvalidArgumentError(`${quote(v.name)} appears twice in the import`);
      seen.add(v.name);
      checkVariableName(v.name, "name");
      const existing = session.find(v.name);
      if (!existing) {
        creates.push(
          store.checkNewVariable(
            {
              name: v.name,
              type: v.type,
              initialValue: v.value,
              constraints: v.constraints,
              metadata: v.metadata,
              accessRules: v.accessRules,
            },
            undefined,
          ),
        );
        details.push({ name: v.name, action: "create" });
        await pace.tick();
        continue;
      }
      // Depth and size first, as a write would (a 100 MiB or 1,000-level value is refused before it is looked at).
      measureWrite(v.name, v.value, v.metadata, limits, [v.constraints, v.accessRules]);
      const type = canonicalType(v.type);
      validateConstraints(type, v.constraints);
      normalizeRules(v.accessRules);
      const metadata = stringMap(v.metadata, "metadata");
      if (strategy === "keep") {
        details.push({ name: v.name, action: "skip" });
      } else {
        if (!isAllowed(existing.accessRules, caller, "write"))
          throw new InvalidArgumentError(`session ${quote(caller)} may not write ${quote(v.name)}`);
        if (existing.type !== type)
          throw new InvalidArgumentError(`${quote(v.name)} is a ${existing.type} here but a ${type} in the import`);
        const merged =
          strategy === "merge"
            ? isPlainMap(existing.value) && isPlainMap(v.value)
              ? deepMerge(existing.value, v.value)
              : existing.value
            : v.value;
        const value = validateValue(existing.type, merged, existing.constraints, v.name);
        // What the write stores (a merge can grow past the limit): its size, as a write measures it.
        const bytes = measureWrite(v.name, value, metadata, limits);
        // A merge is computed from the value read here: it commits only if that is still the value.
        updates.push({
          name: existing.name,
          id: existing.id,
          value,
          metadata,
          expectedVersion: strategy === "merge" ? existing.version : 0,
          bytes,
        });
        details.push({ name: v.name, action: strategy });
      }
    } catch (err) {
      details.push({ name: clip(v.name, 256), action: "error", error: BridgeError.from(err).message });
    }
    // Other clients are served between slices.
    await pace.tick();
  }
  // Dependencies between known names, checked for cycles against the session's graph.
  const graph = session.dependencies.clone();
  const known = (n: string) => seen.has(n) || session.find(n) !== undefined;
  for (const dep of dependencies) {
    const edge = `${clip(dep.from, 100)} -> ${clip(dep.to, 100)}`;
    try {
      if (!known(dep.from) || !known(dep.to))
        throw new InvalidArgumentError(`dependency ${edge} names an unknown variable`);
      if (!(DEPENDENCY_TYPES as readonly string[]).includes(dep.type ?? "data")) {
        throw new InvalidArgumentError(`dependency ${edge}: type must be one of ${DEPENDENCY_TYPES.join(", ")}`);
      }
      const existingFrom = session.find(dep.from);
      if (existingFrom && !isAllowed(existingFrom.accessRules, caller, "write")) {
        throw new InvalidArgumentError(`dependency ${edge}: session ${quote(caller)} may not write ${quote(dep.from)}`);
      }
      graph.add(dep.from, dep.to, dep.type ?? "data");
    } catch (err) {
      details.push({ name: edge, action: "error", error: BridgeError.from(err).message });
    }
    await pace.tick();
  }
  const errors = details.filter((d) => d.action === "error").length;
  const skipped = details.filter((d) => d.action === "skip").length;
  const imported = creates.length + updates.length;
  const parsed = { warnings: warnings.messages, warningCount: warnings.count };
  if (errors > 0 || options.dryRun || imported === 0) {
    pace.report();
    return {
      imported: errors ? 0 : imported,
      skipped,
      errors,
      details,
      revision: 0,
      dryRun: options.dryRun ?? false,
      ...parsed,
    };
  }
  // Everything checked: one commit, planned, written and applied in slices (Store.commitImport).
  const revision = await store.commitImport(
    sessionId,
    {
      creates,
      updates,
      edges: dependencies.map((d) => ({ from: d.from, to: d.to, type: d.type ?? "data" })),
    },
    caller,
    "import",
    options.onProgress,
  );
  return { imported, skipped, errors: 0, details, revision, dryRun: false, ...parsed };
}
