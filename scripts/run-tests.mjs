#!/usr/bin/env node
// Runs every test: the static checks (Biome, ruff, pyright), the generated-code staleness
// check, the TypeScript suite (node:test on the compiled tests), the Python suite (pytest in
// .venv), the Python session tests again through a host on Redis, and on every other
// supported Python version the machine has (.venvs/py3.X, made by the bootstrap) the
// every-version subset of the Python suite (python/tests/every_python.txt; a version the
// machine does not have is reported as skipped). Exit code is non-zero if any part fails; all
// parts run so one failure does not hide another. The summary lists every part with its
// time; a part that did not run says why (SKIP), it never just disappears.
//
// With --parallel, two lines run side by side (docs/development.md, "Tests"): the TypeScript
// suite in the foreground, its output live; beside it the static checks and the Python
// suites, one after another, their output kept in files and printed whole when the
// TypeScript suite is done. Not the default: under load, a timing-bound TypeScript test (the
// 100,000-variable import on a Redis Cluster) failed beside the Python line.
//   --only ts | py | pythons | lint     one part (pythons: the other versions' Python suites)
//   --parallel                          the two lines above side by side
//   DSPY_BRIDGE_TEST_FULL_PYTHONS=1     the whole Python suite on every version, not the subset
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { versionVenvs } from "./bootstrap.mjs";
import { startRedis, startRedisCluster } from "./redis.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const onlyIdx = process.argv.indexOf("--only");
const only = onlyIdx >= 0 ? process.argv[onlyIdx + 1] : undefined;
const serial = !process.argv.includes("--parallel");
const extra = process.argv
  .slice(2)
  .filter((a, i, all) => a !== "--only" && all[i - 1] !== "--only" && a !== "--parallel");
const fullPythons = ["1", "true", "yes"].includes((process.env.DSPY_BRIDGE_TEST_FULL_PYTHONS ?? "").toLowerCase());
const logDir = mkdtempSync(join(tmpdir(), "dspy-bridge-tests-"));
const started = performance.now();

const seconds = (ms) => {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s` : `${s}s`;
};

/**
 * Runs one command. `log` undefined: output live (inherited); else a file the output goes to
 * (opened by the child itself, so nothing here has to read it while it runs).
 * Resolves to { ok, ms }.
 */
function runCommand(cmd, args, env, log) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const fd = log ? openSync(log, "a") : undefined;
    const child = spawn(cmd, args, {
      cwd: root,
      stdio: fd === undefined ? "inherit" : ["ignore", fd, fd],
      env: { ...process.env, ...env },
    });
    if (fd !== undefined) closeSync(fd);
    child.on("error", (err) => {
      console.error(`${cmd} could not start: ${err.message}`);
      resolve({ ok: false, ms: performance.now() - t0 });
    });
    child.on("exit", (code) => resolve({ ok: code === 0, ms: performance.now() - t0 }));
  });
}

/** A line of parts run one after another; `live` prints as they run, else into log files. */
class Line {
  constructor(live) {
    this.live = live;
    this.logs = [];
  }

  /** Runs a part and records it: { name, status: PASS | FAIL | SKIP, ms, why }. */
  async part(name, label, cmd, args, env = {}) {
    let log;
    if (this.live) console.error(`\n=== ${label} ===`);
    else {
      log = join(logDir, `${this.logs.length}.log`);
      this.logs.push({ label, log });
    }
    const { ok, ms } = await runCommand(cmd, args, env, log);
    results.push({ name, status: ok ? "PASS" : "FAIL", ms });
    if (!this.live)
      console.error(`[tests] ${ok ? "passed" : "FAILED"}: ${label} (${seconds(ms)}, beside the TypeScript suite)`);
    return ok;
  }

  /** The kept output of each part, whole, in the order they ran. */
  print() {
    for (const { label, log } of this.logs) {
      console.error(`\n=== ${label} (ran beside the TypeScript suite) ===`);
      if (existsSync(log)) process.stderr.write(readFileSync(log));
    }
  }
}

const results = [];
const skip = (name, why) => results.push({ name, status: "SKIP", why });

/**
 * The Redis a suite should use: DSPY_BRIDGE_TEST_REDIS if set, else a private server of its
 * own (each suite gets a fresh one: the store tests restart and flush theirs). Without one
 * the suite's Redis tests fail, loudly; they are never skipped.
 */
async function redisFor(suite) {
  if (process.env.DSPY_BRIDGE_TEST_REDIS) return { url: process.env.DSPY_BRIDGE_TEST_REDIS, stop: async () => {} };
  try {
    return await startRedis();
  } catch (err) {
    console.error(`cannot start a private Redis for ${suite} (they will fail): ${err.message}`);
    return { url: undefined, stop: async () => {} };
  }
}

/** The same for a Redis Cluster (DSPY_BRIDGE_TEST_REDIS_CLUSTER, else three private nodes). */
async function redisClusterFor(suite) {
  if (process.env.DSPY_BRIDGE_TEST_REDIS_CLUSTER)
    return { url: process.env.DSPY_BRIDGE_TEST_REDIS_CLUSTER, stop: async () => {} };
  try {
    return await startRedisCluster();
  } catch (err) {
    console.error(`cannot start a private Redis Cluster for ${suite} (they will fail): ${err.message}`);
    return { url: undefined, stop: async () => {} };
  }
}

/**
 * The every-version subset: python/tests/every_python.txt, one test path (or node id) a
 * line, `#` comments. A listed path that no longer exists fails the part: a renamed file
 * must not quietly leave the other versions untested.
 */
function everyPythonSubset() {
  const listFile = join(root, "python/tests/every_python.txt");
  const paths = readFileSync(listFile, "utf8")
    .split("\n")
    .map((l) => l.replace(/#.*/, "").trim())
    .filter(Boolean);
  const missing = paths.filter((p) => !existsSync(join(root, p.split("::")[0])));
  return { paths, missing };
}

// The venvs of the other Python versions (idempotent; the TypeScript suite starts workers in
// them too: ts/test/python-versions.test.ts).
let pythons = { default: undefined, venvs: [], missing: [], skippedByRequest: [] };
const tsFiltered =
  only === "ts" && extra.length && !extra.some((e) => join(root, "ts/dist/test/python-versions.test.js").includes(e));
if (!only || (only === "ts" && !tsFiltered) || only === "pythons") {
  try {
    pythons = versionVenvs();
  } catch (err) {
    console.error(`\ncannot make the venvs of the other Python versions: ${err.message}`);
    results.push({ name: "python versions set-up", status: "FAIL" });
  }
}

const wants = (part) => !only || only === part;
// The foreground line: live output. The side line: the other parts, beside the TypeScript
// suite (one line without --parallel, or when there is no TypeScript suite to run beside).
const front = new Line(true);
const side = serial || !wants("ts") ? front : new Line(false);

async function lint(line) {
  const bin = (name) => join(root, "node_modules/.bin", name);
  const ruff = join(root, ".venv/bin/ruff");
  await line.part("biome (TypeScript lint and format)", "Biome: lint and format check", bin("biome"), [
    "ci",
    "--error-on-warnings",
  ]);
  await line.part("ruff (Python lint)", "ruff check", ruff, ["check", "python", "examples/python"]);
  await line.part("ruff format", "ruff format --check", ruff, ["format", "--check", "python", "examples/python"]);
  await line.part("pyright (dspy_bridge types)", "pyright", bin("pyright"), [
    "--pythonpath",
    join(root, ".venv/bin/python"),
  ]);
}

async function typescript(line) {
  const dir = join(root, "ts/dist/test");
  const files = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith(".test.js"))
        .map((f) => join(dir, f))
    : [];
  const filtered = extra.length ? files.filter((f) => extra.some((e) => f.includes(e))) : files;
  const redis = await redisFor("the store tests");
  const cluster = await redisClusterFor("the store tests");
  // Each file's time (its top-level tests added up) goes to a file of its own, beside the
  // usual report, so the summary can name the slowest files.
  const durations = join(logDir, "ts-durations.jsonl");
  await line.part(
    "typescript",
    "TypeScript tests",
    "node",
    [
      "--test",
      "--test-concurrency=1",
      `--test-reporter=${process.stdout.isTTY ? "spec" : "tap"}`,
      "--test-reporter-destination=stdout",
      `--test-reporter=${join(root, "scripts/test-file-durations.mjs")}`,
      `--test-reporter-destination=${durations}`,
      ...filtered,
    ],
    {
      ...(redis.url ? { DSPY_BRIDGE_TEST_REDIS: redis.url } : {}),
      ...(cluster.url ? { DSPY_BRIDGE_TEST_REDIS_CLUSTER: cluster.url } : {}),
    },
  );
  await redis.stop();
  await cluster.stop();
  if (existsSync(durations)) {
    const perFile = new Map();
    for (const l of readFileSync(durations, "utf8").split("\n").filter(Boolean)) {
      const record = JSON.parse(l);
      if (record.failed !== undefined) failedTs.push(record);
      else perFile.set(record.file, (perFile.get(record.file) ?? 0) + record.ms);
    }
    slowestTs = [...perFile].sort((a, b) => b[1] - a[1]).slice(0, 10);
  }
}
let slowestTs = [];
const failedTs = [];

async function pythonSuites(line) {
  const venvPython = join(root, ".venv/bin/python");
  await line.part(
    `python${pythons.default ? ` ${pythons.default}` : ""} (.venv, whole suite)`,
    "Python tests",
    venvPython,
    ["-m", "pytest", "-q", "--durations=10", "python/tests", ...(only === "py" ? extra : [])],
  );
  if (only === "py" && extra.length) return;
  // The Python session API once more, through a host whose store is Redis (docs/deployment.md).
  const redis = await redisFor("the Python session tests");
  if (!redis.url) results.push({ name: "python sessions on redis", status: "FAIL", why: "no Redis" });
  else
    await line.part(
      "python sessions on redis",
      "Python session tests on a Redis store",
      venvPython,
      ["-m", "pytest", "-q", "python/tests/session"],
      { DSPY_BRIDGE_TEST_STORE: `${redis.url}?prefix=py-sessions-${process.pid}:` },
    );
  await redis.stop();
}

async function versionSuites(line) {
  // On each other version: the every-version subset (or with DSPY_BRIDGE_TEST_FULL_PYTHONS,
  // the whole suite); the TypeScript hosts its tests start run their workers on that version
  // too (DSPY_BRIDGE_PYTHON).
  const { paths, missing } = everyPythonSubset();
  const what = fullPythons ? "whole suite" : "every-version subset";
  for (const v of pythons.venvs) {
    const name = `python ${v.version} (${v.patch}, .venvs/py${v.version}, ${what})`;
    if (!fullPythons && missing.length) {
      results.push({
        name,
        status: "FAIL",
        why: `python/tests/every_python.txt lists missing paths: ${missing.join(", ")}`,
      });
      continue;
    }
    await line.part(
      name,
      `Python tests on Python ${v.patch} (${what})`,
      v.python,
      ["-m", "pytest", "-q", ...(fullPythons ? ["python/tests"] : paths), ...(only === "pythons" ? extra : [])],
      { DSPY_BRIDGE_PYTHON: v.python },
    );
  }
  for (const version of pythons.missing)
    skip(`python ${version}`, `no interpreter on this machine (pyenv or python${version} on PATH)`);
  for (const version of pythons.skippedByRequest) skip(`python ${version}`, "left out by DSPY_BRIDGE_TEST_PYTHONS");
}

const sideLine = (async () => {
  if (wants("lint")) await lint(side);
  else skip("static checks (Biome, ruff, pyright)", `left out by --only ${only}`);
  if (wants("py")) await pythonSuites(side);
  else skip("python suites on .venv (whole suite, sessions on Redis)", `left out by --only ${only}`);
  if (wants("pythons")) await versionSuites(side);
  else skip("python suites on the other versions", `left out by --only ${only}`);
})();
// One line (or nothing to run beside): the side line is the front line, run in turn.
if (side === front) await sideLine;
if (!only) await front.part("codegen is fresh", "codegen is fresh", "node", ["scripts/codegen.mjs", "--check"]);
else skip("codegen is fresh", `left out by --only ${only}`);
if (wants("ts")) await typescript(front);
else skip("typescript", `left out by --only ${only}`);
if (side !== front) {
  await sideLine;
  side.print();
}
rmSync(logDir, { recursive: true, force: true });

console.error("\n=== summary ===");
if (slowestTs.length) {
  console.error("slowest TypeScript test files (their top-level tests added up):");
  for (const [file, ms] of slowestTs) console.error(`  ${seconds(ms).padStart(7)}  ${file.replace(`${root}/`, "")}`);
}
if (failedTs.length) {
  // Deepest first: the test that failed, then the suites around it that failed with it.
  console.error("failed TypeScript tests:");
  const shown = failedTs.sort((a, b) => b.nesting - a.nesting).slice(0, 20);
  for (const { failed, file, message } of shown)
    console.error(`  ${(file ?? "").replace(`${root}/`, "")}: ${failed}${message ? ` — ${message}` : ""}`);
  if (failedTs.length > shown.length) console.error(`  ... and ${failedTs.length - shown.length} more`);
}
// In the order of the parts, whichever line ran them and whenever they ended.
const rank = ({ name }) =>
  [
    /^(biome|ruff|pyright|static)/,
    /^codegen/,
    /^typescript/,
    /^python versions set-up/,
    /\.venv|^python suites on \.venv/,
    /^python sessions/,
    /./,
  ].findIndex((re) => re.test(name));
for (const { name, status, ms, why } of results
  .map((r, i) => ({ ...r, i }))
  .sort((a, b) => rank(a) - rank(b) || a.i - b.i))
  console.error(`${status}  ${name}${ms !== undefined ? `  (${seconds(ms)})` : ""}${why ? `: ${why}` : ""}`);
if (wants("pythons") && pythons.default) {
  const tested = [pythons.default, ...pythons.venvs.map((v) => v.version)].sort();
  const skipped = [...pythons.missing, ...pythons.skippedByRequest];
  console.error(
    `Python versions tested: ${tested.join(", ")} (${pythons.default}: whole suite; ${
      fullPythons ? "the others: whole suite" : "the others: python/tests/every_python.txt"
    })${skipped.length ? `; NOT tested: ${skipped.join(", ")}` : ""}`,
  );
}
console.error(`total ${seconds(performance.now() - started)} (after the set-up)`);
process.exit(results.every(({ status }) => status !== "FAIL") ? 0 : 1);
