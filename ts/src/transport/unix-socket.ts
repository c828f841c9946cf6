// Unix sockets the host listens on, made safe to restart and private from the first moment:
//
// * A socket file left at the path by a host that died (`kill -9`) is removed, but only when
//   nobody answers on it; a live host there is a clear error, never a stolen address.
// * A folder the host creates for a socket is 0700. A folder the user chose is left as it is
//   (with a warning if other users may write to it); the socket is then bound inside a
//   private 0700 folder, made 0600, and only then given its name, so under any umask nobody
//   else can connect to it before it is private.
// * The host's private folders in the temp directory carry a `pid` file; at start-up the
//   folders of hosts that are gone are removed (a `kill -9` leaves them behind).
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
  type Stats,
} from "node:fs";
import { connect } from "node:net";
import { basename, dirname, join, resolve } from "node:path";
import { FailedPreconditionError } from "../errors/index.js";

/** The longest Unix socket path (sun_path less its final NUL; 107 on Linux, 103 on macOS). */
const MAX_SOCKET_PATH = process.platform === "linux" ? 107 : 103;
const CONNECT_TIMEOUT_MS = 1_000;

/** Whether something accepts connections on the socket at `path` (false: refused, or no such socket). */
export function socketAnswers(path: string, timeoutMs = CONNECT_TIMEOUT_MS): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect(path);
    const done = (answered: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolvePromise(answered);
    };
    // A listener too busy to accept within the timeout is alive.
    const timer = setTimeout(() => done(true), timeoutMs);
    socket.once("connect", () => done(true));
    socket.once("error", (err: NodeJS.ErrnoException) =>
      done(err.code !== "ECONNREFUSED" && err.code !== "ENOENT" && err.code !== "ENOTSOCK"),
    );
  });
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

const uid = (): number | undefined => process.getuid?.();

/**
 * Makes `path` free for a new socket: removes a socket file nobody answers on (a host that
 * died), refuses a live one or anything that is not a socket.
 */
async function clearStaleSocket(path: string): Promise<void> {
  const st = lstatOrUndefined(path);
  if (!st) return;
  if (!st.isSocket())
    throw new FailedPreconditionError(
      `cannot listen on ${path}: it exists and is not a socket; refusing to replace it`,
    );
  if (await socketAnswers(path))
    throw new FailedPreconditionError(
      `another host is listening on ${path}; stop it first or choose another --listen path`,
    );
  const me = uid();
  if (me !== undefined && me !== 0 && st.uid !== me) {
    throw new FailedPreconditionError(
      `cannot listen on ${path}: a stale socket of uid ${st.uid} is in the way; remove it or choose another path`,
    );
  }
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}

/**
 * The socket's folder: created 0700 (with any missing parents) when missing; an existing one
 * is left as the user made it, with a warning if other users may write to it. True when the
 * folder is private (this user's, no access for group or others).
 */
function ensureFolder(folder: string, warn: (line: string) => void): boolean {
  if (!lstatOrUndefined(folder)) {
    const first = mkdirSync(folder, { recursive: true, mode: 0o700 });
    // mkdir's mode only narrows under the umask; make sure, for each folder made here.
    for (let f = folder; first !== undefined && f.length >= first.length; f = dirname(f)) chmodSync(f, 0o700);
  }
  const st = statSync(folder);
  if (!st.isDirectory()) throw new FailedPreconditionError(`cannot listen in ${folder}: not a folder`);
  if ((st.mode & 0o022) !== 0) {
    warn(
      `the socket's folder ${folder} is writable by other users (mode ${(st.mode & 0o7777).toString(8)}): they can take the ` +
        "socket's name while the host is down; prefer a private (0700) folder",
    );
  }
  const me = uid();
  return (st.mode & 0o077) === 0 && (me === undefined || st.uid === me);
}

/** A socket bound at a final path; `release` removes the name if it is still this socket. */
export interface BoundSocket {
  release(): void;
}

/**
 * Binds a Unix socket at `path` so that it is 0600 before anyone else can reach it, after
 * clearing a stale socket left there by a dead host. `bind` listens on the path it is given.
 */
export async function bindPrivateSocket(
  path: string,
  bind: (at: string) => Promise<void>,
  warn: (line: string) => void,
): Promise<BoundSocket> {
  path = resolve(path);
  const folder = dirname(path);
  const isPrivate = ensureFolder(folder, warn);
  await clearStaleSocket(path);
  if (isPrivate) {
    // Nobody else can reach into the folder: the socket's own mode before the chmod does not matter.
    await bind(path);
    chmodSync(path, 0o600);
    const { ino } = lstatSync(path);
    return { release: () => removeIfSame(path, ino) };
  }
  const staging = join(folder, `.dspy-bridge-${randomBytes(4).toString("hex")}`);
  const staged = join(staging, "s");
  if (Buffer.byteLength(staged) > MAX_SOCKET_PATH) {
    throw new FailedPreconditionError(
      `cannot create ${path} privately: the path is too long to bind in a private folder beside it; use a shorter path or a private (0700) folder`,
    );
  }
  mkdirSync(staging, { mode: 0o700 });
  try {
    chmodSync(staging, 0o700);
    await bind(staged);
    chmodSync(staged, 0o600);
    try {
      // A second name, not a rename: a socket another host bound at `path` meanwhile is never replaced.
      linkSync(staged, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST")
        throw new FailedPreconditionError(`another host took ${path} while this one was starting`);
      throw err;
    }
    const { ino } = lstatSync(path);
    return { release: () => removeIfSame(path, ino) };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

function removeIfSame(path: string, ino: number): void {
  try {
    if (lstatSync(path).ino === ino) unlinkSync(path);
  } catch {
    // already gone
  }
}

// ---------------------------------------------------------------------------------------
// The host's private folders in the temp directory

const PID_FILE = "pid";
const PID_MAGIC = "dspy-bridge-host";
/** What a host's private folder may hold: anything else means the folder is not (only) ours. */
const HOST_DIR_ENTRIES = new Set([PID_FILE, "workers.sock", "bridge.sock"]);
/** mkdtemp's names: the prefix and six characters. */
const HOST_DIR_NAME = /^dspy-bridge-[A-Za-z0-9]{6}$/;

/** When the process started (Linux: clock ticks since boot), to tell a reused pid from the host; "" if unknown. */
function startTime(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? "";
  } catch {
    return "";
  }
}

/** Records this process as the owner of its private folder. */
export function writeOwnerFile(dir: string): void {
  writeFileSync(join(dir, PID_FILE), `${PID_MAGIC} ${process.pid} ${startTime(process.pid) || "0"}\n`, { mode: 0o600 });
}

function ownerAlive(text: string): boolean | undefined {
  const [magic, pidText, started] = text.trim().split(" ");
  const pid = Number(pidText);
  if (magic !== PID_MAGIC || !Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const now = startTime(pid);
  // The pid is alive; it is still the host unless it has started since (a reused pid).
  return !(now && started && started !== "0" && now !== started);
}

/**
 * Removes the private folders of hosts that are gone from `root` (the temp directory). A
 * folder goes only if it is this user's, holds nothing but a host's files, its owner (the
 * `pid` file) is not running, and none of its sockets answers; a host from before pid files
 * is judged by its sockets alone. Returns the folders removed.
 */
export async function removeDeadHostDirs(root: string): Promise<string[]> {
  let names: string[];
  try {
    names = readdirSync(root).filter((n) => HOST_DIR_NAME.test(n));
  } catch {
    return [];
  }
  const me = uid();
  const removed = await Promise.all(
    names.map(async (name) => {
      const dir = join(root, name);
      try {
        const st = lstatSync(dir);
        if (!st.isDirectory() || (me !== undefined && st.uid !== me)) return undefined;
        const entries = readdirSync(dir);
        if (entries.length === 0 || !entries.every((e) => HOST_DIR_ENTRIES.has(e))) return undefined;
        const sockets = entries.filter((e) => e !== PID_FILE).map((e) => join(dir, e));
        if (!sockets.every((s) => lstatSync(s).isSocket())) return undefined;
        if (entries.includes(PID_FILE)) {
          const alive = ownerAlive(readFileSync(join(dir, PID_FILE), "utf8"));
          if (alive !== false) return undefined;
        } else if (sockets.length === 0) return undefined;
        // The pid may be of another pid namespace sharing this temp directory: its sockets decide.
        for (const s of sockets) if (await socketAnswers(s)) return undefined;
        rmSync(dir, { recursive: true, force: true });
        return basename(dir);
      } catch {
        return undefined; // changed while looked at (its host removing it): leave it
      }
    }),
  );
  return removed.filter((d): d is string => d !== undefined);
}
