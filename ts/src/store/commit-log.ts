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
//
// A shared backend may stop answering (Redis frozen, a silent network). Every call is then
// bounded by the backend's limits (StoreBackend.limits): a read, and a commit still waiting
// for its turn (this host commits one at a time) or for a catch-up, fails after callMs with
// StoreUnavailableError, not applied; a commit that was sent settles within inFlightMs. While
// the backend answers, however slowly, a waiting call keeps its turn.
import { BridgeError, FailedPreconditionError, InternalError, StoreUnavailableError } from "../errors/index.js";
import { requestFor, requestSteps, type CommitRequest, type CommitResult, type LoggedEntry } from "./durable/layout.js";
import { decodeEntry, decodeEntryPaced, LARGE_ENTRY_CHARS, type Entry } from "./entries.js";
import { compareLogIds, formatLogId, isSuccessor, type LogId } from "./log-id.js";
import { Pacer, runPaced } from "./pacing.js";
import type { CommitDeadline, LargeCommit, SharedStoreBackend, StoreBackend } from "./store-backend.js";
import type { StoreState } from "./store-state.js";

/** What a mutation decided: the entry to commit (none: nothing to do) and how to answer once it is applied. */
export interface Planned<T, E extends Entry = Entry> {
  entry: E | undefined;
  answer: (revision: number) => T;
}

/** A large mutation (mutatePaced) is always a commit: puts, and what goes with them. */
type CommitEntry = Extract<Entry, { t: "commit" }>;

/** What the log asks of its Store. */
export interface CommitLogHooks {
  isClosed(): boolean;
  now(): number;
  /**
   * Drops a session if this host's copy says it is past its TTL and the backend agrees (a
   * shared store's read asks before every read of a session; nothing happens for a live one).
   */
  expire(sessionId: string): Promise<unknown>;
}

/**
 * Entries from the backend held back while a large commit is applied in slices: this host's
 * own (from when it is sent), or another host's that this host follows (applyFollowedPaced).
 */
interface Held {
  later: LoggedEntry[];
  /** Another host's large commit being applied: `later` holds what comes after it. */
  after?: LogId;
  done: Promise<void>;
  finish: () => void;
}

/** Attempts at a commit that other hosts keep beating to the same fields. */
const MAX_SHARED_ATTEMPTS = 50;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A backend that is not shared failed a commit: its transaction rolled back, nothing was written (a full disk, a file gone read-only). */
const couldNotCommit = (kind: string, err: unknown) =>
  new StoreUnavailableError(`the ${kind} store could not commit: ${(err as Error).message}`, { cause: err });

/**
 * A backend that is not shared has one writer, this host: it answers a commit at once, at
 * the position this host planned, and never with a conflict (SQLite takes the position from
 * the same head the state loaded). Any other answer is a bug in the backend; the entry is
 * then not applied here, so this host never applies at a position the backend did not give it.
 */
function checkUnsharedCommit(kind: string, result: CommitResult | Promise<CommitResult>, planned: LogId): void {
  const wrong =
    result instanceof Promise
      ? "answered later, as only a shared store may"
      : "conflict" in result
        ? `refused it for a conflict on '${result.conflict.slice(0, 100)}', which only a shared store can have`
        : compareLogIds(result.id, planned) !== 0
          ? `committed it at ${formatLogId(result.id)}, not at ${formatLogId(planned)} as planned`
          : undefined;
  if (wrong)
    throw new InternalError(
      `the ${kind} store, which is not shared, ${wrong}: the commit was not applied on this host`,
    );
}

export class CommitLog {
  /** Shared backends: this host's commits, one at a time (plans of one host never race each other). */
  private commitChain: Promise<unknown> = Promise.resolve();
  private catchingUp: Promise<void> | undefined;
  private resyncing: Promise<void> | undefined;
  /**
   * Entries were delivered while a reload ran and left to it (applyLogged), and its snapshot
   * may have been read before them: the log is read on once the reload is done.
   */
  private readOnAfterReload = false;
  /**
   * Not shared: a large commit in progress (mutatePaced). It is planned, written and applied
   * in slices; every other mutation of this host waits until it is done, so none can change
   * what it was planned on, or interleave with its transaction.
   */
  private large: Promise<void> | undefined;
  /**
   * Shared: a large commit being applied in slices. This host's own, from when it is sent
   * until it is applied: entries the backend delivers meanwhile (that commit among them,
   * read back) are held in `later` and applied after it, and reads wait for it: nothing
   * else decodes and applies that commit in one go, and no read sees a state without it
   * once it is acknowledged. Or another host's that this host follows (applyFollowedPaced),
   * decoded and applied in slices likewise; this host's reads and commits wait for it.
   */
  private own: Held | undefined;
  /**
   * This host's own large commit is being prepared (planned, sent): another host's large
   * commit that arrives meanwhile is held back (never applied under the one being prepared,
   * which is planned on the state without it) until this one is sent and applied, or fails.
   */
  private preparingLarge = false;
  /** Stops the decoding of a followed large commit when the store closes. */
  private following: AbortController | undefined;
  /** Reads and commits in progress: a store partitioned by session lets a session go only when none is. */
  private active = 0;

  constructor(
    private readonly state: StoreState,
    readonly backend: StoreBackend | undefined,
    private readonly historyLimit: number,
    private readonly hooks: CommitLogHooks,
  ) {}

  /** Nothing in progress: no read catching up, no commit, no reload. */
  get idle(): boolean {
    return this.active === 0 && !this.catchingUp && !this.resyncing && !this.own;
  }

  /** Counts `work` as in progress until it settles. */
  private counted<T>(work: Promise<T>): Promise<T> {
    this.active++;
    return work.finally(() => this.active--);
  }

  /** True when other hosts share the backend (Redis). */
  get isShared(): boolean {
    return this.backend?.shared === true;
  }

  /** The backend, on the paths only a shared store takes (every one is reached through `isShared`). */
  private get shared(): SharedStoreBackend {
    return this.backend as SharedStoreBackend;
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
      () => this.heldThrough() ?? this.state.applied,
      (entries) => this.applyLogged(entries) || reload(),
      reload,
    );
  }

  /**
   * Waits for the commit in progress, then lets go of the backend. Another host's large
   * commit being applied is abandoned (nothing of it is visible until its last step).
   */
  async close(): Promise<void> {
    while (this.large) await this.large;
    this.following?.abort();
    await this.commitChain.catch(() => {});
    while (this.own) await this.own.done;
    await this.backend?.close();
  }

  /**
   * Shared backends: before a read, catch up with every entry other hosts committed, so a
   * read on any host sees every write acknowledged before it started; and make sure a
   * session this host believes expired has not been kept alive by another host.
   */
  async ready(sessionId?: string): Promise<void> {
    return this.counted(
      this.bounded(this.readyNow(sessionId), Date.now() + this.limits.callMs, "the store could not be read"),
    );
  }

  private async readyNow(sessionId?: string): Promise<void> {
    // This host's own large commit is being sent and applied: a read sees the store once it is (hold()).
    while (this.own) await this.own.done;
    // Compared with what was applied before asking: this host's own commits may be applied while the answer travels.
    const before = this.state.applied;
    const head = await this.guard(() => this.shared.head());
    // The backend lost entries this host applied (restarted without its data), or began another history.
    if (head === "lost" || compareLogIds(head, before) < 0) await this.resync();
    else if (compareLogIds(head, this.state.applied) > 0) await this.catchUp();
    // The hook drops the session only if this host's copy says it expired and the backend agrees.
    if (sessionId !== undefined) await this.hooks.expire(sessionId);
  }

  /**
   * Runs a mutation: plan it against the current state, make its entry durable, apply it,
   * answer. Not shared: all in this call, synchronously. Shared: one mutation of this host
   * at a time, re-planned whenever another host changed what it was planned on.
   */
  mutate<T>(plan: () => Planned<T>): Promise<T> {
    if (this.hooks.isClosed()) return Promise.reject(new StoreUnavailableError("the store is closed"));
    if (!this.isShared) {
      if (this.large) return this.large.then(() => this.mutate(plan));
      try {
        const planned = this.plan(plan);
        if (!planned.entry) return Promise.resolve(planned.answer(0));
        const id = this.nextId(planned.entry);
        if (this.backend) {
          const request = this.request(planned.entry);
          let result: ReturnType<StoreBackend["commit"]>;
          try {
            result = this.backend.commit(request);
          } catch (err) {
            throw couldNotCommit(this.backend.kind, err);
          }
          checkUnsharedCommit(this.backend.kind, result, id);
        }
        this.state.apply(planned.entry, id);
        return Promise.resolve(planned.answer(id.rev));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.queueShared((deadline) => this.mutateShared(async () => this.plan(plan), deadline));
  }

  /**
   * Shared backends: runs `commit` in its turn among this host's commits (one at a time).
   * Its turn may be held up by a commit whose outcome Redis has not told yet: past callMs
   * with the backend not answering, it gives up its turn (never sent: not applied).
   */
  private queueShared<T>(commit: (deadline: CommitDeadline) => Promise<T>): Promise<T> {
    const start = Date.now();
    const deadline = { sendBy: start + this.limits.callMs, settleBy: start + this.limits.inFlightMs };
    const turn: { started?: true; abandoned?: true } = {};
    const run = this.counted(
      this.commitChain.then(() => {
        if (turn.abandoned) return undefined as T; // its caller has had its error
        turn.started = true;
        return commit(deadline);
      }),
    );
    this.commitChain = run.catch(() => {});
    return this.bounded(
      run,
      deadline.sendBy,
      "the commit was not applied",
      () => !turn.started,
      () => (turn.abandoned = true),
    );
  }

  /**
   * A mutation too large to plan, write and apply in one go (an import of 100,000
   * variables): `plan` and everything after it run in slices that let other work in
   * (`pace`: pacing.ts), and it is still one commit, all or nothing. Readers and watchers
   * see nothing of it until it is applied whole. Not shared: every other mutation of this
   * host waits for it (the backend writes it in one transaction that must not take in
   * anyone else's commit). Shared: it takes its turn among this host's commits, like any.
   */
  mutatePaced<T>(plan: (pace: Pacer) => Promise<Planned<T, CommitEntry>>, pace: Pacer): Promise<T> {
    if (this.hooks.isClosed()) return Promise.reject(new StoreUnavailableError("the store is closed"));
    if (!this.isShared) {
      // Asked again once the large commit in progress is done: the store may have closed meanwhile.
      if (this.large) return this.large.then(() => this.mutatePaced(plan, pace));
      return this.mutateLocalPaced(plan, pace);
    }
    return this.queueShared((deadline) => this.mutateShared(() => this.planPaced(plan, pace), deadline, pace));
  }

  /** Not shared, and no other large commit in progress: this one runs alone until it settles. */
  private async mutateLocalPaced<T>(plan: (pace: Pacer) => Promise<Planned<T, CommitEntry>>, pace: Pacer): Promise<T> {
    let release = () => {};
    this.large = new Promise<void>((resolve) => (release = resolve));
    try {
      const planned = await this.planPaced(plan, pace);
      if (!planned.entry) return planned.answer(0);
      const id = this.nextId(planned.entry);
      if (this.backend) {
        const request = await this.requestPaced(planned.entry, pace);
        let result: Awaited<ReturnType<StoreBackend["commit"]>>;
        try {
          result = this.backend.commitPaced
            ? await this.backend.commitPaced(request, pace)
            : await this.backend.commit(request);
        } catch (err) {
          throw couldNotCommit(this.backend.kind, err);
        }
        checkUnsharedCommit(this.backend.kind, result, id);
      }
      await this.applyInSlices(planned.entry, id, pace);
      return planned.answer(id.rev);
    } finally {
      this.large = undefined;
      release();
    }
  }

  /** A paced plan, with its history decision (the size limits) made in slices too. */
  private async planPaced<T>(
    plan: (pace: Pacer) => Promise<Planned<T, CommitEntry>>,
    pace: Pacer,
  ): Promise<Planned<T, CommitEntry>> {
    const planned = await plan(pace);
    if (planned.entry) await runPaced(this.state.planHistorySteps(planned.entry), pace);
    return planned;
  }

  private requestPaced(entry: Entry, pace: Pacer): Promise<CommitRequest> {
    const trim = this.state.logTrimFor(entry);
    return runPaced(requestSteps(entry, this.state.sessions, this.historyLimit, trim), pace);
  }

  /** `pace`: the commit is built, sent and applied in slices (mutatePaced). */
  private async mutateShared<T>(plan: () => Promise<Planned<T>>, deadline: CommitDeadline, pace?: Pacer): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      // Another host's large commit is being applied: plan on the state with it.
      while (this.own) await this.own.done;
      // A large commit: from here another host's large commit that arrives waits for it (applyLogged).
      this.preparingLarge = pace !== undefined;
      // A large commit: what the backend delivers from when it is sent until it is applied waits (hold()).
      let own: Held | undefined;
      try {
        // What the plan is made on: a large commit may be checked against it whole (LargeCommit.basis).
        const basis = this.state.applied;
        const planned = await plan();
        if (!planned.entry) return planned.answer(0);
        const request = pace ? await this.requestPaced(planned.entry, pace) : this.request(planned.entry);
        // A commit sent late (its turn came late while the backend kept answering) still gets its in-flight time.
        const now = Date.now();
        const bounds = {
          sendBy: Math.max(deadline.sendBy, now),
          settleBy: Math.max(deadline.settleBy, now + this.limits.inFlightMs - this.limits.callMs),
        };
        const large: LargeCommit | undefined = pace && {
          pace,
          basis,
          sending: () => {
            // Another host's large commit held back while this one was prepared is held with it.
            own ??= this.own ?? this.hold();
          },
        };
        let result: CommitResult;
        try {
          result = await this.guard(() => Promise.resolve(this.shared.commit(request, bounds, large)));
        } catch (err) {
          if (own) this.release(own);
          throw err;
        }
        if ("conflict" in result) {
          if (own) this.release(own);
          // A staged commit can be refused before it is sent: what was held back for it is applied now.
          else this.releasePrepared();
          if (result.final) throw new FailedPreconditionError(`not applied: ${result.conflict}`);
          if (attempt >= MAX_SHARED_ATTEMPTS) {
            throw new StoreUnavailableError(
              `the commit lost to other hosts' commits ${attempt} times (last on '${result.conflict}'); nothing was applied`,
            );
          }
          // Catch up (or reload, if the backend lost data) and plan again; nothing is applied yet.
          await this.bounded(this.readyNow(), bounds.sendBy, "the commit was not applied");
          continue;
        }
        if (own) await this.applyOwnPaced(own, planned.entry, result.id, pace!);
        if (isSuccessor(this.state.applied, result.id)) this.state.apply(planned.entry, result.id);
        else if (compareLogIds(this.state.applied, result.id) < 0) await this.caughtUpTo(result.id, bounds.settleBy);
        return planned.answer(result.id.rev);
      } finally {
        this.preparingLarge = false;
        if (!own) this.releasePrepared();
      }
    }
  }

  /**
   * This host's large commit was not sent (refused or failed before it went out, or planned
   * to nothing): another host's large commit held back while it was prepared is applied now
   * (a hold with no `after`; one with `after` is another host's commit being applied in slices).
   */
  private releasePrepared(): void {
    const held = this.own;
    if (held && held.after === undefined) this.release(held);
  }

  /** Holds back what the backend delivers (the follower, catch-ups) until `release`; reads wait for it. */
  private hold(): Held {
    let finish = () => {};
    const own: Held = { later: [], done: new Promise<void>((r) => (finish = r)), finish };
    this.own = own;
    return own;
  }

  /** Applies what was held back (a gap: reload). */
  private release(own: Held): void {
    if (this.own === own) this.own = undefined;
    // This host's large commit is done with: another host's large commit is applied at once from now.
    this.preparingLarge = false;
    own.finish();
    if (this.hooks.isClosed()) return;
    if (!this.applyLogged(own.later)) void this.resync().catch(() => {});
  }

  /** The newest entry held back, if any is (the follower reads on from there). */
  private heldThrough(): LogId | undefined {
    return this.own ? (this.own.later.at(-1)?.id ?? this.own.after) : undefined;
  }

  /**
   * Another host's large commit (an import of many variables): decoded and applied in
   * slices instead of in one go, which held this host's event loop for seconds. What the
   * backend delivers meanwhile is held back (hold()) and applied after it; reads and this
   * host's commits wait for it, so none sees or plans on a state with part of it (the
   * state changes only in applySteps' last step). Abandoned if the store closes.
   */
  private applyFollowedPaced(logged: LoggedEntry): void {
    const held = this.hold();
    held.after = logged.id;
    const following = new AbortController();
    this.following = following;
    const pace = new ClosingPacer(() => this.hooks.isClosed());
    void (async () => {
      try {
        const entry = await decodeEntryPaced(logged.entry, pace, following.signal);
        if (!isSuccessor(this.state.applied, logged.id)) return;
        await this.applyInSlices(entry, logged.id, pace);
      } catch {
        // Closed, or an entry this host cannot read: not applied; what follows it is a gap (reload).
      } finally {
        if (this.following === following) this.following = undefined;
        this.release(held);
      }
    })();
  }

  /**
   * This host's own large commit, committed at `id`: the entries of other hosts before it
   * that were held back are applied first, then it, in slices; then what came after it.
   */
  private async applyOwnPaced(own: Held, entry: Entry, id: LogId, pace: Pacer): Promise<void> {
    try {
      for (const e of own.later) {
        if (compareLogIds(e.id, id) >= 0) break;
        // Held entries follow the applied head (applyLogged holds only those after it); a gap stops here (release reloads).
        if (!isSuccessor(this.state.applied, e.id)) break;
        await runPaced(this.state.applySteps(await decodeEntryPaced(e.entry, pace), e.id), pace);
      }
      if (isSuccessor(this.state.applied, id)) {
        await this.applyInSlices(entry, id, pace);
      }
    } finally {
      this.release(own);
    }
  }

  /** Applies a large entry a slice at a time, reporting the "apply" phase (the state changes in its last step). */
  private async applyInSlices(entry: Entry, id: LogId, pace: Pacer): Promise<void> {
    pace.next("apply", entry.t === "commit" ? entry.puts.length : 1);
    await runPaced(this.state.applySteps(entry, id), pace);
  }

  /**
   * The commit is in the backend, after entries of other hosts this host has not applied:
   * its answer is read from the state once they and it are applied. If the backend stops
   * answering meanwhile, keep trying until `settleBy`; then the caller learns that the
   * commit was applied (details.outcome "applied") but not its result. So does a caller whose
   * commit the backend lost before this host read it back (Redis restarted without its data).
   */
  private async caughtUpTo(id: LogId, settleBy: number): Promise<void> {
    for (;;) {
      try {
        await this.bounded(this.catchUp(id), settleBy, "catching up");
        break;
      } catch (err) {
        if (Date.now() + 100 >= settleBy || this.hooks.isClosed()) {
          throw new StoreUnavailableError(
            `the commit was applied (revision ${id.rev}), but the ${this.shared.kind} store stopped answering before this host could catch up to it: read the variable for its result`,
            { cause: err, details: { outcome: "applied" } },
          );
        }
        await sleep(100);
      }
    }
    if (compareLogIds(this.state.applied, id) < 0) {
      throw new StoreUnavailableError(
        `the commit was applied (revision ${id.rev}), but the ${this.shared.kind} store lost it before this host read it back (it holds an earlier state now): read the variable for what it holds`,
        { details: { outcome: "applied" } },
      );
    }
  }

  /** The backend's limits for a call and for a commit in flight. */
  private get limits(): { callMs: number; inFlightMs: number } {
    return this.shared.limits;
  }

  /**
   * Settles with `work`, or fails with StoreUnavailableError (`what`) at `by` if the backend
   * has stopped answering then (a slow backend that still answers keeps the call waiting:
   * each of its commands has its own timeout). `waiting` false: past the point where the
   * call may give up (its commit was sent), it settles with `work` alone; `onExpire` runs
   * when it gives up.
   */
  private bounded<T>(
    work: Promise<T>,
    by: number,
    what: string,
    waiting: () => boolean = () => true,
    onExpire?: () => void,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let done = false;
      const finish = () => {
        done = true;
        clearTimeout(timer);
      };
      work.then(
        (value) => done || (finish(), resolve(value)),
        (err: unknown) => done || (finish(), reject(err)),
      );
      const tick = () => {
        timer = undefined;
        if (done || !waiting()) return;
        const left = by - Date.now();
        if (left > 0) timer = setTimeout(tick, left);
        else if (!this.shared.stalled()) timer = setTimeout(tick, 250);
        else {
          finish();
          onExpire?.();
          reject(
            new StoreUnavailableError(
              `${what}: the ${this.shared.kind} store has not answered within ${this.limits.callMs} ms`,
            ),
          );
        }
      };
      tick();
    });
  }

  /** Plans a mutation; a commit also gets its history decision (the size limits: StoreState.planHistory). */
  private plan<T>(plan: () => Planned<T>): Planned<T> {
    const planned = plan();
    if (planned.entry?.t === "commit") this.state.planHistory(planned.entry);
    return planned;
  }

  private request(entry: Entry) {
    return requestFor(entry, this.state.sessions, this.historyLimit, this.state.logTrimFor(entry));
  }

  private nextId(entry: Entry): LogId {
    return entry.t === "commit"
      ? { rev: this.state.applied.rev + 1, seq: 0 }
      : { rev: this.state.applied.rev, seq: this.state.applied.seq + 1 };
  }

  /** A call to the backend (every caller has one): its errors become StoreUnavailableError (typed, retryable); ours pass through. */
  private async guard<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (err instanceof BridgeError) throw err;
      throw new StoreUnavailableError(`the ${this.backend!.kind} store is unavailable: ${(err as Error).message}`, {
        cause: err,
      });
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
      if (this.resyncing) {
        // Its snapshot may have been read before the head this caller saw: read on after it.
        await this.resyncing;
        continue;
      }
      if (until && compareLogIds(this.state.applied, until) >= 0) return;
      let reloaded = false;
      this.catchingUp = (async () => {
        const entries = await this.guard(() => this.shared.readAfter(this.state.applied));
        // None after what this host applied, though the backend committed `until`: it lost them (its data, or the log).
        if (entries === "lost" || !this.applyLogged(entries) || (until && entries.length === 0)) {
          reloaded = true;
          await this.resync();
        }
      })();
      try {
        await this.catchingUp;
      } finally {
        this.catchingUp = undefined;
      }
      // A large commit among them is applied in slices: the caller reads the state once it is.
      while (this.own) await this.own.done;
      // A reload that began during the read took what it brought (applyLogged left it to the reload): wait for it and read on.
      if (this.resyncing) continue;
      // Reached: the loop's top returns. Short of it after a reload (all the backend holds): the backend lost it.
      if (!until || reloaded) return;
    }
  }

  /**
   * Entries read from a shared backend's log. False at a gap (entries trimmed before this
   * host read them): the caller must reload.
   */
  private applyLogged(entries: { id: LogId; entry: string }[]): boolean {
    if (this.resyncing) {
      this.readOnAfterReload = true;
      return true;
    }
    if (this.own) {
      // A large commit is being applied in slices: these wait for it (hold()).
      const last = this.heldThrough() ?? this.state.applied;
      for (const e of entries) if (compareLogIds(e.id, last) > 0) this.own.later.push(e);
      return true;
    }
    for (const logged of entries) {
      const { id, entry } = logged;
      if (compareLogIds(id, this.state.applied) <= 0) continue;
      if (!isSuccessor(this.state.applied, id)) return false;
      if (entry.length >= LARGE_ENTRY_CHARS) {
        // Held from here: for this host's large commit being prepared (this entry and what follows),
        // or while this entry is applied in slices (what follows it).
        if (this.preparingLarge) this.hold();
        else this.applyFollowedPaced(logged);
        return this.applyLogged(entries);
      }
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
      // A commit of this host being applied in slices finishes first: the reload replaces what it applies to.
      if (this.own) await this.own.done;
      await this.reload();
      this.state.compactAll();
    })().finally(() => {
      this.resyncing = undefined;
      // The follower is told of each entry once: one the snapshot missed would wait for the next
      // commit or check. Reading on costs one read of the log, only after a reload that overlapped a delivery.
      if (this.readOnAfterReload) {
        this.readOnAfterReload = false;
        void this.catchUp().catch(() => {});
      }
    });
    return this.resyncing;
  }

  private async reload(): Promise<void> {
    const snapshot = await this.guard(() => this.backend!.load());
    try {
      this.state.load(snapshot);
    } catch (err) {
      throw new FailedPreconditionError(
        `the ${this.backend!.kind} store holds data this host cannot read: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
}

/** A pacer whose pauses fail once the store is closed: the work in slices stops there. */
class ClosingPacer extends Pacer {
  constructor(private readonly closed: () => boolean) {
    super(undefined, "decode", 0);
  }

  override async pause(): Promise<void> {
    await super.pause();
    if (this.closed()) throw new StoreUnavailableError("the store is closed");
  }
}
