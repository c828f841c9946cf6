// How a Store's mutations become durable, and how a store follows the other hosts of a
// shared backend. Every mutation is planned by the Store against the in-memory state (a
// Planned: one log entry and how to answer once it is applied); here the entry is made
// durable by the backend when there is one, and only then applied.
//
// Without a backend (memory) and with one that is not shared (SQLite: one host per file)
// that happens synchronously inside the call. With a shared backend (Redis) the backend
// checks the plan against what this host planned it on; if another host got there first,
// this host catches up and the Store plans again. Reads of a shared store first catch up
// with what other hosts committed (`ready`).
import { BridgeError, FailedPreconditionError, InternalError } from "../errors/index.js";
import { requestFor } from "./durable/layout.js";
import { decodeEntry, type Entry } from "./entries.js";
import { compareLogIds, isSuccessor, type LogId } from "./log-id.js";
import type { SessionRecord } from "./records.js";
import type { StoreBackend } from "./store-backend.js";
import type { StoreState } from "./store-state.js";
import { StoreUnavailableError } from "./store-unavailable-error.js";

/** What a mutation decided: the entry to commit (none: nothing to do) and how to answer once it is applied. */
export interface Planned<T> {
  entry: Entry | undefined;
  answer: (revision: number) => T;
}

/** What the log asks of its Store. */
export interface CommitLogHooks {
  isClosed(): boolean;
  now(): number;
  /** Drops a session past its TTL if the backend agrees it is (a shared store's read found it expired). */
  expire(sessionId: string): Promise<unknown>;
}

/** Attempts at a commit that other hosts keep beating to the same fields. */
const MAX_SHARED_ATTEMPTS = 50;

export class CommitLog {
  /** Shared backends: this host's commits, one at a time (plans of one host never race each other). */
  private commitChain: Promise<unknown> = Promise.resolve();
  private catchingUp: Promise<void> | undefined;
  private resyncing: Promise<void> | undefined;

  constructor(
    private readonly state: StoreState,
    readonly backend: StoreBackend | undefined,
    private readonly historyLimit: number,
    private readonly hooks: CommitLogHooks,
  ) {}

  /** True when other hosts share the backend (Redis). */
  get isShared(): boolean {
    return this.backend?.shared === true;
  }

  /** Loads the backend's state and, for a shared backend, starts following the other hosts. */
  async open(): Promise<void> {
    if (!this.backend) return;
    try {
      await this.reload();
    } catch (err) {
      // A store that did not open lets go of its backend (a SQLite file would stay locked).
      await this.backend.close().catch(() => {});
      throw err;
    }
    // The follower cannot wait for a reload: a failed one is retried by the next read or gap.
    const reload = () => void this.resync().catch(() => {});
    this.backend.follow?.(
      () => this.state.applied,
      (entries) => this.applyLogged(entries) || reload(),
      reload,
    );
  }

  /** Waits for the commit in progress, then lets go of the backend. */
  async close(): Promise<void> {
    await this.commitChain.catch(() => {});
    await this.backend?.close();
  }

  /**
   * Shared backends: before a read, catch up with every entry other hosts committed, so a
   * read on any host sees every write acknowledged before it started; and make sure a
   * session this host believes expired has not been kept alive by another host.
   */
  async ready(sessionId?: string): Promise<void> {
    if (this.hooks.isClosed()) throw new StoreUnavailableError("the store is closed");
    // Compared with what was applied before asking: this host's own commits may be applied while the answer travels.
    const before = this.state.applied;
    const head = await this.guard(() => this.backend!.head());
    // The backend lost entries this host applied (restarted without its data), or began another history.
    if (head === "lost" || compareLogIds(head, before) < 0) await this.resync();
    else if (compareLogIds(head, this.state.applied) > 0) await this.catchUp();
    if (sessionId !== undefined) {
      const session = this.state.sessions.get(sessionId);
      if (session?.expired(this.hooks.now())) await this.hooks.expire(sessionId);
    }
  }

  /**
   * Runs a mutation: plan it against the current state, make its entry durable, apply it,
   * answer. Not shared: all in this call, synchronously. Shared: one mutation of this host
   * at a time, re-planned whenever another host changed what it was planned on.
   */
  mutate<T>(plan: () => Planned<T>): Promise<T> {
    if (this.hooks.isClosed()) return Promise.reject(new StoreUnavailableError("the store is closed"));
    if (!this.isShared) {
      try {
        const planned = plan();
        if (!planned.entry) return Promise.resolve(planned.answer(0));
        const id = this.nextId(planned.entry);
        if (this.backend) {
          const request = requestFor(planned.entry, this.sessionOf(planned.entry), this.historyLimit);
          let result: ReturnType<StoreBackend["commit"]>;
          try {
            result = this.backend.commit(request);
          } catch (err) {
            // The transaction rolled back: nothing was written (a full disk, a file gone read-only).
            throw new StoreUnavailableError(`the ${this.backend.kind} store could not commit: ${(err as Error).message}`, { cause: err });
          }
          if (result instanceof Promise || "conflict" in result) throw new InternalError(`the ${this.backend.kind} store refused an unshared commit`);
          if (compareLogIds(result.id, id) !== 0) throw new InternalError(`the ${this.backend.kind} store committed at ${result.id.rev}-${result.id.seq}, expected ${id.rev}-${id.seq}`);
        }
        this.state.apply(planned.entry, id);
        return Promise.resolve(planned.answer(id.rev));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    const run = this.commitChain.then(() => this.mutateShared(plan));
    this.commitChain = run.catch(() => {});
    return run;
  }

  private async mutateShared<T>(plan: () => Planned<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const planned = plan();
      if (!planned.entry) return planned.answer(0);
      const request = requestFor(planned.entry, this.sessionOf(planned.entry), this.historyLimit);
      const result = await this.guard(() => Promise.resolve(this.backend!.commit(request)));
      if ("conflict" in result) {
        if (result.final) throw new FailedPreconditionError(`not applied: ${result.conflict}`);
        if (attempt >= MAX_SHARED_ATTEMPTS) {
          throw new StoreUnavailableError(`the commit lost to other hosts' commits ${attempt} times (last on '${result.conflict}'); nothing was applied`);
        }
        await this.ready(); // catch up (or reload, if the backend lost data) and plan again
        continue;
      }
      if (isSuccessor(this.state.applied, result.id)) this.state.apply(planned.entry, result.id);
      else await this.catchUp(result.id);
      return planned.answer(result.id.rev);
    }
  }

  private sessionOf(entry: Entry): SessionRecord | undefined {
    return this.state.sessions.get(entry.t === "session" ? entry.info.sessionId : entry.sid);
  }

  private nextId(entry: Entry): LogId {
    return entry.t === "commit" ? { rev: this.state.applied.rev + 1, seq: 0 } : { rev: this.state.applied.rev, seq: this.state.applied.seq + 1 };
  }

  /** Backend errors become StoreUnavailableError (typed, retryable); ours pass through. */
  private async guard<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (err instanceof BridgeError) throw err;
      throw new StoreUnavailableError(`the ${this.backend?.kind ?? "memory"} store is unavailable: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Applies every entry other hosts committed (up to at least `until`), reloading when the
   * log cannot be continued; the caller reads a current state once it resolves. One catch-up
   * at a time.
   */
  private async catchUp(until?: LogId): Promise<void> {
    for (;;) {
      while (this.catchingUp) await this.catchingUp;
      if (this.resyncing) return this.resyncing; // the reload brings everything
      if (until && compareLogIds(this.state.applied, until) >= 0) return;
      const from = this.state.applied;
      this.catchingUp = (async () => {
        const entries = await this.guard(() => this.backend!.readAfter(this.state.applied));
        if (entries === "lost" || !this.applyLogged(entries)) await this.resync();
      })();
      try {
        await this.catchingUp;
      } finally {
        this.catchingUp = undefined;
      }
      // Short of `until` without progress: the backend lost it (and the reload said so).
      if (!until || compareLogIds(this.state.applied, until) >= 0 || compareLogIds(this.state.applied, from) === 0) return;
    }
  }

  /**
   * Entries read from a shared backend's log. False at a gap (entries trimmed before this
   * host read them): the caller must reload.
   */
  private applyLogged(entries: { id: LogId; entry: string }[]): boolean {
    if (this.resyncing) return true; // the reload brings everything
    for (const { id, entry } of entries) {
      if (compareLogIds(id, this.state.applied) <= 0) continue;
      if (!isSuccessor(this.state.applied, id)) return false;
      this.state.apply(decodeEntry(entry), id);
    }
    return true;
  }

  /**
   * This host missed entries it can no longer read (the log was trimmed past them, or the
   * backend lost data): reload the whole state, and end every watch with `compacted` so
   * each watcher resyncs — none of them silently misses a change. Both in one step, so no
   * watch opened on the new state is ended and no old watch sees an entry of it.
   */
  private async resync(): Promise<void> {
    if (this.resyncing) return this.resyncing;
    this.resyncing = (async () => {
      await this.reload();
      this.state.compactAll();
    })().finally(() => (this.resyncing = undefined));
    return this.resyncing;
  }

  private async reload(): Promise<void> {
    const snapshot = await this.guard(() => this.backend!.load());
    try {
      this.state.load(snapshot);
    } catch (err) {
      throw new FailedPreconditionError(`the ${this.backend!.kind} store holds data this host cannot read: ${(err as Error).message}`, { cause: err });
    }
  }
}
