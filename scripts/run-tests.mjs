#!/usr/bin/env node
// Runs every test: the generated-code staleness check, the TypeScript suite (node:test on
// the compiled tests) and the Python suite (pytest in .venv). Exit code is non-zero if any
// part fails; all parts run so one failure does not hide another.
import { spawnSync } from "node:child_process";
import { readdirSync, existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { startRedis } from "./redis.mjs";

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

const results = [];
if (!only) results.push(["codegen is fresh", run("codegen is fresh", "node", ["scripts/codegen.mjs", "--check"])]);
if (!only || only === "ts") {
  const dir = join(root, "ts/dist/test");
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".test.js")).map((f) => join(dir, f)) : [];
  const filtered = extra.length ? files.filter((f) => extra.some((e) => f.includes(e))) : files;
  const redis = await redisFor("the store tests");
  results.push(["typescript", run("TypeScript tests", "node", ["--test", "--test-concurrency=1", ...filtered], redis.url ? { DSPY_BRIDGE_TEST_REDIS: redis.url } : {})]);
  await redis.stop();
}
if (!only || only === "py") {
  results.push(["python", run("Python tests", join(root, ".venv/bin/python"), ["-m", "pytest", "-q", "python/tests", ...(only === "py" ? extra : [])])]);
  if (!(only === "py" && extra.length)) {
    // The Python session API once more, through a host whose store is Redis (docs/deployment.md).
    const redis = await redisFor("the Python session tests");
    const store = `${redis.url}?prefix=py-sessions-${process.pid}:`;
    results.push(["python sessions on redis", !!redis.url && run("Python session tests on a Redis store", join(root, ".venv/bin/python"), ["-m", "pytest", "-q", "python/tests/session"], { DSPY_BRIDGE_TEST_STORE: store })]);
    await redis.stop();
  }
}
console.error("\n=== summary ===");
for (const [name, ok] of results) console.error(`${ok ? "PASS" : "FAIL"}  ${name}`);
process.exit(results.every(([, ok]) => ok) ? 0 : 1);
