// `dspy-bridge serve`: a host that outside Python clients reach with SessionContext.connect.
// Prints one JSON line {"event":"ready","address":...} on stdout when ready; stops on
// SIGINT/SIGTERM after draining.
import { randomBytes } from "node:crypto";
import { closeSync, constants, fchmodSync, fstatSync, ftruncateSync, openSync, readFileSync, writeSync } from "node:fs";
import { Bridge } from "../bridge.js";
import { InvalidArgumentError } from "../errors/index.js";
import { EXIT_OK, EXIT_USAGE, UsageError } from "./args.js";

export interface ServeFlags {
  listen: string | undefined;
  workers: number;
  tokenFile: string | undefined;
  preload: string[] | undefined;
  modules: string[];
  pythonPath: string[];
  /** memory (default), sqlite:PATH or redis://HOST:PORT/DB */
  store?: string | undefined;
  allowRemote?: boolean;
  /** TLS certificate chain and key files (PEM). */
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  insecure?: boolean;
  /** HOST:PORT of the dashboard (docs/dashboard.md). */
  dashboard?: string | undefined;
}

function readPem(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`${flag}: cannot read ${path}: ${(err as Error).message}`);
  }
}

/**
 * Writes the secret to `path`, readable by its owner only (0600), also when the file already
 * exists with wider permissions: it is opened without following a symbolic link, must be a
 * regular file of this user with one name, and is made 0600 before anything is written.
 */
export function writeSecretFile(path: string, text: string): void {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO planted at the path must not hang the host; it is refused below.
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ELOOP")
      throw new Error(`--token-file ${path} is a symbolic link; refusing to write the secret through it`);
    throw new Error(`cannot write --token-file ${path}: ${(err as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error(`--token-file ${path} is not a regular file; refusing to write the secret there`);
    const uid = process.getuid?.();
    if (uid !== undefined && st.uid !== uid) {
      throw new Error(
        `--token-file ${path} belongs to uid ${st.uid}, not to this user (uid ${uid}); refusing to write the secret there`,
      );
    }
    if (st.nlink > 1)
      throw new Error(`--token-file ${path} has other names (hard links); refusing to write the secret there`);
    fchmodSync(fd, 0o600);
    if ((fstatSync(fd).mode & 0o077) !== 0)
      throw new Error(`--token-file ${path} could not be made readable by its owner only (0600)`);
    ftruncateSync(fd, 0);
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

export async function runServe(flags: ServeFlags): Promise<number> {
  let token = process.env.DSPY_BRIDGE_TOKEN;
  if (!token) {
    token = randomBytes(32).toString("base64url");
    if (!flags.tokenFile) {
      console.error(
        "dspy-bridge serve: no DSPY_BRIDGE_TOKEN set; pass --token-file PATH to receive the generated secret",
      );
      return EXIT_USAGE;
    }
  }
  const tls =
    flags.tlsCert && flags.tlsKey
      ? { cert: readPem(flags.tlsCert, "--tls-cert"), key: readPem(flags.tlsKey, "--tls-key") }
      : undefined;
  if (flags.tokenFile) writeSecretFile(flags.tokenFile, `${token}\n`);
  let bridge: Bridge;
  try {
    bridge = await Bridge.start({
      workers: flags.workers,
      token,
      ...(flags.preload ? { preload: flags.preload } : {}),
      modules: flags.modules,
      pythonPath: flags.pythonPath,
      ...(flags.store ? { store: flags.store } : {}),
      ...(flags.listen || tls
        ? {
            bridgeService: {
              ...(flags.listen ? { listen: flags.listen } : {}),
              allowRemote: flags.allowRemote ?? false,
              insecure: flags.insecure ?? false,
              ...(tls ? { tls } : {}),
            },
          }
        : {}),
      ...(flags.dashboard ? { dashboard: { listen: flags.dashboard } } : {}),
      onLog: (e) => process.stderr.write(`[${e.source}] ${e.line}\n`),
    });
  } catch (err) {
    // A refused --listen / --tls-* combination is a usage error (exit 2), like an unknown option.
    if (err instanceof InvalidArgumentError) throw new UsageError(err.message);
    throw err;
  }
  // The handlers go in before the ready line: a supervisor may send SIGTERM the moment it reads it.
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  console.log(
    JSON.stringify({
      event: "ready",
      address: bridge.address,
      pid: process.pid,
      workers: flags.workers,
      store: bridge.store.backendKind,
      tls: tls !== undefined,
      ...(flags.tokenFile ? { token_file: flags.tokenFile } : {}),
      // Without the token (the ready line may end up in logs): open it with ?token=SECRET.
      ...(bridge.dashboardUrl ? { dashboard: bridge.dashboardUrl.replace(/\?token=.*$/, "") } : {}),
    }),
  );
  await stopped;
  await bridge.close();
  console.log(JSON.stringify({ event: "stopped" }));
  return EXIT_OK;
}
