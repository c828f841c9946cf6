// The SQLite backend: the store on one machine, surviving restarts. One host owns a file
// (an exclusive lock keeps a second host out); every commit is one transaction in WAL mode,
// so a crash — even kill -9 in the middle of a burst — keeps every acknowledged commit and
// none half-written. better-sqlite3 is synchronous, so the store plans, commits and applies
// a change inside one call, with nothing interleaving; a large one (an import) is written in
// slices inside one transaction while the store holds every other commit back (commitPaced).
import { chmodSync, existsSync } from "node:fs";
import Database from "better-sqlite3";
import { FailedPreconditionError, InvalidArgumentError } from "../../errors/index.js";
import { formatLogId, LOG_START, parseLogId, type LogId } from "../log-id.js";
import type { SessionInfo } from "../records.js";
import type { StoreBackend } from "../store-backend.js";
import type { Pacer } from "../pacing.js";
import { keys, type CommitRequest, type CommitResult, type LoggedEntry, type Op, type RawSnapshot } from "./layout.js";

export interface SqliteOptions {
  path: string;
  /** "full" (default): an acknowledged commit survives a power cut too; "normal": it survives a crash of the host process. */
  synchronous?: "full" | "normal";
  /** Log entries kept for watches that resume. */
  logLimit: number;
  /**
   * Read the file as it is, change nothing (the dashboard over a stored state): no lock is
   * kept (a host may open the file afterwards; it is read once, by load()), no table is
   * created, a missing file or one without a store is an error, and commits are refused.
   */
  readOnly?: boolean;
}

/**
 * The file's layout version (SQLite's user_version). A file of a newer layout is refused, not
 * misread; a future layout change migrates older files up from here.
 */
const LAYOUT_VERSION = 1;
const TABLES = ["kv_hash", "kv_list", "log", "meta"];

const SCHEMA = `
CREATE TABLE IF NOT EXISTS kv_hash (scope TEXT NOT NULL, key TEXT NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (key, field)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_hash_scope ON kv_hash (scope);
CREATE TABLE IF NOT EXISTS kv_list (scope TEXT NOT NULL, key TEXT NOT NULL, idx INTEGER NOT NULL, value TEXT NOT NULL, PRIMARY KEY (key, idx)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_list_scope ON kv_list (scope);
CREATE TABLE IF NOT EXISTS log (rev INTEGER NOT NULL, seq INTEGER NOT NULL, entry TEXT NOT NULL, PRIMARY KEY (rev, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
`;

export class SqliteBackend implements StoreBackend {
  readonly kind = "sqlite";
  readonly shared = false;
  private readonly db: Database.Database;
  private position: LogId = LOG_START;
  /** The last index of each history list this host has written (saves a query per write). */
  private readonly lastIndex = new Map<string, number>();
  /** List ends written by the transaction in progress, cached only once it commits. */
  private readonly pushed = new Map<string, number>();
  private readonly run: (request: CommitRequest, id: LogId) => void;
  private readonly writeOp: (op: Op, sid: string, id: LogId) => void;
  private readonly appendLog: (request: CommitRequest, id: LogId) => void;
  /** Entries in the log table (-1: count them at the next commit). */
  private logSize = -1;
  private readonly touchSession: Database.Statement;

  constructor(private readonly options: SqliteOptions) {
    const readOnly = options.readOnly === true;
    const created = !readOnly && !existsSync(options.path);
    try {
      if (readOnly && !existsSync(options.path)) throw new Error("no such file");
      this.db = new Database(options.path, readOnly ? { readonly: true, fileMustExist: true, timeout: 250 } : {});
      // Variables may hold secrets: a new store file is readable by its owner only (SQLite gives the WAL the same mode).
      if (created) chmodSync(options.path, 0o600);
    } catch (err) {
      throw new InvalidArgumentError(`cannot open the SQLite store at '${options.path}': ${(err as Error).message}`, {
        parameter: "store",
        cause: err,
      });
    }
    if (readOnly) {
      try {
        this.checkLayout(true);
      } catch (err) {
        this.db.close();
        if (err instanceof FailedPreconditionError) throw err;
        // A running host holds the file's exclusive lock: nothing else can read it meanwhile.
        throw new FailedPreconditionError(
          `the SQLite store at '${options.path}' is in use by a running host (its own dashboard shows it: serve --dashboard) or unreadable: ${(err as Error).message}`,
          { cause: err },
        );
      }
    } else {
      try {
        // Exclusive: a second host on the same file would serve stale copies; it fails here instead.
        this.db.pragma("locking_mode = EXCLUSIVE");
        this.db.pragma("journal_mode = WAL");
        this.db.pragma(`synchronous = ${options.synchronous === "normal" ? "NORMAL" : "FULL"}`);
        this.db.exec("BEGIN IMMEDIATE; COMMIT;"); // takes the exclusive lock now
      } catch (err) {
        this.db.close();
        throw new FailedPreconditionError(
          `the SQLite store at '${options.path}' is in use by another host or unreadable: ${(err as Error).message}`,
          { cause: err },
        );
      }
      try {
        this.db.transaction(() => this.checkLayout(false))();
      } catch (err) {
        this.db.close();
        throw err;
      }
    }
    const hset = this.db.prepare(
      "INSERT INTO kv_hash (scope, key, field, value) VALUES (?, ?, ?, ?) ON CONFLICT (key, field) DO UPDATE SET value = excluded.value",
    );
    const hdel = this.db.prepare("DELETE FROM kv_hash WHERE key = ? AND field = ?");
    const lastIdx = this.db.prepare("SELECT MAX(idx) AS idx FROM kv_list WHERE key = ?");
    const lpush = this.db.prepare("INSERT INTO kv_list (scope, key, idx, value) VALUES (?, ?, ?, ?)");
    const ltrim = this.db.prepare("DELETE FROM kv_list WHERE key = ? AND idx <= ?");
    const ldel = this.db.prepare("DELETE FROM kv_list WHERE key = ?");
    const dropHashes = this.db.prepare("DELETE FROM kv_hash WHERE scope = ?");
    const dropLists = this.db.prepare("DELETE FROM kv_list WHERE scope = ?");
    const append = this.db.prepare("INSERT INTO log (rev, seq, entry) VALUES (?, ?, ?)");
    const count = this.db.prepare("SELECT COUNT(*) AS n FROM log");
    const trim = this.db.prepare(
      "DELETE FROM log WHERE (rev, seq) IN (SELECT rev, seq FROM log ORDER BY rev, seq LIMIT ?)",
    );
    const trimBefore = this.db.prepare("DELETE FROM log WHERE rev <= ?");
    const setMeta = this.db.prepare(
      "INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
    );
    this.touchSession = hset;
    this.writeOp = (op, sid, id) => {
      const scope = op.op === "drop" ? op.sid : "key" in op && op.key === keys.sessions ? "" : sid;
      switch (op.op) {
        case "hset":
          hset.run(scope, op.key, op.field, op.stamped ? `${id.rev}|${op.value}` : op.value);
          break;
        case "hdel":
          hdel.run(op.key, op.field);
          break;
        case "push": {
          // This transaction's own pushes first: a run recorded with several trials pushes one list many times.
          const idx =
            (this.pushed.get(op.key) ??
              this.lastIndex.get(op.key) ??
              (lastIdx.get(op.key) as { idx: number | null }).idx ??
              0) + 1;
          lpush.run(scope, op.key, idx, `${id.rev}|${op.value}`);
          if (idx > op.keep) ltrim.run(op.key, idx - op.keep);
          this.pushed.set(op.key, idx);
          break;
        }
        case "ltrim": {
          const idx =
            this.pushed.get(op.key) ??
            this.lastIndex.get(op.key) ??
            (lastIdx.get(op.key) as { idx: number | null }).idx ??
            0;
          if (idx > op.keep) ltrim.run(op.key, idx - op.keep);
          break;
        }
        case "del":
          ldel.run(op.key);
          this.pushed.set(op.key, 0);
          break;
        case "stamp":
          break; // stamps guard commits from other hosts; a file has one host
        case "alive":
          break; // the TTL lives in the session's info here; one host decides expiry
        case "drop":
          dropHashes.run(op.sid);
          dropLists.run(op.sid);
          this.lastIndex.clear(); // rare: forget every cached list end rather than find the session's
          hdel.run(keys.sessions, op.sid);
          break;
      }
    };
    this.appendLog = (request, id) => {
      append.run(id.rev, id.seq, request.entry);
      setMeta.run("head", formatLogId(id));
      if (this.logSize < 0) this.logSize = (count.get() as { n: number }).n;
      else this.logSize++;
      if (request.trimLog !== undefined) this.logSize -= trimBefore.run(request.trimLog).changes;
      if (this.logSize > this.options.logLimit) {
        trim.run(this.logSize - this.options.logLimit);
        this.logSize = this.options.logLimit;
      }
    };
    this.run = this.db.transaction((request: CommitRequest, id: LogId) => {
      this.pushed.clear();
      for (const op of request.ops) this.writeOp(op, request.sid, id);
      this.appendLog(request, id);
    });
  }

  /**
   * Creates the tables in a new file (`readOnly`: requires them); refuses a file some other
   * program (or a newer version) wrote.
   */
  private checkLayout(readOnly: boolean): void {
    const version = this.db.pragma("user_version", { simple: true }) as number;
    const where = `the SQLite file '${this.options.path}'`;
    if (version > LAYOUT_VERSION) {
      throw new FailedPreconditionError(
        `${where} has store layout ${version}, newer than this version of dspy-bridge reads (${LAYOUT_VERSION}): upgrade dspy-bridge`,
      );
    }
    const tables = (
      this.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]
    ).map((t) => t.name);
    // Version 0 with tables: a file of layout 1 from before the version was recorded, or not ours at all.
    if (version === 0 && tables.length > 0 && !TABLES.every((t) => tables.includes(t))) {
      throw new FailedPreconditionError(
        `${where} is not a dspy-bridge store (it has tables ${tables.join(", ")}); choose another path`,
      );
    }
    if (readOnly) {
      if (!TABLES.every((t) => tables.includes(t)))
        throw new FailedPreconditionError(`${where} holds no dspy-bridge store (a host has not written it yet)`);
      return;
    }
    this.db.exec(SCHEMA);
    if (version < LAYOUT_VERSION) this.db.pragma(`user_version = ${LAYOUT_VERSION}`);
  }

  async load(): Promise<RawSnapshot> {
    // One read transaction: the tables as of one moment.
    const snapshot = this.db.transaction(() => this.read())();
    // Read-only: the file is let go at once, so that a host may open it (it keeps an exclusive lock).
    if (this.options.readOnly) this.db.close();
    return snapshot;
  }

  private read(): RawSnapshot {
    const hashes = new Map<string, Map<string, string>>();
    for (const row of this.db.prepare("SELECT key, field, value FROM kv_hash").iterate() as Iterable<{
      key: string;
      field: string;
      value: string;
    }>) {
      let h = hashes.get(row.key);
      if (!h) hashes.set(row.key, (h = new Map()));
      h.set(row.field, row.value);
    }
    const lists = new Map<string, string[]>();
    for (const row of this.db.prepare("SELECT key, value FROM kv_list ORDER BY key, idx").iterate() as Iterable<{
      key: string;
      value: string;
    }>) {
      let l = lists.get(row.key);
      if (!l) lists.set(row.key, (l = []));
      l.push(row.value);
    }
    const log = (
      this.db.prepare("SELECT rev, seq, entry FROM log ORDER BY rev, seq").all() as {
        rev: number;
        seq: number;
        entry: string;
      }[]
    ).map((r): LoggedEntry => ({ id: { rev: r.rev, seq: r.seq }, entry: r.entry }));
    const head = this.db.prepare("SELECT v FROM meta WHERE k = 'head'").get() as { v: string } | undefined;
    if (head) this.position = parseLogId(head.v);
    return { head: this.position, hashes, lists, log };
  }

  commit(request: CommitRequest): CommitResult {
    if (this.options.readOnly)
      throw new FailedPreconditionError(`the SQLite store at '${this.options.path}' is open read-only`);
    const id = this.nextId(request);
    try {
      this.run(request, id);
    } catch (err) {
      this.logSize = -1; // rolled back: counted again next time
      throw err;
    }
    return this.committed(id);
  }

  /**
   * One transaction written in slices: BEGIN, the operations a slice at a time with other
   * work in between, COMMIT. Until COMMIT nothing of it is durable (a kill -9 in between
   * leaves the file as it was before it: SQLite's WAL drops the uncommitted frames); the
   * store starts no other commit meanwhile. A touch() in between writes into the same
   * transaction (best effort either way).
   */
  async commitPaced(request: CommitRequest, pace: Pacer): Promise<CommitResult> {
    if (this.options.readOnly)
      throw new FailedPreconditionError(`the SQLite store at '${this.options.path}' is open read-only`);
    const id = this.nextId(request);
    this.db.exec("BEGIN IMMEDIATE");
    try {
      this.pushed.clear();
      pace.next("write", request.ops.length);
      for (const op of request.ops) {
        this.writeOp(op, request.sid, id);
        pace.done++;
        if (pace.due()) await pace.pause();
      }
      this.appendLog(request, id);
      this.db.exec("COMMIT");
    } catch (err) {
      this.logSize = -1;
      if (this.db.open && this.db.inTransaction) this.db.exec("ROLLBACK");
      throw err;
    }
    return this.committed(id);
  }

  private nextId(request: CommitRequest): LogId {
    return request.commit
      ? { rev: this.position.rev + 1, seq: 0 }
      : { rev: this.position.rev, seq: this.position.seq + 1 };
  }

  private committed(id: LogId): CommitResult {
    for (const [key, idx] of this.pushed) this.lastIndex.set(key, idx);
    this.position = id;
    return { id };
  }

  head(): Promise<LogId> {
    return Promise.resolve(this.position);
  }

  readAfter(after: LogId): Promise<LoggedEntry[]> {
    const rows = this.db
      .prepare("SELECT rev, seq, entry FROM log WHERE rev > ? OR (rev = ? AND seq > ?) ORDER BY rev, seq")
      .all(after.rev, after.rev, after.seq) as {
      rev: number;
      seq: number;
      entry: string;
    }[];
    return Promise.resolve(rows.map((r) => ({ id: { rev: r.rev, seq: r.seq }, entry: r.entry })));
  }

  /** The last access moves the TTL (the store writes it at most once a second: a restart may forget under a second of it). */
  touch(info: SessionInfo): void {
    if (this.options.readOnly) return;
    this.touchSession.run("", keys.sessions, info.sessionId, JSON.stringify(info));
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
