// The sessions a host holds when its store is partitioned by session (Redis). Each held
// session is a partition of its own: a StoreState with that one session and a CommitLog over
// the session's backend (its keys, its log, its revisions). A session is loaded when it is
// first used and let go once it has been idle for `idleMs` with no watcher and nothing in
// progress, so a host's memory follows the sessions it serves, not every session of the
// store, and it follows only their logs. A partition that holds no session (a look-up of one
// that does not exist) goes at the next check.
import type { CommitLog } from "./commit-log.js";
import type { StoreState } from "./store-state.js";

export interface Partition {
  readonly sessionId: string;
  readonly state: StoreState;
  readonly log: CommitLog;
  lastUsedMs: number;
}

export class SessionPartitions {
  private readonly held = new Map<string, Partition>();
  private readonly opening = new Map<string, Promise<Partition>>();
  /** Partitions being let go: a new load of the same session waits for it (one subscription at a time). */
  private readonly closing = new Map<string, Promise<void>>();

  constructor(
    private readonly make: (sessionId: string) => Partition,
    readonly idleMs: number,
    private readonly now: () => number,
  ) {}

  /** The session's partition, loaded first when this host does not hold it. */
  async get(sessionId: string): Promise<Partition> {
    const held = this.held.get(sessionId);
    if (held) {
      held.lastUsedMs = this.now();
      return held;
    }
    let opening = this.opening.get(sessionId);
    if (!opening) {
      opening = (async () => {
        await this.closing.get(sessionId);
        const partition = this.make(sessionId);
        await partition.log.open(); // lets go of the session's backend itself when the load fails
        this.held.set(sessionId, partition);
        return partition;
      })().finally(() => this.opening.delete(sessionId));
      this.opening.set(sessionId, opening);
    }
    const partition = await opening;
    partition.lastUsedMs = this.now();
    return partition;
  }

  /** The session's partition if this host holds it. */
  peek(sessionId: string): Partition | undefined {
    return this.held.get(sessionId);
  }

  values(): IterableIterator<Partition> {
    return this.held.values();
  }

  get size(): number {
    return this.held.size;
  }

  /** Lets go of every partition idle for idleMs (empty ones at once) with no watcher and nothing in progress. */
  evictIdle(): number {
    const now = this.now();
    let n = 0;
    for (const [sessionId, p] of this.held) {
      if (p.state.watchers.size > 0 || !p.log.idle) continue;
      if (p.state.sessions.size > 0 && now - p.lastUsedMs < this.idleMs) continue;
      this.letGo(sessionId, p);
      n++;
    }
    return n;
  }

  private letGo(sessionId: string, p: Partition): void {
    this.held.delete(sessionId);
    const closing: Promise<void> = p.log
      .close()
      .catch(() => {})
      .finally(() => {
        if (this.closing.get(sessionId) === closing) this.closing.delete(sessionId);
      });
    this.closing.set(sessionId, closing);
  }

  /** The store is closing: every watch ends, every partition lets go of its session. */
  async closeAll(): Promise<void> {
    await Promise.allSettled([...this.opening.values()]);
    const held = [...this.held.values()];
    for (const p of held) p.state.endAll();
    // A commit still in flight is answered from its partition's state once it is applied: each
    // partition stays held until its log has closed (its commits settled), or the caller would
    // be told its session was deleted.
    await Promise.allSettled(held.map((p) => p.log.close()));
    for (const p of held) if (this.held.get(p.sessionId) === p) this.held.delete(p.sessionId);
    await Promise.allSettled([...this.closing.values()]);
  }
}
