// How the durable backends lay the store out: a few hashes and lists per session, written
// by a list of primitive operations and guarded by checks, so that one backend-neutral
// request describes a whole commit. SQLite runs it in one transaction, Redis in one Lua
// script. Values that depend on the revision (which only the backend knows when it
// commits) are "stamped": the backend prefixes them with `<revision>|`.
//
// Keys (under the backend's prefix), with <sk> = `<byte length of session id>:<session id>`:
//   head       key   id of the newest log entry (Redis; SQLite keeps it in its meta table)
//   log        stream the log entries (Redis; SQLite: the log table)
//   s          hash  session id -> SessionInfo JSON
//   v:<sk>     hash  variable name -> stamped variable JSON (without history)
//   h:<sk>:<n> list  stamped history entries of variable n, oldest first
//   d:<sk>     hash  "from\u0000to" -> dependency edge JSON
//   c:<sk>     hash  configuration name -> { doc, version } JSON
//   t:<sk>     hash  field -> id of the log entry that last changed it (the checks' stamps)
//   a:<sk>     key   present while a session with a TTL is alive (Redis only)
//   r:<sk>     hash  run id -> RunRecord JSON (optimization runs, optimizer jobs)
//   rt:<sk>:<r> list stamped trials of run r, oldest first
//   p:<sk>     hash  program id -> ProgramRecord JSON (session programs: definition and compiled state)
import type { JsonValue } from "@bufbuild/protobuf";
import type { AccessRule } from "../access.js";
import { encodeEntry, encodeEntrySteps, valueFromJson, valueToJson, type Entry, type PutChange } from "../entries.js";
import { runSteps, type Steps } from "../pacing.js";
import type { LogId } from "../log-id.js";
import {
  MAX_TRIALS_PER_RUN,
  SessionRecord,
  VariableRecord,
  type HistoryEntry,
  type ProgramRecord,
  type RunRecord,
  type SessionInfo,
  type TrialRecord,
} from "../records.js";
import type { VariableType } from "../types/index.js";

export type Op =
  | { op: "hset"; key: string; field: string; value: string; stamped: boolean }
  | { op: "hdel"; key: string; field: string }
  /** `fresh`: the list's first entry (a variable created by this commit): nothing before it counts. */
  | { op: "push"; key: string; value: string; keep: number; fresh?: true }
  | { op: "ltrim"; key: string; keep: number }
  | { op: "del"; key: string }
  | { op: "stamp"; key: string; field: string }
  | { op: "alive"; key: string; ttlMs: number }
  | { op: "drop"; sid: string };

/** `equals`: the field must hold this stamp (null: must be absent). `absentKey`: the key must not exist. */
export type Check = { key: string; field: string; equals: string | null } | { absentKey: string };

export interface CommitRequest {
  sid: string;
  /** A commit takes the next revision; anything else the next seq of the current one. */
  commit: boolean;
  checks: Check[];
  ops: Op[];
  entry: string;
  /** Also drop the log entries of revisions up to this one (the watch log's byte limit). */
  trimLog?: number;
}

/** `final`: a conflict no re-plan can fix (the session was renewed by another host). */
export type CommitResult = { id: LogId } | { conflict: string; final?: boolean };

export interface LoggedEntry {
  id: LogId;
  entry: string;
}

export interface RawSnapshot {
  head: LogId;
  hashes: Map<string, Map<string, string>>;
  lists: Map<string, string[]>;
  /** The retained log, oldest first. */
  log: LoggedEntry[];
  /**
   * Revisions at or below this are no longer in the log; absent: those before its first entry.
   * One session's log that starts with the session's creation lacks nothing of it (0).
   */
  compacted?: number;
}

/** Length in bytes, as Redis's Lua counts it, so both sides build the same keys. */
export const sessionKey = (sid: string): string => `${Buffer.byteLength(sid)}:${sid}`;
export const keys = {
  sessions: "s",
  variables: (sid: string) => `v:${sessionKey(sid)}`,
  history: (sid: string, name: string) => `h:${sessionKey(sid)}:${name}`,
  edges: (sid: string) => `d:${sessionKey(sid)}`,
  configs: (sid: string) => `c:${sessionKey(sid)}`,
  stamps: (sid: string) => `t:${sessionKey(sid)}`,
  alive: (sid: string) => `a:${sessionKey(sid)}`,
  runs: (sid: string) => `r:${sessionKey(sid)}`,
  trials: (sid: string, runId: string) => `rt:${sessionKey(sid)}:${runId}`,
  programs: (sid: string) => `p:${sessionKey(sid)}`,
};

/** Stamp fields besides variable names (which never start with NUL). */
export const SESSION_FIELD = "\u0000session";
export const EDGES_FIELD = "\u0000edges";
export const configField = (name: string) => `\u0000config:${name}`;
export const programField = (id: string) => `\u0000program:${id}`;
const edgeField = (from: string, to: string) => `${from}\u0000${to}`;

interface StoredVariable {
  name: string;
  type: VariableType;
  value: JsonValue;
  constraints: Record<string, unknown>;
  metadata: Record<string, string>;
  version: number;
  /** 0: the stamp's revision. */
  createRevision: number;
  modifyRevision: number;
  createdAtMs: number;
  updatedAtMs: number;
  updatedBy: string;
  rules: AccessRule[];
}

interface StoredHistory {
  version: number;
  value: JsonValue;
  updatedAtMs: number;
  updatedBy: string;
  metadata: Record<string, string>;
  revision: number;
}

function putJson(p: PutChange, value: JsonValue, source: string, at: number): string {
  const v: StoredVariable = {
    name: p.name,
    type: p.type,
    value,
    constraints: p.constraints,
    metadata: p.recordMetadata,
    version: p.version,
    createRevision: p.fresh ? 0 : p.createRevision,
    modifyRevision: 0,
    createdAtMs: p.createdAtMs,
    updatedAtMs: at,
    updatedBy: source,
    rules: p.rules,
  };
  return JSON.stringify(v);
}

export function recordJson(r: VariableRecord): string {
  const v: StoredVariable = {
    name: r.name,
    type: r.type,
    value: valueToJson(r.value),
    constraints: r.constraints,
    metadata: r.metadata,
    version: r.version,
    createRevision: r.createRevision,
    modifyRevision: r.modifyRevision,
    createdAtMs: r.createdAtMs,
    updatedAtMs: r.updatedAtMs,
    updatedBy: r.updatedBy,
    rules: r.accessRules,
  };
  return JSON.stringify(v);
}

/**
 * The request that makes `entry` durable. `sessions` are this host's copies of the sessions
 * (a new session is not among them): the checks demand that everything the entry was planned
 * against in its session is still as this host saw it.
 */
export function requestFor(
  entry: Entry,
  sessions: ReadonlyMap<string, SessionRecord>,
  historyLimit: number,
  trimLog?: number,
): CommitRequest {
  return runSteps(requestSteps(entry, sessions, historyLimit, trimLog));
}

/** requestFor a put at a time (a large import's commit is built in slices: pacing.ts). */
export function* requestSteps(
  entry: Entry,
  sessions: ReadonlyMap<string, SessionRecord>,
  historyLimit: number,
  trimLog?: number,
): Steps<CommitRequest> {
  const checks: Check[] = [];
  const ops: Op[] = [];
  const sid = entry.t === "session" ? entry.info.sessionId : entry.sid;
  const session = sessions.get(sid);
  const stampsKey = keys.stamps(sid);
  const guard = (field: string) => checks.push({ key: stampsKey, field, equals: session?.stamps.get(field) ?? null });
  const touch = (field: string) => ops.push({ op: "stamp", key: stampsKey, field });
  if (entry.t === "session") {
    guard(SESSION_FIELD);
    ops.push({ op: "hset", key: keys.sessions, field: sid, value: JSON.stringify(entry.info), stamped: false });
    touch(SESSION_FIELD);
    if (entry.info.ttlMs > 0) ops.push({ op: "alive", key: keys.alive(sid), ttlMs: entry.info.ttlMs });
    return { sid, commit: false, checks, ops, entry: encodeEntry(entry) };
  }
  guard(SESSION_FIELD);
  if (entry.t === "drop") {
    if (entry.why === "expired") checks.push({ absentKey: keys.alive(sid) });
    ops.push({ op: "drop", sid });
    return { sid, commit: false, checks, ops, entry: encodeEntry(entry) };
  }
  if (entry.t === "rules") {
    const record = session!.variables.get(entry.name)!;
    guard(record.name);
    const copy = Object.assign(Object.create(VariableRecord.prototype) as VariableRecord, record, {
      accessRules: entry.rules,
    });
    ops.push({ op: "hset", key: keys.variables(sid), field: record.name, value: recordJson(copy), stamped: true });
    touch(record.name);
    return { sid, commit: false, checks, ops, entry: encodeEntry(entry) };
  }
  if (entry.t === "run") {
    // A run's record is its own: only the host running it writes it, so nothing else is checked.
    ops.push({
      op: "hset",
      key: keys.runs(sid),
      field: entry.run.id,
      value: JSON.stringify(entry.run),
      stamped: false,
    });
    for (const trial of entry.trials)
      ops.push({
        op: "push",
        key: keys.trials(sid, entry.run.id),
        value: JSON.stringify(trial),
        keep: MAX_TRIALS_PER_RUN,
      });
    return { sid, commit: false, checks, ops, entry: encodeEntry(entry) };
  }
  if (entry.t === "program") {
    // Guarded: a program's revision follows the one this host saw (two hosts changing it at once: one re-plans).
    guard(programField(entry.id));
    if (entry.program)
      ops.push({
        op: "hset",
        key: keys.programs(sid),
        field: entry.id,
        value: JSON.stringify(entry.program),
        stamped: false,
      });
    else ops.push({ op: "hdel", key: keys.programs(sid), field: entry.id });
    touch(programField(entry.id));
    return { sid, commit: false, checks, ops, entry: encodeEntry(entry) };
  }
  if (entry.t === "edge") {
    const { from, to } = entry.edge;
    guard(from);
    guard(to);
    guard(EDGES_FIELD);
    if (entry.remove) ops.push({ op: "hdel", key: keys.edges(sid), field: edgeField(from, to) });
    else
      ops.push({
        op: "hset",
        key: keys.edges(sid),
        field: edgeField(from, to),
        value: JSON.stringify(entry.edge),
        stamped: false,
      });
    touch(EDGES_FIELD);
    return { sid, commit: false, checks, ops, entry: encodeEntry(entry) };
  }
  // Each new value is rendered once: the variable, its history entry and the log entry
  // all carry the same JSON (it used to be encoded three times per put).
  const values: JsonValue[] = [];
  for (const [i, p] of entry.puts.entries()) {
    values.push(valueToJson(p.value));
    guard(p.name);
    ops.push({
      op: "hset",
      key: keys.variables(sid),
      field: p.name,
      value: putJson(p, values[i]!, entry.source, entry.at),
      stamped: true,
    });
    const h: StoredHistory = {
      version: p.version,
      value: values[i]!,
      updatedAtMs: entry.at,
      updatedBy: entry.source,
      metadata: p.metadata,
      revision: 0,
    };
    ops.push({
      op: "push",
      key: keys.history(sid, p.name),
      value: JSON.stringify(h),
      keep: p.keep ?? historyLimit,
      ...(p.fresh ? { fresh: true as const } : {}),
    });
    touch(p.name);
    yield;
  }
  // Older versions of other variables dropped for the session's byte limit (keep the newest `keep`).
  for (const t of entry.trims ?? []) ops.push({ op: "ltrim", key: keys.history(sid, t.name), keep: t.keep });
  const edgesChange = entry.edges.length > 0 || entry.dels.length > 0;
  if (edgesChange) guard(EDGES_FIELD);
  const edges = entry.dels.length ? (session?.dependencies.allEdges() ?? []) : [];
  for (const d of entry.dels) {
    guard(d.name);
    ops.push({ op: "hdel", key: keys.variables(sid), field: d.name });
    ops.push({ op: "hdel", key: stampsKey, field: d.name });
    ops.push({ op: "del", key: keys.history(sid, d.name) });
    for (const e of edges) {
      if (e.from === d.name || e.to === d.name)
        ops.push({ op: "hdel", key: keys.edges(sid), field: edgeField(e.from, e.to) });
    }
    yield;
  }
  for (const e of entry.edges) {
    ops.push({
      op: "hset",
      key: keys.edges(sid),
      field: edgeField(e.from, e.to),
      value: JSON.stringify(e),
      stamped: false,
    });
    yield;
  }
  if (edgesChange) touch(EDGES_FIELD);
  if (entry.config) {
    guard(configField(entry.config.name));
    ops.push({
      op: "hset",
      key: keys.configs(sid),
      field: entry.config.name,
      value: JSON.stringify({ doc: entry.config.doc, version: entry.config.version }),
      stamped: false,
    });
    touch(configField(entry.config.name));
  }
  return {
    sid,
    commit: true,
    checks,
    ops,
    entry: yield* encodeEntrySteps(entry, values),
    ...(trimLog === undefined ? {} : { trimLog }),
  };
}

function unstamp(text: string): { rev: number; json: string } {
  const bar = text.indexOf("|");
  return { rev: Number(text.slice(0, bar)), json: text.slice(bar + 1) };
}

/** Rebuilds every session from a snapshot. */
export function sessionsFromSnapshot(snapshot: RawSnapshot): Map<string, SessionRecord> {
  const out = new Map<string, SessionRecord>();
  const hash = (key: string) => snapshot.hashes.get(key) ?? new Map<string, string>();
  for (const [sid, infoJson] of hash(keys.sessions)) {
    const session = new SessionRecord(JSON.parse(infoJson) as SessionInfo);
    for (const [field, stamp] of hash(keys.stamps(sid))) session.stamps.set(field, stamp);
    for (const [, stamped] of hash(keys.variables(sid))) {
      const { rev, json } = unstamp(stamped);
      const v = JSON.parse(json) as StoredVariable;
      const createRevision = v.createRevision || rev;
      const history: HistoryEntry[] = (snapshot.lists.get(keys.history(sid, v.name)) ?? []).map((item) => {
        const h = unstamp(item);
        const e = JSON.parse(h.json) as StoredHistory;
        return {
          version: e.version,
          value: valueFromJson(e.value),
          updatedAtMs: e.updatedAtMs,
          updatedBy: e.updatedBy,
          metadata: e.metadata,
          revision: e.revision || h.rev,
        };
      });
      const record = new VariableRecord(
        `var_${v.name}_${createRevision}`,
        v.name,
        v.type,
        valueFromJson(v.value),
        v.constraints,
        v.metadata,
        v.version,
        createRevision,
        v.modifyRevision || rev,
        v.createdAtMs,
        v.updatedAtMs,
        v.updatedBy,
        v.rules,
        history,
      );
      session.variables.set(record.name, record);
      session.idToName.set(record.id, record.name);
      session.bytes += record.historyBytes;
      session.lastRevision = Math.max(session.lastRevision, record.modifyRevision);
    }
    for (const [, edgeJson] of hash(keys.edges(sid))) {
      const e = JSON.parse(edgeJson) as { from: string; to: string; type: string; metadata: Record<string, string> };
      if (!session.variables.has(e.from) || !session.variables.has(e.to)) continue;
      try {
        session.dependencies.add(e.from, e.to, e.type, e.metadata);
      } catch {
        // Cannot happen (edges commit one at a time, each checked); if it did, a lost edge beats a store that will not load.
      }
    }
    for (const [id, json] of hash(keys.runs(sid))) {
      const trials = (snapshot.lists.get(keys.trials(sid, id)) ?? []).map(
        (item) => JSON.parse(unstamp(item).json) as TrialRecord,
      );
      session.runs.set(id, { run: JSON.parse(json) as RunRecord, trials });
    }
    for (const [id, json] of hash(keys.programs(sid))) session.programs.set(id, JSON.parse(json) as ProgramRecord);
    for (const [name, json] of hash(keys.configs(sid))) {
      const c = JSON.parse(json) as { doc: unknown; version: number };
      session.configs.set(name, { doc: c.doc, version: c.version });
    }
    out.set(sid, session);
  }
  return out;
}
