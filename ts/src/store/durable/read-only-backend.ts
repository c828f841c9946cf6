// A shared backend read without writing (the dashboard over a stored state): it loads and
// follows what the hosts commit, but commits nothing and renews no session's TTL, so that
// looking at a store never keeps a session alive or expires one.
import { FailedPreconditionError } from "../../errors/index.js";
import type { LogId } from "../log-id.js";
import type { CommitResult, LoggedEntry, RawSnapshot } from "./layout.js";
import type { SessionInfo } from "../records.js";
import type { PartitionedBackend, StoreBackend } from "../store-backend.js";

export class ReadOnlyBackend implements StoreBackend {
  readonly kind: string;
  readonly shared: boolean;
  readonly limits?: { callMs: number; inFlightMs: number };
  readonly stalled?: () => boolean;
  readonly follow?: StoreBackend["follow"];
  readonly remainingTtl?: (sessionId: string) => Promise<number>;

  constructor(private readonly inner: StoreBackend) {
    this.kind = inner.kind;
    this.shared = inner.shared;
    if (inner.limits) this.limits = inner.limits;
    if (inner.stalled) this.stalled = inner.stalled.bind(inner);
    if (inner.follow) this.follow = inner.follow.bind(inner);
    if (inner.remainingTtl) this.remainingTtl = inner.remainingTtl.bind(inner);
  }

  load(): Promise<RawSnapshot> {
    return this.inner.load();
  }

  commit(): CommitResult {
    throw new FailedPreconditionError(`the ${this.kind} store is open read-only`);
  }

  head(): Promise<LogId | "lost"> {
    return this.inner.head();
  }

  readAfter(after: LogId): Promise<LoggedEntry[] | "lost"> {
    return this.inner.readAfter(after);
  }

  touch(): void {}

  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * A store partitioned by session (Redis) read without writing: each session's backend is
 * read-only, and no session is ever found expired (looking at a store expires nothing).
 */
export class ReadOnlyPartitionedBackend implements PartitionedBackend {
  readonly kind: string;
  readonly partitioned = true;

  constructor(private readonly inner: PartitionedBackend) {
    this.kind = inner.kind;
  }

  partition(sessionId: string): StoreBackend {
    return new ReadOnlyBackend(this.inner.partition(sessionId));
  }

  listSessions(): Promise<SessionInfo[]> {
    return this.inner.listSessions();
  }

  async expiredSessions(): Promise<string[]> {
    return [];
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
