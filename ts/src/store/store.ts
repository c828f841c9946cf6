// The host's store: sessions, typed variables, revisions, history, watches, dependencies,
// access rules, configuration spaces, stats. Every mutation is validated completely against
// the in-memory state and turned into one log entry (see entries.ts); the CommitLog
// (commit-log.ts) makes it durable by the backend when there is one and only then applies
// it, so a failed request never leaves the store half-written and an acknowledged one is
// never lost. With a shared backend (Redis) reads catch up with the other hosts first.
import { randomUUID } from "node:crypto";
import {
  AlreadyExistsError,
  BridgeError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  StoreUnavailableError,
  VersionConflictError,
} from "../errors/index.js";
import { isAllowed, normalizeRules, type AccessRule, type Permission } from "./access.js";
import { checkDependencyType, type DependencyGraph } from "./dependency-graph.js";
import { CommitLog, type Planned } from "./commit-log.js";
import { Pacer, type CodecProgress } from "./pacing.js";
import type { ConfigChange, DeleteChange, EdgeChange, PutChange } from "./entries.js";
import { compilePattern, stringMap } from "./input-checks.js";
import { checkSize, measureValue, measureWrite, sizeLimits, type SizeLimits } from "./limits.js";
import type {
  Commit,
  HistoryEntry,
  ProgramRecord,
  RunRecord,
  SessionInfo,
  SessionRecord,
  TrialRecord,
  VariableRecord,
} from "./records.js";
import { SessionPartitions } from "./session-partitions.js";
import type { PartitionedBackend, StoreBackend } from "./store-backend.js";
import { newListeners, StoreState, type StoreObserver } from "./store-state.js";
import type {
  CheckedUpdate,
  ConfigCommit,
  StoreOptions,
  UpdateInput,
  UpdateOptions,
  UpdateOutcome,
  VariableSpecInput,
  WatchHandle,
  WatchMessage,
  WatchOptions,
} from "./store-types.js";
import { canonicalType, inferType, validateConstraints, validateValue, type VariableType } from "./types/index.js";
import { clip, quote } from "./types/describe.js";

/** A program id: what the workers key a session's programs by. */
function checkProgramId(programId: unknown): asserts programId is string {
  if (typeof programId !== "string" || programId.length === 0 || programId.length > 256)
    throw new InvalidArgumentError("a program id must be a string of 1 to 256 characters", {
      parameter: "program_id",
    });
}

/** A name or id from a client as it goes into error details: clipped (a client may send any length). */
const clipName = (text: string): string => (text.length <= 256 ? text : clip(text, 256));
/** The same inside a message: at most 100 characters. */
const q = (text: unknown): string => clip(String(text), 100);

/** Variable names: a letter or _ first, then letters, digits, _ . : - (at most 255). */
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_.:-]{0,254}$/;
/** The shape of a variable id (`var_<name>_<revision>`): no name may have it, or it would shadow that id. */
const ID_SHAPE = /^var_.+_[0-9]+$/;

/** A variable name, or InvalidArgumentError saying why not (the name quoted clipped). */
export function checkVariableName(name: unknown, parameter: string): string {
  if (typeof name !== "string" || !VARIABLE_NAME.test(name)) {
    const why =
      typeof name === "string" && name.length > 255
        ? `is ${name.length} characters long (at most 255)`
        : "must start with a letter or _ and contain only letters, digits, _ . : -";
    throw new InvalidArgumentError(`variable name ${quote(name)} ${why}`, { parameter });
  }
  if (ID_SHAPE.test(name)) {
    throw new InvalidArgumentError(
      `variable name ${quote(name)} has the shape of a variable id (var_<name>_<revision>), which names and ids share: choose another name`,
      {
        parameter,
      },
    );
  }
  return name;
}
/** The longest a durable backend may lag behind a session's last use (TTLs). */
const TOUCH_EVERY_MS = 1_000;

export class Store {
  private readonly historyLimit: number;
  private readonly limits: SizeLimits;
  private readonly state: StoreState;
  private readonly defaultTtlMs: number;
  private readonly now: () => number;
  private expiryTimer: NodeJS.Timeout | undefined;
  private readonly log: CommitLog;
  /**
   * A store partitioned by session (Redis): the sessions this host holds, each with its own
   * state and log (`state` and `log` above then hold nothing). Undefined otherwise: `state`
   * holds every session and `log` orders every commit.
   */
  private readonly parts: SessionPartitions | undefined;
  private readonly partitioned: PartitionedBackend | undefined;
  /** Told of drops, runs and commits: shared by every partition's state. */
  private readonly listeners = newListeners();
  private observer: StoreObserver | undefined;
  private evictTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: StoreOptions = {}, backend: StoreBackend | PartitionedBackend | undefined = undefined) {
    this.historyLimit = options.historyLimit ?? 100;
    this.limits = sizeLimits(options);
    const eventLogLimit = options.eventLogLimit ?? 10_000;
    this.state = new StoreState(this.historyLimit, eventLogLimit, this.limits, this.listeners);
    this.defaultTtlMs = options.defaultSessionTtlMs ?? 0;
    this.now = options.now ?? Date.now;
    const hooks = {
      isClosed: () => this.closed,
      now: () => this.now(),
      expire: (sessionId: string) => this.expire(sessionId),
    };
    const partitioned = backend !== undefined && "partitioned" in backend ? backend : undefined;
    this.partitioned = partitioned;
    this.log = new CommitLog(this.state, partitioned ? undefined : (backend as StoreBackend), this.historyLimit, hooks);
    if (partitioned) {
      this.parts = new SessionPartitions(
        (sessionId) => {
          const state = new StoreState(this.historyLimit, eventLogLimit, this.limits, this.listeners);
          state.observer = this.observer;
          const log = new CommitLog(state, partitioned.partition(sessionId), this.historyLimit, hooks);
          return { sessionId, state, log, lastUsedMs: this.now() };
        },
        options.sessionIdleMs ?? 300_000,
        () => this.now(),
      );
    }
  }

  /** Loads the backend's state and, for a shared backend, starts following the other hosts. */
  async open(): Promise<this> {
    await this.log.open();
    if (this.parts) {
      const parts = this.parts;
      this.evictTimer = setInterval(() => parts.evictIdle(), Math.max(20, Math.min(1_000, parts.idleMs / 2)));
      this.evictTimer.unref();
    }
    return this;
  }

  /**
   * Shared backends: catch up with the other hosts before a read (partitioned: load the
   * session first if this host does not hold it). Resolves in the same turn as the caller's
   * next synchronous step, so a session just loaded cannot be let go before that step runs.
   */
  private async ready(sessionId?: string): Promise<void> {
    this.assertOpen();
    if (!this.parts) return this.log.ready(sessionId);
    if (sessionId === undefined) return;
    const partition = await this.parts.get(sessionId);
    await partition.log.ready(sessionId);
    partition.lastUsedMs = this.now();
  }

  /** The state that holds the session: its partition's, or the one state of an unpartitioned store. */
  private stateOf(sessionId: string): StoreState {
    if (!this.parts) return this.state;
    return this.parts.peek(sessionId)?.state ?? this.state; // not held: an empty state, so "not found"
  }

  /** The log that orders the session's commits (partitioned: the session must be held, loaded by `ready`). */
  private logOf(sessionId: string): CommitLog {
    if (!this.parts) return this.log;
    const partition = this.parts.peek(sessionId);
    if (!partition) throw new InternalError(`session '${q(sessionId)}' is not loaded on this host`);
    return partition.log;
  }

  /** The backend of the session (partitioned: of its partition, when held). */
  private backendOf(sessionId: string): StoreBackend | undefined {
    return this.parts ? this.parts.peek(sessionId)?.log.backend : this.log.backend;
  }

  /** Every state: the partitions' (partitioned), or the one. */
  private states(): StoreState[] {
    return this.parts ? [...this.parts.values()].map((p) => p.state) : [this.state];
  }

  private get backend(): StoreBackend | undefined {
    return this.log.backend;
  }

  /**
   * True when other hosts share this store (Redis): reads catch up first, commits may be
   * re-planned, and reads of this host's copy may lag behind theirs.
   */
  get isShared(): boolean {
    return this.parts !== undefined || this.log.isShared;
  }

  /** Partitioned by session (Redis): how many sessions this host holds in memory now. */
  get heldSessions(): number {
    return this.parts ? this.parts.size : this.state.sessions.size;
  }

  /** Lets go of the sessions idle past `sessionIdleMs` now, rather than at the next check; returns how many. */
  evictIdle(): number {
    return this.parts?.evictIdle() ?? 0;
  }

  /** The size limits this store enforces (bytes; options maxValueBytes, historyBytesLimit, sessionBytesLimit, eventLogBytesLimit). */
  get sizeLimits(): SizeLimits {
    return { ...this.limits };
  }

  /** "memory", "sqlite" or "redis". */
  get backendKind(): string {
    return this.partitioned?.kind ?? this.backend?.kind ?? "memory";
  }

  /**
   * The newest revision this host has applied. Partitioned by session (Redis), revisions are
   * per session: the highest of the sessions it holds (revisionOf names one).
   */
  get currentRevision(): number {
    let rev = this.state.applied.rev;
    for (const state of this.parts ? this.states() : []) rev = Math.max(rev, state.applied.rev);
    return rev;
  }

  /** The newest revision of the session this host has applied (every session's, unpartitioned). */
  revisionOf(sessionId: string): number {
    return this.stateOf(sessionId).applied.rev;
  }

  /** Told of every commit applied and every watch delivery (the host's metrics). */
  observe(observer: StoreObserver | undefined): void {
    this.observer = observer;
    this.state.observer = observer;
    for (const state of this.parts ? this.states() : []) state.observer = observer;
  }

  get watcherCount(): number {
    let n = this.state.watchers.size;
    for (const state of this.parts ? this.states() : []) n += state.watchers.size;
    return n;
  }

  // ----------------------------------------------------------------------------------
  // Sessions

  async createSession(
    input: { sessionId?: string; ttlMs?: number; metadata?: Record<string, unknown> } = {},
  ): Promise<SessionInfo> {
    const sessionId = input.sessionId || `session_${randomUUID()}`;
    if (typeof sessionId !== "string" || sessionId.length > 256) {
      throw new InvalidArgumentError("session_id must be a string of at most 256 characters", {
        parameter: "session_id",
      });
    }
    if (
      input.metadata !== undefined &&
      input.metadata !== null &&
      (typeof input.metadata !== "object" || Array.isArray(input.metadata))
    ) {
      throw new InvalidArgumentError("session metadata must be a map", { parameter: "metadata" });
    }
    // Stored, logged and sent back as JSON: as bounded as a value.
    checkSize(
      measureValue(input.metadata ?? {}, "metadata"),
      this.limits.maxValueBytes,
      "the session's metadata",
      "maxValueBytes",
    );
    const ttlMs = input.ttlMs ?? this.defaultTtlMs;
    // An integer number of ms that survives the wire's int64 and a Date: a ttl beyond that
    // was once stored and then broke every ListSessions answer (it could not be encoded).
    if (!Number.isSafeInteger(ttlMs) || ttlMs < 0) {
      throw new InvalidArgumentError(
        `ttl_ms must be a whole number of milliseconds from 0 to ${Number.MAX_SAFE_INTEGER}`,
        { parameter: "ttl_ms" },
      );
    }
    // Shared: "already exists" is a read too; it must see a delete acknowledged on another host.
    if (this.isShared) {
      await this.sweep();
      await this.ready(sessionId);
    } else this.sweepNow();
    return this.logOf(sessionId).mutate(() => {
      if (this.stateOf(sessionId).sessions.has(sessionId))
        throw new AlreadyExistsError(`session '${q(sessionId)}' already exists`);
      const now = this.now();
      const info: SessionInfo = {
        sessionId,
        createdAtMs: now,
        lastAccessedAtMs: now,
        ttlMs,
        metadata: { ...(input.metadata ?? {}) },
      };
      return { entry: { t: "session", info }, answer: () => ({ ...this.committedSession(sessionId).info }) };
    });
  }

  async getSession(sessionId: string): Promise<SessionInfo> {
    if (this.isShared) await this.ready(sessionId);
    return { ...this.session(sessionId).info };
  }

  async listSessions(): Promise<SessionInfo[]> {
    this.assertOpen();
    if (this.partitioned) {
      await this.sweep();
      let listed: SessionInfo[];
      try {
        listed = await this.partitioned.listSessions();
      } catch (err) {
        throw new StoreUnavailableError(`the ${this.backendKind} store could not be read: ${(err as Error).message}`, {
          cause: err,
        });
      }
      // A session this host holds is as it has it (its last use); the others as they were made.
      return listed.map((info) => ({ ...(this.stateOf(info.sessionId).sessions.get(info.sessionId)?.info ?? info) }));
    }
    if (this.isShared) {
      await this.log.ready();
      await this.sweep();
    } else this.sweepNow();
    return [...this.state.sessions.values()].map((s) => ({ ...s.info }));
  }

  async deleteSession(sessionId: string): Promise<boolean> {
    if (this.isShared) await this.ready(this.parts ? sessionId : undefined);
    return this.logOf(sessionId).mutate(() => {
      if (!this.stateOf(sessionId).sessions.has(sessionId)) return { entry: undefined, answer: () => false };
      return { entry: { t: "drop", sid: sessionId, why: "deleted" }, answer: () => true };
    });
  }

  /**
   * Removes expired sessions; returns how many. Runs on session creation and listing and on
   * a timer. It looks only at the sessions whose expiry has come (state.expiry, a heap), so
   * it costs nothing per session that is not expiring.
   */
  async sweep(): Promise<number> {
    if (!this.isShared) return this.sweepNow();
    let n = 0;
    for (const state of this.states()) {
      for (const session of state.expiry.takeExpired(this.now())) {
        if (await this.expire(session.info.sessionId)) n++;
        // Kept alive by another host (queued at its new expiry), or not dropped (the backend is away: the next sweep retries).
        else state.expiry.add(session);
      }
    }
    if (this.partitioned) {
      // Sessions no host holds expire too: Redis keeps their expiry, and says which are due.
      let due: string[] = [];
      try {
        due = await this.partitioned.expiredSessions(this.now());
      } catch {
        // The backend is away: the next sweep asks again.
      }
      for (const sessionId of due) if (await this.expireUnheld(sessionId)) n++;
    }
    return n;
  }

  /** A session whose TTL ran out by Redis's account: loaded and dropped (the drop checks its alive key). */
  private async expireUnheld(sessionId: string): Promise<boolean> {
    try {
      await this.ready(sessionId); // drops it already if this host's copy says it expired
      return await this.logOf(sessionId).mutate(() =>
        this.stateOf(sessionId).sessions.has(sessionId)
          ? { entry: { t: "drop", sid: sessionId, why: "expired" }, answer: () => true }
          : { entry: undefined, answer: () => false },
      );
    } catch {
      return false; // kept alive after all, or the backend is away: the next sweep
    }
  }

  /** Not shared: this host alone decides, and the drops commit synchronously. */
  private sweepNow(): number {
    const expired = this.state.expiry.takeExpired(this.now());
    for (const session of expired) {
      this.dropExpired(session.info.sessionId);
      if (this.state.sessions.get(session.info.sessionId) === session) this.state.expiry.add(session); // the drop failed: retried next sweep
    }
    return expired.length;
  }

  /** Commits the drop of an expired session; the sweep or lookup that found it does not wait for it. */
  private dropExpired(sessionId: string): void {
    void this.log
      .mutate(() => ({ entry: { t: "drop", sid: sessionId, why: "expired" }, answer: () => undefined }))
      .catch(() => {});
  }

  /** Sweeps expired sessions every `intervalMs` until close(). */
  startExpiry(intervalMs = 1_000): void {
    this.expiryTimer ??= setInterval(() => void this.sweep().catch(() => {}), intervalMs);
    this.expiryTimer.unref();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    if (this.evictTimer) clearInterval(this.evictTimer);
    this.state.endAll();
    await this.log.close();
    await this.parts?.closeAll();
    await this.partitioned?.close();
  }

  /** Called whenever a session goes away (deleted or expired, here or on another host). */
  onSessionDropped(listener: (sessionId: string) => void): void {
    this.listeners.dropped.add(listener);
  }

  /**
   * A session past its TTL: gone. On a shared backend another host may have used it since
   * this one did, so the backend decides (and the drop is checked against its alive key).
   */
  private async expire(sessionId: string): Promise<boolean> {
    const session = this.stateOf(sessionId).sessions.get(sessionId);
    if (!session?.expired(this.now())) return false;
    const backend = this.backendOf(sessionId);
    if (backend?.remainingTtl) {
      const left = await backend.remainingTtl(sessionId);
      if (left > 0) {
        session.info.lastAccessedAtMs = this.now() - (session.info.ttlMs - left);
        return false;
      }
    }
    try {
      return await this.logOf(sessionId).mutate(() =>
        this.stateOf(sessionId).sessions.has(sessionId)
          ? { entry: { t: "drop", sid: sessionId, why: "expired" }, answer: () => true }
          : { entry: undefined, answer: () => false },
      );
    } catch {
      return false; // still alive after all (another host renewed it), or the backend is away: next sweep
    }
  }

  /** After close() nothing is served, not even from this host's copy: it is no longer kept current. */
  private assertOpen(): void {
    if (this.closed) throw new StoreUnavailableError("the store is closed");
  }

  private session(sessionId: string): SessionRecord {
    this.assertOpen();
    const session = this.stateOf(sessionId).sessions.get(sessionId);
    const now = this.now();
    if (!session || session.expired(now)) {
      // Not shared: expire it now (synchronously). Shared: `ready` already asked the backend.
      if (session && !this.isShared) this.dropExpired(sessionId);
      throw new NotFoundError(`session '${q(sessionId)}' not found`, { details: { session_id: clipName(sessionId) } });
    }
    session.info.lastAccessedAtMs = now;
    this.touch(session, now);
    return session;
  }

  /** Tells a durable backend that a session with a TTL was used: at most once a second (a quarter TTL when shorter). */
  private touch(session: SessionRecord, now: number): void {
    const backend = this.backendOf(session.info.sessionId);
    if (!backend || session.info.ttlMs <= 0) return;
    if (now - session.touchedAtMs < Math.min(TOUCH_EVERY_MS, session.info.ttlMs / 4)) return;
    session.touchedAtMs = now;
    // Best effort (it only moves a TTL): a read must not fail for it; the next use tries again.
    const retry = () => void (session.touchedAtMs = 0);
    try {
      void Promise.resolve(backend.touch(session.info)).catch(retry);
    } catch {
      retry();
    }
  }

  /**
   * What a commit just wrote, looked up in the current state (a shared store may have been
   * reloaded meanwhile). Gone already: another host deleted it right after the commit.
   */
  private committedSession(sessionId: string): SessionRecord {
    const session = this.stateOf(sessionId).sessions.get(sessionId);
    if (!session)
      throw new NotFoundError(`session '${q(sessionId)}' was committed, then deleted at once by another host`, {
        details: { session_id: clipName(sessionId) },
      });
    return session;
  }

  private committed(sessionId: string, nameOrId: string): VariableRecord {
    const record = this.committedSession(sessionId).find(nameOrId);
    if (!record)
      throw new NotFoundError(`variable '${q(nameOrId)}' was committed, then deleted at once by another host`, {
        details: { variable: clipName(nameOrId) },
      });
    return record;
  }

  private variable(session: SessionRecord, nameOrId: string): VariableRecord {
    const record = session.find(nameOrId);
    if (!record) {
      throw new NotFoundError(`variable '${q(nameOrId)}' not found in session '${q(session.info.sessionId)}'`, {
        details: { variable: clipName(nameOrId), session_id: session.info.sessionId },
      });
    }
    return record;
  }

  private check(record: VariableRecord, caller: string, permission: Permission): void {
    if (!isAllowed(record.accessRules, caller, permission)) {
      throw new PermissionDeniedError(`session '${q(caller)}' may not ${permission} variable '${record.name}'`, {
        details: { variable: record.name, permission, session_id: clipName(caller) },
      });
    }
  }

  // ----------------------------------------------------------------------------------
  // Variables

  /** Creates every variable or none (and, with `config`, registers the space in the same commit). */
  async register(
    sessionId: string,
    specs: VariableSpecInput[],
    caller = sessionId,
    source = caller,
    config?: ConfigCommit,
  ): Promise<VariableRecord[]> {
    if (this.isShared) await this.ready(sessionId);
    return this.logOf(sessionId).mutate(() => {
      const session = this.session(sessionId);
      if (!Array.isArray(specs) || specs.length === 0)
        throw new InvalidArgumentError("no variables to register", { parameter: "variables" });
      const now = this.now();
      const { puts, edges } = this.planRegister(session, specs, session.dependencies.clone(), now);
      const configChange = config ? this.configChange(session, config) : undefined;
      return {
        entry: { t: "commit", sid: sessionId, source, at: now, puts, dels: [], edges, config: configChange },
        answer: () => puts.map((p) => this.committed(sessionId, p.name)),
      };
    });
  }

  /**
   * An import in one commit — its new variables, its updates of existing ones and its
   * dependency edges, all or nothing — so a failure or a racing host never leaves it half
   * applied. Returns the revision (0: nothing to do).
   *
   * Internal (export-import.ts): every item was checked already — a new variable by
   * checkNewVariable, an update's value against the variable it updates (`id`, as it was
   * then) — and is not checked again. Here each is checked only against what may have
   * changed since: a name now taken, a variable deleted or replaced, a merge's version, the
   * caller's write permission. A large import takes seconds of CPU, so this commit is planned,
   * written and applied in slices that let the host's other work in (CommitLog.mutatePaced):
   * meanwhile this host's other commits wait, and readers and watchers see nothing of it
   * until it is applied whole.
   */
  async commitImport(
    sessionId: string,
    input: {
      creates: PutChange[];
      updates: CheckedUpdate[];
      edges: { from: string; to: string; type: string }[];
    },
    caller = sessionId,
    source = "import",
    onProgress?: (progress: CodecProgress) => void,
  ): Promise<number> {
    if (this.isShared) await this.ready(sessionId);
    const pace = new Pacer(onProgress, "commit", input.creates.length + input.updates.length + input.edges.length);
    return this.logOf(sessionId).mutatePaced(async () => {
      pace.next("commit", input.creates.length + input.updates.length + input.edges.length);
      const session = this.session(sessionId);
      const now = this.now();
      const gone =
        " since the import was checked; nothing was imported (import again to check it against the session as it is now)";
      const puts: PutChange[] = [];
      const newNames = new Set<string>();
      for (const p of input.creates) {
        if (session.variables.has(p.name)) {
          throw new AlreadyExistsError(`variable '${q(p.name)}' was created in session '${q(sessionId)}'${gone}`, {
            details: { variable: p.name },
          });
        }
        newNames.add(p.name);
        // A copy: a re-plan (a shared store, after another host's commit) starts from the checked put again.
        puts.push({ ...p, createdAtMs: now });
        await pace.tick();
      }
      for (const u of input.updates) {
        const record = session.variables.get(u.name);
        if (!record || record.id !== u.id) {
          throw new VersionConflictError(`variable '${q(u.name)}' was deleted or replaced${gone}`, {
            details: { variable: u.name },
          });
        }
        if (u.expectedVersion && u.expectedVersion !== record.version) {
          throw new VersionConflictError(
            `variable '${record.name}' is at version ${record.version}, not the expected ${u.expectedVersion}: it was written${gone}`,
            { details: { variable: record.name, version: record.version, expected_version: u.expectedVersion } },
          );
        }
        this.check(record, caller, "write");
        // Its value was validated against this record's type and constraints, which never change.
        const put = this.putOf(record, u.value, u.metadata);
        put.bytes = u.bytes;
        puts.push(put);
        await pace.tick();
      }
      const graph = input.edges.length ? session.dependencies.clone() : session.dependencies;
      const edges: EdgeChange[] = [];
      const planned = new Set<string>();
      for (const e of input.edges) {
        const key = `${e.from}\u0000${e.to}`;
        if (planned.has(key) || session.dependencies.edgesFrom(e.from).some((x) => x.to === e.to)) continue;
        for (const end of [e.from, e.to]) if (!newNames.has(end)) this.variable(session, end);
        const from = session.find(e.from);
        if (from) this.check(from, caller, "write");
        checkDependencyType(e.type);
        graph.add(e.from, e.to, e.type);
        planned.add(key);
        edges.push({ from: e.from, to: e.to, type: e.type, metadata: {} });
        await pace.tick();
      }
      if (puts.length === 0 && edges.length === 0) return { entry: undefined, answer: () => 0 };
      return {
        entry: { t: "commit", sid: sessionId, source, at: now, puts, dels: [], edges, config: undefined },
        answer: (revision) => revision,
      };
    }, pace);
  }

  /**
   * A new variable's spec checked as register checks it (name, size, type, constraints,
   * value, access rules, metadata), without looking at any session: the put that would
   * create it. `where` names the spec in errors (e.g. "variables[3]"; undefined: the fields' bare names).
   */
  checkNewVariable(spec: VariableSpecInput, where: string | undefined, now = this.now()): PutChange {
    const at = (field: string) => (where ? `${where}.${field}` : field);
    if (typeof spec !== "object" || spec === null)
      throw new InvalidArgumentError(`${where ?? "variable"} must be a variable spec`, {
        parameter: where ?? "variable",
      });
    const name = checkVariableName(spec.name, at("name"));
    // Measured (depth and bytes) before anything looks at it: a 100 MiB value is refused at the cost of counting its bytes.
    measureWrite(name, spec.initialValue, spec.metadata, this.limits, [
      spec.constraints ?? null,
      spec.accessRules ?? null,
    ]);
    const type = canonicalType(spec.type);
    const constraints = validateConstraints(type, spec.constraints ?? {});
    const value = validateValue(type, spec.initialValue, constraints, name);
    const rules = normalizeRules(spec.accessRules, at("access_rules"));
    const metadata = stringMap(spec.metadata, at("metadata"));
    return {
      name,
      type,
      value,
      oldValue: null,
      version: 1,
      metadata,
      recordMetadata: metadata,
      constraints,
      rules,
      fresh: true,
      createRevision: 0,
      createdAtMs: now,
    };
  }

  /** New variables and their dependencies, checked against the session and `graph` (which gains their edges). */
  private planRegister(
    session: SessionRecord,
    specs: VariableSpecInput[],
    graph: DependencyGraph,
    now: number,
  ): { puts: PutChange[]; edges: EdgeChange[] } {
    const sessionId = session.info.sessionId;
    const names = new Set<string>();
    const puts: PutChange[] = specs.map((spec, i) => {
      const where = `variables[${i}]`;
      if (typeof spec !== "object" || spec === null)
        throw new InvalidArgumentError(`${where} must be a variable spec`, { parameter: where });
      const name = checkVariableName(spec.name, `${where}.name`);
      if (names.has(name))
        throw new InvalidArgumentError(`variable '${q(name)}' is registered twice in one request`, {
          parameter: `${where}.name`,
        });
      if (session.variables.has(name)) {
        throw new AlreadyExistsError(`variable '${q(name)}' already exists in session '${q(sessionId)}'`, {
          details: { variable: name },
        });
      }
      names.add(name);
      return this.checkNewVariable(spec, where, now);
    });
    // Dependencies may point at variables of this request or already stored ones.
    const edges: EdgeChange[] = [];
    specs.forEach((spec, i) => {
      const deps: unknown = spec.dependencies ?? [];
      if (!Array.isArray(deps))
        throw new InvalidArgumentError(`variables[${i}].dependencies must be a list of variable names`, {
          parameter: `variables[${i}].dependencies`,
        });
      for (const dep of deps as unknown[]) {
        if (typeof dep !== "string") {
          throw new InvalidArgumentError(
            `variables[${i}].dependencies must be variable names, got ${dep === null ? "null" : typeof dep}`,
            { parameter: `variables[${i}].dependencies` },
          );
        }
        const target = names.has(dep) ? dep : session.find(dep)?.name;
        if (!target) {
          throw new NotFoundError(`variables[${i}] '${spec.name}' depends on unknown variable ${quote(dep)}`, {
            details: { variable: clipName(dep) },
          });
        }
        graph.add(spec.name, target, "data");
        edges.push({ from: spec.name, to: target, type: "data", metadata: {} });
      }
    });
    return { puts, edges };
  }

  async get(sessionId: string, nameOrId: string, caller = sessionId): Promise<VariableRecord> {
    if (this.isShared) await this.ready(sessionId);
    return this.getNow(sessionId, nameOrId, caller);
  }

  /**
   * A read of this host's copy, without catching up with other hosts first: for work that
   * runs on this host and must stay synchronous (an optimizer planning a run). Counts as a read.
   */
  getLocal(sessionId: string, nameOrId: string, caller = sessionId): VariableRecord {
    return this.getNow(sessionId, nameOrId, caller);
  }

  /** checkAccess on this host's copy (see getLocal). */
  checkAccessLocal(sessionId: string, name: string, permission: string, caller = sessionId): boolean {
    const record = this.variable(this.session(sessionId), name);
    if (!["read", "write", "observe", "optimize"].includes(permission)) {
      throw new InvalidArgumentError(`permission must be read, write, observe or optimize, got '${q(permission)}'`, {
        parameter: "permission",
      });
    }
    return isAllowed(record.accessRules, caller, permission as Permission);
  }

  private getNow(sessionId: string, nameOrId: string, caller: string): VariableRecord {
    const session = this.session(sessionId);
    const record = this.variable(session, nameOrId);
    this.check(record, caller, "read");
    record.stats.reads++;
    record.stats.lastReadMs = this.now();
    return record;
  }

  /** Missing names map to undefined; a forbidden one throws. */
  async getMany(
    sessionId: string,
    names: string[],
    caller = sessionId,
  ): Promise<Map<string, VariableRecord | undefined>> {
    if (this.isShared) await this.ready(sessionId);
    return this.getManyLocal(sessionId, names, caller);
  }

  /** getMany on this host's copy, without catching up first (see getLocal). */
  getManyLocal(sessionId: string, names: string[], caller = sessionId): Map<string, VariableRecord | undefined> {
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

  async list(sessionId: string, pattern?: string, caller = sessionId): Promise<VariableRecord[]> {
    if (this.isShared) await this.ready(sessionId);
    const session = this.session(sessionId);
    const re = compilePattern(pattern);
    return [...session.variables.values()].filter(
      (r) => (!re || re.test(r.name)) && isAllowed(r.accessRules, caller, "read"),
    );
  }

  async update(
    sessionId: string,
    updates: UpdateInput[],
    options: UpdateOptions = {},
    config?: ConfigCommit,
  ): Promise<{ revision: number; results: UpdateOutcome[] }> {
    if (this.isShared) await this.ready(sessionId);
    return this.logOf(sessionId).mutate(() => this.planUpdate(sessionId, updates, options, config));
  }

  private planUpdate(
    sessionId: string,
    updates: UpdateInput[],
    options: UpdateOptions,
    config: ConfigCommit | undefined,
  ): Planned<{ revision: number; results: UpdateOutcome[] }> {
    const session = this.session(sessionId);
    const caller = options.caller ?? sessionId;
    const source = options.source || caller;
    const atomic = options.atomic ?? true;
    if (!Array.isArray(updates) || updates.length === 0)
      throw new InvalidArgumentError("no updates given", { parameter: "updates" });
    const configChange = config ? this.configChange(session, config) : undefined;
    const now = this.now();
    const puts: PutChange[] = [];
    const results: UpdateOutcome[] = [];
    const seen = new Set<string>();
    for (const u of updates) {
      try {
        const record = session.find(u.name);
        // By the variable, not the text: a name and an id can denote the same one.
        const key = record?.name ?? u.name;
        if (seen.has(key))
          throw new InvalidArgumentError(`variable '${q(key)}' is updated twice in one request`, {
            parameter: "updates",
          });
        seen.add(key);
        if (!record) {
          if (!options.createIfMissing) this.variable(session, u.name);
          checkVariableName(u.name, "name");
        }
        // Measured (depth and bytes) before anything looks at it: a 100 MiB value is refused at the cost of counting its bytes.
        measureWrite(record?.name ?? u.name, u.value, u.metadata, this.limits);
        const metadata = stringMap(u.metadata, "metadata");
        if (!record) {
          const type = options.typeHint ? canonicalType(options.typeHint) : inferType(u.value);
          const value = validateValue(type, u.value, {}, u.name);
          puts.push({
            name: u.name,
            type,
            value,
            oldValue: null,
            version: 1,
            metadata,
            recordMetadata: { ...metadata },
            constraints: {},
            rules: [],
            fresh: true,
            createRevision: 0,
            createdAtMs: now,
          });
          results.push({ name: u.name, ok: true, error: undefined, version: 1 });
          continue;
        }
        this.check(record, caller, "write");
        if (u.expectedVersion && u.expectedVersion !== record.version) {
          throw new VersionConflictError(
            `variable '${record.name}' is at version ${record.version}, not the expected ${u.expectedVersion}`,
            {
              details: { variable: record.name, version: record.version, expected_version: u.expectedVersion },
            },
          );
        }
        const value = validateValue(record.type, u.value, record.constraints, record.name);
        puts.push(this.putOf(record, value, metadata));
        results.push({ name: u.name, ok: true, error: undefined, version: record.version + 1 });
      } catch (err) {
        results.push({ name: u.name, ok: false, error: BridgeError.from(err), version: 0 });
      }
    }
    const failed = results.filter((r) => !r.ok);
    if (atomic && failed.length > 0) {
      // Bounded, however many failed: the first three, then a count.
      const why =
        failed
          .slice(0, 3)
          .map((f) => `${q(f.name)}: ${clip(f.error!.message, 300)}`)
          .join("; ") + (failed.length > 3 ? `; and ${failed.length - 3} more` : "");
      for (const r of results) {
        if (r.ok) {
          r.ok = false;
          r.version = 0;
          r.error = new InvalidArgumentError(`not applied: the atomic update failed (${why})`, {
            details: { aborted: true },
          });
        }
      }
      return { entry: undefined, answer: () => ({ revision: 0, results }) };
    }
    if (puts.length === 0) return { entry: undefined, answer: () => ({ revision: 0, results }) };
    return {
      entry: { t: "commit", sid: sessionId, source, at: now, puts, dels: [], edges: [], config: configChange },
      answer: (revision) => ({ revision, results }),
    };
  }

  private putOf(record: VariableRecord, value: unknown, metadata: Record<string, string>): PutChange {
    return {
      name: record.name,
      type: record.type,
      value,
      oldValue: record.value,
      version: record.version + 1,
      metadata,
      recordMetadata: { ...record.metadata, ...metadata },
      constraints: record.constraints,
      rules: record.accessRules,
      fresh: false,
      createRevision: record.createRevision,
      createdAtMs: record.createdAtMs,
    };
  }

  private configChange(session: SessionRecord, config: ConfigCommit): ConfigChange {
    const current = session.configs.get(config.name);
    if (config.expectVersion === undefined && current) {
      throw new AlreadyExistsError(
        `configuration space '${q(config.name)}' already exists in session '${q(session.info.sessionId)}'`,
      );
    }
    if (config.expectVersion !== undefined && current?.version !== config.expectVersion) {
      throw new VersionConflictError(
        `configuration space '${q(config.name)}' is at version ${current?.version ?? 0}, not ${config.expectVersion}`,
        {
          details: { configuration: config.name },
        },
      );
    }
    return { name: config.name, doc: config.doc, version: config.version };
  }

  /** set_variable: one update that throws instead of reporting. */
  async set(
    sessionId: string,
    name: string,
    value: unknown,
    options: UpdateOptions & { expectedVersion?: number; metadata?: Record<string, string> } = {},
  ): Promise<VariableRecord> {
    if (this.isShared) await this.ready(sessionId);
    return this.logOf(sessionId).mutate(() => {
      const planned = this.planUpdate(
        sessionId,
        [{ name, value, expectedVersion: options.expectedVersion ?? 0, metadata: options.metadata ?? {} }],
        { ...options, atomic: true },
        undefined,
      );
      const first = planned.answer(0).results[0]!;
      if (!first.ok) throw first.error!;
      return { entry: planned.entry, answer: () => this.committed(sessionId, name) };
    });
  }

  async delete(sessionId: string, names: string[], caller = sessionId): Promise<{ revision: number; deleted: number }> {
    if (this.isShared) await this.ready(sessionId);
    return this.logOf(sessionId).mutate(() => {
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
      if (records.length === 0) return { entry: undefined, answer: () => ({ revision: 0, deleted: 0 }) };
      const dels: DeleteChange[] = records.map((r) => ({
        name: r.name,
        id: r.id,
        type: r.type,
        oldValue: r.value,
        version: r.version,
        rules: r.accessRules,
      }));
      return {
        entry: {
          t: "commit",
          sid: sessionId,
          source: caller,
          at: this.now(),
          puts: [],
          dels,
          edges: [],
          config: undefined,
        },
        answer: (revision) => ({ revision, deleted: records.length }),
      };
    });
  }

  async history(sessionId: string, name: string, limit = 100, offset = 0, caller = sessionId): Promise<HistoryEntry[]> {
    const record = await this.get(sessionId, name, caller);
    if (limit < 0 || offset < 0)
      throw new InvalidArgumentError("limit and offset must be >= 0", { parameter: limit < 0 ? "limit" : "offset" });
    return [...record.history].reverse().slice(offset, offset + (limit || record.history.length));
  }

  async rollback(
    sessionId: string,
    name: string,
    version: number,
    reason = "",
    caller = sessionId,
  ): Promise<VariableRecord> {
    if (this.isShared) await this.ready(sessionId);
    return this.logOf(sessionId).mutate(() => {
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
      const now = this.now();
      return {
        entry: {
          t: "commit",
          sid: sessionId,
          source: caller,
          at: now,
          puts: [this.putOf(record, value, metadata)],
          dels: [],
          edges: [],
          config: undefined,
        },
        answer: () => this.committed(sessionId, record.name),
      };
    });
  }

  // ----------------------------------------------------------------------------------
  // Dependencies, permissions, configuration spaces, stats

  async addDependency(
    sessionId: string,
    from: string,
    to: string,
    type = "data",
    metadata: Record<string, string> = {},
    caller = sessionId,
  ): Promise<void> {
    if (this.isShared) await this.ready(sessionId);
    return this.logOf(sessionId).mutate(() => {
      const { session, a, b } = this.edgeEnds(sessionId, from, to, caller);
      checkDependencyType(type);
      session.dependencies.checkAdd(a.name, b.name);
      return {
        entry: {
          t: "edge",
          sid: sessionId,
          edge: { from: a.name, to: b.name, type, metadata: stringMap(metadata, "metadata") },
          remove: false,
        },
        answer: () => undefined,
      };
    });
  }

  async removeDependency(sessionId: string, from: string, to: string, caller = sessionId): Promise<boolean> {
    if (this.isShared) await this.ready(sessionId);
    return this.logOf(sessionId).mutate(() => {
      const { session, a, b } = this.edgeEnds(sessionId, from, to, caller);
      if (!session.dependencies.edgesFrom(a.name).some((e) => e.to === b.name))
        return { entry: undefined, answer: () => false };
      return {
        entry: {
          t: "edge",
          sid: sessionId,
          edge: { from: a.name, to: b.name, type: "data", metadata: {} },
          remove: true,
        },
        answer: () => true,
      };
    });
  }

  /** A dependency's two variables; changing it is a write to `from`. */
  private edgeEnds(
    sessionId: string,
    from: string,
    to: string,
    caller: string,
  ): { session: SessionRecord; a: VariableRecord; b: VariableRecord } {
    const session = this.session(sessionId);
    const a = this.variable(session, from);
    const b = this.variable(session, to);
    this.check(a, caller, "write");
    return { session, a, b };
  }

  /** What `name` depends on (or what depends on it); only variables the caller may read. */
  async dependencies(
    sessionId: string,
    name: string,
    transitive = false,
    dependents = false,
    caller = sessionId,
  ): Promise<{ variable: string; variableId: string; type: string; depth: number }[]> {
    if (this.isShared) await this.ready(sessionId);
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

  // ---------------------------------------------------------------------------------
  // Runs: optimization runs and optimizer jobs, kept with their session

  /** Records a run's state and the trials it added since it was last recorded. */
  async recordRun(run: RunRecord, trials: TrialRecord[] = []): Promise<void> {
    if (this.isShared) await this.ready(run.sessionId);
    await this.logOf(run.sessionId).mutate(() => {
      this.session(run.sessionId);
      return { entry: { t: "run", sid: run.sessionId, run, trials }, answer: () => undefined };
    });
  }

  /** The runs of one session, or of every session; newest first. */
  async listRuns(sessionId?: string): Promise<RunRecord[]> {
    if (this.isShared) await this.ready(sessionId);
    // Partitioned (Redis): without a session, the runs of the sessions this host holds.
    const sessions =
      sessionId === undefined ? this.states().flatMap((s) => [...s.sessions.values()]) : [this.session(sessionId)];
    const runs = sessions.flatMap((s) => [...s.runs.values()].map((r) => r.run));
    return runs.sort((a, b) => b.startedAtMs - a.startedAtMs);
  }

  /** One run with its trials (oldest first; `offset` and `limit` page them). */
  async getRun(
    sessionId: string,
    runId: string,
    options: { offset?: number; limit?: number } = {},
  ): Promise<{ run: RunRecord; trials: TrialRecord[] }> {
    if (this.isShared) await this.ready(sessionId);
    const kept = this.session(sessionId).runs.get(runId);
    if (!kept)
      throw new NotFoundError(`run '${q(runId)}' not found in session '${q(sessionId)}'`, {
        details: { run_id: clipName(runId) },
      });
    const offset = options.offset ?? 0;
    const trials = kept.trials.slice(offset, options.limit === undefined ? undefined : offset + options.limit);
    return { run: kept.run, trials };
  }

  // ---------------------------------------------------------------------------------
  // Programs: session programs' definitions and compiled state, kept with their session

  /**
   * Stores a program's next revision: `definition` is its JSON form (module, signature,
   * config, bindings, state), `etag` a tag the caller made unique to this content.
   * `expectRevision`: the revision it must replace (null: the program must not exist yet;
   * left out: whatever is there). Deleted with its session.
   */
  async putProgram(input: {
    sessionId: string;
    programId: string;
    etag: string;
    definition: Record<string, unknown>;
    expectRevision?: number | null;
  }): Promise<ProgramRecord> {
    const { sessionId, programId, etag } = input;
    checkProgramId(programId);
    if (typeof etag !== "string" || etag.length === 0 || etag.length > 128)
      throw new InvalidArgumentError("a program's etag must be a string of 1 to 128 characters", {
        parameter: "etag",
      });
    if (typeof input.definition !== "object" || input.definition === null || Array.isArray(input.definition))
      throw new InvalidArgumentError("a program's definition must be an object", { parameter: "definition" });
    // Measured with the depth limit first: stringifying a hostile nesting could overflow the stack.
    checkSize(
      measureValue(input.definition, "definition"),
      this.limits.maxValueBytes,
      `program '${q(programId)}'`,
      "maxValueBytes",
    );
    // JSON only, and a copy of its own: the stored definition never shares objects with the caller's.
    const json = JSON.stringify(input.definition);
    const bytes = Buffer.byteLength(json);
    checkSize(bytes, this.limits.maxValueBytes, `program '${q(programId)}'`, "maxValueBytes");
    const definition = JSON.parse(json) as Record<string, unknown>;
    if (this.isShared) await this.ready(sessionId);
    return this.logOf(sessionId).mutate(() => {
      const session = this.session(sessionId);
      const current = session.programs.get(programId);
      if (input.expectRevision === null && current)
        throw new AlreadyExistsError(`program '${q(programId)}' already exists in session '${q(sessionId)}'`, {
          details: { program_id: clipName(programId) },
        });
      if (typeof input.expectRevision === "number" && (current?.revision ?? 0) !== input.expectRevision)
        throw new VersionConflictError(
          `program '${q(programId)}' is at revision ${current?.revision ?? 0}, not ${input.expectRevision}`,
          { details: { program_id: clipName(programId), revision: current?.revision ?? 0 } },
        );
      const now = this.now();
      const program: ProgramRecord = {
        sessionId,
        programId,
        revision: (current?.revision ?? 0) + 1,
        etag,
        definition,
        createdAtMs: current?.createdAtMs ?? now,
        updatedAtMs: now,
        bytes,
      };
      return { entry: { t: "program", sid: sessionId, id: programId, program }, answer: () => program };
    });
  }

  /** A program's latest revision, or undefined. */
  async getProgram(sessionId: string, programId: string): Promise<ProgramRecord | undefined> {
    checkProgramId(programId);
    if (this.isShared) await this.ready(sessionId);
    return this.session(sessionId).programs.get(programId);
  }

  /** A program and the session's latest revision, in one read (a run needs both). */
  async programForRun(
    sessionId: string,
    programId: string,
  ): Promise<{ program: ProgramRecord | undefined; sessionRevision: number }> {
    checkProgramId(programId);
    if (this.isShared) await this.ready(sessionId);
    const session = this.session(sessionId);
    return { program: session.programs.get(programId), sessionRevision: session.lastRevision };
  }

  /** The session's programs (latest revisions), by id. */
  async listPrograms(sessionId: string): Promise<ProgramRecord[]> {
    if (this.isShared) await this.ready(sessionId);
    return [...this.session(sessionId).programs.values()].sort((a, b) =>
      a.programId < b.programId ? -1 : a.programId > b.programId ? 1 : 0,
    );
  }

  /** Deletes a program; false when there was none. */
  async deleteProgram(sessionId: string, programId: string): Promise<boolean> {
    checkProgramId(programId);
    if (this.isShared) await this.ready(sessionId);
    return this.logOf(sessionId).mutate(() => {
      const session = this.session(sessionId);
      if (!session.programs.has(programId)) return { entry: undefined, answer: () => false };
      return { entry: { t: "program", sid: sessionId, id: programId, program: null }, answer: () => true };
    });
  }

  /** Told of every commit applied, in every session, by this host or (shared store) another. */
  onCommit(listener: (commit: Commit) => void): () => void {
    this.listeners.commits.add(listener);
    return () => this.listeners.commits.delete(listener);
  }

  /** Told of every run recorded, by this host or (shared store) another. */
  onRun(listener: (run: RunRecord, trials: TrialRecord[]) => void): () => void {
    this.listeners.runs.add(listener);
    return () => this.listeners.runs.delete(listener);
  }

  /** Only the owning session may change a variable's rules (so rules can never lock it out for good). */
  async setPermissions(sessionId: string, name: string, rules: unknown, caller = sessionId): Promise<VariableRecord> {
    if (this.isShared) await this.ready(sessionId);
    return this.logOf(sessionId).mutate(() => {
      const session = this.session(sessionId);
      const record = this.variable(session, name);
      if (caller !== sessionId) {
        throw new PermissionDeniedError(
          `only session '${q(sessionId)}' may change the access rules of '${record.name}'`,
          {
            details: { variable: record.name, session_id: clipName(caller) },
          },
        );
      }
      const normalized = normalizeRules(rules, "rules");
      return {
        entry: { t: "rules", sid: sessionId, name: record.name, rules: normalized },
        answer: () => this.committed(sessionId, record.name),
      };
    });
  }

  async checkAccess(sessionId: string, name: string, permission: string, caller = sessionId): Promise<boolean> {
    if (this.isShared) await this.ready(sessionId);
    return this.checkAccessLocal(sessionId, name, permission, caller);
  }

  /** A configuration space registered in the session (definition and version), or undefined. */
  async configuration(sessionId: string, name: string): Promise<{ doc: unknown; version: number } | undefined> {
    if (this.isShared) await this.ready(sessionId);
    return this.session(sessionId).configs.get(name);
  }

  /** Reads and writes per variable and per session; only variables the caller may read. */
  async stats(sessionId: string, name?: string, caller = sessionId): Promise<Record<string, unknown>> {
    if (this.isShared) await this.ready(sessionId);
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
    return {
      session_id: sessionId,
      variable_count: session.variables.size,
      read_count: reads,
      write_count: writes,
      revision: this.stateOf(sessionId).applied.rev,
      variables,
    };
  }

  /**
   * The revision of the session's latest commit: what a worker must have seen before it acts
   * on the session. Shared: caught up first, so work sent to a worker right after a write
   * acknowledged on another host waits for that write (read-your-writes across hosts).
   */
  async sessionRevision(sessionId: string): Promise<number> {
    if (this.isShared) await this.ready(sessionId);
    return this.session(sessionId).lastRevision;
  }

  /** Internal: this host's copy of a session (export, bridge-service messages). */
  sessionRecord(sessionId: string): SessionRecord {
    return this.session(sessionId);
  }

  // ----------------------------------------------------------------------------------
  // Watches

  /**
   * Delivers, in order: the current values (includeInitial), every retained commit with
   * revision >= startRevision, then every new commit. A start revision older than the log
   * yields one `compacted` message and ends the watch.
   */
  async watch(
    sessionId: string,
    options: WatchOptions,
    onMessage: (m: WatchMessage) => void,
    onEnd: (error?: BridgeError) => void,
  ): Promise<WatchHandle> {
    if (this.isShared) await this.ready(sessionId);
    const session = this.session(sessionId);
    const caller = options.caller ?? sessionId;
    const start = options.startRevision ?? 0;
    const names = options.names?.length ? new Set(options.names) : undefined;
    // A resuming watch may name variables deleted since: their deletes are in the log.
    for (const name of names ?? []) {
      const record = start > 0 ? session.find(name) : this.variable(session, name);
      if (record) this.check(record, caller, "observe");
    }
    return this.stateOf(sessionId).subscribe(
      session,
      { sessionId, names, caller, onMessage, onEnd },
      start,
      options.includeInitial ?? false,
    );
  }
}

export { compilePattern, stringMap } from "./input-checks.js";
export type { AccessRule, VariableType };
export type {
  ConfigCommit,
  StoreOptions,
  UpdateInput,
  UpdateOptions,
  UpdateOutcome,
  VariableSpecInput,
  WatchHandle,
  WatchMessage,
  WatchOptions,
} from "./store-types.js";
