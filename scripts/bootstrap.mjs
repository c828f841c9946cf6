#!/usr/bin/env node
// Idempotent set-up for a fresh clone: npm dependencies, the pinned Python .venv, the
// TypeScript build. Each step is skipped when a stamp says its inputs have not changed,
// so running it before every command costs well under a second.
// Only Node built-ins may be used here: nothing is installed yet when it first runs.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync, readdirSync, statSync } from "node:fs";
import { join, dirname } from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const quiet = process.argv.includes("--quiet");
const log = (msg) => { if (!quiet) console.error(`[setup] ${msg}`); };
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

export function findPython() {
  for (const candidate of [process.env.DSPY_BRIDGE_PYTHON_BASE, "python3.11", "python3", "python"]) {
    if (!candidate) continue;
    const r = spawnSync(candidate, ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"], { encoding: "utf8" });
    if (r.status === 0) {
      const [major, minor] = r.stdout.trim().split(".").map(Number);
      if (major === 3 && minor >= 10) return candidate;
    }
  }
  throw new Error("No Python >= 3.10 found on PATH (set DSPY_BRIDGE_PYTHON_BASE to its path)");
}

function npmDeps() {
  const hash = hashFiles(["package.json", "package-lock.json", "ts/package.json"]);
  stamped("node_modules/.dspy-bridge-stamp", hash, () => {
    step("installing npm dependencies (npm ci)");
    // Install scripts run in nativeDeps, only for the commands that need them.
    run("npm", ["ci", "--no-audit", "--no-fund", "--ignore-scripts"]);
  });
  if (!process.argv.includes("--no-native")) nativeDeps(hash);
}

/**
 * The install scripts npm ci skipped (the approved ones, `allowScripts`): better-sqlite3's
 * native addon, which compiles from source when no prebuilt binary can be fetched (minutes).
 * The SQLite store and its tests need it; `npm run demo` (`--no-native`) does not, and
 * better-sqlite3 loads its addon only when a database is opened.
 */
function nativeDeps(hash) {
  stamped("node_modules/.dspy-bridge-native-stamp", hash, () => {
    if (existsSync(join(root, "node_modules/better-sqlite3/build/Release/better_sqlite3.node"))) return;
    step("building better-sqlite3's native addon (npm rebuild; a few minutes when it compiles)");
    run("npm", ["rebuild", "--no-audit", "--no-fund", "better-sqlite3", "protobufjs"]);
  });
}

function pythonVenv() {
  const hash = hashFiles(["python/requirements.lock", "python/pyproject.toml"]);
  stamped(".venv/.dspy-bridge-stamp", hash, () => {
    const venvPython = join(root, ".venv/bin/python");
    if (!existsSync(venvPython)) {
      step("creating .venv");
      run(findPython(), ["-m", "venv", join(root, ".venv")]);
    }
    step("installing pinned Python dependencies into .venv (first run takes about a minute)");
    run(venvPython, ["-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", "python/requirements.lock"]);
    // Make the in-repo package importable from the venv, as an editable install would,
    // without a build step: a .pth file naming python/.
    const site = spawnSync(venvPython, ["-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], { encoding: "utf8" });
    if (site.status !== 0) throw new Error("could not locate the .venv site-packages");
    writeFileSync(join(site.stdout.trim(), "dspy_bridge_dev.pth"), join(root, "python") + "\n");
  });
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
  const out = join(root, "ts/dist/.build-stamp");
  const inputs = Math.max(newestMtime(join(root, "ts/src")), newestMtime(join(root, "ts/test")), statSync(join(root, "ts/tsconfig.json")).mtimeMs);
  if (existsSync(out) && statSync(out).mtimeMs >= inputs) return;
  log("building TypeScript");
  run(join(root, "node_modules/.bin/tsc"), ["-b", "ts"]);
  writeFileSync(out, String(Date.now()));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    npmDeps();
    pythonVenv();
    buildTs();
    log("ready");
  } catch (err) {
    console.error(`[setup] failed: ${err.message}`);
    process.exit(1);
  }
}
