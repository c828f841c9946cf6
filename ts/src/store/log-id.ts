// Positions in the store's log. A commit gets the next revision with seq 0; a change that
// is not a commit (a session, a dependency, access rules) keeps the revision and takes the
// next seq. Positions are therefore dense: every entry's successor is predictable, so a
// follower can tell a gap (it missed entries) from a duplicate.
export interface LogId {
  rev: number;
  seq: number;
}

export const LOG_START: LogId = { rev: 0, seq: 0 };

export const formatLogId = (id: LogId): string => `${id.rev}-${id.seq}`;

export function parseLogId(text: string): LogId {
  const dash = text.indexOf("-");
  return { rev: Number(text.slice(0, dash)), seq: Number(text.slice(dash + 1)) };
}

export const compareLogIds = (a: LogId, b: LogId): number => a.rev - b.rev || a.seq - b.seq;

/** True when `next` is the entry right after `prev`. */
export const isSuccessor = (prev: LogId, next: LogId): boolean =>
  (next.rev === prev.rev && next.seq === prev.seq + 1) || (next.rev === prev.rev + 1 && next.seq === 0);

/** The oldest revision a watch can no longer replay, given the first retained entry. */
export const compactedBefore = (first: LogId): number => (first.seq === 0 ? first.rev - 1 : first.rev);
