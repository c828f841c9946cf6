// The store's state on this host: every session and variable, the retained log of commits,
// the watchers. Entries change it only through `apply` — the same path for this host's
// commits and for those it reads from a shared backend — so every host's copy evolves
// identically, and watchers see exactly the committed changes, in revision order.
import { CompactedError, NotFoundError, type BridgeError } from "../errors/index.js";
import { isAllowed } from "./access.js";
import { configField, EDGES_FIELD, SESSION_FIELD, sessionsFromSnapshot, type RawSnapshot } from "./durable/layout.js";
import { decodeEntry, type Entry } from "./entries.js";
import { compactedBefore, formatLogId, LOG_START, type LogId } from "./log-id.js";
import { SessionRecord, VariableRecord, type Change, type Commit, type HistoryEntry } from "./records.js";
import type { WatchHandle, WatchMessage } from "./store-types.js";

export interface Watcher {
  sessionId: string;
  names: Set<string> | undefined;
  caller: string;
  onMessage: (m: WatchMessage) => void;
  onEnd: (error?: BridgeError) => void;
}

export class StoreState {
  applied: LogId = LOG_START;
  sessions = new Map<string, SessionRecord>();
  private log: Commit[] = [];
  /** Revisions at or below this are no longer in the log. */
  compactedRevision = 0;
  readonly watchers = new Set<Watcher>();
  readonly droppedListeners = new Set<(sessionId: string) => void>();

  constructor(
    private readonly historyLimit: number,
    private readonly eventLogLimit: number,
  ) {}

  /** Replaces everything with a durable backend's snapshot; tells the listeners about sessions gone since. */
  load(snapshot: RawSnapshot): void {
    // Everything is read before anything is replaced: a snapshot that cannot be read leaves the state as it was.
    const sessions = sessionsFromSnapshot(snapshot);
    const log: Commit[] = [];
    for (const { id, entry } of snapshot.log) {
      const e = decodeEntry(entry);
      if (e.t !== "commit") continue;
      log.push({ revision: id.rev, sessionId: e.sid, changes: this.changesOf(e, id.rev) });
      const session = sessions.get(e.sid);
      if (session) session.lastRevision = Math.max(session.lastRevision, id.rev);
    }
    const dropped = [...this.sessions.keys()].filter((sid) => !sessions.has(sid));
    const first = snapshot.log[0];
    let compacted = first ? compactedBefore(first.id) : snapshot.head.rev;
    // Another host's stream may keep more than this host's limit: this host keeps its own.
    if (log.length > this.eventLogLimit) compacted = log.splice(0, log.length - this.eventLogLimit).at(-1)!.revision;
    this.sessions = sessions;
    this.log = log;
    this.applied = snapshot.head;
    this.compactedRevision = compacted;
    for (const sid of dropped) for (const l of this.droppedListeners) l(sid);
  }

  /** Ends every watch with `compacted`: this host lost track of the log, each watcher must resync. */
  compactAll(): void {
    for (const w of [...this.watchers]) {
      this.watchers.delete(w);
      w.onMessage({ kind: "compacted", revision: this.applied.rev, compactRevision: this.compactedRevision });
      w.onEnd(new CompactedError("this host lost track of the shared store's log; resync and watch from the current revision"));
    }
  }

  /** Ends every watch normally (the store is closing). */
  endAll(): void {
    for (const w of [...this.watchers]) {
      this.watchers.delete(w);
      w.onEnd();
    }
  }

  changesOf(e: Extract<Entry, { t: "commit" }>, revision: number): Change[] {
    const changes: Change[] = [];
    for (const p of e.puts) {
      const id = `var_${p.name}_${p.fresh ? revision : p.createRevision}`;
      changes.push({ kind: "put", sessionId: e.sid, name: p.name, id, type: p.type, value: p.value, oldValue: p.fresh ? null : p.oldValue, version: p.version, metadata: p.metadata, source: e.source, timestampMs: e.at, rules: p.rules });
    }
    for (const d of e.dels) {
      changes.push({ kind: "delete", sessionId: e.sid, name: d.name, id: d.id, type: d.type, value: null, oldValue: d.oldValue, version: d.version, metadata: {}, source: e.source, timestampMs: e.at, rules: d.rules });
    }
    return changes;
  }

  /** Applies one committed entry to the in-memory state and tells the watchers. */
  apply(entry: Entry, id: LogId): void {
    this.applied = id;
    const stamp = formatLogId(id);
    if (entry.t === "session") {
      const session = new SessionRecord({ ...entry.info, metadata: { ...entry.info.metadata } });
      session.stamps.set(SESSION_FIELD, stamp);
      this.sessions.set(entry.info.sessionId, session);
      return;
    }
    const session = this.sessions.get(entry.sid);
    if (!session) return; // an entry for a session this host already dropped
    if (entry.t === "drop") {
      this.dropSession(session, new NotFoundError(`session '${entry.sid}' was ${entry.why === "expired" ? "expired" : "deleted"}`));
      return;
    }
    if (entry.t === "rules") {
      const record = session.variables.get(entry.name);
      if (record) record.accessRules = entry.rules;
      session.stamps.set(entry.name, stamp);
      return;
    }
    if (entry.t === "edge") {
      if (entry.remove) session.dependencies.remove(entry.edge.from, entry.edge.to);
      else session.dependencies.add(entry.edge.from, entry.edge.to, entry.edge.type, entry.edge.metadata);
      session.stamps.set(EDGES_FIELD, stamp);
      return;
    }
    const revision = id.rev;
    session.lastRevision = revision;
    for (const p of entry.puts) {
      let r = session.variables.get(p.name);
      if (p.fresh || !r) {
        const history: HistoryEntry[] = [];
        r = new VariableRecord(`var_${p.name}_${revision}`, p.name, p.type, p.value, p.constraints, p.recordMetadata, p.version, revision, revision, p.createdAtMs, entry.at, entry.source, p.rules, history);
        session.variables.set(r.name, r);
        session.idToName.set(r.id, r.name);
      } else {
        r.version = p.version;
        r.setValue(p.value);
        r.metadata = p.recordMetadata;
        r.modifyRevision = revision;
        r.updatedAtMs = entry.at;
        r.updatedBy = entry.source;
      }
      r.history.push({ version: p.version, value: p.value, updatedAtMs: entry.at, updatedBy: entry.source, metadata: p.metadata, revision });
      if (r.history.length > this.historyLimit) r.history.splice(0, r.history.length - this.historyLimit);
      r.stats.writes++;
      r.stats.lastWriteMs = entry.at;
      session.stamps.set(p.name, stamp);
    }
    for (const d of entry.dels) {
      session.variables.delete(d.name);
      session.idToName.delete(d.id);
      session.dependencies.drop(d.name);
      session.stamps.delete(d.name);
    }
    for (const e of entry.edges) session.dependencies.add(e.from, e.to, e.type, e.metadata);
    if (entry.edges.length || entry.dels.length) session.stamps.set(EDGES_FIELD, stamp);
    if (entry.config) {
      session.configs.set(entry.config.name, { doc: entry.config.doc, version: entry.config.version });
      session.stamps.set(configField(entry.config.name), stamp);
    }
    const commit: Commit = { revision, sessionId: entry.sid, changes: this.changesOf(entry, revision) };
    this.log.push(commit);
    if (this.log.length > this.eventLogLimit) {
      const dropped = this.log.splice(0, this.log.length - this.eventLogLimit);
      this.compactedRevision = dropped[dropped.length - 1]!.revision;
    }
    for (const w of this.watchers) if (w.sessionId === commit.sessionId) this.deliver(w, commit, false);
  }

  dropSession(session: SessionRecord, reason: BridgeError): void {
    this.sessions.delete(session.info.sessionId);
    for (const listener of this.droppedListeners) listener(session.info.sessionId);
    for (const w of [...this.watchers]) {
      if (w.sessionId === session.info.sessionId) {
        this.watchers.delete(w);
        w.onEnd(reason);
      }
    }
  }

  private deliver(w: Watcher, commit: Commit, initial: boolean): void {
    const visible = (c: Change) => (!w.names || w.names.has(c.name) || w.names.has(c.id)) && isAllowed(c.rules, w.caller, "observe");
    // When a watcher sees the whole commit, it gets the commit's own array: watchers of the
    // same variables then share one array, so the transport can encode it once for all.
    const changes = commit.changes.every(visible) ? commit.changes : commit.changes.filter(visible);
    if (changes.length > 0 || initial) w.onMessage({ kind: "commit", revision: commit.revision, changes, initial });
  }

  /**
   * Registers a watcher whose checks passed: the current values (includeInitial), every
   * retained commit with revision >= start, then every new commit. A start revision older
   * than the log yields one `compacted` message and ends the watch.
   */
  subscribe(session: SessionRecord, watcher: Watcher, start: number, includeInitial: boolean): WatchHandle {
    const { names, caller, sessionId, onMessage, onEnd } = watcher;
    if (start > 0 && start <= this.compactedRevision) {
      onMessage({ kind: "compacted", revision: this.applied.rev, compactRevision: this.compactedRevision });
      onEnd(new CompactedError(`revision ${start} has been compacted (oldest kept: ${this.compactedRevision + 1}); resync and watch from the current revision`));
      return { cancel: () => {} };
    }
    if (includeInitial) {
      const changes: Change[] = [];
      for (const r of session.variables.values()) {
        if (names && !names.has(r.name) && !names.has(r.id)) continue;
        if (!isAllowed(r.accessRules, caller, "observe")) continue;
        changes.push({ kind: "put", sessionId, name: r.name, id: r.id, type: r.type, value: r.value, oldValue: null, version: r.version, metadata: r.metadata, source: r.updatedBy, timestampMs: r.updatedAtMs, rules: r.accessRules });
      }
      onMessage({ kind: "commit", revision: this.applied.rev, changes, initial: true });
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
}
