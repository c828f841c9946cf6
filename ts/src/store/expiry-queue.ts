// Sessions with a TTL, ordered by when they would expire if nobody used them again: a binary
// min-heap, so creating a session, finding the expired ones and dropping one cost O(log n)
// instead of a scan of every session (the sweep used to run on every create: 100k sessions
// took minutes). Lazy: a use moves a session's expiry without touching the heap; when its old
// time comes up the session is looked at and queued again at its real expiry. A dropped
// session's entry stays until it comes up (or until dropped entries are half the heap, when
// the heap is rebuilt from the live ones).
import type { SessionRecord } from "./records.js";

interface Queued {
  /** When the session expires if it was not used after being queued: lastAccessedAtMs + ttlMs. */
  at: number;
  session: SessionRecord;
}

/** Rebuild when at least this many entries are dropped sessions, and they are half the heap. */
const COMPACT_MIN = 1_024;

export class ExpiryQueue {
  private heap: Queued[] = [];
  /** Records with an entry in the heap (at most one each). */
  private readonly queued = new Set<SessionRecord>();
  /** Entries of records that are no longer current (dropped or replaced). */
  private stale = 0;

  /** @param isCurrent whether a record is still the store's live record for its session */
  constructor(private readonly isCurrent: (session: SessionRecord) => boolean) {}

  get size(): number {
    return this.heap.length;
  }

  /** Queues a live session with a TTL (one without never expires); a session already queued stays as it is. */
  add(session: SessionRecord): void {
    if (session.info.ttlMs <= 0 || this.queued.has(session) || !this.isCurrent(session)) return;
    this.queued.add(session);
    this.push({ at: session.info.lastAccessedAtMs + session.info.ttlMs, session });
  }

  /** A session that went away: its entry is now dead weight, removed when it comes up or at the next rebuild. */
  forget(session: SessionRecord): void {
    if (!this.queued.has(session)) return;
    this.stale++;
    if (this.stale >= COMPACT_MIN && this.stale * 2 >= this.heap.length)
      this.rebuild(this.heap.filter((q) => this.isCurrent(q.session)).map((q) => q.session));
  }

  /** Replaces the contents with these sessions (a store loaded from its backend). */
  rebuild(sessions: Iterable<SessionRecord>): void {
    this.heap = [];
    this.queued.clear();
    this.stale = 0;
    for (const session of sessions) {
      if (session.info.ttlMs <= 0) continue;
      this.queued.add(session);
      this.heap.push({ at: session.info.lastAccessedAtMs + session.info.ttlMs, session });
    }
    for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  /**
   * Takes the sessions past their TTL at `now` off the queue (expired: `now - lastAccessedAtMs
   * > ttlMs`, as SessionRecord.expired says). One used since it was queued goes back at its
   * new expiry; entries of sessions gone are discarded. A taken session that the caller could
   * not drop must be given back with `add`.
   */
  takeExpired(now: number): SessionRecord[] {
    const expired: SessionRecord[] = [];
    while (this.heap.length > 0 && this.heap[0]!.at < now) {
      const { session } = this.pop();
      this.queued.delete(session);
      if (!this.isCurrent(session)) {
        if (this.stale > 0) this.stale--;
        continue;
      }
      if (session.expired(now)) expired.push(session);
      else this.add(session); // used since: its expiry is now at or after `now`, so this loop ends
    }
    return expired;
  }

  private push(entry: Queued): void {
    this.heap.push(entry);
    let i = this.heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.heap[parent]!.at <= entry.at) break;
      this.heap[i] = this.heap[parent]!;
      i = parent;
    }
    this.heap[i] = entry;
  }

  private pop(): Queued {
    const top = this.heap[0]!;
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.down(0);
    }
    return top;
  }

  private down(i: number): void {
    const heap = this.heap;
    const entry = heap[i]!;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= heap.length) break;
      if (child + 1 < heap.length && heap[child + 1]!.at < heap[child]!.at) child++;
      if (heap[child]!.at >= entry.at) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = entry;
  }
}
