// Large commits of a SQLite store, written by a worker thread (sqlite-commit-worker.ts).
// better-sqlite3 is synchronous: on the host's thread the operations of a 100,000-variable
// import could be written in slices inside one transaction, but the last steps could not be
// cut up — the log row holding the whole entry (tens of MB), COMMIT's fsync of the WAL and
// the checkpoint that copies it into the file — and held the event loop for seconds. The
// worker's own connection does all of that while the host's connection keeps serving reads
// (WAL mode: readers never wait for a writer).
//
// Still one transaction, so still atomic: until its COMMIT nothing of it is in the file (a
// kill -9 at any moment leaves all of it or none). Ordering holds because the store starts no
// other commit until this one settles (CommitLog.mutateLocalPaced); the backend keeps even
// its best-effort session touches back until then.
import { Worker } from "node:worker_threads";
import type { LogId } from "../log-id.js";
import type { Pacer } from "../pacing.js";
import type { CommitRequest } from "./layout.js";
import type { CommitWorkerData, FromCommitWorker, ToCommitWorker } from "./sqlite-commit-worker.js";

/** Operations handed over at a time: each chunk a few ms to copy here and to write there. */
const CHUNK_OPS = 2_000;
/** The log entry handed over in parts of this many characters (a copy of each, not of tens of MB at once). */
const ENTRY_PART_CHARS = 1 << 20;

export class CommitWorker {
  private worker: Worker | undefined;
  /** Answers not yet received, oldest first. */
  private readonly waiting: { resolve(m: FromCommitWorker): void; reject(err: Error): void }[] = [];
  private closed = false;

  constructor(private readonly data: CommitWorkerData) {}

  private started(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL("./sqlite-commit-worker.js", import.meta.url), { workerData: this.data });
    worker.unref(); // idle between commits; a commit in progress is awaited by its caller anyway
    worker.on("message", (m: FromCommitWorker) => this.waiting.shift()?.resolve(m));
    const fail = (err: Error) => {
      this.worker = undefined;
      for (const w of this.waiting.splice(0)) w.reject(err);
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`the SQLite commit worker exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }

  private answer(): Promise<FromCommitWorker> {
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  /**
   * Writes `request` as the commit `id` and COMMITs it; resolves once it is durable, rejects
   * with the reason it was rolled back. The ops go over in chunks, the next while the worker
   * writes the last, each answered before the one after it is sent, so progress follows the
   * worker's writing and no more than two chunks wait in its queue.
   */
  async commit(request: CommitRequest, id: LogId, pace: Pacer): Promise<void> {
    if (this.closed) throw new Error("the store is closed");
    const worker = this.started();
    const post = (m: ToCommitWorker) => worker.postMessage(m);
    post({ kind: "begin", sid: request.sid, id });
    pace.next("write", request.ops.length);
    let previous: Promise<FromCommitWorker> | undefined;
    try {
      for (let at = 0; at < request.ops.length; at += CHUNK_OPS) {
        const ops = request.ops.slice(at, at + CHUNK_OPS);
        const wrote = this.answer();
        post({ kind: "ops", ops });
        if (previous) await previous;
        previous = wrote;
        pace.done = Math.min(request.ops.length, at + ops.length);
        pace.report();
      }
      if (previous) await previous;
      for (let at = 0; at < request.entry.length; ) {
        let end = Math.min(request.entry.length, at + ENTRY_PART_CHARS);
        // Never split a surrogate pair: each part is copied to the worker as a string of its own.
        if (end < request.entry.length && /[\uD800-\uDBFF]/.test(request.entry[end - 1]!)) end--;
        post({ kind: "entry", part: request.entry.slice(at, end) });
        at = end;
        if (pace.due()) await pace.pause();
      }
    } catch (err) {
      if (this.worker === worker) post({ kind: "abort" });
      throw err;
    }
    const outcome = this.answer();
    post({ kind: "commit", trimLog: request.trimLog });
    const m = await outcome;
    if (m.kind === "failed") throw new Error(m.message);
    if (m.kind !== "committed") throw new Error(`the SQLite commit worker answered '${m.kind}' to a commit`);
  }

  /** Stops the worker (a commit in progress is rolled back: its connection closes uncommitted). */
  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await worker.terminate();
  }
}
