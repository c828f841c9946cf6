// The store's state on this host: every session and variable, the retained log of commits,
// the watchers. Entries change it only through `apply` — the same path for this host's
// commits and for those it reads from a shared backend — so every host's copy evolves
// identically, and watchers see exactly the committed changes, in revision order.
import { CompactedError, NotFoundError, PayloadTooLargeError, type BridgeError } from "../errors/index.js";
import { isAllowed } from "./access.js";
import {
  configField,
  EDGES_FIELD,
  programField,
  SESSION_FIELD,
  sessionsFromSnapshot,
  type RawSnapshot,
} from "./durable/layout.js";
import { decodeEntry, type Entry, type PutChange } from "./entries.js";
import { DEFAULT_SIZE_LIMITS, type SizeLimits } from "./limits.js";
import { ExpiryQueue } from "./expiry-queue.js";
import { compactedBefore, formatLogId, LOG_START, type LogId } from "./log-id.js";
import {
  historyEntryBytes,
  MAX_TRIALS_PER_RUN,
  SessionRecord,
  VariableRecord,
  type Change,
  type Commit,
  type HistoryEntry,
  type RunRecord,
  type TrialRecord,
} from "./records.js";
import { quote } from "./types/describe.js";
import { runSteps, type Steps } from "./pacing.js";
import type { WatchHandle, WatchMessage } from "./store-types.js";

/** A commit adding at least this many variables builds the session's maps anew in slices (largeMapSteps). */
const LARGE_COMMIT_VARIABLES = 1_000;

/** The maps of a session a large commit swaps in. */
interface SessionMaps {
  variables: Map<string, VariableRecord>;
  idToName: Map<string, string>;
  stamps: Map<string, string>;
}

export interface Watcher {
  sessionId: string;
  names: Set<string> | undefined;
  caller: string;
  onMessage: (m: WatchMessage) => void;
  onEnd: (error?: BridgeError) => void;
}

/** Told of commits and watch deliveries (the host's metrics); absent, nothing is measured. */
export interface StoreObserver {
  committed(changes: number): void;
  /** `lagMs`: from the commit's timestamp to its delivery to a watcher. */
  delivered(lagMs: number): void;
}

/** Who is told of drops, runs and commits: one set per store, shared by its sessions' states when it is partitioned. */
export interface StoreListeners {
  dropped: Set<(sessionId: string) => void>;
  runs: Set<(run: RunRecord, trials: TrialRecord[]) => void>;
  commits: Set<(commit: Commit) => void>;
}

export const newListeners = (): StoreListeners => ({ dropped: new Set(), runs: new Set(), commits: new Set() });

export class StoreState {
  applied: LogId = LOG_START;
  observer: StoreObserver | undefined = undefined;
  sessions = new Map<string, SessionRecord>();
  private log: Commit[] = [];
  /** The sum of the log's commits' bytes. */
  private logBytes = 0;
  /** Revisions at or below this are no longer in the log. */
  compactedRevision = 0;
  readonly watchers = new Set<Watcher>();
  readonly droppedListeners: Set<(sessionId: string) => void>;
  /** Told of every run entry applied, this host's and (shared store) the other hosts'. */
  readonly runListeners: Set<(run: RunRecord, trials: TrialRecord[]) => void>;
  /** Told of every commit applied, in every session (the dashboard). */
  readonly commitListeners: Set<(commit: Commit) => void>;
  /** Sessions with a TTL by when they expire: the sweep takes the expired ones without scanning every session. */
  readonly expiry = new ExpiryQueue((session) => this.sessions.get(session.info.sessionId) === session);

  constructor(
    private readonly historyLimit: number,
    private readonly eventLogLimit: number,
    readonly limits: SizeLimits = DEFAULT_SIZE_LIMITS,
    listeners: StoreListeners = newListeners(),
  ) {
    this.droppedListeners = listeners.dropped;
    this.runListeners = listeners.runs;
    this.commitListeners = listeners.commits;
  }

  /** Replaces everything with a durable backend's snapshot; tells the listeners about sessions gone since. */
  load(snapshot: RawSnapshot): void {
    // Everything is read before anything is replaced: a snapshot that cannot be read leaves the state as it was.
    const sessions = sessionsFromSnapshot(snapshot);
    const log: Commit[] = [];
    for (const { id, entry } of snapshot.log) {
      const e = decodeEntry(entry);
      if (e.t !== "commit") continue;
      // Weighed by the entry's text: close to what its values weigh, without measuring them again.
      log.push({ revision: id.rev, sessionId: e.sid, changes: this.changesOf(e, id.rev), bytes: entry.length });
      const session = sessions.get(e.sid);
      if (session) session.lastRevision = Math.max(session.lastRevision, id.rev);
    }
    const dropped = [...this.sessions.keys()].filter((sid) => !sessions.has(sid));
    const first = snapshot.log[0];
    let compacted = snapshot.compacted ?? (first ? compactedBefore(first.id) : snapshot.head.rev);
    // Another host's stream may keep more than this host's limit: this host keeps its own.
    if (log.length > this.eventLogLimit) compacted = log.splice(0, log.length - this.eventLogLimit).at(-1)!.revision;
    let logBytes = log.reduce((n, c) => n + c.bytes, 0);
    let drop = 0;
    while (drop < log.length - 1 && logBytes > this.limits.eventLogBytesLimit) logBytes -= log[drop++]!.bytes;
    if (drop > 0) compacted = log.splice(0, drop).at(-1)!.revision;
    this.sessions = sessions;
    this.expiry.rebuild(sessions.values());
    this.log = log;
    this.logBytes = logBytes;
    this.applied = snapshot.head;
    this.compactedRevision = compacted;
    for (const sid of dropped) for (const l of this.droppedListeners) l(sid);
  }

  /** Ends every watch with `compacted`: this host lost track of the log, each watcher must resync. */
  compactAll(): void {
    for (const w of [...this.watchers]) {
      this.watchers.delete(w);
      w.onMessage({ kind: "compacted", revision: this.applied.rev, compactRevision: this.compactedRevision });
      w.onEnd(
        new CompactedError(
          "this host lost track of the shared store's log; resync and watch from the current revision",
        ),
      );
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
    return runSteps(this.changeSteps(e, revision));
  }

  private *changeSteps(e: Extract<Entry, { t: "commit" }>, revision: number): Steps<Change[]> {
    const changes: Change[] = [];
    for (const p of e.puts) {
      const id = `var_${p.name}_${p.fresh ? revision : p.createRevision}`;
      changes.push({
        kind: "put",
        sessionId: e.sid,
        name: p.name,
        id,
        type: p.type,
        value: p.value,
        oldValue: p.fresh ? null : p.oldValue,
        version: p.version,
        metadata: p.metadata,
        source: e.source,
        timestampMs: e.at,
        rules: p.rules,
      });
      yield;
    }
    for (const d of e.dels) {
      changes.push({
        kind: "delete",
        sessionId: e.sid,
        name: d.name,
        id: d.id,
        type: d.type,
        value: null,
        oldValue: d.oldValue,
        version: d.version,
        metadata: {},
        source: e.source,
        timestampMs: e.at,
        rules: d.rules,
      });
      yield;
    }
    return changes;
  }

  /** Applies one committed entry to the in-memory state and tells the watchers. */
  apply(entry: Entry, id: LogId): void {
    runSteps(this.applySteps(entry, id));
  }

  /**
   * apply, a put at a time. Everything a commit needs is prepared first without touching
   * the state (the new variables' records, the changes watchers get); then it is installed
   * in one synchronous step, so a reader or a watcher sees all of the commit or none of it,
   * however many slices the preparation took.
   */
  *applySteps(entry: Entry, id: LogId): Steps<void> {
    if (entry.t !== "commit") {
      this.applyOther(entry, id);
      return;
    }
    const session = this.sessions.get(entry.sid);
    if (!session) {
      this.applied = id;
      return; // an entry for a session this host already dropped
    }
    const revision = id.rev;
    const bytes = this.commitBytes(session, entry);
    // New variables: their records, complete with their first version.
    const fresh: (VariableRecord | undefined)[] = [];
    for (const p of entry.puts) {
      const size = (p.bytes ??= historyEntryBytes(p.value, p.metadata));
      if (!p.fresh && session.variables.has(p.name)) {
        fresh.push(undefined);
        continue;
      }
      const r = new VariableRecord(
        `var_${p.name}_${revision}`,
        p.name,
        p.type,
        p.value,
        p.constraints,
        p.recordMetadata,
        p.version,
        revision,
        revision,
        p.createdAtMs,
        entry.at,
        entry.source,
        p.rules,
        [],
      );
      r.pushHistory(this.historyEntry(entry, p, revision), size);
      r.stats.writes++;
      r.stats.lastWriteMs = entry.at;
      fresh.push(r);
      yield;
    }
    const changes = yield* this.changeSteps(entry, revision);
    const maps = yield* this.largeMapSteps(session, entry, id, fresh);
    this.install(session, entry, id, fresh, changes, bytes, maps);
  }

  /**
   * A commit that adds many variables (an import): the session's maps, copied with its
   * new entries a step at a time, to be swapped in whole. Inserting 100,000 names into
   * three maps in the install step alone held the event loop for hundreds of milliseconds.
   * Nothing changes the session meanwhile (CommitLog: a paced commit runs alone). Undefined
   * for a commit that adds few variables, or few against the session's size (a copy of a
   * large session would cost more than it saves).
   */
  private *largeMapSteps(
    session: SessionRecord,
    entry: Extract<Entry, { t: "commit" }>,
    id: LogId,
    fresh: (VariableRecord | undefined)[],
  ): Steps<SessionMaps | undefined> {
    let added = 0;
    for (const r of fresh) if (r) added++;
    if (added < LARGE_COMMIT_VARIABLES || 2 * added < session.variables.size) return undefined;
    const stamp = formatLogId(id);
    const variables = new Map<string, VariableRecord>();
    const idToName = new Map<string, string>();
    const stamps = new Map<string, string>();
    for (const [k, v] of session.variables) {
      variables.set(k, v);
      yield;
    }
    for (const [k, v] of session.idToName) {
      idToName.set(k, v);
      yield;
    }
    for (const [k, v] of session.stamps) {
      stamps.set(k, v);
      yield;
    }
    for (const [i, p] of entry.puts.entries()) {
      const r = fresh[i];
      if (r) {
        variables.set(r.name, r);
        idToName.set(r.id, r.name);
      }
      stamps.set(p.name, stamp);
      yield;
    }
    return { variables, idToName, stamps };
  }

  private historyEntry(entry: Extract<Entry, { t: "commit" }>, p: PutChange, revision: number): HistoryEntry {
    return {
      version: p.version,
      value: p.value,
      updatedAtMs: entry.at,
      updatedBy: entry.source,
      metadata: p.metadata,
      revision,
    };
  }

  /** The synchronous end of applySteps: the commit becomes visible, whole. */
  private install(
    session: SessionRecord,
    entry: Extract<Entry, { t: "commit" }>,
    id: LogId,
    fresh: (VariableRecord | undefined)[],
    changes: Change[],
    bytes: number,
    maps: SessionMaps | undefined,
  ): void {
    this.applied = id;
    const stamp = formatLogId(id);
    const revision = id.rev;
    session.lastRevision = revision;
    const before = session.variables;
    if (maps) {
      session.variables = maps.variables;
      session.idToName = maps.idToName;
      session.stamps = maps.stamps;
    }
    for (const [i, p] of entry.puts.entries()) {
      const made = fresh[i];
      let r: VariableRecord;
      if (made) {
        const old = before.get(p.name);
        if (old) session.bytes -= old.historyBytes;
        r = made;
        if (!maps) {
          session.variables.set(r.name, r);
          session.idToName.set(r.id, r.name);
        }
        session.bytes += r.historyBytes;
      } else {
        r = session.variables.get(p.name)!;
        r.version = p.version;
        r.setValue(p.value);
        r.metadata = p.recordMetadata;
        r.modifyRevision = revision;
        r.updatedAtMs = entry.at;
        r.updatedBy = entry.source;
        r.pushHistory(this.historyEntry(entry, p, revision), p.bytes!);
        session.bytes += p.bytes!;
        r.stats.writes++;
        r.stats.lastWriteMs = entry.at;
      }
      // The planner decided what is kept (the count and byte limits); an entry of an older version did not say.
      session.bytes -= r.trimHistory(Math.min(p.keep ?? this.historyLimit, this.historyLimit));
      if (!maps) session.stamps.set(p.name, stamp);
    }
    for (const t of entry.trims ?? []) {
      const r = session.variables.get(t.name);
      if (r) session.bytes -= r.trimHistory(t.keep);
    }
    for (const d of entry.dels) {
      session.bytes -= session.variables.get(d.name)?.historyBytes ?? 0;
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
    const commit: Commit = { revision, sessionId: entry.sid, changes, bytes };
    this.log.push(commit);
    this.logBytes += bytes;
    const drop = this.logOverflow(0);
    if (drop > 0) {
      const dropped = this.log.splice(0, drop);
      for (const c of dropped) this.logBytes -= c.bytes;
      this.compactedRevision = dropped[dropped.length - 1]!.revision;
    }
    if (this.observer !== undefined) this.observer.committed(commit.changes.length);
    for (const listener of this.commitListeners) listener(commit);
    for (const w of this.watchers) if (w.sessionId === commit.sessionId) this.deliver(w, commit);
  }

  /** Entries other than commits: small, applied at once. */
  private applyOther(entry: Exclude<Entry, { t: "commit" }>, id: LogId): void {
    this.applied = id;
    const stamp = formatLogId(id);
    if (entry.t === "session") {
      const session = new SessionRecord({ ...entry.info, metadata: { ...entry.info.metadata } });
      session.stamps.set(SESSION_FIELD, stamp);
      this.sessions.set(entry.info.sessionId, session);
      this.expiry.add(session);
      return;
    }
    const session = this.sessions.get(entry.sid);
    if (!session) return; // an entry for a session this host already dropped
    if (entry.t === "drop") {
      this.dropSession(
        session,
        new NotFoundError(`session '${entry.sid}' was ${entry.why === "expired" ? "expired" : "deleted"}`),
      );
      return;
    }
    if (entry.t === "rules") {
      const record = session.variables.get(entry.name);
      if (record) record.accessRules = entry.rules;
      session.stamps.set(entry.name, stamp);
      return;
    }
    if (entry.t === "run") {
      let kept = session.runs.get(entry.run.id);
      if (kept) kept.run = entry.run;
      else session.runs.set(entry.run.id, (kept = { run: entry.run, trials: [] }));
      for (const t of entry.trials) kept.trials.push(t);
      if (kept.trials.length > MAX_TRIALS_PER_RUN) kept.trials.splice(0, kept.trials.length - MAX_TRIALS_PER_RUN);
      for (const listener of this.runListeners) listener(entry.run, entry.trials);
      return;
    }
    if (entry.t === "program") {
      if (entry.program) session.programs.set(entry.id, entry.program);
      else session.programs.delete(entry.id);
      session.stamps.set(programField(entry.id), stamp);
      return;
    }
    if (entry.remove) session.dependencies.remove(entry.edge.from, entry.edge.to);
    else session.dependencies.add(entry.edge.from, entry.edge.to, entry.edge.type, entry.edge.metadata);
    session.stamps.set(EDGES_FIELD, stamp);
  }

  /** How many of the oldest commits must go for the log to hold `extra` more bytes and one more commit (the newest always stays). */
  private logOverflow(extra: number, extraCommits = 0): number {
    let bytes = this.logBytes + extra;
    let n = this.log.length + extraCommits;
    let drop = 0;
    while (drop < this.log.length && n > 1 && (n > this.eventLogLimit || bytes > this.limits.eventLogBytesLimit)) {
      bytes -= this.log[drop]!.bytes;
      drop++;
      n--;
    }
    return drop;
  }

  /**
   * What a commit entry weighs in the watch log: its new values (history entry sizes) and
   * the old values it replaces or deletes. Computed before the entry is applied.
   */
  commitBytes(session: SessionRecord | undefined, entry: Extract<Entry, { t: "commit" }>): number {
    let bytes = 0;
    for (const p of entry.puts) {
      bytes += p.bytes ?? historyEntryBytes(p.value, p.metadata);
      if (!p.fresh) bytes += session?.variables.get(p.name)?.currentBytes ?? 0;
    }
    for (const d of entry.dels) bytes += session?.variables.get(d.name)?.currentBytes ?? 0;
    return bytes;
  }

  /**
   * The revision a durable log may be trimmed through once `entry` is appended (the watch
   * log's byte limit), or undefined. The count limit is the backend's own.
   */
  logTrimFor(entry: Entry): number | undefined {
    if (entry.t !== "commit") return undefined;
    const drop = this.logOverflow(this.commitBytes(this.sessions.get(entry.sid), entry), 1);
    return drop > 0 ? this.log[drop - 1]!.revision : undefined;
  }

  /**
   * Decides which versions a commit's puts keep (the history count and byte limits, then the
   * session's byte limit: the oldest versions of any of its variables go first, current values
   * never) and writes the decision into the entry (`keep` on each put, `trims` for other
   * variables), so every host and backend applies the same. PayloadTooLargeError when the
   * session's current values alone would be over its limit and the commit makes them larger.
   */
  planHistory(entry: Extract<Entry, { t: "commit" }>): void {
    runSteps(this.planHistorySteps(entry));
  }

  /** planHistory a put at a time. */
  *planHistorySteps(entry: Extract<Entry, { t: "commit" }>): Steps<void> {
    if (entry.puts.length === 0) return;
    const session = this.sessions.get(entry.sid);
    const { historyBytesLimit, sessionBytesLimit } = this.limits;
    interface Kept {
      sizes: readonly number[];
      revision: (i: number) => number;
      start: number;
    }
    const kept = new Map<string, Kept>();
    let total = session?.bytes ?? 0;
    let grows = 0;
    for (const p of entry.puts) {
      const size = (p.bytes ??= historyEntryBytes(p.value, p.metadata));
      const r = p.fresh ? undefined : session?.variables.get(p.name);
      const sizes = r ? [...r.historySizes, size] : [size];
      const history = r?.history ?? [];
      // Only versions older than the newest are ever weighed for dropping (the current value never goes).
      const k: Kept = { sizes, revision: (i) => history[i]!.revision, start: 0 };
      let bytes = (r?.historyBytes ?? 0) + size;
      total += size;
      grows += size - (r?.currentBytes ?? 0);
      while (sizes.length - k.start > 1 && (sizes.length - k.start > this.historyLimit || bytes > historyBytesLimit)) {
        bytes -= sizes[k.start]!;
        total -= sizes[k.start]!;
        k.start++;
      }
      kept.set(p.name, k);
      yield;
    }
    const trimmed = new Set<string>();
    while (total > sessionBytesLimit && session) {
      // The oldest version that is not a current value, across the session's variables.
      let oldest: { name: string; k: Kept } | undefined;
      let oldestRevision = Infinity;
      for (const [name, r] of session.variables) {
        let k = kept.get(name);
        if (!k) {
          const history = r.history;
          k = { sizes: r.historySizes, revision: (i) => history[i]!.revision, start: 0 };
        }
        if (k.sizes.length - k.start > 1 && k.revision(k.start) < oldestRevision) {
          oldestRevision = k.revision(k.start);
          oldest = { name, k };
        }
      }
      if (!oldest) break;
      kept.set(oldest.name, oldest.k);
      total -= oldest.k.sizes[oldest.k.start]!;
      oldest.k.start++;
      trimmed.add(oldest.name);
      yield;
    }
    if (total > sessionBytesLimit && grows > 0) {
      throw new PayloadTooLargeError(
        `session ${quote(entry.sid)} would hold ${total} bytes of variable values, over the limit of ${sessionBytesLimit} bytes (option sessionBytesLimit); its older versions are already dropped`,
        { size: total, limit: sessionBytesLimit },
      );
    }
    for (const p of entry.puts) {
      const k = kept.get(p.name)!;
      p.keep = k.sizes.length - k.start;
      yield;
    }
    const puts = trimmed.size > 0 ? new Set(entry.puts.map((p: PutChange) => p.name)) : new Set<string>();
    const trims = [...trimmed]
      .filter((name) => !puts.has(name))
      .map((name) => {
        const k = kept.get(name)!;
        return { name, keep: k.sizes.length - k.start };
      });
    if (trims.length > 0) entry.trims = trims;
    else delete entry.trims;
  }

  dropSession(session: SessionRecord, reason: BridgeError): void {
    this.sessions.delete(session.info.sessionId);
    this.expiry.forget(session);
    for (const listener of this.droppedListeners) listener(session.info.sessionId);
    for (const w of [...this.watchers]) {
      if (w.sessionId === session.info.sessionId) {
        this.watchers.delete(w);
        w.onEnd(reason);
      }
    }
  }

  /** A commit to one watcher: the changes it may see, nothing when there are none (initial values go through subscribe). */
  private deliver(w: Watcher, commit: Commit): void {
    const visible = (c: Change) =>
      (!w.names || w.names.has(c.name) || w.names.has(c.id)) && isAllowed(c.rules, w.caller, "observe");
    // When a watcher sees the whole commit, it gets the commit's own array: watchers of the
    // same variables then share one array, so the transport can encode it once for all.
    const changes = commit.changes.every(visible) ? commit.changes : commit.changes.filter(visible);
    if (changes.length === 0) return;
    w.onMessage({ kind: "commit", revision: commit.revision, changes, initial: false });
    if (this.observer !== undefined) this.observer.delivered(Date.now() - changes[0]!.timestampMs);
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
      onEnd(
        new CompactedError(
          `revision ${start} has been compacted (oldest kept: ${this.compactedRevision + 1}); resync and watch from the current revision`,
        ),
      );
      return { cancel: () => {} };
    }
    if (includeInitial) {
      const changes: Change[] = [];
      for (const r of session.variables.values()) {
        if (names && !names.has(r.name) && !names.has(r.id)) continue;
        if (!isAllowed(r.accessRules, caller, "observe")) continue;
        changes.push({
          kind: "put",
          sessionId,
          name: r.name,
          id: r.id,
          type: r.type,
          value: r.value,
          oldValue: null,
          version: r.version,
          metadata: r.metadata,
          source: r.updatedBy,
          timestampMs: r.updatedAtMs,
          rules: r.accessRules,
        });
      }
      onMessage({ kind: "commit", revision: this.applied.rev, changes, initial: true });
    }
    if (start > 0) {
      for (const commit of this.log)
        if (commit.revision >= start && commit.sessionId === sessionId) this.deliver(watcher, commit);
    }
    this.watchers.add(watcher);
    return {
      cancel: () => {
        if (this.watchers.delete(watcher)) onEnd();
      },
    };
  }
}
