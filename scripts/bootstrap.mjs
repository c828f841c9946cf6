#!/usr/bin/env node
// Idempotent set-up for a fresh clone: npm dependencies, the pinned Python .venv, the
// TypeScript build. Each step is skipped when a stamp says its inputs have not changed,
// so running it before every command costs well under a second.
// `--all-pythons` (and `npm test`; scripts/run-tests.mjs checks again) also makes one venv per
// other supported Python version the machine has, under .venvs/ (see versionVenvs).
// Only Node built-ins may be used here: nothing is installed yet when it first runs.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync, readdirSync, statSync } from "node:fs";
import { join, dirname } from "node:path";
import { homedir } from "node:os";
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { vendorDashboard } from "./vendor-dashboard.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
/** The Python versions dspy-bridge supports; `npm test` runs the Python suite on each one found. */
export const SUPPORTED_PYTHONS = ["3.10", "3.11", "3.12", "3.13"];
/** The uv that makes the per-version venvs and the lock files (same as ts/src/pool/python-env.ts). */
export const UV_VERSION = "0.13.9";
/** The pinned Python dependencies: run time, then tests and codegen (scripts/lock.mjs). */
export const LOCKS = ["python/requirements.lock", "python/requirements-dev.lock"];
const quiet = process.argv.includes("--quiet");
// `npm test` (its bootstrap runs under npm's lifecycle event "test"; a flag in its script
// would change package.json, whose hash makes every checkout run npm ci again) makes them too.
const allPythons = process.argv.includes("--all-pythons") || process.env.npm_lifecycle_event === "test";
const log = (msg) => {
  if (!quiet) console.error(`[setup] ${msg}`);
};
const step = (msg) => console.error(`[setup] ${msg}`);

function hashFiles(files) {
  const h = createHash("sha256");
  for (const f of files) {
    h.update(f);
    h.update(existsSync(join(root, f)) ? readFileSync(join(root, f)) : "");
  }
  return h.digest("hex");
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: quiet ? ["ignore", "ignore", "inherit"] : "inherit", ...opts });
  if (r.error) throw new Error(`${cmd} could not start: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed with exit code ${r.status}`);
}

function stamped(stampPath, hash, action) {
  const full = join(root, stampPath);
  if (existsSync(full) && readFileSync(full, "utf8") === hash) return false;
  action();
  mkdirSync(dirname(full), { recursive: true });
  writeFileSync(full, hash);
  return true;
}

// The interpreter of .venv: the same preference as users' managed environments
// (ts/src/pool/python-env.ts), 3.12 first, where a worker's Task per call costs least; each
// version found as the per-version venvs find it (pyenv's, else python3.X on the PATH).
const PREFERRED_PYTHONS = ["3.12", "3.13", "3.11", "3.10"];

export function findPython() {
  const { found } = findInterpreters();
  const byVersion = PREFERRED_PYTHONS.map((v) => found.find((f) => f.version === v)?.path);
  for (const candidate of [process.env.DSPY_BRIDGE_PYTHON_BASE, ...byVersion, "python3", "python"]) {
    if (!candidate) continue;
    const r = spawnSync(candidate, ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"], { encoding: "utf8" });
    if (r.status === 0) {
      const [major, minor] = r.stdout.trim().split(".").map(Number);
      if (major === 3 && minor >= 10) return candidate;
    }
  }
  throw new Error("No Python >= 3.10 found on PATH (set DSPY_BRIDGE_PYTHON_BASE to its path)");
}

/** npm ci when needed; resolves once the native addons (nativeDeps) are built too. */
function npmDeps() {
  const hash = hashFiles(["package.json", "package-lock.json", "ts/package.json"]);
  stamped("node_modules/.dspy-bridge-stamp", hash, () => {
    step("installing npm dependencies (npm ci)");
    // Install scripts run in nativeDeps, only for the commands that need them.
    run("npm", ["ci", "--no-audit", "--no-fund", "--ignore-scripts"]);
  });
  return process.argv.includes("--no-native") ? Promise.resolve() : nativeDeps(hash);
}

/**
 * The install scripts npm ci skipped (the approved ones, `allowScripts`): better-sqlite3's
 * native addon, which compiles from source when no prebuilt binary can be fetched (minutes).
 * The SQLite store and its tests need it; `npm run demo` (`--no-native`) does not, and
 * better-sqlite3 loads its addon only when a database is opened.
 */
async function nativeDeps(hash) {
  const stamp = join(root, "node_modules/.dspy-bridge-native-stamp");
  if (existsSync(stamp) && readFileSync(stamp, "utf8") === hash) return;
  if (!existsSync(join(root, "node_modules/better-sqlite3/build/Release/better_sqlite3.node"))) {
    step("building better-sqlite3's native addon (npm rebuild; a few minutes when it compiles)");
    // In the background, while TypeScript builds (it needs neither addon). JOBS: node-gyp
    // compiles SQLite and the binding, two translation units, at once (make -j): serial by default.
    const code = await new Promise((resolve) => {
      const child = spawn("npm", ["rebuild", "--no-audit", "--no-fund", "better-sqlite3", "protobufjs"], {
        cwd: root,
        stdio: quiet ? ["ignore", "ignore", "inherit"] : "inherit",
        env: { ...process.env, JOBS: process.env.JOBS ?? "max" },
      });
      child.on("error", (err) => resolve(err.message));
      child.on("exit", (c) => resolve(c));
    });
    if (code !== 0) throw new Error(`npm rebuild better-sqlite3 protobufjs failed (${code})`);
  }
  writeFileSync(stamp, hash);
}

function pythonVenv() {
  const hash = hashFiles([...LOCKS, "python/pyproject.toml"]);
  stamped(".venv/.dspy-bridge-stamp", hash, () => {
    const venvPython = join(root, ".venv/bin/python");
    // uv (ensureUv) when it can be had: several times faster than pip; pip otherwise.
    let uv;
    try {
      uv = ensureUv();
    } catch (err) {
      step(`uv could not be installed (${err.message}); using pip`);
    }
    const uvEnv = {
      ...process.env,
      UV_PYTHON_DOWNLOADS: "never",
      VIRTUAL_ENV: undefined,
      UV_CACHE_DIR: process.env.UV_CACHE_DIR || join(root, ".cache/uv"),
    };
    if (!existsSync(venvPython)) {
      step("creating .venv");
      if (uv) run(uv, ["venv", "--quiet", "--seed", "--python", findPython(), join(root, ".venv")], { env: uvEnv });
      else run(findPython(), ["-m", "venv", join(root, ".venv")]);
    }
    step("installing pinned Python dependencies into .venv (first run takes about a minute)");
    const locks = LOCKS.flatMap((l) => ["-r", l]);
    if (uv) run(uv, ["pip", "install", "--quiet", "--python", venvPython, ...locks], { env: uvEnv });
    else run(venvPython, ["-m", "pip", "install", "--disable-pip-version-check", "-q", ...locks]);
    addRepoToPath(venvPython);
    // uv writes no bytecode (pip does): import what a worker imports once, so Python writes
    // it now rather than on every start under PYTHONDONTWRITEBYTECODE (dspy_bridge/_check.py).
    if (uv)
      run(venvPython, ["-m", "dspy_bridge._check", "--warm"], {
        env: { ...process.env, PYTHONDONTWRITEBYTECODE: undefined },
        stdio: ["ignore", "ignore", "inherit"],
      });
  });
}

/**
 * Makes the in-repo package importable from a venv, as an editable install would, without a
 * build step: a .pth file naming python/.
 */
function addRepoToPath(venvPython) {
  const site = spawnSync(venvPython, ["-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], {
    encoding: "utf8",
  });
  if (site.status !== 0) throw new Error(`could not locate the site-packages of ${venvPython}`);
  writeFileSync(join(site.stdout.trim(), "dspy_bridge_dev.pth"), join(root, "python") + "\n");
}

/** "3.12.1" of an interpreter, or undefined when it does not run. */
function pythonVersion(python) {
  const r = spawnSync(python, ["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** The "3.11.7" a venv was made with, from its pyvenv.cfg (no process to start). */
function venvVersion(venvDir) {
  const cfg = join(venvDir, "pyvenv.cfg");
  if (!existsSync(cfg)) return undefined;
  return /^version(?:_info)?\s*=\s*(\d+\.\d+\.\d+)/m.exec(readFileSync(cfg, "utf8"))?.[1];
}

/** Where pyenv keeps its versions: PYENV_ROOT, else ~/.pyenv, else what `pyenv root` says. */
function pyenvRoot() {
  if (process.env.PYENV_ROOT) return process.env.PYENV_ROOT;
  if (existsSync(join(homedir(), ".pyenv"))) return join(homedir(), ".pyenv");
  const r = spawnSync("pyenv", ["root"], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/**
 * One interpreter per supported Python version: pyenv's newest patch release of it, else
 * `python3.X` on PATH. Returns { found: [{ version, patch, path }], missing: [version] }.
 */
export function findInterpreters() {
  const pyenv = pyenvRoot();
  const versionsDir = pyenv ? join(pyenv, "versions") : undefined;
  const pyenvVersions = versionsDir && existsSync(versionsDir) ? readdirSync(versionsDir) : [];
  const found = [];
  const missing = [];
  for (const version of SUPPORTED_PYTHONS) {
    // pyenv's folders are named by patch release: nothing to run to know it.
    const patch = pyenvVersions
      .filter(
        (v) =>
          new RegExp(`^${version.replace(".", "\\.")}\\.\\d+$`).test(v) &&
          existsSync(join(versionsDir, v, "bin/python")),
      )
      .sort((a, b) => Number(b.split(".")[2]) - Number(a.split(".")[2]))[0];
    if (patch) {
      found.push({ version, path: join(versionsDir, patch, "bin/python"), patch });
      continue;
    }
    const onPath = pythonVersion(`python${version}`);
    if (onPath?.startsWith(`${version}.`)) found.push({ version, path: `python${version}`, patch: onPath });
    else missing.push(version);
  }
  return { found, missing };
}

/** The pinned uv in .venvs/uv (made with pip by the base interpreter); its path. */
export function ensureUv() {
  const dir = join(root, ".venvs/uv");
  const uv = join(dir, "bin/uv");
  stamped(".venvs/uv/.dspy-bridge-stamp", UV_VERSION, () => {
    step(`installing uv ${UV_VERSION} into .venvs/uv`);
    if (!existsSync(join(dir, "bin/python"))) run(findPython(), ["-m", "venv", dir]);
    run(join(dir, "bin/python"), ["-m", "pip", "install", "--disable-pip-version-check", "-q", `uv==${UV_VERSION}`]);
  });
  return uv;
}

/**
 * A venv for each supported Python version the machine has other than .venv's (the main
 * suite's): .venvs/py3.X, made by uv from the same lock files, with python/ on its path.
 * Rebuilt when the locks, pyproject.toml, uv or the interpreter (path, patch release)
 * change. Writes .venvs/pythons.json, which the tests read:
 *   { default: "3.11", venvs: [{ version, patch, interpreter, python }], missing: ["3.10"] }
 * DSPY_BRIDGE_TEST_PYTHONS=3.12,3.13 limits the versions ("none": no other version).
 */
export function versionVenvs() {
  const venvPython = join(root, ".venv/bin/python");
  const defaultVersion = (venvVersion(join(root, ".venv")) ?? pythonVersion(venvPython))
    ?.split(".")
    .slice(0, 2)
    .join(".");
  const wanted = process.env.DSPY_BRIDGE_TEST_PYTHONS?.split(",")
    .map((v) => v.trim())
    .filter(Boolean);
  const { found, missing } = findInterpreters();
  const chosen = found.filter((f) => f.version !== defaultVersion && (!wanted || wanted.includes(f.version)));
  const venvs = [];
  if (chosen.length) {
    const uv = ensureUv();
    // uv's download cache: .cache/uv in the repository (gitignored), shared with the install
    // test (ts/test/install.test.ts), unless UV_CACHE_DIR says otherwise.
    const env = {
      ...process.env,
      UV_PYTHON_DOWNLOADS: "never",
      VIRTUAL_ENV: undefined,
      UV_CACHE_DIR: process.env.UV_CACHE_DIR || join(root, ".cache/uv"),
    };
    for (const f of chosen) {
      const dir = `.venvs/py${f.version}`;
      const python = join(root, dir, "bin/python");
      // "warmed": venvs made before they were warmed are made again once.
      const hash = hashFiles([...LOCKS, "python/pyproject.toml"]) + `\n${UV_VERSION}\n${f.path}\n${f.patch}\nwarmed`;
      stamped(`${dir}/.dspy-bridge-stamp`, hash, () => {
        step(`making ${dir} (Python ${f.patch}, ${f.path}) from the lock files`);
        run(uv, ["venv", "--quiet", "--clear", "--python", f.path, join(root, dir)], { env });
        run(uv, ["pip", "install", "--quiet", "--python", python, ...LOCKS.flatMap((l) => ["-r", l])], { env });
        addRepoToPath(python);
        // As for .venv: uv writes no bytecode, and under PYTHONDONTWRITEBYTECODE every worker
        // the tests start on this version would compile DSPy and LiteLLM again (seconds each).
        run(python, ["-m", "dspy_bridge._check", "--warm"], {
          env: { ...process.env, PYTHONDONTWRITEBYTECODE: undefined },
          stdio: ["ignore", "ignore", "inherit"],
        });
      });
      venvs.push({ version: f.version, patch: f.patch, interpreter: f.path, python });
    }
  }
  const manifest = {
    default: defaultVersion,
    venvs,
    missing,
    skippedByRequest: found.filter((f) => f.version !== defaultVersion && !chosen.includes(f)).map((f) => f.version),
  };
  mkdirSync(join(root, ".venvs"), { recursive: true });
  writeFileSync(join(root, ".venvs/pythons.json"), JSON.stringify(manifest, null, 2) + "\n");
  return manifest;
}

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

function buildTs() {
  vendorDashboard();
  const out = join(root, "ts/dist/.build-stamp");
  const inputs = Math.max(
    newestMtime(join(root, "ts/src")),
    newestMtime(join(root, "ts/test")),
    statSync(join(root, "ts/tsconfig.json")).mtimeMs,
  );
  if (existsSync(out) && statSync(out).mtimeMs >= inputs) return;
  log("building TypeScript");
  run(join(root, "node_modules/.bin/tsc"), ["-b", "ts"]);
  writeFileSync(out, String(Date.now()));
}

/**
 * The Python venvs: .venv, then (allPythons) one per other version. `npm test` makes
 * them here, so that on a fresh clone they are made in the Python child, beside npm and
 * TypeScript, not after them; a failure is left to scripts/run-tests.mjs, which tries again
 * and reports it as a failed part while the other parts still run.
 */
function pythonSteps() {
  pythonVenv();
  if (!allPythons) return;
  try {
    versionVenvs();
  } catch (err) {
    step(`the other Python versions' venvs: ${err.message} (the tests try again and report it)`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    if (process.argv.includes("--python-only")) {
      pythonSteps();
      process.exit(0);
    }
    // A .venv to (re)build takes a minute: it runs in a child process meanwhile npm and
    // TypeScript do their part (on a fresh clone, about half the time). Otherwise in line.
    const stamp = join(root, ".venv/.dspy-bridge-stamp");
    const pythonStale =
      !existsSync(stamp) || readFileSync(stamp, "utf8") !== hashFiles([...LOCKS, "python/pyproject.toml"]);
    const python = pythonStale
      ? spawn(process.execPath, [fileURLToPath(import.meta.url), "--python-only", ...process.argv.slice(2)], {
          stdio: "inherit",
        })
      : undefined;
    const pythonDone = python ? new Promise((resolve) => python.on("exit", (code) => resolve(code))) : undefined;
    if (!python) pythonSteps();
    // The Python child is waited for whatever npm and tsc did; the first failure is the one reported.
    let failure;
    try {
      const native = npmDeps();
      // The native addon's build is awaited even when TypeScript's fails, so it is not cut short.
      try {
        buildTs();
      } finally {
        await native;
      }
    } catch (err) {
      failure = err;
    }
    if (pythonDone && (await pythonDone) !== 0) failure ??= new Error("the Python set-up failed (above)");
    if (failure) throw failure;
    log("ready");
  } catch (err) {
    console.error(`[setup] failed: ${err.message}`);
    process.exit(1);
  }
}
