// One host per SQLite store file. A second host on the same file would serve its own stale
// copy of the state and overwrite the first's commits, so it must be refused at start. The
// guarantee lives in a lock file beside the store (`<path>-lock`), not in the store file:
// locking the store file itself (SQLite's exclusive locking mode) also kept out the host's
// own second connection, the commit worker that writes large commits off the event loop.
//
// The lock file is a tiny SQLite database held in exclusive locking mode: SQLite takes an
// OS-level (POSIX advisory) lock on it, which the kernel releases when the process dies, so a
// host killed with kill -9 leaves no stale lock to clean up, while a live one keeps every
// other process (and every other connection in its own) out. No PID file, no timeout to
// guess. The lock file is never deleted: a process that unlinked it could leave a second
// host locking a new file while a third still waits on the old one.
import { chmodSync, existsSync } from "node:fs";
import Database from "better-sqlite3";

/** The lock file of the store at `path`. */
export function lockPathOf(path: string): string {
  return `${path}-lock`;
}

/** Why the lock could not be taken: another process (or connection) holds it, or the file cannot be opened. */
export class LockRefused extends Error {
  constructor(
    message: string,
    readonly held: boolean,
  ) {
    super(message);
  }
}

const isBusy = (err: unknown) => (err as { code?: string }).code?.startsWith("SQLITE_BUSY") === true;

/**
 * Takes the lock of the store at `path` for this host, until `release()` (or the process
 * ends). Waits up to `timeoutMs` for a dashboard reading the store to let go.
 */
export function acquireHostLock(path: string, timeoutMs = 5_000): { release(): void } {
  const lockPath = lockPathOf(path);
  const created = !existsSync(lockPath);
  let db: Database.Database;
  try {
    db = new Database(lockPath, { timeout: timeoutMs });
  } catch (err) {
    throw new LockRefused((err as Error).message, false);
  }
  try {
    if (created) chmodSync(lockPath, 0o600);
    db.pragma("locking_mode = EXCLUSIVE");
    // An exclusive transaction takes the OS lock; exclusive locking mode keeps it after COMMIT.
    db.exec("BEGIN EXCLUSIVE; COMMIT;");
  } catch (err) {
    db.close();
    throw new LockRefused((err as Error).message, isBusy(err));
  }
  return { release: () => db.open && db.close() };
}

/**
 * For a reader of the store (the dashboard): refused while a host holds the lock; else the
 * lock is held shared until `release()`, so that no host starts writing while it reads.
 * A store no host of this version has opened has no lock file: nothing to hold then.
 */
export function holdForReading(path: string, timeoutMs = 250): { release(): void } {
  const lockPath = lockPathOf(path);
  if (!existsSync(lockPath)) return { release: () => {} };
  let db: Database.Database;
  try {
    db = new Database(lockPath, { readonly: true, fileMustExist: true, timeout: timeoutMs });
  } catch (err) {
    throw new LockRefused((err as Error).message, false);
  }
  try {
    db.pragma("locking_mode = EXCLUSIVE"); // read once: SQLite then keeps its shared lock until close
    db.prepare("SELECT count(*) FROM sqlite_master").get();
  } catch (err) {
    db.close();
    throw new LockRefused((err as Error).message, isBusy(err));
  }
  return { release: () => db.open && db.close() };
}
