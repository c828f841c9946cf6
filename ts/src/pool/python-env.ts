// Which Python the workers run, and the managed environment.
//
// In order: the `python` option or DSPY_BRIDGE_PYTHON (the user's own interpreter, used as
// it is: it must have the Python package dspy_bridge installed); in a checkout of the
// repository, its .venv with python/ on the path (as always); otherwise, in an installed npm
// package, a managed environment: a venv in the user's cache directory holding the pinned
// dependencies (python/requirements.lock) and the package's own wheel, both shipped in the
// npm package (scripts/pack.mjs). It is built on the first Bridge.start() (or by
// `npx dspy-bridge setup`), with uv when it can be had (bootstrapped from the package index
// into the cache) and `python -m venv` + pip otherwise.
//
// Layout of the cache directory:
//   envs/<version>-<cpXY>-<hash>/            a complete environment (dspy-bridge-env.json inside)
//   envs/<version>-<cpXY>-<hash>.tmp-<pid>-… one being built (renamed into place when complete)
//   envs/<version>-<cpXY>-<hash>.lock        held while one process builds it (pid, heartbeat)
//   envs/<version>-<hash>.json               the choice for one package build and base
//                                            interpreter setting: later starts read it and
//                                            spawn nothing to find the interpreter again
//   uv/<uv version>/bin/uv                   the installer, when none was on PATH
//
// The key of an environment is the npm package version, the hashes of the wheel and the
// lock file, and the base interpreter (its path, exact version, platform). An environment is
// complete once its marker file is written (last) and the folder is renamed from its
// temporary name into place: an install killed half-way leaves a temporary folder, which the
// next build removes. Two processes starting at once: one builds, holding a lock file that
// names its pid and that it touches every few seconds; the other waits for it. A lock whose
// process is gone (same host) or that has not been touched for a minute is stale and taken over.
import { spawn, type SpawnOptions } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  linkSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
  mkdirSync,
} from "node:fs";
import { rm } from "node:fs/promises";
import { homedir, hostname, platform } from "node:os";
import { basename, delimiter, dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { WorkerStartError } from "../errors/index.js";
import { PROTOCOL_VERSION } from "../gen/constants.js";

/** The uv release bootstrapped into the cache when no `uv` is on PATH. */
export const UV_VERSION = "0.13.9";
/** Bump when the layout of an environment changes: every key changes with it. */
const ENV_LAYOUT = 1;
const MARKER = "dspy-bridge-env.json";
const LOCK_HEARTBEAT_MS = 5_000;
const LOCK_STALE_MS = 60_000;
const LOCK_POLL_MS = 250;
// 3.12 first: a worker answers every call in an asyncio Task of its own, and 3.12's eager
// task start makes that cheapest there (measured per call: 3.12 < 3.13 < 3.11 < 3.10, see
// docs/benchmarks.md); then the newest.
const BASE_CANDIDATES = ["python3.12", "python3.13", "python3.11", "python3.10", "python3"];

export interface PythonEnvOptions {
  /**
   * The folder that holds managed environments. Default: DSPY_BRIDGE_CACHE_DIR, else
   * `$XDG_CACHE_HOME/dspy-bridge` (`~/.cache/dspy-bridge`; on macOS `~/Library/Caches/dspy-bridge`).
   */
  dir?: string;
  /**
   * The interpreter a managed environment is created from. Default: DSPY_BRIDGE_PYTHON_BASE,
   * else the first of python3.12, python3.13, python3.11, python3.10, python3 on PATH that is
   * Python ≥ 3.10. The choice is remembered: `npx dspy-bridge setup` looks again.
   */
  basePython?: string;
  /**
   * A folder of wheels (a wheelhouse) to install from instead of the package index: nothing
   * is downloaded. Default: DSPY_BRIDGE_FIND_LINKS.
   */
  findLinks?: string;
  /** "uv", "pip" or "auto" (uv, else pip). Default: DSPY_BRIDGE_INSTALLER, else "auto". */
  installer?: "auto" | "uv" | "pip";
  /**
   * Progress while an environment is built (seconds to minutes, once). Default: a status
   * line on stderr when it is a terminal, nothing otherwise.
   */
  onProgress?: (event: PythonEnvProgress) => void;
}

export type PythonEnvPhase = "python" | "wait" | "uv" | "venv" | "install" | "verify" | "ready" | "output";

export interface PythonEnvProgress {
  phase: PythonEnvPhase;
  /** One line for a person. For "output": one line the installer printed. */
  message: string;
  /** The environment's folder. */
  dir: string;
  /** Since the build (or the wait) began. */
  elapsedMs: number;
}

/** What an environment's marker records (dspy-bridge-env.json). */
export interface PythonEnvMarker {
  layout: number;
  key: string;
  name: string;
  packageVersion: string;
  wheel: string;
  wheelSha256: string;
  lockSha256: string;
  base: BaseInterpreter;
  installer: string;
  dspyBridge: string;
  dspy: string;
  protocolVersion: number;
  createdAt: string;
  buildMs: number;
}

export interface PythonEnvInfo {
  /** The environment's interpreter: what the workers run. */
  python: string;
  dir: string;
  key: string;
  /** True when this call built it. */
  built: boolean;
  marker: PythonEnvMarker;
}

interface BaseInterpreter {
  executable: string;
  version: string;
  major: number;
  minor: number;
  implementation: string;
  platform: string;
}

interface Manifest {
  package: string;
  version: string;
  wheel: string;
  wheelSha256: string;
  lock: string;
  lockSha256: string;
}

interface Pointer {
  name: string;
  key: string;
}

// ---------------------------------------------------------------------------------------
// Where things are

/** The npm package's folder: ts/ in a checkout, node_modules/dspy-bridge in an app. */
export const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
/** What the npm package ships for Python (scripts/pack.mjs): the wheel, the lock, manifest.json. */
export const shippedPythonDir = join(packageDir, "python");

/** The repository root when running from a checkout (not in an installed package). */
export const checkoutRoot: string | undefined = (() => {
  const root = resolve(packageDir, "..");
  return existsSync(join(packageDir, "tsconfig.json")) && existsSync(join(root, "python/dspy_bridge/__init__.py"))
    ? root
    : undefined;
})();

/** Where managed environments live unless `dir` says otherwise. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DSPY_BRIDGE_CACHE_DIR) return resolve(env.DSPY_BRIDGE_CACHE_DIR);
  if (platform() === "darwin") return join(homedir(), "Library", "Caches", "dspy-bridge");
  if (platform() === "win32")
    return join(env.LOCALAPPDATA || join(homedir(), "AppData", "Local"), "dspy-bridge", "Cache");
  const xdg = env.XDG_CACHE_HOME;
  return join(xdg && isAbsolute(xdg) ? xdg : join(homedir(), ".cache"), "dspy-bridge");
}

let manifestCache: Manifest | undefined;

/** The shipped manifest, or undefined when this package carries no Python (a checkout). */
export function shippedManifest(): Manifest | undefined {
  if (manifestCache) return manifestCache;
  const path = join(shippedPythonDir, "manifest.json");
  if (!existsSync(path)) return undefined;
  manifestCache = JSON.parse(readFileSync(path, "utf8")) as Manifest;
  return manifestCache;
}

/** The shipped wheel's path (for `pip install`), if this package carries one. */
export function shippedWheel(): string | undefined {
  const m = shippedManifest();
  return m ? join(shippedPythonDir, m.wheel) : undefined;
}

// ---------------------------------------------------------------------------------------
// Choosing the interpreter

export type PythonSource = "option" | "DSPY_BRIDGE_PYTHON" | "checkout" | "managed";

export interface PythonChoice {
  python: string;
  source: PythonSource;
  /** Prepended to the workers' PYTHONPATH (a checkout's python/). */
  extraPath: string[];
  env?: PythonEnvInfo;
}

/**
 * The interpreter for a bridge: the user's (`python` option, DSPY_BRIDGE_PYTHON), a
 * checkout's .venv, or the managed environment (built now if it is missing).
 */
export async function choosePython(
  python: string | undefined,
  envOptions: PythonEnvOptions = {},
): Promise<PythonChoice> {
  const extraPath = checkoutRoot ? [join(checkoutRoot, "python")] : [];
  if (python) return { python, source: "option", extraPath };
  if (process.env.DSPY_BRIDGE_PYTHON)
    return { python: process.env.DSPY_BRIDGE_PYTHON, source: "DSPY_BRIDGE_PYTHON", extraPath };
  if (checkoutRoot) {
    const venv = join(checkoutRoot, ".venv/bin/python");
    return { python: existsSync(venv) ? venv : "python3", source: "checkout", extraPath };
  }
  const env = await ensurePythonEnv(envOptions);
  return { python: env.python, source: "managed", extraPath: [], env };
}

/**
 * What to tell a user whose interpreter `python` lacks dspy_bridge (or has another release
 * of it): the command that fixes it.
 */
export function pythonFixHint(python: string, source: PythonSource | undefined): string {
  if (source === "managed") {
    return `the managed environment looks damaged: run \`npx dspy-bridge setup --force\` to rebuild it`;
  }
  if (source === "checkout") return "run `npm run setup` in the repository";
  const wheel = shippedWheel();
  const origin = source === "DSPY_BRIDGE_PYTHON" ? "DSPY_BRIDGE_PYTHON" : "the python option";
  const install = wheel
    ? `\`${python} -m pip install ${wheel}\``
    : `\`${python} -m pip install\` the dspy_bridge wheel of this release`;
  return `${python} (from ${origin}) is used as it is and must have the matching Python package dspy_bridge: install it with ${install}, or unset ${origin} to let dspy-bridge manage a Python environment itself`;
}

// ---------------------------------------------------------------------------------------
// The managed environment

function sha256(...parts: string[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p).update("\0");
  return h.digest("hex");
}

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as T;
  } catch {
    return undefined;
  }
}

function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  writeFileSync(tmp, JSON.stringify(value, null, 2) + "\n");
  renameSync(tmp, path);
}

interface Resolved {
  cacheDir: string;
  envsDir: string;
  baseSpec: string | undefined;
  findLinks: string | undefined;
  installer: "auto" | "uv" | "pip";
  manifest: Manifest;
  pointerPath: string;
}

function resolveEnvOptions(options: PythonEnvOptions): Resolved {
  const manifest = shippedManifest();
  if (!manifest) {
    throw new WorkerStartError(
      `this copy of dspy-bridge carries no Python package (${join(shippedPythonDir, "manifest.json")} is missing): ` +
        "it is a checkout (run `npm run setup`) or a broken install (reinstall dspy-bridge)",
    );
  }
  const cacheDir = options.dir ? resolve(options.dir) : defaultCacheDir();
  const envsDir = join(cacheDir, "envs");
  const baseSpec = options.basePython || process.env.DSPY_BRIDGE_PYTHON_BASE || undefined;
  const installer = options.installer ?? ((process.env.DSPY_BRIDGE_INSTALLER as "uv" | "pip" | undefined) || "auto");
  if (!["auto", "uv", "pip"].includes(installer))
    throw new WorkerStartError(`DSPY_BRIDGE_INSTALLER must be uv, pip or auto, got ${installer}`);
  const findLinks = options.findLinks || process.env.DSPY_BRIDGE_FIND_LINKS || undefined;
  const pointerHash = sha256(String(ENV_LAYOUT), manifest.wheelSha256, manifest.lockSha256, baseSpec ?? "").slice(
    0,
    12,
  );
  return {
    cacheDir,
    envsDir,
    baseSpec,
    findLinks: findLinks ? resolve(findLinks) : undefined,
    installer,
    manifest,
    pointerPath: join(envsDir, `${manifest.version}-${pointerHash}.json`),
  };
}

function envPython(dir: string): string {
  return platform() === "win32" ? join(dir, "Scripts", "python.exe") : join(dir, "bin", "python");
}

/** The environment `dir` if it is complete and has `key` (any key when undefined). */
function completeEnv(dir: string, key: string | undefined): PythonEnvMarker | undefined {
  const marker = readJson<PythonEnvMarker>(join(dir, MARKER));
  if (!marker || (key !== undefined && marker.key !== key) || marker.layout !== ENV_LAYOUT) return undefined;
  // The venv's interpreter links to its base: gone if the base interpreter was removed.
  return existsSync(envPython(dir)) ? marker : undefined;
}

export interface PythonEnvStatus {
  cacheDir: string;
  /** The environment the next start would use, if one was chosen and is complete. */
  current: { dir: string; key: string; marker: PythonEnvMarker } | undefined;
  /** Every environment folder in the cache, complete or not. */
  envs: { dir: string; complete: boolean; building: boolean }[];
  /** This package's manifest (undefined in a checkout). */
  manifest: Manifest | undefined;
}

/** What is in the cache (for `dspy-bridge doctor`): nothing is built or spawned. */
export function pythonEnvStatus(options: PythonEnvOptions = {}): PythonEnvStatus {
  const manifest = shippedManifest();
  const cacheDir = options.dir ? resolve(options.dir) : defaultCacheDir();
  const envsDir = join(cacheDir, "envs");
  let current: PythonEnvStatus["current"];
  if (manifest) {
    const r = resolveEnvOptions(options);
    const pointer = readJson<Pointer>(r.pointerPath);
    const marker = pointer ? completeEnv(join(envsDir, pointer.name), pointer.key) : undefined;
    if (pointer && marker) current = { dir: join(envsDir, pointer.name), key: pointer.key, marker };
  }
  const envs: PythonEnvStatus["envs"] = [];
  if (existsSync(envsDir)) {
    const names = readdirSync(envsDir);
    for (const name of names) {
      const full = join(envsDir, name);
      if (
        name.endsWith(".json") ||
        name.endsWith(".lock") ||
        name.includes(".tmp-") ||
        name.includes(".old-") ||
        !statSync(full).isDirectory()
      )
        continue;
      envs.push({
        dir: full,
        complete: completeEnv(full, undefined) !== undefined,
        building: names.includes(`${name}.lock`),
      });
    }
  }
  return { cacheDir, current, envs, manifest };
}

/**
 * Deletes every environment in the cache but the one this package uses now (and any being
 * built by a live process): older releases' environments are not removed on their own.
 * Returns the folders removed.
 */
export async function prunePythonEnvs(options: PythonEnvOptions = {}): Promise<string[]> {
  const status = pythonEnvStatus(options);
  const envsDir = join(status.cacheDir, "envs");
  const keep = status.current ? basename(status.current.dir) : undefined;
  const removed: string[] = [];
  if (!existsSync(envsDir)) return removed;
  const names = readdirSync(envsDir);
  for (const name of names) {
    if (name === keep || name.endsWith(".lock") || (keep && name.startsWith(`${keep}.`))) continue;
    const base = name.replace(/\.(tmp|old)-.*$/, "");
    if (names.includes(`${base}.lock`)) continue; // being built
    if (name.endsWith(".json")) {
      const pointer = readJson<Pointer>(join(envsDir, name));
      if (pointer && pointer.name === keep) continue;
    }
    await rm(join(envsDir, name), { recursive: true, force: true });
    removed.push(join(envsDir, name));
  }
  return removed;
}

/**
 * The managed environment for this package, built first if it is missing or incomplete.
 * `force` builds it again (and looks for the base interpreter again).
 */
export async function ensurePythonEnv(options: PythonEnvOptions & { force?: boolean } = {}): Promise<PythonEnvInfo> {
  const r = resolveEnvOptions(options);
  // The quick way, on every start but the first: the remembered choice, checked on disk.
  if (!options.force) {
    const pointer = readJson<Pointer>(r.pointerPath);
    if (pointer) {
      const dir = join(r.envsDir, pointer.name);
      const marker = completeEnv(dir, pointer.key);
      if (marker) return { python: envPython(dir), dir, key: pointer.key, built: false, marker };
    }
  }
  const progress = new Progress(options.onProgress);
  try {
    return await buildOrWait(r, progress, options.force ?? false);
  } finally {
    progress.close();
  }
}

async function buildOrWait(r: Resolved, progress: Progress, force: boolean): Promise<PythonEnvInfo> {
  mkdirSync(r.envsDir, { recursive: true });
  const base = await findBase(r.baseSpec);
  const key = sha256(
    String(ENV_LAYOUT),
    r.manifest.version,
    r.manifest.wheelSha256,
    r.manifest.lockSha256,
    base.executable,
    base.version,
    base.implementation,
    base.platform,
  );
  const tag = `${base.implementation === "cpython" ? "cp" : base.implementation}${base.major}${base.minor}`;
  const name = `${r.manifest.version}-${tag}-${key.slice(0, 12)}`;
  const dir = join(r.envsDir, name);
  progress.dir = dir;
  const done = (marker: PythonEnvMarker, built: boolean): PythonEnvInfo => {
    writeJsonAtomic(r.pointerPath, { name, key } satisfies Pointer);
    return { python: envPython(dir), dir, key, built, marker };
  };
  if (!force) {
    const marker = completeEnv(dir, key);
    if (marker) return done(marker, false);
  }
  const lock = await EnvLock.acquire(`${dir}.lock`, (holder) =>
    progress.phase(
      "wait",
      `waiting for process ${holder.pid}${holder.host !== hostname() ? ` on ${holder.host}` : ""}, which is building ${dir}`,
    ),
  );
  try {
    // Another process may have finished it while this one waited.
    const marker = completeEnv(dir, key);
    if (marker && !(force && lock.waited === false)) return done(marker, false);
    progress.phase("python", `Python ${base.version} (${base.executable})`);
    const built = await build(r, base, { name, key, dir }, progress);
    return done(built, true);
  } finally {
    lock.release();
  }
}

/** Runs `python -c` to learn a candidate's version; undefined if it cannot run. */
async function probe(candidate: string): Promise<BaseInterpreter | undefined> {
  const script =
    "import json, platform, sys, sysconfig; v = sys.version_info; " +
    "print(json.dumps({'executable': sys.executable, 'version': platform.python_version(), 'major': v[0], 'minor': v[1], " +
    "'implementation': sys.implementation.name, 'platform': sysconfig.get_platform()}))";
  const r = await run(candidate, ["-I", "-c", script], { timeoutMs: 30_000 });
  if (r.code !== 0) return undefined;
  try {
    const info = JSON.parse(r.stdout.trim().split("\n").pop()!) as BaseInterpreter;
    return info.executable ? info : undefined;
  } catch {
    return undefined;
  }
}

async function findBase(spec: string | undefined): Promise<BaseInterpreter> {
  const ok = (b: BaseInterpreter | undefined): boolean => !!b && b.major === 3 && b.minor >= 10;
  if (spec) {
    const b = await probe(spec);
    if (b && ok(b)) return b;
    throw new WorkerStartError(
      b
        ? `the base interpreter ${spec} (DSPY_BRIDGE_PYTHON_BASE or pythonEnv.basePython) is Python ${b.version}; dspy-bridge needs Python ≥ 3.10`
        : `the base interpreter ${spec} (DSPY_BRIDGE_PYTHON_BASE or pythonEnv.basePython) does not run`,
    );
  }
  const found = await Promise.all(BASE_CANDIDATES.map((c) => (onPath(c) ? probe(c) : Promise.resolve(undefined))));
  const b = found.find(ok);
  if (b) return b;
  throw new WorkerStartError(
    "no Python ≥ 3.10 found on PATH (looked for python3.12, python3.13, python3.11, python3.10, python3): " +
      "install one, or set DSPY_BRIDGE_PYTHON_BASE to one to build the environment from",
  );
}

function onPath(command: string): string | undefined {
  if (command.includes("/")) return existsSync(command) ? command : undefined;
  for (const d of (process.env.PATH ?? "").split(delimiter)) {
    if (!d) continue;
    const p = join(d, command);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Building

/** Environment for installer and Python processes: the user's, minus what would misdirect them. */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const k of [
    "PYTHONPATH",
    "PYTHONHOME",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "PYTHONDONTWRITEBYTECODE",
    "PIP_USER",
    "PIP_TARGET",
    "PIP_PREFIX",
  ])
    delete env[k];
  env.UV_PYTHON_DOWNLOADS = "never"; // never a Python of uv's own: the base chosen here
  env.UV_NO_CONFIG = "1"; // no uv.toml of the app's project
  env.PIP_DISABLE_PIP_VERSION_CHECK = "1";
  env.LITELLM_LOCAL_MODEL_COST_MAP ??= "True";
  return env;
}

interface Target {
  name: string;
  key: string;
  dir: string;
}

async function build(r: Resolved, base: BaseInterpreter, target: Target, progress: Progress): Promise<PythonEnvMarker> {
  const t0 = performance.now();
  // Left by builds that were killed: this process holds the lock, so nobody is using them.
  await removeLeftovers(r.envsDir, target.name);
  const tmp = `${target.dir}.tmp-${process.pid}-${randomBytes(3).toString("hex")}`;
  const lock = join(shippedPythonDir, r.manifest.lock);
  const wheel = join(shippedPythonDir, r.manifest.wheel);
  const index = r.findLinks ? ["--no-index", "--find-links", r.findLinks] : [];
  const failures: string[] = [];
  let installer = "";
  if (r.installer !== "pip") {
    try {
      const uv = await findUv(r, base, progress);
      progress.phase("venv", `creating the environment with uv ${uv.version}`);
      await runChecked(uv.path, ["venv", "--quiet", "--python", base.executable, tmp], progress, { cwd: r.cacheDir });
      progress.phase(
        "install",
        `installing the pinned dependencies and dspy_bridge ${r.manifest.version} (uv${r.findLinks ? `, from ${r.findLinks}` : ""})`,
      );
      await runChecked(uv.path, ["pip", "install", "--python", envPython(tmp), ...index, "-r", lock, wheel], progress, {
        cwd: r.cacheDir,
      });
      installer = `uv ${uv.version}`;
    } catch (err) {
      if (r.installer === "uv") throw err;
      failures.push(`with uv: ${(err as Error).message}`);
      await rm(tmp, { recursive: true, force: true });
    }
  }
  if (!installer) {
    try {
      progress.phase("venv", "creating the environment (python -m venv)");
      await runChecked(base.executable, ["-m", "venv", tmp], progress, { cwd: r.cacheDir });
      progress.phase(
        "install",
        `installing the pinned dependencies and dspy_bridge ${r.manifest.version} (pip${r.findLinks ? `, from ${r.findLinks}` : ""})`,
      );
      await runChecked(
        envPython(tmp),
        ["-m", "pip", "install", "--no-compile", ...index, "-r", lock, wheel],
        progress,
        { cwd: r.cacheDir },
      );
      installer = "pip";
    } catch (err) {
      failures.push(`with pip: ${(err as Error).message}`);
      await rm(tmp, { recursive: true, force: true });
      throw new WorkerStartError(
        `could not build the Python environment in ${target.dir} (base ${base.executable}, Python ${base.version}):\n${failures.join("\n")}` +
          (r.findLinks ? "" : "\nOffline? Point DSPY_BRIDGE_FIND_LINKS at a folder of wheels (docs: README, Install)."),
      );
    }
  }
  progress.phase("verify", "importing DSPy once (Python compiles it for later starts)");
  const check = await runChecked(envPython(tmp), ["-m", "dspy_bridge._check", "--warm"], progress, {
    cwd: r.cacheDir,
    quiet: true,
  });
  const info = JSON.parse(check.stdout.trim().split("\n").pop()!) as {
    dspy_bridge: string;
    protocol_version: number;
    dspy?: string;
    dspy_error?: string;
  };
  if (info.protocol_version !== PROTOCOL_VERSION || info.dspy_error) {
    await rm(tmp, { recursive: true, force: true });
    throw new WorkerStartError(
      info.dspy_error
        ? `the new environment cannot import DSPy: ${info.dspy_error}`
        : `the shipped dspy_bridge speaks worker protocol ${info.protocol_version}, this host ${PROTOCOL_VERSION}: the package is inconsistent, reinstall dspy-bridge`,
    );
  }
  const marker: PythonEnvMarker = {
    layout: ENV_LAYOUT,
    key: target.key,
    name: target.name,
    packageVersion: r.manifest.version,
    wheel: r.manifest.wheel,
    wheelSha256: r.manifest.wheelSha256,
    lockSha256: r.manifest.lockSha256,
    base,
    installer,
    dspyBridge: info.dspy_bridge,
    dspy: info.dspy ?? "",
    protocolVersion: info.protocol_version,
    createdAt: new Date().toISOString(),
    buildMs: Math.round(performance.now() - t0),
  };
  // The marker last, then the folder into place: whatever is found under the final name
  // with a marker is complete.
  writeJsonAtomic(join(tmp, MARKER), marker);
  if (existsSync(target.dir)) {
    const old = `${target.dir}.old-${process.pid}-${randomBytes(3).toString("hex")}`;
    renameSync(target.dir, old);
    void rm(old, { recursive: true, force: true }).catch(() => {});
  }
  renameSync(tmp, target.dir);
  progress.phase("ready", `ready in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${target.dir}`);
  return marker;
}

async function removeLeftovers(envsDir: string, name: string): Promise<void> {
  for (const entry of readdirSync(envsDir)) {
    if (entry.startsWith(`${name}.tmp-`) || entry.startsWith(`${name}.old-`)) {
      await rm(join(envsDir, entry), { recursive: true, force: true, maxRetries: 3 }).catch(() => {});
    }
  }
}

interface Uv {
  path: string;
  version: string;
}

async function uvVersion(path: string): Promise<string | undefined> {
  const r = await run(path, ["--version"], { timeoutMs: 30_000 });
  return r.code === 0 ? (r.stdout.trim().split(/\s+/)[1] ?? "?") : undefined;
}

/** uv: DSPY_BRIDGE_UV, else the copy in the cache, else `uv` on PATH, else installed into the cache with pip. */
async function findUv(r: Resolved, base: BaseInterpreter, progress: Progress): Promise<Uv> {
  const explicit = process.env.DSPY_BRIDGE_UV;
  if (explicit) {
    const v = await uvVersion(explicit);
    if (!v) throw new Error(`DSPY_BRIDGE_UV (${explicit}) does not run`);
    return { path: explicit, version: v };
  }
  const toolDir = join(r.cacheDir, "uv", UV_VERSION);
  const cached = join(toolDir, "bin", "uv");
  if (existsSync(cached)) {
    const v = await uvVersion(cached);
    if (v) return { path: cached, version: v };
  }
  const onPathUv = onPath("uv");
  if (onPathUv) {
    const v = await uvVersion(onPathUv);
    if (v) return { path: onPathUv, version: v };
  }
  progress.phase("uv", `installing uv ${UV_VERSION} (the installer) into ${dirname(toolDir)}`);
  const tmp = `${toolDir}.tmp-${process.pid}-${randomBytes(3).toString("hex")}`;
  mkdirSync(dirname(toolDir), { recursive: true });
  const index = r.findLinks ? ["--no-index", "--find-links", r.findLinks] : [];
  try {
    await runChecked(
      base.executable,
      ["-m", "pip", "install", "--quiet", "--no-compile", "--target", tmp, ...index, `uv==${UV_VERSION}`],
      progress,
      {
        cwd: r.cacheDir,
      },
    );
    try {
      renameSync(tmp, toolDir);
    } catch {
      // Another process put one there first.
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  const v = await uvVersion(cached);
  if (!v) throw new Error(`the uv installed into ${toolDir} does not run`);
  return { path: cached, version: v };
}

// ---------------------------------------------------------------------------------------
// Processes

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  error?: Error;
}

function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; timeoutMs?: number; onLine?: (line: string) => void; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    const spawnOpts: SpawnOptions = { cwd: opts.cwd, env: opts.env ?? childEnv(), stdio: ["ignore", "pipe", "pipe"] };
    const child = spawn(cmd, args, spawnOpts);
    let stdout = "";
    let stderr = "";
    let partial = "";
    const onData = (chunk: Buffer, isErr: boolean) => {
      const s = chunk.toString();
      if (isErr) stderr = (stderr + s).slice(-64 * 1024);
      else stdout = (stdout + s).slice(-256 * 1024);
      if (opts.onLine) {
        partial += s;
        const lines = partial.split(/\r?\n|\r/);
        partial = lines.pop() ?? "";
        for (const l of lines) if (l.trim()) opts.onLine(l);
      }
    };
    child.stdout!.on("data", (c: Buffer) => onData(c, false));
    child.stderr!.on("data", (c: Buffer) => onData(c, true));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs) : undefined;
    child.on("error", (error) => {
      if (timer) clearTimeout(timer);
      resolvePromise({ code: null, stdout, stderr, error });
    });
    child.on("close", (code) => {
      if (timer) clearTimeout(timer);
      if (partial.trim() && opts.onLine) opts.onLine(partial);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

async function runChecked(
  cmd: string,
  args: string[],
  progress: Progress,
  opts: { cwd?: string; quiet?: boolean } = {},
): Promise<RunResult> {
  const r = await run(cmd, args, { cwd: opts.cwd, onLine: opts.quiet ? undefined : (line) => progress.output(line) });
  if (r.code !== 0) {
    const tail = (r.stderr || r.stdout).trim().split("\n").slice(-15).join("\n");
    throw new Error(
      `${cmd} ${args.join(" ")} ${r.error ? `could not start: ${r.error.message}` : `failed (exit code ${r.code})`}${tail ? `:\n${tail}` : ""}`,
    );
  }
  return r;
}

// ---------------------------------------------------------------------------------------
// The lock

interface LockHolder {
  pid: number;
  host: string;
  token: string;
  startedAt: number;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

class EnvLock {
  private heartbeat: NodeJS.Timeout | undefined;
  private constructor(
    readonly path: string,
    readonly holder: LockHolder,
    /** Whether another process held it first. */
    readonly waited: boolean,
  ) {
    this.heartbeat = setInterval(() => {
      try {
        const now = new Date();
        utimesSync(path, now, now);
      } catch {
        // taken over (we were considered dead) or removed: nothing to keep alive
      }
    }, LOCK_HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  static async acquire(path: string, onWait: (holder: LockHolder) => void): Promise<EnvLock> {
    const me: LockHolder = {
      pid: process.pid,
      host: hostname(),
      token: randomBytes(8).toString("hex"),
      startedAt: Date.now(),
    };
    let waited = false;
    let lastReported = "";
    for (;;) {
      try {
        const fd = openSync(path, "wx", 0o644);
        try {
          writeSync(fd, JSON.stringify(me));
        } finally {
          closeSync(fd);
        }
        return new EnvLock(path, me, waited);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      const seen = EnvLock.inspect(path);
      if (seen === "gone") continue;
      if (seen.stale) {
        EnvLock.breakStale(path, seen.raw);
        continue;
      }
      waited = true;
      if (seen.holder && seen.holder.token !== lastReported) {
        lastReported = seen.holder.token;
        onWait(seen.holder);
      }
      await new Promise((r) => setTimeout(r, LOCK_POLL_MS));
    }
  }

  private static inspect(path: string): "gone" | { holder: LockHolder | undefined; raw: string; stale: boolean } {
    let raw: string;
    let mtimeMs: number;
    try {
      mtimeMs = statSync(path).mtimeMs;
      raw = readFileSync(path, "utf8");
    } catch {
      return "gone";
    }
    const age = Date.now() - mtimeMs;
    let holder: LockHolder | undefined;
    try {
      holder = JSON.parse(raw) as LockHolder;
    } catch {
      // Being written (created, not yet filled): stale only if it stays like that.
      return { holder: undefined, raw, stale: age > 5_000 };
    }
    const dead = holder.host === hostname() && !pidAlive(holder.pid);
    return { holder, raw, stale: dead || age > LOCK_STALE_MS };
  }

  /**
   * Removes a stale lock, unless it changed since it was read: it is renamed aside (one
   * process wins the rename), and put back if what was renamed is a fresh lock.
   */
  private static breakStale(path: string, raw: string): void {
    const aside = `${path}.stale-${process.pid}-${randomBytes(3).toString("hex")}`;
    try {
      renameSync(path, aside);
    } catch {
      return; // someone else got there first
    }
    let moved = "";
    try {
      moved = readFileSync(aside, "utf8");
    } catch {
      // unreadable: treat as the stale one
      moved = raw;
    }
    if (moved !== raw) {
      try {
        linkSync(aside, path); // a fresh lock: back where it was (unless yet another exists)
      } catch {
        // a newer lock is in place
      }
    }
    try {
      unlinkSync(aside);
    } catch {
      // already gone
    }
  }

  release(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    try {
      const raw = readFileSync(this.path, "utf8");
      if ((JSON.parse(raw) as LockHolder).token === this.holder.token) unlinkSync(this.path);
    } catch {
      // gone already
    }
  }
}

// ---------------------------------------------------------------------------------------
// Progress: the hook, or a status line on a terminal

class Progress {
  dir = "";
  private readonly t0 = performance.now();
  private readonly tty: boolean;
  private current: { message: string; t0: number } | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private headerShown = false;
  private lastOutput = "";

  constructor(private readonly hook: ((e: PythonEnvProgress) => void) | undefined) {
    this.tty = !hook && process.stderr.isTTY === true;
  }

  phase(phase: PythonEnvPhase, message: string): void {
    if (this.hook) {
      this.hook({ phase, message, dir: this.dir, elapsedMs: Math.round(performance.now() - this.t0) });
      return;
    }
    if (!this.tty) return;
    this.finishLine();
    if (!this.headerShown) {
      this.headerShown = true;
      process.stderr.write(
        `dspy-bridge: preparing the Python environment (once per version; set DSPY_BRIDGE_CACHE_DIR to move it)\n`,
      );
    }
    if (phase === "ready" || phase === "python") {
      process.stderr.write(`  ${message}\n`); // a fact, not a step with a duration
      return;
    }
    this.current = { message, t0: performance.now() };
    this.draw();
    this.ticker ??= setInterval(() => this.draw(), 500);
    this.ticker.unref();
  }

  output(line: string): void {
    if (this.hook) {
      this.hook({ phase: "output", message: line, dir: this.dir, elapsedMs: Math.round(performance.now() - this.t0) });
      return;
    }
    if (!this.tty) return;
    this.lastOutput = line.trim().slice(0, 60);
    this.draw();
  }

  private draw(): void {
    if (!this.current) return;
    const s = ((performance.now() - this.current.t0) / 1000).toFixed(0);
    const cols = process.stderr.columns || 100;
    const text = `  ${this.current.message} … ${s} s${this.lastOutput ? `  (${this.lastOutput})` : ""}`;
    process.stderr.write(`\r\x1b[K${text.slice(0, cols - 1)}`);
  }

  private finishLine(): void {
    if (!this.current) return;
    const s = ((performance.now() - this.current.t0) / 1000).toFixed(1);
    process.stderr.write(`\r\x1b[K  ${this.current.message}: ${s} s\n`);
    this.current = undefined;
    this.lastOutput = "";
  }

  close(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
    if (this.tty) this.finishLine();
  }
}
