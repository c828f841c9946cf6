#!/usr/bin/env node
// Runs every test: the generated-code staleness check, the TypeScript suite (node:test on
// the compiled tests) and the Python suite (pytest in .venv), then the Python suite again on
// every other supported Python version the machine has (.venvs/py3.X, made by the bootstrap;
// a version it does not have is reported as skipped). Exit code is non-zero if any part
// fails; all parts run so one failure does not hide another.
// Before the tests, the static checks (`--only lint` runs them alone): Biome (TypeScript lint
// and format check, biome.jsonc), ruff (Python lint and format check, ruff.toml) and pyright
// (the dspy_bridge package's types, pyrightconfig.json); docs/development.md, "Lint, format and types".
//   --only ts | py | pythons | lint     one part (pythons: the other versions' Python suites)
import { spawnSync } from "node:child_process";
import { readdirSync, existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { startRedis, startRedisCluster } from "./redis.mjs";
import { versionVenvs } from "./bootstrap.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const onlyIdx = process.argv.indexOf("--only");
const only = onlyIdx >= 0 ? process.argv[onlyIdx + 1] : undefined;
const extra = process.argv.slice(2).filter((a, i, all) => a !== "--only" && all[i - 1] !== "--only");

function run(label, cmd, args, env = {}) {
  console.error(`\n=== ${label} ===`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit", env: { ...process.env, ...env } });
  return r.status === 0;
}

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

const results = [];
if (!only || only === "lint") {
  const bin = (name) => join(root, "node_modules/.bin", name);
  const ruff = join(root, ".venv/bin/ruff");
  results.push([
    "biome (TypeScript lint and format)",
    run("Biome: lint and format check", bin("biome"), ["ci", "--error-on-warnings"]),
  ]);
  results.push(["ruff (Python lint)", run("ruff check", ruff, ["check", "python", "examples/python"])]);
  results.push(["ruff format", run("ruff format --check", ruff, ["format", "--check", "python", "examples/python"])]);
  results.push([
    "pyright (dspy_bridge types)",
    run("pyright", bin("pyright"), ["--pythonpath", join(root, ".venv/bin/python")]),
  ]);
}
if (!only) results.push(["codegen is fresh", run("codegen is fresh", "node", ["scripts/codegen.mjs", "--check"])]);
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
    results.push(["python versions set-up", false]);
  }
}
if (!only || only === "ts") {
  const dir = join(root, "ts/dist/test");
  const files = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith(".test.js"))
        .map((f) => join(dir, f))
    : [];
  const filtered = extra.length ? files.filter((f) => extra.some((e) => f.includes(e))) : files;
  const redis = await redisFor("the store tests");
  const cluster = await redisClusterFor("the store tests");
  results.push([
    "typescript",
    run("TypeScript tests", "node", ["--test", "--test-concurrency=1", ...filtered], {
      ...(redis.url ? { DSPY_BRIDGE_TEST_REDIS: redis.url } : {}),
      ...(cluster.url ? { DSPY_BRIDGE_TEST_REDIS_CLUSTER: cluster.url } : {}),
    }),
  ]);
  await redis.stop();
  await cluster.stop();
}
if (!only || only === "py") {
  results.push([
    `python${pythons.default ? ` ${pythons.default}` : ""} (.venv)`,
    run("Python tests", join(root, ".venv/bin/python"), [
      "-m",
      "pytest",
      "-q",
      "python/tests",
      ...(only === "py" ? extra : []),
    ]),
  ]);
  if (!(only === "py" && extra.length)) {
    // The Python session API once more, through a host whose store is Redis (docs/deployment.md).
    const redis = await redisFor("the Python session tests");
    const store = `${redis.url}?prefix=py-sessions-${process.pid}:`;
    results.push([
      "python sessions on redis",
      !!redis.url &&
        run(
          "Python session tests on a Redis store",
          join(root, ".venv/bin/python"),
          ["-m", "pytest", "-q", "python/tests/session"],
          { DSPY_BRIDGE_TEST_STORE: store },
        ),
    ]);
    await redis.stop();
  }
}
const versionSuites = !only || only === "pythons";
if (versionSuites) {
  // The whole Python suite once per other version; the TypeScript hosts its tests start run
  // their workers on that version too (DSPY_BRIDGE_PYTHON).
  for (const v of pythons.venvs) {
    results.push([
      `python ${v.version} (${v.patch}, .venvs/py${v.version})`,
      run(
        `Python tests on Python ${v.patch}`,
        v.python,
        ["-m", "pytest", "-q", "python/tests", ...(only === "pythons" ? extra : [])],
        { DSPY_BRIDGE_PYTHON: v.python },
      ),
    ]);
  }
  for (const version of pythons.missing)
    results.push([`python ${version}: no interpreter on this machine (pyenv or python${version} on PATH)`, "skip"]);
  for (const version of pythons.skippedByRequest)
    results.push([`python ${version}: left out by DSPY_BRIDGE_TEST_PYTHONS`, "skip"]);
}
console.error("\n=== summary ===");
for (const [name, ok] of results) console.error(`${ok === "skip" ? "SKIP" : ok ? "PASS" : "FAIL"}  ${name}`);
if (versionSuites && pythons.default) {
  const tested = [pythons.default, ...pythons.venvs.map((v) => v.version)].sort();
  const skipped = [...pythons.missing, ...pythons.skippedByRequest];
  console.error(
    `Python versions tested: ${tested.join(", ")}${skipped.length ? `; NOT tested: ${skipped.join(", ")}` : ""}`,
  );
}
process.exit(results.every(([, ok]) => ok) ? 0 : 1);
