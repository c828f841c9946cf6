// The SQLite backend: the store on one machine, surviving restarts. One host owns a file
// (a lock file beside it keeps a second host out: sqlite-lock.ts); every commit is one
// transaction in WAL mode, so a crash — even kill -9 in the middle of a burst — keeps every
// acknowledged commit and none half-written. better-sqlite3 is synchronous, so the store
// plans, commits and applies a small change inside one call, with nothing interleaving; a
// large one (an import) is written and committed by a worker thread's connection while the
// store holds every other commit back (commitPaced, sqlite-commit.ts).
import { chmodSync, existsSync } from "node:fs";
import Database from "better-sqlite3";
import { FailedPreconditionError, InvalidArgumentError } from "../../errors/index.js";
import { LOG_START, parseLogId, type LogId } from "../log-id.js";
import type { SessionInfo } from "../records.js";
import type { StoreBackend } from "../store-backend.js";
import type { Pacer } from "../pacing.js";
import type { CommitRequest, CommitResult, LoggedEntry, RawSnapshot } from "./layout.js";
import { CommitWorker } from "./sqlite-commit.js";
import { acquireHostLock, holdForReading, LockRefused } from "./sqlite-lock.js";
import { SqliteWriter } from "./sqlite-writer.js";

export interface SqliteOptions {
  path: string;
  /** "full" (default): an acknowledged commit survives a power cut too; "normal": it survives a crash of the host process. */
  synchronous?: "full" | "normal";
  /** Log entries kept for watches that resume. */
  logLimit: number;
  /**
   * Read the file as it is, change nothing (the dashboard over a stored state): refused while
   * a host holds the file; it is read once, by load(), and let go (a host may open it
   * afterwards); no table is created, a missing file or one without a store is an error, and
   * commits are refused.
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
  private readonly writer: SqliteWriter;
  private readonly run: (request: CommitRequest, id: LogId) => void;
  /** This host's hold on the file (sqlite-lock.ts): the host lock, or a reader's shared hold. */
  private readonly lock: { release(): void };
  /** Writes large commits off the event loop (not for a read-only store). */
  private readonly worker: CommitWorker | undefined;
  /** While the worker writes, session touches wait here (latest per session) rather than wait for its lock. */
  private heldTouches: Map<string, SessionInfo> | undefined;

  constructor(private readonly options: SqliteOptions) {
    const readOnly = options.readOnly === true;
    const created = !readOnly && !existsSync(options.path);
    const synchronous = options.synchronous === "normal" ? "NORMAL" : "FULL";
    // SQLite's in-memory database is one per connection: the commit worker would write another.
    if (options.path === ":memory:")
      throw new InvalidArgumentError("the SQLite store needs a file path; for a store in memory use 'memory'", {
        parameter: "store",
      });
    try {
      // One host per file: the lock first, so that a second host touches nothing of the store.
      this.lock = readOnly ? holdForReading(options.path) : acquireHostLock(options.path);
    } catch (err) {
      if (err instanceof LockRefused && err.held)
        throw new FailedPreconditionError(
          readOnly
            ? `the SQLite store at '${options.path}' is in use by a running host (its own dashboard shows it: serve --dashboard)`
            : `the SQLite store at '${options.path}' is in use by another host: ${err.message}`,
          { cause: err },
        );
      throw new InvalidArgumentError(`cannot open the SQLite store at '${options.path}': ${(err as Error).message}`, {
        parameter: "store",
        cause: err,
      });
    }
    try {
      if (readOnly && !existsSync(options.path)) throw new Error("no such file");
      this.db = new Database(options.path, readOnly ? { readonly: true, fileMustExist: true, timeout: 250 } : {});
      // Variables may hold secrets: a new store file is readable by its owner only (SQLite gives the WAL the same mode).
      if (created) chmodSync(options.path, 0o600);
    } catch (err) {
      this.lock.release();
      throw new InvalidArgumentError(`cannot open the SQLite store at '${options.path}': ${(err as Error).message}`, {
        parameter: "store",
        cause: err,
      });
    }
    const fail = (err: unknown): never => {
      this.db.close();
      this.lock.release();
      throw err;
    };
    if (readOnly) {
      try {
        this.checkLayout(true);
      } catch (err) {
        if (err instanceof FailedPreconditionError) fail(err);
        // A host of an older version holds the file itself locked: nothing else can read it meanwhile.
        fail(
          new FailedPreconditionError(
            `the SQLite store at '${options.path}' is in use by a running host (its own dashboard shows it: serve --dashboard) or unreadable: ${(err as Error).message}`,
            { cause: err },
          ),
        );
      }
    } else {
      try {
        // Not in exclusive locking mode (the lock file keeps other hosts out): the commit worker
        // opens a second connection, and this one keeps reading while the worker writes.
        this.db.pragma("journal_mode = WAL");
        this.db.pragma(`synchronous = ${synchronous}`);
        this.db.exec("BEGIN IMMEDIATE; COMMIT;"); // a host of an older version holding the file itself fails it here
      } catch (err) {
        fail(
          new FailedPreconditionError(
            `the SQLite store at '${options.path}' is in use by another host or unreadable: ${(err as Error).message}`,
            { cause: err },
          ),
        );
      }
      try {
        this.db.transaction(() => this.checkLayout(false))();
      } catch (err) {
        fail(err);
      }
    }
    this.writer = new SqliteWriter(this.db, options.logLimit);
    this.run = this.db.transaction((request: CommitRequest, id: LogId) => {
      this.writer.begin();
      for (const op of request.ops) this.writer.writeOp(op, request.sid, id);
      this.writer.appendLog(request, id);
    });
    this.worker = readOnly
      ? undefined
      : new CommitWorker({ path: options.path, synchronous, logLimit: options.logLimit });
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
    // Read-only: the file is let go at once, so that a host may open it.
    if (this.options.readOnly) {
      this.db.close();
      this.lock.release();
    }
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
      this.writer.forget(); // rolled back: looked up and counted again next time
      throw err;
    }
    this.writer.committed();
    this.position = id;
    return { id };
  }

  /**
   * A large commit, written and committed by the commit worker (sqlite-commit.ts) while this
   * thread goes on serving: one transaction, so nothing of it is durable, or visible to a
   * restart, until it all is. The store starts no other commit meanwhile.
   */
  async commitPaced(request: CommitRequest, pace: Pacer): Promise<CommitResult> {
    if (this.options.readOnly || !this.worker)
      throw new FailedPreconditionError(`the SQLite store at '${this.options.path}' is open read-only`);
    const id = this.nextId(request);
    this.heldTouches = new Map();
    try {
      await this.worker.commit(request, id, pace);
      this.position = id;
    } finally {
      // Another connection wrote the file (or tried to): what this one cached may be stale.
      this.writer.forget();
      const touches = this.heldTouches;
      this.heldTouches = undefined;
      try {
        for (const info of touches.values()) this.touch(info);
      } catch {
        // Best effort, as every touch: the next use of the session writes it again.
      }
    }
    return { id };
  }

  private nextId(request: CommitRequest): LogId {
    return request.commit
      ? { rev: this.position.rev + 1, seq: 0 }
      : { rev: this.position.rev, seq: this.position.seq + 1 };
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
    if (this.heldTouches) {
      this.heldTouches.set(info.sessionId, info);
      return;
    }
    this.writer.touch(info.sessionId, JSON.stringify(info));
  }

  async close(): Promise<void> {
    await this.worker?.close();
    if (this.db.open) this.db.close();
    this.lock.release();
  }
}
