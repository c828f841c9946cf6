// The commit worker of a SQLite store (sqlite-commit.ts): a thread with its own connection
// to the store file that writes one large commit at a time. The host hands it the commit's
// operations in chunks, then its log entry; it writes them inside one transaction and
// COMMITs (the fsync, and the WAL checkpoint SQLite runs after a large commit, happen here,
// off the host's event loop), then answers. Nothing else writes the file meanwhile: the host
// starts no other commit until this one is answered.
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import type { LogId } from "../log-id.js";
import type { Op } from "./layout.js";
import { SqliteWriter } from "./sqlite-writer.js";

/** What the host sends: a commit is begin, ops…, entry…, commit; abort drops it. */
export type ToCommitWorker =
  | { kind: "begin"; sid: string; id: LogId }
  | { kind: "ops"; ops: Op[] }
  | { kind: "entry"; part: string }
  | { kind: "commit"; trimLog?: number }
  | { kind: "abort" };

/** The answers: each chunk of ops written (`wrote`), then the commit's outcome. */
export type FromCommitWorker = { kind: "wrote" } | { kind: "committed" } | { kind: "failed"; message: string };

export interface CommitWorkerData {
  path: string;
  synchronous: "FULL" | "NORMAL";
  logLimit: number;
}

const port = parentPort!;
const config = workerData as CommitWorkerData;
const send = (m: FromCommitWorker) => port.postMessage(m);

let db: Database.Database | undefined;
let writer: SqliteWriter | undefined;
let opened: Error | undefined;
try {
  db = new Database(config.path, { fileMustExist: true });
  db.pragma(`synchronous = ${config.synchronous}`);
  writer = new SqliteWriter(db, config.logLimit);
} catch (err) {
  opened = err as Error;
}

/** The commit being written: its id, its session, the parts of its entry, the first error. */
let current: { sid: string; id: LogId; entry: string[]; error?: Error } | undefined;

/**
 * Copies the commit into the store file now, here, so that no later small commit of the
 * host's own connection finds a large WAL to checkpoint on the event loop. SQLite already
 * tried once at COMMIT; a host's read in progress then may have kept part of it back
 * (a checkpoint stops at the oldest reader's snapshot): try again for a while.
 */
function checkpoint(conn: Database.Database): void {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let attempt = 0; attempt < 50; attempt++) {
    const [row] = conn.pragma("wal_checkpoint(PASSIVE)") as { busy: number; log: number; checkpointed: number }[];
    if (!row || row.log <= 0 || row.checkpointed >= row.log) return;
    Atomics.wait(pause, 0, 0, 10);
  }
}

port.on("message", (m: ToCommitWorker) => {
  switch (m.kind) {
    case "begin":
      current = { sid: m.sid, id: m.id, entry: [] };
      if (opened) {
        current.error = opened;
        return;
      }
      try {
        // The host's connection wrote since: this connection's cached list ends may be stale.
        writer!.forget();
        db!.exec("BEGIN IMMEDIATE");
        writer!.begin();
      } catch (err) {
        current.error = err as Error;
      }
      return;
    case "ops":
      if (current && !current.error) {
        try {
          for (const op of m.ops) writer!.writeOp(op, current.sid, current.id);
        } catch (err) {
          current.error = err as Error;
        }
      }
      send({ kind: "wrote" });
      return;
    case "entry":
      current?.entry.push(m.part);
      return;
    case "commit": {
      const commit = current;
      current = undefined;
      if (!commit) return send({ kind: "failed", message: "no commit was begun" });
      if (!commit.error) {
        try {
          writer!.appendLog({ entry: commit.entry.join(""), trimLog: m.trimLog }, commit.id);
          db!.exec("COMMIT");
        } catch (err) {
          commit.error = err as Error;
        }
      }
      if (commit.error) {
        rollback();
        return send({ kind: "failed", message: commit.error.message });
      }
      writer!.committed();
      try {
        checkpoint(db!);
      } catch {
        // Committed already; a checkpoint that could not run is retried by SQLite later.
      }
      return send({ kind: "committed" });
    }
    case "abort":
      current = undefined;
      rollback();
      return;
  }
});

function rollback(): void {
  try {
    if (db?.inTransaction) db.exec("ROLLBACK");
  } catch {
    // The connection lost its transaction already (SQLite rolled it back itself).
  }
  writer?.forget();
}
