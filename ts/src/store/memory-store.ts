// The host's store, in memory: sessions, typed variables, revisions, history, watches,
// dependencies, access rules, stats. Every mutation is validated completely before
// anything changes, then applied as one commit under one revision, so a failed request
// never leaves the store half-written.
import { randomUUID } from "node:crypto";
import {
  AlreadyExistsError,
  CompactedError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  VersionConflictError,
  BridgeError,
} from "../errors/index.js";
import { isAllowed, normalizeRules, type AccessRule, type Permission } from "./access.js";
import { DEPENDENCY_TYPES } from "./dependency-graph.js";
import { SessionRecord, VariableRecord, type Change, type Commit, type HistoryEntry, type SessionInfo } from "./records.js";
import { canonicalType, inferType, validateConstraints, validateValue, type VariableType } from "./types/index.js";

export interface StoreOptions {
  /** Versions kept per variable for history and rollback. Default 100. */
  historyLimit?: number;
  /** Commits kept for watches that resume from a revision. Default 10,000. */
  eventLogLimit?: number;
  /** Session TTL when a session is created without one; 0 = never expires. Default 0. */
  defaultSessionTtlMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

export interface VariableSpecInput {
  name: string;
  type: string;
  initialValue: unknown;
  constraints?: Record<string, unknown>;
  metadata?: Record<string, string>;
  dependencies?: string[];
  accessRules?: unknown;
}

export interface UpdateInput {
  name: string;
  value: unknown;
  /** Compare-and-set: 0 or undefined = any version. */
  expectedVersion?: number;
  metadata?: Record<string, string>;
}

export interface UpdateOptions {
  atomic?: boolean;
  createIfMissing?: boolean;
  typeHint?: string;
  source?: string;
  caller?: string;
}

export interface UpdateOutcome {
  name: string;
  ok: boolean;
  error: BridgeError | undefined;
  version: number;
}

export interface WatchOptions {
  names?: string[];
  startRevision?: number;
  includeInitial?: boolean;
  caller?: string;
}

export type WatchMessage =
  | { kind: "commit"; revision: number; changes: Change[]; initial: boolean }
  | { kind: "compacted"; revision: number; compactRevision: number };

export interface WatchHandle {
  cancel(): void;
}

interface Watcher {
  sessionId: string;
  names: Set<string> | undefined;
  caller: string;
  onMessage: (m: WatchMessage) => void;
  onEnd: (error?: BridgeError) => void;
}

/** Variable names: a letter or _ first, then letters, digits, _ . : - (at most 255). */
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_.:-]{0,254}$/;

type PendingPut = { kind: "put"; record: VariableRecord; value: unknown; metadata: Record<string, string>; fresh: boolean };
type PendingDelete = { kind: "delete"; record: VariableRecord };

export class MemoryStore {
  private revision = 0;
  private readonly sessions = new Map<string, SessionRecord>();
  private readonly log: Commit[] = [];
  /** Revisions at or below this are no longer in the log. */
  private compactedRevision = 0;
  private readonly watchers = new Set<Watcher>();
  private readonly historyLimit: number;
  private readonly eventLogLimit: number;
  private readonly defaultTtlMs: number;
  private readonly now: () => number;
  private expiryTimer: NodeJS.Timeout | undefined;

  constructor(options: StoreOptions = {}) {
    this.historyLimit = options.historyLimit ?? 100;
    this.eventLogLimit = options.eventLogLimit ?? 10_000;
    this.defaultTtlMs = options.defaultSessionTtlMs ?? 0;
    this.now = options.now ?? Date.now;
  }

  get currentRevision(): number {
    return this.revision;
  }

  // ----------------------------------------------------------------------------------
  // Sessions

  createSession(input: { sessionId?: string; ttlMs?: number; metadata?: Record<string, unknown> } = {}): SessionInfo {
    const sessionId = input.sessionId || `session_${randomUUID()}`;
    if (typeof sessionId !== "string" || sessionId.length > 256) {
      throw new InvalidArgumentError("session_id must be a string of at most 256 characters", { parameter: "session_id" });
    }
    this.sweep();
    if (this.sessions.has(sessionId)) throw new AlreadyExistsError(`session '${sessionId}' already exists`);
    const ttlMs = input.ttlMs ?? this.defaultTtlMs;
    if (!Number.isFinite(ttlMs) || ttlMs < 0) throw new InvalidArgumentError("ttl_ms must be >= 0", { parameter: "ttl_ms" });
    const now = this.now();
    const session = new SessionRecord({ sessionId, createdAtMs: now, lastAccessedAtMs: now, ttlMs, metadata: { ...(input.metadata ?? {}) } });
    this.sessions.set(sessionId, session);
    return { ...session.info };
  }

  getSession(sessionId: string): SessionInfo {
    return { ...this.session(sessionId).info };
  }

  listSessions(): SessionInfo[] {
    this.sweep();
    return [...this.sessions.values()].map((s) => ({ ...s.info }));
  }

  deleteSession(sessionId: string): boolean {
    const session = this.sessions.get(sessionId);
    if (!session) return false;
    this.dropSession(session, new NotFoundError(`session '${sessionId}' was deleted`));
    return true;
  }

  /** Removes expired sessions; returns how many. Runs on every session lookup and on a timer. */
  sweep(): number {
    const now = this.now();
    let n = 0;
    for (const session of [...this.sessions.values()]) {
      if (session.expired(now)) {
        this.dropSession(session, new NotFoundError(`session '${session.info.sessionId}' expired`));
        n++;
      }
    }
    return n;
  }

  /** Sweeps expired sessions every `intervalMs` until close(). */
  startExpiry(intervalMs = 1_000): void {
    this.expiryTimer ??= setInterval(() => this.sweep(), intervalMs);
    this.expiryTimer.unref();
  }

  close(): void {
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    for (const w of [...this.watchers]) {
      this.watchers.delete(w);
      w.onEnd();
    }
  }

  private readonly droppedListeners = new Set<(sessionId: string) => void>();

  /** Called whenever a session goes away (deleted or expired). */
  onSessionDropped(listener: (sessionId: string) => void): void {
    this.droppedListeners.add(listener);
  }

  private dropSession(session: SessionRecord, reason: BridgeError): void {
    this.sessions.delete(session.info.sessionId);
    for (const listener of this.droppedListeners) listener(session.info.sessionId);
    for (const w of [...this.watchers]) {
      if (w.sessionId === session.info.sessionId) {
        this.watchers.delete(w);
        w.onEnd(reason);
      }
    }
  }

  private session(sessionId: string): SessionRecord {
    const session = this.sessions.get(sessionId);
    const now = this.now();
    if (!session || session.expired(now)) {
      if (session) this.dropSession(session, new NotFoundError(`session '${sessionId}' expired`));
      throw new NotFoundError(`session '${sessionId}' not found`, { details: { session_id: sessionId } });
    }
    session.info.lastAccessedAtMs = now;
    return session;
  }

  private variable(session: SessionRecord, nameOrId: string): VariableRecord {
    const record = session.find(nameOrId);
    if (!record) {
      throw new NotFoundError(`variable '${nameOrId}' not found in session '${session.info.sessionId}'`, {
        details: { variable: nameOrId, session_id: session.info.sessionId },
      });
    }
    return record;
  }

  private check(record: VariableRecord, caller: string, permission: Permission): void {
    if (!isAllowed(record.accessRules, caller, permission)) {
      throw new PermissionDeniedError(`session '${caller}' may not ${permission} variable '${record.name}'`, {
        details: { variable: record.name, permission, session_id: caller },
      });
    }
  }

  // ----------------------------------------------------------------------------------
  // Variables

  /** Creates every variable or none. */
  register(sessionId: string, specs: VariableSpecInput[], caller = sessionId, source = caller): VariableRecord[] {
    const session = this.session(sessionId);
    if (!Array.isArray(specs) || specs.length === 0) throw new InvalidArgumentError("no variables to register", { parameter: "variables" });
    const names = new Set<string>();
    const now = this.now();
    const revision = this.revision + 1;
    const graph = session.dependencies.clone();
    const records = specs.map((spec, i) => {
      const where = `variables[${i}]`;
      if (typeof spec.name !== "string" || !VARIABLE_NAME.test(spec.name)) {
        throw new InvalidArgumentError(
          `${where}.name must start with a letter or _ and contain only letters, digits, _ . : - (got ${JSON.stringify(spec.name)})`,
          { parameter: `${where}.name` },
        );
      }
      if (names.has(spec.name)) throw new InvalidArgumentError(`variable '${spec.name}' is registered twice in one request`, { parameter: `${where}.name` });
      if (session.variables.has(spec.name)) {
        throw new AlreadyExistsError(`variable '${spec.name}' already exists in session '${sessionId}'`, { details: { variable: spec.name } });
      }
      names.add(spec.name);
      const type = canonicalType(spec.type);
      const constraints = validateConstraints(type, spec.constraints ?? {});
      const value = validateValue(type, spec.initialValue, constraints, spec.name);
      const rules = normalizeRules(spec.accessRules, `${where}.access_rules`);
      const metadata = stringMap(spec.metadata, `${where}.metadata`);
      const id = `var_${spec.name}_${revision}`;
      const history: HistoryEntry[] = [{ version: 1, value, updatedAtMs: now, updatedBy: source, metadata, revision }];
      return new VariableRecord(id, spec.name, type, value, constraints, metadata, 1, revision, revision, now, now, source, rules, history);
    });
    // Dependencies may point at variables of this request or already stored ones.
    specs.forEach((spec, i) => {
      for (const dep of spec.dependencies ?? []) {
        const target = names.has(dep) ? dep : session.find(dep)?.name;
        if (!target) {
          throw new NotFoundError(`variables[${i}] '${spec.name}' depends on unknown variable '${dep}'`, { details: { variable: dep } });
        }
        graph.add(spec.name, target, "data");
      }
    });
    this.commit(
      session,
      records.map((record) => ({ kind: "put", record, value: record.value, metadata: record.metadata, fresh: true })),
      source,
      () => {
        for (const r of records) {
          session.variables.set(r.name, r);
          session.idToName.set(r.id, r.name);
        }
        specs.forEach((spec) => {
          for (const dep of spec.dependencies ?? []) session.dependencies.add(spec.name, names.has(dep) ? dep : session.find(dep)!.name, "data");
        });
      },
    );
    return records;
  }

  get(sessionId: string, nameOrId: string, caller = sessionId): VariableRecord {
    const session = this.session(sessionId);
    const record = this.variable(session, nameOrId);
    this.check(record, caller, "read");
    record.stats.reads++;
    record.stats.lastReadMs = this.now();
    return record;
  }

  /** Missing names map to undefined; a forbidden one throws. */
  getMany(sessionId: string, names: string[], caller = sessionId): Map<string, VariableRecord | undefined> {
    const session = this.session(sessionId);
    const out = new Map<string, VariableRecord | undefined>();
    const now = this.now();
    for (const name of names) {
      const record = session.find(name);
      if (record) {
        this.check(record, caller, "read");
        record.stats.reads++;
        record.stats.lastReadMs = now;
      }
      out.set(name, record);
    }
    return out;
  }

  list(sessionId: string, pattern?: string, caller = sessionId): VariableRecord[] {
    const session = this.session(sessionId);
    const re = compilePattern(pattern);
    return [...session.variables.values()].filter((r) => (!re || re.test(r.name)) && isAllowed(r.accessRules, caller, "read"));
  }

  update(sessionId: string, updates: UpdateInput[], options: UpdateOptions = {}): { revision: number; results: UpdateOutcome[] } {
    const session = this.session(sessionId);
    const caller = options.caller ?? sessionId;
    const source = options.source || caller;
    const atomic = options.atomic ?? true;
    if (!Array.isArray(updates) || updates.length === 0) throw new InvalidArgumentError("no updates given", { parameter: "updates" });
    const planned: PendingPut[] = [];
    const results: UpdateOutcome[] = [];
    const seen = new Set<string>();
    for (const u of updates) {
      try {
        let record = session.find(u.name);
        // By the variable, not the text: a name and an id can denote the same one.
        const key = record?.name ?? u.name;
        if (seen.has(key)) throw new InvalidArgumentError(`variable '${key}' is updated twice in one request`, { parameter: "updates" });
        seen.add(key);
        let fresh = false;
        if (!record) {
          if (!options.createIfMissing) this.variable(session, u.name);
          const type = options.typeHint ? canonicalType(options.typeHint) : inferType(u.value);
          const value = validateValue(type, u.value, {}, u.name);
          const now = this.now();
          if (!VARIABLE_NAME.test(u.name)) {
            throw new InvalidArgumentError(`invalid variable name ${JSON.stringify(u.name)}`, { parameter: "name" });
          }
          record = new VariableRecord(`var_${u.name}_${this.revision + 1}`, u.name, type, value, {}, {}, 0, this.revision + 1, 0, now, now, source, [], []);
          fresh = true;
        } else {
          this.check(record, caller, "write");
          if (u.expectedVersion && u.expectedVersion !== record.version) {
            throw new VersionConflictError(
              `variable '${record.name}' is at version ${record.version}, not the expected ${u.expectedVersion}`,
              { details: { variable: record.name, version: record.version, expected_version: u.expectedVersion } },
            );
          }
        }
        const value = fresh ? record.value : validateValue(record.type, u.value, record.constraints, record.name);
        planned.push({ kind: "put", record, value, metadata: stringMap(u.metadata, "metadata"), fresh });
        results.push({ name: u.name, ok: true, error: undefined, version: (record.version || 0) + 1 });
      } catch (err) {
        results.push({ name: u.name, ok: false, error: BridgeError.from(err), version: 0 });
      }
    }
    const failed = results.filter((r) => !r.ok);
    if (atomic && failed.length > 0) {
      const why = failed.map((f) => `${f.name}: ${f.error!.message}`).join("; ");
      for (const r of results) {
        if (r.ok) {
          r.ok = false;
          r.version = 0;
          r.error = new InvalidArgumentError(`not applied: the atomic update failed (${why})`, { details: { aborted: true } });
        }
      }
      return { revision: 0, results };
    }
    if (planned.length === 0) return { revision: 0, results };
    const revision = this.commit(session, planned, source, () => {
      for (const p of planned) {
        if (p.fresh) {
          session.variables.set(p.record.name, p.record);
          session.idToName.set(p.record.id, p.record.name);
        }
      }
    });
    return { revision, results };
  }

  /** set_variable: one update that throws instead of reporting. */
  set(sessionId: string, name: string, value: unknown, options: UpdateOptions & { expectedVersion?: number; metadata?: Record<string, string> } = {}): VariableRecord {
    const { results } = this.update(sessionId, [{ name, value, expectedVersion: options.expectedVersion ?? 0, metadata: options.metadata ?? {} }], {
      ...options,
      atomic: true,
    });
    if (!results[0]!.ok) throw results[0]!.error!;
    return this.session(sessionId).find(name)!;
  }

  delete(sessionId: string, names: string[], caller = sessionId): { revision: number; deleted: number } {
    const session = this.session(sessionId);
    const records = [
      ...new Set(
        names.map((n) => {
          const r = this.variable(session, n);
          this.check(r, caller, "write");
          return r;
        }),
      ),
    ];
    if (records.length === 0) return { revision: 0, deleted: 0 };
    const revision = this.commit(
      session,
      records.map((record) => ({ kind: "delete", record })),
      caller,
      () => {
        for (const r of records) {
          session.variables.delete(r.name);
          session.idToName.delete(r.id);
          session.dependencies.drop(r.name);
        }
      },
    );
    return { revision, deleted: records.length };
  }

  history(sessionId: string, name: string, limit = 100, offset = 0, caller = sessionId): HistoryEntry[] {
    const record = this.get(sessionId, name, caller);
    if (limit < 0 || offset < 0) throw new InvalidArgumentError("limit and offset must be >= 0", { parameter: limit < 0 ? "limit" : "offset" });
    return [...record.history].reverse().slice(offset, offset + (limit || record.history.length));
  }

  rollback(sessionId: string, name: string, version: number, reason = "", caller = sessionId): VariableRecord {
    const session = this.session(sessionId);
    const record = this.variable(session, name);
    this.check(record, caller, "write");
    const entry = record.history.find((h) => h.version === version);
    if (!entry) {
      const kept = record.history.map((h) => h.version);
      throw new InvalidArgumentError(
        `variable '${record.name}' has no version ${version} to roll back to (kept: ${kept.length ? `${kept[0]}..${kept[kept.length - 1]}` : "none"})`,
        { parameter: "version" },
      );
    }
    const value = validateValue(record.type, entry.value, record.constraints, record.name);
    const metadata: Record<string, string> = { rollback_to_version: String(version), ...(reason ? { reason } : {}) };
    this.commit(session, [{ kind: "put", record, value, metadata, fresh: false }], caller, () => {});
    return record;
  }

  // ----------------------------------------------------------------------------------
  // Dependencies, permissions, stats

  addDependency(sessionId: string, from: string, to: string, type = "data", metadata: Record<string, string> = {}, caller = sessionId): void {
    const session = this.session(sessionId);
    const a = this.variable(session, from);
    const b = this.variable(session, to);
    this.check(a, caller, "write");
    if (!(DEPENDENCY_TYPES as readonly string[]).includes(type)) {
      throw new InvalidArgumentError(`dependency type must be one of ${DEPENDENCY_TYPES.join(", ")}, got '${type}'`, { parameter: "dependency_type" });
    }
    session.dependencies.add(a.name, b.name, type, stringMap(metadata, "metadata"));
  }

  removeDependency(sessionId: string, from: string, to: string, caller = sessionId): boolean {
    const session = this.session(sessionId);
    const a = this.variable(session, from);
    const b = this.variable(session, to);
    this.check(a, caller, "write");
    return session.dependencies.remove(a.name, b.name);
  }

  /** What `name` depends on (or what depends on it); only variables the caller may read. */
  dependencies(
    sessionId: string,
    name: string,
    transitive = false,
    dependents = false,
    caller = sessionId,
  ): { variable: string; variableId: string; type: string; depth: number }[] {
    const session = this.session(sessionId);
    const record = this.variable(session, name);
    this.check(record, caller, "read");
    return session.dependencies
      .walk(record.name, transitive, dependents)
      .filter((d) => {
        const other = session.variables.get(d.variable);
        return other !== undefined && isAllowed(other.accessRules, caller, "read");
      })
      .map((d) => ({ ...d, variableId: session.variables.get(d.variable)?.id ?? "" }));
  }

  /** Only the owning session may change a variable's rules (so rules can never lock it out for good). */
  setPermissions(sessionId: string, name: string, rules: unknown, caller = sessionId): VariableRecord {
    const session = this.session(sessionId);
    const record = this.variable(session, name);
    if (caller !== sessionId) {
      throw new PermissionDeniedError(`only session '${sessionId}' may change the access rules of '${record.name}'`, {
        details: { variable: record.name, session_id: caller },
      });
    }
    record.accessRules = normalizeRules(rules, "rules");
    return record;
  }

  checkAccess(sessionId: string, name: string, permission: string, caller = sessionId): boolean {
    const record = this.variable(this.session(sessionId), name);
    if (!["read", "write", "observe", "optimize"].includes(permission)) {
      throw new InvalidArgumentError(`permission must be read, write, observe or optimize, got '${permission}'`, { parameter: "permission" });
    }
    return isAllowed(record.accessRules, caller, permission as Permission);
  }

  /** Reads and writes per variable and per session; only variables the caller may read. */
  stats(sessionId: string, name?: string, caller = sessionId): Record<string, unknown> {
    const session = this.session(sessionId);
    const one = (r: VariableRecord) => ({
      read_count: r.stats.reads,
      write_count: r.stats.writes,
      version: r.version,
      last_read_ms: r.stats.lastReadMs,
      last_write_ms: r.stats.lastWriteMs,
    });
    if (name) {
      const record = this.variable(session, name);
      this.check(record, caller, "read");
      return { variable: record.name, ...one(record) };
    }
    let reads = 0;
    let writes = 0;
    const variables: Record<string, unknown> = {};
    for (const r of session.variables.values()) {
      if (!isAllowed(r.accessRules, caller, "read")) continue;
      reads += r.stats.reads;
      writes += r.stats.writes;
      variables[r.name] = one(r);
    }
    return { session_id: sessionId, variable_count: session.variables.size, read_count: reads, write_count: writes, revision: this.revision, variables };
  }

  /** The revision of the session's latest commit: what a reader must have seen to be current. */
  sessionRevision(sessionId: string): number {
    return this.session(sessionId).lastRevision;
  }

  /** Internal: every record of a session (export). */
  sessionRecord(sessionId: string): SessionRecord {
    return this.session(sessionId);
  }

  // ----------------------------------------------------------------------------------
  // Commits and watches

  /**
   * Applies validated changes under one new revision: `apply` performs the structural
   * edits (maps, graph), this method the values, versions, history, stats and the log.
   */
  private commit(session: SessionRecord, pending: (PendingPut | PendingDelete)[], source: string, apply: () => void): number {
    const revision = ++this.revision;
    const now = this.now();
    session.lastRevision = revision;
    apply();
    const changes: Change[] = [];
    for (const p of pending) {
      const r = p.record;
      if (p.kind === "delete") {
        changes.push({ kind: "delete", sessionId: session.info.sessionId, name: r.name, id: r.id, type: r.type, value: null, oldValue: r.value, version: r.version, metadata: {}, source, timestampMs: now, rules: r.accessRules });
        continue;
      }
      const oldValue = p.fresh && r.version === 0 ? null : r.value;
      if (!(p.fresh && r.version === 1)) {
        r.version++;
        r.setValue(p.value);
        r.metadata = { ...r.metadata, ...p.metadata };
        r.history.push({ version: r.version, value: p.value, updatedAtMs: now, updatedBy: source, metadata: p.metadata, revision });
        if (r.history.length > this.historyLimit) r.history.splice(0, r.history.length - this.historyLimit);
      }
      r.modifyRevision = revision;
      r.updatedAtMs = now;
      r.updatedBy = source;
      r.stats.writes++;
      r.stats.lastWriteMs = now;
      changes.push({
        kind: "put",
        sessionId: session.info.sessionId,
        name: r.name,
        id: r.id,
        type: r.type,
        value: r.value,
        oldValue: p.fresh ? null : oldValue,
        version: r.version,
        metadata: p.metadata,
        source,
        timestampMs: now,
        rules: r.accessRules,
      });
    }
    const commit: Commit = { revision, sessionId: session.info.sessionId, changes };
    this.log.push(commit);
    if (this.log.length > this.eventLogLimit) {
      const dropped = this.log.splice(0, this.log.length - this.eventLogLimit);
      this.compactedRevision = dropped[dropped.length - 1]!.revision;
    }
    for (const w of this.watchers) if (w.sessionId === commit.sessionId) this.deliver(w, commit, false);
    return revision;
  }

  private deliver(w: Watcher, commit: Commit, initial: boolean): void {
    const visible = (c: Change) => (!w.names || w.names.has(c.name) || w.names.has(c.id)) && this.mayObserve(w, c);
    // When a watcher sees the whole commit, it gets the commit's own array: watchers of the
    // same variables then share one array, so the transport can encode it once for all.
    const changes = commit.changes.every(visible) ? commit.changes : commit.changes.filter(visible);
    if (changes.length > 0 || initial) w.onMessage({ kind: "commit", revision: commit.revision, changes, initial });
  }

  private mayObserve(w: Watcher, c: Change): boolean {
    return isAllowed(c.rules, w.caller, "observe");
  }

  /**
   * Delivers, in order: the current values (includeInitial), every retained commit with
   * revision >= startRevision, then every new commit. A start revision older than the log
   * yields one `compacted` message and ends the watch.
   */
  watch(sessionId: string, options: WatchOptions, onMessage: (m: WatchMessage) => void, onEnd: (error?: BridgeError) => void): WatchHandle {
    const session = this.session(sessionId);
    const caller = options.caller ?? sessionId;
    const start = options.startRevision ?? 0;
    const names = options.names && options.names.length ? new Set(options.names) : undefined;
    // A resuming watch may name variables deleted since: their deletes are in the log.
    for (const name of names ?? []) {
      const record = start > 0 ? session.find(name) : this.variable(session, name);
      if (record) this.check(record, caller, "observe");
    }
    const watcher: Watcher = { sessionId, names, caller, onMessage, onEnd };
    if (start > 0 && start <= this.compactedRevision) {
      onMessage({ kind: "compacted", revision: this.revision, compactRevision: this.compactedRevision });
      onEnd(new CompactedError(`revision ${start} has been compacted (oldest kept: ${this.compactedRevision + 1}); resync and watch from the current revision`));
      return { cancel: () => {} };
    }
    if (options.includeInitial) {
      const changes: Change[] = [];
      for (const r of session.variables.values()) {
        if (names && !names.has(r.name) && !names.has(r.id)) continue;
        if (!isAllowed(r.accessRules, caller, "observe")) continue;
        changes.push({ kind: "put", sessionId, name: r.name, id: r.id, type: r.type, value: r.value, oldValue: null, version: r.version, metadata: r.metadata, source: r.updatedBy, timestampMs: r.updatedAtMs, rules: r.accessRules });
      }
      onMessage({ kind: "commit", revision: this.revision, changes, initial: true });
    }
    if (start > 0) {
      for (const commit of this.log) if (commit.revision >= start && commit.sessionId === sessionId) this.deliver(watcher, commit, false);
    }
    this.watchers.add(watcher);
    return {
      cancel: () => {
        if (this.watchers.delete(watcher)) onEnd();
      },
    };
  }

  get watcherCount(): number {
    return this.watchers.size;
  }
}

function stringMap(input: unknown, where: string): Record<string, string> {
  if (input === undefined || input === null) return {};
  if (typeof input !== "object" || Array.isArray(input)) throw new InvalidArgumentError(`${where} must be a map of strings`, { parameter: where });
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(input)) {
    if (typeof v !== "string") throw new InvalidArgumentError(`${where}.${k} must be a string, got ${typeof v}`, { parameter: `${where}.${k}` });
    out[k] = v;
  }
  return out;
}

function compilePattern(pattern: string | undefined): RegExp | undefined {
  if (!pattern) return undefined;
  try {
    return new RegExp(pattern);
  } catch (err) {
    throw new InvalidArgumentError(`invalid pattern ${JSON.stringify(pattern)}: ${(err as Error).message}`, { parameter: "pattern" });
  }
}

export { compilePattern, stringMap };
export type { AccessRule, VariableType };
