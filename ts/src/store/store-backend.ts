// What a durable backend provides to the store. The store keeps a full copy of the state in
// memory (every read is served from it) and a backend makes each change durable — and, for a
// shared backend, visible to the other hosts — before the change is applied and acknowledged.
import type { LogId } from "./log-id.js";
import type { Pacer } from "./pacing.js";
import type { CommitRequest, CommitResult, LoggedEntry, RawSnapshot } from "./durable/layout.js";
import type { SessionInfo } from "./records.js";

/**
 * When a shared backend's commit must settle (ms since the epoch): not sent by `sendBy`, it
 * fails as not applied; sent, it resolves or fails (outcome "unknown" if Redis never said)
 * by `settleBy`.
 */
export interface CommitDeadline {
  sendBy: number;
  settleBy: number;
}

/** A large commit (an import of many variables), sent by a shared backend however suits it. */
export interface LargeCommit {
  /** Its preparation runs in slices of this pacer (pacing.ts), reporting the "write" phase. */
  pace: Pacer;
  /**
   * The log position the commit was planned on. A backend may check that the log is still
   * there instead of checking each stamp (redis-staging.ts): stricter, never wrong.
   */
  basis: LogId;
  /**
   * Called right before the backend sends what can make the commit visible: from then until
   * the store has applied it, what other hosts commit is held back and reads wait.
   */
  sending(): void;
}

export interface StoreBackend {
  /** "sqlite" or "redis": for messages and stats. */
  readonly kind: string;
  /**
   * Other hosts may write: reads first catch up with the backend, commits are checked
   * against what this host planned them on, and new entries arrive through `follow`.
   * A backend that is not shared commits synchronously.
   */
  readonly shared: boolean;
  load(): Promise<RawSnapshot>;
  /**
   * Makes the request durable, or reports the check that failed. Synchronous unless shared.
   * `large`: a large commit; the backend may prepare it in slices (pacing.ts) or in pieces,
   * still as one atomic write.
   */
  commit(request: CommitRequest, deadline?: CommitDeadline, large?: LargeCommit): CommitResult | Promise<CommitResult>;
  /**
   * Backends that are not shared: a large commit written in slices that let other work in,
   * in one transaction (nothing of it is durable, or visible to a restart, until it all is).
   * The store starts no other commit until it settles.
   */
  commitPaced?(request: CommitRequest, pace: Pacer): Promise<CommitResult>;
  /**
   * Shared backends: how long a call may wait for the backend (`callMs`: a read, or a commit
   * not yet sent) and how long a commit already sent may take to settle (`inFlightMs`).
   */
  readonly limits?: { callMs: number; inFlightMs: number };
  /**
   * Shared backends: true while the backend has stopped answering (a command has waited past
   * a second with no reply since, one timed out, or the connection is down). A call whose
   * time is up fails then; while the backend answers, however slowly, it keeps its turn.
   */
  stalled?(): boolean;
  /**
   * The newest log position; "lost" when the backend's log is no longer the one this host
   * loaded (Redis lost its data and a new history began): positions of the two must never
   * be compared, the store reloads.
   */
  head(): Promise<LogId | "lost">;
  /** Every retained entry after `after`, oldest first; "lost" as for `head`. */
  readAfter(after: LogId): Promise<LoggedEntry[] | "lost">;
  /**
   * Shared backends: delivers the entries past `position()` as other hosts commit them;
   * `onBehind` when the backend's log ends before `position()` or is another history (it
   * lost data): reload.
   */
  follow?(position: () => LogId, onNew: (entries: LoggedEntry[]) => void, onBehind: () => void): void;
  /** Records that a session was used (it moves the TTL). Best effort; the store rate-limits the calls. */
  touch(info: SessionInfo): void | Promise<unknown>;
  /** Shared backends: milliseconds a session has left according to the backend (0: expired). */
  remainingTtl?(sessionId: string): Promise<number>;
  close(): Promise<void>;
}

/** A backend other hosts share (Redis): it states its limits, tells when it has stalled, and follows the other hosts. */
export interface SharedStoreBackend extends StoreBackend {
  readonly limits: NonNullable<StoreBackend["limits"]>;
  stalled(): boolean;
  follow: NonNullable<StoreBackend["follow"]>;
}

/**
 * A backend partitioned by session (Redis): each session has its own keys, log and revision
 * counter, and a host holds only the sessions it uses — a backend of its own per session
 * (`partition`), loaded on first use and let go when idle. Commits and watches are ordered
 * per session; nothing orders two sessions' commits.
 */
export interface PartitionedBackend {
  readonly kind: string;
  readonly partitioned: true;
  /** One session's backend: load() reads that session only; close() stops following it. */
  partition(sessionId: string): StoreBackend;
  /** Every session of the store (held by this host or not). */
  listSessions(): Promise<SessionInfo[]>;
  /** Sessions whose TTL has run out, held by this host or not (at most `limit`). */
  expiredSessions(now: number, limit?: number): Promise<string[]>;
  close(): Promise<void>;
}
