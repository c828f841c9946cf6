// How a commit's operations become rows of a SQLite store file: the statements, and the few
// list ends and counts cached between commits. One writer per connection: the host's own
// (small commits, synchronous) and the commit worker's (large ones, sqlite-commit-worker.ts)
// write through the same code, so a commit lands the same whichever thread wrote it.
import type Database from "better-sqlite3";
import { formatLogId, type LogId } from "../log-id.js";
import { keys, type CommitRequest, type Op } from "./layout.js";

export class SqliteWriter {
  /** The last index of each history list this connection has written (saves a query per write). */
  readonly lastIndex = new Map<string, number>();
  /** List ends written by the transaction in progress, cached only once it commits. */
  private readonly pushed = new Map<string, number>();
  /** Entries in the log table (-1: count them at the next commit). */
  private logSize = -1;
  private readonly hset: Database.Statement;
  private readonly hdel: Database.Statement;
  private readonly lastIdx: Database.Statement;
  private readonly lpush: Database.Statement;
  private readonly ltrim: Database.Statement;
  private readonly ldel: Database.Statement;
  private readonly dropHashes: Database.Statement;
  private readonly dropLists: Database.Statement;
  private readonly append: Database.Statement;
  private readonly count: Database.Statement;
  private readonly trim: Database.Statement;
  private readonly trimBefore: Database.Statement;
  private readonly setMeta: Database.Statement;

  constructor(
    db: Database.Database,
    private readonly logLimit: number,
  ) {
    this.hset = db.prepare(
      "INSERT INTO kv_hash (scope, key, field, value) VALUES (?, ?, ?, ?) ON CONFLICT (key, field) DO UPDATE SET value = excluded.value",
    );
    this.hdel = db.prepare("DELETE FROM kv_hash WHERE key = ? AND field = ?");
    this.lastIdx = db.prepare("SELECT MAX(idx) AS idx FROM kv_list WHERE key = ?");
    this.lpush = db.prepare("INSERT INTO kv_list (scope, key, idx, value) VALUES (?, ?, ?, ?)");
    this.ltrim = db.prepare("DELETE FROM kv_list WHERE key = ? AND idx <= ?");
    this.ldel = db.prepare("DELETE FROM kv_list WHERE key = ?");
    this.dropHashes = db.prepare("DELETE FROM kv_hash WHERE scope = ?");
    this.dropLists = db.prepare("DELETE FROM kv_list WHERE scope = ?");
    this.append = db.prepare("INSERT INTO log (rev, seq, entry) VALUES (?, ?, ?)");
    this.count = db.prepare("SELECT COUNT(*) AS n FROM log");
    this.trim = db.prepare("DELETE FROM log WHERE (rev, seq) IN (SELECT rev, seq FROM log ORDER BY rev, seq LIMIT ?)");
    this.trimBefore = db.prepare("DELETE FROM log WHERE rev <= ?");
    this.setMeta = db.prepare("INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v");
  }

  /** Starts a commit's writes (inside the transaction that will hold them). */
  begin(): void {
    this.pushed.clear();
  }

  writeOp(op: Op, sid: string, id: LogId): void {
    const scope = op.op === "drop" ? op.sid : "key" in op && op.key === keys.sessions ? "" : sid;
    switch (op.op) {
      case "hset":
        this.hset.run(scope, op.key, op.field, op.stamped ? `${id.rev}|${op.value}` : op.value);
        break;
      case "hdel":
        this.hdel.run(op.key, op.field);
        break;
      case "push": {
        // This transaction's own pushes first: a run recorded with several trials pushes one list many times.
        const idx = this.listEnd(op.key) + 1;
        this.lpush.run(scope, op.key, idx, `${id.rev}|${op.value}`);
        if (idx > op.keep) this.ltrim.run(op.key, idx - op.keep);
        this.pushed.set(op.key, idx);
        break;
      }
      case "ltrim": {
        const idx = this.listEnd(op.key);
        if (idx > op.keep) this.ltrim.run(op.key, idx - op.keep);
        break;
      }
      case "del":
        this.ldel.run(op.key);
        this.pushed.set(op.key, 0);
        break;
      case "stamp":
        break; // stamps guard commits from other hosts; a file has one host
      case "alive":
        break; // the TTL lives in the session's info here; one host decides expiry
      case "drop":
        this.dropHashes.run(op.sid);
        this.dropLists.run(op.sid);
        this.lastIndex.clear(); // rare: forget every cached list end rather than find the session's
        this.hdel.run(keys.sessions, op.sid);
        break;
    }
  }

  private listEnd(key: string): number {
    return (
      this.pushed.get(key) ?? this.lastIndex.get(key) ?? (this.lastIdx.get(key) as { idx: number | null }).idx ?? 0
    );
  }

  /** The commit's log entry, the head, and the log kept within its limits. */
  appendLog(request: Pick<CommitRequest, "entry" | "trimLog">, id: LogId): void {
    this.append.run(id.rev, id.seq, request.entry);
    this.setMeta.run("head", formatLogId(id));
    if (this.logSize < 0) this.logSize = (this.count.get() as { n: number }).n;
    else this.logSize++;
    if (request.trimLog !== undefined) this.logSize -= this.trimBefore.run(request.trimLog).changes;
    if (this.logSize > this.logLimit) {
      this.trim.run(this.logSize - this.logLimit);
      this.logSize = this.logLimit;
    }
  }

  /** The transaction committed: its list ends are now the file's. */
  committed(): void {
    for (const [key, idx] of this.pushed) this.lastIndex.set(key, idx);
    this.pushed.clear();
  }

  /**
   * The transaction rolled back, or another connection wrote to the file: what is cached
   * may no longer be the file's (counted and looked up again when next needed).
   */
  forget(): void {
    this.pushed.clear();
    this.lastIndex.clear();
    this.logSize = -1;
  }

  /** Writes the session record that carries a session's last access (its TTL). */
  touch(sessionId: string, info: string): void {
    this.hset.run("", keys.sessions, sessionId, info);
  }
}
