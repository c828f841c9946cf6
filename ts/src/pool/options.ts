// Bridge options in three steps: what the user passes (all optional, documented defaults),
// then `resolveOptions` fills the defaults and checks ranges once, so the pool code reads
// plain numbers and never re-validates.
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { InvalidArgumentError } from "../errors/index.js";
import { DEFAULT_MAX_MESSAGE_BYTES } from "../gen/constants.js";
import { checkoutRoot, pythonEnvStatus, type PythonEnvOptions, type PythonSource } from "./python-env.js";
import type { StoreOptions } from "../store/index.js";
import type { LogEvent } from "../telemetry/index.js";

export interface RestartOptions {
  /** First delay before restarting a crashed worker. Default 100 ms. */
  initialDelayMs?: number;
  /** Delay cap for the exponential backoff. Default 5,000 ms. */
  maxDelayMs?: number;
  /** Crash loop: more than this many crashes of one slot within `windowMs` fails the pool. Default 5. */
  maxRestarts?: number;
  /** Default 60,000 ms. */
  windowMs?: number;
}

export interface RecycleOptions {
  /** Replace a worker after it has served this many calls. Default: never. */
  maxRequests?: number;
  /** Replace a worker older than this. Default: never. */
  maxAgeMs?: number;
  /** Replace a worker whose resident memory exceeds this (checked with each health probe). */
  maxMemoryMb?: number;
}

export interface BridgeOptions {
  /** Number of Python worker processes. Default 2. */
  workers?: number;
  /**
   * Your own Python interpreter, used as it is: it must have the Python package dspy_bridge
   * of this release installed (`pip install` the wheel in this package's python/ folder).
   * Default: DSPY_BRIDGE_PYTHON, else (in a checkout) the repository's .venv, else a managed
   * environment in the user's cache directory, built on the first start (`pythonEnv`).
   */
  python?: string;
  /**
   * The managed Python environment (used when neither `python` nor DSPY_BRIDGE_PYTHON is
   * set): where it lives, its base interpreter, an offline wheelhouse, progress while it is
   * built on the first start. README, "Install".
   */
  pythonEnv?: PythonEnvOptions;
  /** Extra PYTHONPATH entries (e.g. where your command modules live). */
  pythonPath?: string[];
  /**
   * Modules the fork server imports once before forking workers. Default ["dspy", "litellm"].
   * "dspy" also warms DSPy's own LM client (what its first call imports); "litellm" imports
   * LiteLLM as DSPy uses it, with what its first call imports (about 4.5 s of start-up and
   * 130 MB in the fork server, shared by every worker; without it, each worker pays that on
   * its first LiteLLM call). ["dspy"] starts faster when no LM goes through LiteLLM.
   */
  preload?: string[];
  /** Modules that register your commands with `@command()`; imported before forking. */
  modules?: string[];
  /** Calls one worker runs at once (asyncio tasks). Default 256. */
  concurrencyPerWorker?: number;
  /** Calls that may wait for a worker before execute() fails with QueueFullError. Default 10,000. */
  maxQueue?: number;
  /** Default per-call timeout when the call gives none; 0 means none. Default 0. */
  defaultTimeoutMs?: number;
  /** After a timeout or abort, how long Python may take to honour the cancellation before the worker is killed. Default 2,000 ms. */
  cancelGraceMs?: number;
  /** Time allowed for the fork server and all workers to become ready. Default 120,000 ms. */
  startTimeoutMs?: number;
  /** Health probe interval. Default 5,000 ms; 0 disables probes. */
  healthIntervalMs?: number;
  /** A worker that has not answered a probe after this long is killed and replaced. Default 15,000 ms. */
  healthTimeoutMs?: number;
  /**
   * Largest message either side accepts, on every transport: the worker connections, the
   * bridge service (gRPC) and the workers' gRPC channels to it. Default 128 MiB.
   */
  maxMessageBytes?: number;
  /** On close(): how long in-flight calls may finish before workers are killed. Default 5,000 ms. */
  closeGraceMs?: number;
  /**
   * Flow control of stream(): items a worker may send ahead of the consumer; the generator
   * waits once that many are unconsumed, and resumes as the consumer takes them (credit is
   * granted every half window). Default 64; 0 = no limit. Per call: CallOptions.streamWindow.
   */
  streamWindow?: number;
  /**
   * Busy polling, in µs: after a lone request is written to a worker the host keeps its
   * event loop turning for up to this long instead of sleeping, and a worker does the same
   * after a lone answer, so a quick answer (or the next request) is read without waiting
   * for an idle CPU to wake (on a VM that wake is most of a trivial call's round trip).
   * Only single-frame writes poll: a connection with many calls in flight writes batches
   * and nothing spins; with few calls in flight each side may spin up to this long per
   * exchange. Each connection's window adapts: answers much slower than this turn it off
   * until quick ones come back. Default 100; 0 disables; at most 10,000.
   */
  busyPollUs?: number;
  restart?: RestartOptions;
  recycle?: RecycleOptions;
  /**
   * The bridge service (gRPC) that workers and outside Python clients call. Default: a Unix
   * socket in the host's private directory. `false` disables it.
   */
  bridgeService?: false | BridgeServiceOptions;
  /**
   * The dashboard, a read-only web page of the host (docs/dashboard.md): `listen` "HOST:PORT"
   * (loopback unless `allowRemote`); its address, with the host's token, is `bridge.dashboardUrl`.
   */
  dashboard?: { listen?: string; allowRemote?: boolean };
  /**
   * For scripts: an idle bridge does not keep Node alive (like `timer.unref()`). While a call
   * is in flight the bridge holds the process as usual; once none is, the process may exit
   * even if `close()` was never called, and the workers go with it (they exit when the host
   * is gone). Default false: a started bridge keeps Node running until `close()`. A Redis
   * store's connection is not covered and still holds the process.
   */
  unref?: boolean;
  /** The per-host secret. Default: DSPY_BRIDGE_TOKEN, else 32 random bytes. */
  token?: string;
  /**
   * The variable store: `"memory"` (default), `"sqlite:PATH"` (one machine, survives
   * restarts) or `"redis://host:port/db"` (several hosts share sessions); or an object with
   * that as `location` plus history length, watch log length, default session TTL.
   */
  store?: string | (StoreOptions & { location?: string });
  /** Extra environment for the Python processes. */
  env?: Record<string, string>;
  /** Receives every line the Python processes print. Default: prefixed lines on stderr. */
  onLog?: (event: LogEvent) => void;
}

/** Where the bridge service listens and who may reach it. */
export interface BridgeServiceOptions {
  /** `unix:PATH` or `HOST:PORT`. Default: a Unix socket in the host's private directory. */
  listen?: string;
  /** Allow a non-loopback TCP address. Default false. Such a listener needs `tls` (or `insecure: true`). */
  allowRemote?: boolean;
  /** Serve TLS: the certificate chain and private key, PEM. Clients verify it against their CA. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /**
   * Allow a non-loopback listener without TLS (the token and every value would cross the
   * network in clear text). Default false.
   */
  insecure?: boolean;
}

export interface ResolvedOptions {
  workers: number;
  /** The interpreter, once Bridge.start has chosen it (choosePython). */
  python: string;
  /** Where it came from: decides what a start error tells the user to do. */
  pythonSource: PythonSource | undefined;
  /** PYTHONPATH entries before the user's (a checkout's python/). */
  pythonExtraPath: string[];
  pythonEnv: PythonEnvOptions;
  pythonPath: string[];
  preload: string[];
  modules: string[];
  concurrencyPerWorker: number;
  maxQueue: number;
  defaultTimeoutMs: number;
  cancelGraceMs: number;
  startTimeoutMs: number;
  healthIntervalMs: number;
  healthTimeoutMs: number;
  maxMessageBytes: number;
  busyPollUs: number;
  closeGraceMs: number;
  streamWindow: number;
  restart: Required<RestartOptions>;
  dashboard: { listen?: string; allowRemote?: boolean } | undefined;
  bridgeService:
    | false
    | {
        listen: string | undefined;
        allowRemote: boolean;
        tls: { cert: string | Buffer; key: string | Buffer } | undefined;
        insecure: boolean;
      };
  unref: boolean;
  token: string | undefined;
  store: { location: string | undefined; options: StoreOptions };
  recycle: { maxRequests: number; maxAgeMs: number; maxMemoryBytes: number };
  env: Record<string, string>;
  onLog: (event: LogEvent) => void;
}

/** The repository root when running from a checkout (ts/dist/src/pool → four levels up). */
export const packageRoot = checkoutRoot ?? resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");
export const pythonPackageDir = join(packageRoot, "python");

/**
 * The interpreter a bridge would use, without building anything: DSPY_BRIDGE_PYTHON, a
 * checkout's .venv, the managed environment if it is complete, else `python3`.
 * Bridge.start decides with choosePython (python-env.ts), which builds what is missing.
 */
export function defaultPython(): string {
  if (process.env.DSPY_BRIDGE_PYTHON) return process.env.DSPY_BRIDGE_PYTHON;
  if (checkoutRoot) {
    const venv = join(checkoutRoot, ".venv/bin/python");
    return existsSync(venv) ? venv : "python3";
  }
  try {
    const current = pythonEnvStatus().current;
    if (current) return join(current.dir, "bin/python");
  } catch {
    // a bad setting: Bridge.start will say what is wrong
  }
  return "python3";
}

/** The largest stream window (a uint32 on the wire). */
const MAX_STREAM_WINDOW = 2 ** 32 - 1;

/** A stream's flow-control window: `value` (the per-call option) if given, else the pool's. */
export function streamWindowOf(value: number | undefined, poolDefault: number): number {
  return int("streamWindow", value, poolDefault, 0, MAX_STREAM_WINDOW);
}

function int(
  name: string,
  value: number | undefined,
  fallback: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(
      `option ${name} must be an integer between ${min} and ${max}, got ${String(value)}`,
      { parameter: name },
    );
  }
  return value;
}

function defaultLog(event: LogEvent): void {
  process.stderr.write(`[${event.source}] ${event.line}\n`);
}

export function resolveOptions(options: BridgeOptions = {}): ResolvedOptions {
  const restart = options.restart ?? {};
  const recycle = options.recycle ?? {};
  return {
    workers: int("workers", options.workers, 2, 1, 256),
    python: options.python ?? "",
    pythonSource: undefined,
    pythonExtraPath: [],
    pythonEnv: options.pythonEnv ?? {},
    pythonPath: options.pythonPath ?? [],
    preload: options.preload ?? ["dspy", "litellm"],
    modules: options.modules ?? [],
    concurrencyPerWorker: int("concurrencyPerWorker", options.concurrencyPerWorker, 256, 1),
    maxQueue: int("maxQueue", options.maxQueue, 10_000, 0),
    defaultTimeoutMs: int("defaultTimeoutMs", options.defaultTimeoutMs, 0, 0, 2 ** 31 - 1),
    cancelGraceMs: int("cancelGraceMs", options.cancelGraceMs, 2_000, 0),
    startTimeoutMs: int("startTimeoutMs", options.startTimeoutMs, 120_000, 1),
    healthIntervalMs: int("healthIntervalMs", options.healthIntervalMs, 5_000, 0),
    healthTimeoutMs: int("healthTimeoutMs", options.healthTimeoutMs, 15_000, 1),
    maxMessageBytes: int("maxMessageBytes", options.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES, 1024, 2 ** 32 - 1),
    closeGraceMs: int("closeGraceMs", options.closeGraceMs, 5_000, 0),
    streamWindow: streamWindowOf(options.streamWindow, 64),
    busyPollUs: int("busyPollUs", options.busyPollUs, 100, 0, 10_000),
    restart: {
      initialDelayMs: int("restart.initialDelayMs", restart.initialDelayMs, 100, 0),
      maxDelayMs: int("restart.maxDelayMs", restart.maxDelayMs, 5_000, 0),
      maxRestarts: int("restart.maxRestarts", restart.maxRestarts, 5, 0),
      windowMs: int("restart.windowMs", restart.windowMs, 60_000, 1),
    },
    recycle: {
      maxRequests: int("recycle.maxRequests", recycle.maxRequests, 0, 0),
      maxAgeMs: int("recycle.maxAgeMs", recycle.maxAgeMs, 0, 0),
      maxMemoryBytes: int("recycle.maxMemoryMb", recycle.maxMemoryMb, 0, 0) * 1024 * 1024,
    },
    dashboard: options.dashboard === undefined ? undefined : { ...options.dashboard },
    bridgeService:
      options.bridgeService === false
        ? false
        : {
            listen: options.bridgeService?.listen,
            allowRemote: options.bridgeService?.allowRemote ?? false,
            tls: options.bridgeService?.tls,
            insecure: options.bridgeService?.insecure ?? false,
          },
    unref: options.unref ?? false,
    token: options.token ?? process.env.DSPY_BRIDGE_TOKEN ?? undefined,
    store:
      typeof options.store === "string"
        ? { location: options.store, options: {} }
        : { location: options.store?.location, options: options.store ?? {} },
    env: options.env ?? {},
    onLog: options.onLog ?? defaultLog,
  };
}
