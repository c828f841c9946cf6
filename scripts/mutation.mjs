#!/usr/bin/env node
// Mutation testing of the core modules: Stryker for TypeScript (its tap runner over the
// compiled node:test files), mutmut for Python. Not part of `npm test` or CI (a run takes
// tens of minutes on two cores); run it after changing one of these modules or its tests,
// and record the scores in docs/development.md ("Mutation testing").
//
//   npm run mutation                       every module, one after the other
//   npm run mutation -- store errors       the named modules only
//   npm run mutation -- --list             the modules and what they cover
//   npm run mutation -- --report-only      the scores of the last Python runs, without running
//   npm run mutation -- store --tests store-state   one module against some of its test files only
//   npm run mutation -- py-watch --mutants 'dspy_bridge.session._watch.xǁVariableWatchǁ_pump__mutmut_*'
//                                          a Python module's named mutants only (mutmut's globs)
//
// Each module is one Stryker run (or one mutmut run) with its own time box (--minutes N per
// module, default 30): a module that runs over it is stopped and reported as such, the others
// still run. Concurrency is 1: the machine is shared. Reports: reports/mutation/<module>.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { startRedis } from "./redis.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * Stryker's `file:first-last` line ranges of the named functions and class members of `file`
 * (a constructor is "constructor"; the first of a name in the file), found in the source as it
 * is now: line numbers written by hand went stale at every edit. Statements inside them that name one of `except` (e.g.
 * the call that hands a shared store's commit over) are left out. A name not found is an error.
 */
function functionRanges(file, names, except = []) {
  const source = ts.createSourceFile(file, readFileSync(join(root, file), "utf8"), ts.ScriptTarget.Latest, true);
  const line = (pos) => source.getLineAndCharacterOfPosition(pos).line + 1;
  const skip = except.length ? new RegExp(`\\b(${except.join("|")})\\b`) : undefined;
  const found = new Map();
  const visit = (node) => {
    const name = ts.isConstructorDeclaration(node)
      ? "constructor"
      : node.name && ts.isIdentifier(node.name)
        ? node.name.text
        : undefined;
    // With a body: an interface's method signature of the same name is not the code.
    const isFunction =
      (ts.isFunctionLike(node) && node.body !== undefined) ||
      (ts.isVariableDeclaration(node) && node.initializer && ts.isArrowFunction(node.initializer));
    if (isFunction && name && names.includes(name) && !found.has(name)) found.set(name, node);
    else ts.forEachChild(node, visit);
  };
  visit(source);
  const missing = names.filter((n) => !found.has(n));
  if (missing.length)
    throw new Error(`${file} has no function named ${missing.join(", ")}: update scripts/mutation.mjs`);
  const ranges = [];
  for (const node of found.values()) {
    // Lines of statements to leave out, then the node's lines split around them.
    const cut = new Set();
    const walk = (n) => {
      if (skip && isStatementLike(n) && skip.test(n.getText(source))) {
        for (let l = line(n.getStart(source)); l <= line(n.getEnd()); l++) cut.add(l);
        return;
      }
      ts.forEachChild(n, walk);
    };
    walk(node);
    let start;
    const last = line(node.getEnd());
    for (let l = line(node.getStart(source)); l <= last + 1; l++) {
      if (l <= last && !cut.has(l)) start ??= l;
      else if (start !== undefined) {
        ranges.push(`${file}:${start}-${l - 1}`);
        start = undefined;
      }
    }
  }
  return ranges;
}

/** The lines of `file` that none of `ranges` ("file:start-end", from functionRanges) covers, as ranges. */
function otherRanges(file, ranges) {
  const covered = new Set();
  for (const r of ranges) {
    const [from, to] = r
      .slice(file.length + 1)
      .split("-")
      .map(Number);
    for (let l = from; l <= to; l++) covered.add(l);
  }
  const lines = readFileSync(join(root, file), "utf8").split("\n").length;
  const out = [];
  let start;
  for (let l = 1; l <= lines + 1; l++) {
    if (l <= lines && !covered.has(l)) start ??= l;
    else if (start !== undefined) {
      out.push(`${file}:${start}-${l - 1}`);
      start = undefined;
    }
  }
  return out;
}

/** A statement left out whole, on its own lines (a block or an `if` is not: its inner statements are looked at instead). */
const isStatementLike = (n) => ts.isExpressionStatement(n) || ts.isReturnStatement(n) || ts.isVariableStatement(n);

/**
 * The TypeScript modules: the sources Stryker mutates and the compiled test files that
 * exercise them (only files that need no Python worker: a mutant run starts each file anew).
 */
const TS_MODULES = {
  // The store's state is the same whatever the backend: memory, and SQLite for the snapshot loading.
  // The focused tests first: a mutant they kill never reaches the slow model-based suite.
  store: {
    mutate: ["ts/src/store/store-state.ts"],
    tests: ["store-state", "store-state-edges", "store-session-watch", "store-conformance"],
    env: { DSPY_BRIDGE_TEST_STORE_BACKENDS: "memory,sqlite" },
  },
  "commit-log": { mutate: ["ts/src/store/commit-log.ts"], tests: ["store-conformance", "store-redis"] },
  // The commit log's unshared path alone (memory, SQLite): the whole module's run takes minutes
  // per mutant on its Redis tests. The functions a store that is not shared runs, without the
  // statements that hand a commit to the shared path (queueShared) or start following the
  // other hosts (follow); not `idle`/`counted` (a store partitioned by session is a shared one).
  "commit-log-local": {
    mutate: functionRanges(
      "ts/src/store/commit-log.ts",
      [
        "constructor",
        "isShared",
        "open",
        "close",
        "mutate",
        "mutatePaced",
        "mutateLocalPaced",
        "planPaced",
        "requestPaced",
        "plan",
        "request",
        "nextId",
        "guard",
        "reload",
        "couldNotCommit",
        "checkUnsharedCommit",
      ],
      ["queueShared", "follow", "resync"],
    ),
    tests: ["commit-log", "store-state", "store-session-watch"],
    env: { DSPY_BRIDGE_TEST_STORE_BACKENDS: "memory,sqlite" },
  },
  constraints: {
    mutate: ["ts/src/store/types/constraints.ts"],
    tests: ["constraint-edges", "variable-types"],
  },
  errors: {
    mutate: [
      "ts/src/errors/bridge-error.ts",
      "ts/src/errors/registry.ts",
      "ts/src/errors/detail.ts",
      "ts/src/errors/code.ts",
    ],
    tests: ["errors", "variable-types"],
  },
  "restart-policy": { mutate: ["ts/src/pool/restart-policy.ts"], tests: ["restart-policy"] },
  "value-codecs": {
    mutate: ["ts/src/values/encode.ts", "ts/src/values/decode.ts", "ts/src/values/dtype.ts", "ts/src/values/tensor.ts"],
    tests: ["values", "value-codec-edges", "variable-types"],
  },
};

// The commit log's shared (Redis) path: everything of commit-log.ts that commit-log-local
// leaves out (the follower, catch-ups and reloads, conflicts and retries, the turn and time
// bounds, a large commit's hold), against one quick test file on a private Redis instead of
// the whole-system Redis suites (minutes per mutant).
TS_MODULES["commit-log-shared"] = {
  mutate: otherRanges("ts/src/store/commit-log.ts", TS_MODULES["commit-log-local"].mutate),
  tests: ["commit-log-shared"],
  // Its test file takes ~5 s whole; a mutant that leaves a test waiting (a wait for Redis or a
  // turn that never comes) is stopped after 1.5 times that plus this, not after the 20 s the
  // other modules allow (which made a whole run take longer than its time box). Still several
  // times a loaded machine's slowest clean run, so a slow but correct run is not counted as killed.
  timeoutMS: 8_000,
};

/**
 * Seconds one Python test may take in a mutation run before pytest-timeout fails it (the
 * suite's own bound is 120). A mutant that leaves a watch or a read waiting forever is then
 * killed in seconds, not held for mutmut's wall-clock bound; no test of these modules takes
 * more than a few seconds on the shared machine when nothing is mutated (mutmut's clean run
 * under this bound checks that before any mutant runs).
 */
const PY_TEST_TIMEOUT_S = 20;

/** The Python modules: mutmut mutates these files and runs these tests (python/tests/...). */
const PY_MODULES = {
  "py-cache": {
    mutate: ["dspy_bridge/session/_cache.py"],
    tests: ["tests/session/test_cache_edges.py", "tests/session/test_cache.py"],
  },
  // The value envelope's Python side (the TypeScript side is "value-codecs"): the shared vectors and the Python cases.
  "py-values": {
    mutate: ["dspy_bridge/values/_encode.py", "dspy_bridge/values/_decode.py"],
    tests: ["tests/values/test_values.py"],
    // Pure encoding and decoding: no host to talk to.
    host: false,
  },
  "py-watch": {
    mutate: ["dspy_bridge/session/_watch.py"],
    tests: [
      "tests/session/test_watch_edges.py",
      "tests/session/test_watch.py",
      "tests/session/test_variables.py",
      "tests/session/test_sync.py",
      // A watch inside a worker, on its connection to the host: the file's own hosts, started
      // per mutant (their workers inherit the mutant's selection from the test's environment).
      "tests/session/test_watch_in_worker.py",
    ],
    // test_watch_edges.py's hosts of their own (a three-commit event log; a store on a Redis
    // the test pauses), started once for the run: per mutant their start-up outlasts the tests.
    extraHosts: true,
  },
};

const args = process.argv.slice(2);
const minutesIdx = args.indexOf("--minutes");
const minutes = minutesIdx >= 0 ? Number(args[minutesIdx + 1]) : 30;
// --tests a,b: only these test files for the named module (a quicker, partial measure: say so when reporting it).
const testsIdx = args.indexOf("--tests");
const onlyTests = testsIdx >= 0 ? args[testsIdx + 1].split(",") : undefined;
// --mutants a,b: only these mutants of a Python module (names or globs, as `mutmut results` lists them):
// survivors run again against added tests (what was killed stays killed when tests are only added).
const mutantsIdx = args.indexOf("--mutants");
const onlyMutants = mutantsIdx >= 0 ? args[mutantsIdx + 1].split(",") : [];
const valued = new Set(["--minutes", "--tests", "--mutants"]);
const names = args.filter((a, i) => !a.startsWith("--") && !valued.has(args[i - 1]));
const all = { ...TS_MODULES, ...PY_MODULES };
if (args.includes("--list")) {
  for (const [name, m] of Object.entries(all))
    console.log(`${name.padEnd(16)} ${m.mutate.join(", ")}  <- ${m.tests.join(", ")}`);
  process.exit(0);
}
const unknown = names.filter((n) => !(n in all));
if (unknown.length) {
  console.error(`unknown module(s) ${unknown.join(", ")}; known: ${Object.keys(all).join(", ")}`);
  process.exit(2);
}
const chosen = names.length ? names : Object.keys(all);
const reports = join(root, "reports/mutation");
mkdirSync(reports, { recursive: true });

/** The last progress line Stryker printed ("... 396/548 tested (79 survived, 0 timed out)"). */
let lastProgress;

/** Runs a command with a time box; resolves with its exit code, or "timeout". */
function boxed(cmd, argv, options) {
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { stdio: ["ignore", "pipe", "inherit"], detached: true, ...options });
    child.stdout.on("data", (chunk) => {
      process.stdout.write(chunk);
      const progress = [...String(chunk).matchAll(/(\d+)\/(\d+) tested \((\d+) survived, (\d+) timed out\)/g)].at(-1);
      if (progress) lastProgress = progress.slice(1).map(Number);
    });
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {}
      resolve("timeout");
    }, minutes * 60_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** Stryker's configuration for one module (written next to its report). */
function strykerConfig(name, m) {
  return {
    $schema: "../../node_modules/@stryker-mutator/core/schema/stryker-schema.json",
    mutate: m.mutate,
    testRunner: "tap",
    tap: { testFiles: m.tests.map((t) => `ts/dist/test/${t}.test.js`), forceBail: true },
    // Per test file: a mutant runs only the files that reach it.
    coverageAnalysis: "perTest",
    // The sandbox gets the sources and builds them once with every mutant switched in.
    buildCommand: "npx tsc -b ts",
    ignorePatterns: [
      "/.venv",
      "/.venvs",
      "/.cache",
      "/python",
      "/bench",
      "/docs",
      "/examples",
      "/reports",
      "/ts/dist",
      "/ts/python",
      "*.tgz",
    ],
    concurrency: 1,
    // A later run re-tests only the mutants whose code or covering tests changed since this one.
    incremental: true,
    incrementalFile: `reports/mutation/${name}/stryker-incremental.json`,
    timeoutMS: m.timeoutMS ?? 20_000,
    reporters: ["clear-text", "json", "html", "progress"],
    jsonReporter: { fileName: `reports/mutation/${name}/mutation.json` },
    htmlReporter: { fileName: `reports/mutation/${name}/index.html` },
    tempDirName: `.stryker-tmp`,
    cleanTempDir: "always",
    plugins: ["@stryker-mutator/tap-runner"],
  };
}

/** Mutation score (killed + timeout) / (all - no coverage ignored? no: all valid) from Stryker's JSON report. */
function strykerScore(file) {
  const report = JSON.parse(readFileSync(file, "utf8"));
  const out = {};
  for (const [path, f] of Object.entries(report.files)) {
    const counts = {};
    for (const mu of f.mutants) counts[mu.status] = (counts[mu.status] ?? 0) + 1;
    const detected = (counts.Killed ?? 0) + (counts.Timeout ?? 0);
    const valid = detected + (counts.Survived ?? 0) + (counts.NoCoverage ?? 0);
    out[path] = {
      detected,
      valid,
      score: valid ? (100 * detected) / valid : 100,
      survived: f.mutants
        .filter((mu) => mu.status === "Survived" || mu.status === "NoCoverage")
        .map(
          (mu) =>
            `${path}:${mu.location.start.line} ${mu.mutatorName}${mu.replacement ? ` -> ${mu.replacement.split("\n")[0].slice(0, 60)}` : ""}`,
        ),
    };
  }
  return out;
}

const results = [];
let redis;
if (args.includes("--report-only")) {
  for (const name of chosen.filter((n) => n in PY_MODULES))
    results.push({ name, ...mutmutScore(name, PY_MODULES[name], "(earlier run)") });
  chosen.length = 0;
}
for (const name of chosen) {
  console.error(`\n=== mutation: ${name} (time box ${minutes} min) ===`);
  if (name in TS_MODULES) {
    const m = onlyTests ? { ...TS_MODULES[name], tests: onlyTests } : TS_MODULES[name];
    const dir = join(reports, name);
    mkdirSync(dir, { recursive: true });
    const config = join(dir, "stryker.config.json");
    writeFileSync(config, JSON.stringify(strykerConfig(name, m), null, 2));
    if (m.tests.some((t) => t.includes("redis") || t === "store-conformance") && !process.env.DSPY_BRIDGE_TEST_REDIS)
      redis ??= await startRedis();
    const env = { ...process.env, ...(redis ? { DSPY_BRIDGE_TEST_REDIS: redis.url } : {}), ...m.env };
    lastProgress = undefined;
    rmSync(join(dir, "mutation.json"), { force: true });
    const code = await boxed(join(root, "node_modules/.bin/stryker"), ["run", config], { cwd: root, env });
    const json = join(dir, "mutation.json");
    if (code === "timeout" && lastProgress) {
      // Stryker writes its report at the end: what it had tested when the time box closed.
      const [tested, total, survived] = lastProgress;
      const label = `${m.mutate.join(", ")} (time box: ${tested} of ${total} mutants tested)`;
      const score = (100 * (tested - survived)) / tested;
      results.push({ name, files: { [label]: { detected: tested - survived, valid: tested, score, survived: [] } } });
    } else if (code === "timeout" || !existsSync(json))
      results.push({ name, outcome: code === "timeout" ? `stopped after ${minutes} min` : `stryker exited ${code}` });
    else results.push({ name, files: strykerScore(json) });
  } else {
    const m = onlyTests ? { ...PY_MODULES[name], tests: onlyTests } : PY_MODULES[name];
    results.push({ name, ...(await mutmut(name, m)) });
  }
}
await redis?.stop();

/**
 * mutmut 3 in a copy of python/ (it writes mutants/ beside the sources): the module's files
 * mutated, its tests run against them; the session tests start their own host (built TS).
 */
async function mutmut(name, m) {
  const work = join(reports, name, "work");
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  spawnSync("cp", ["-r", join(root, "python/dspy_bridge"), join(root, "python/tests"), work]);
  const pyproject = readFileSync(join(root, "python/pyproject.toml"), "utf8").replace(
    /\n\[tool\.mutmut\][\s\S]*?(?=\n\[|$)/,
    "",
  );
  writeFileSync(
    join(work, "pyproject.toml"),
    `${pyproject}\n[tool.mutmut]\nsource_paths = ["dspy_bridge"]\nonly_mutate = ${JSON.stringify(m.mutate)}\npytest_add_cli_args_test_selection = ${JSON.stringify(m.tests)}\npytest_add_cli_args = ${JSON.stringify(["-p", "no:cacheprovider", "-q", `--timeout=${PY_TEST_TIMEOUT_S}`])}\n# grpc is not fork-safe once a channel has run: each mutant forks from a server process that\n# has imported the tests (collection opens no channel) but run none.\nprocess_isolation = "forkserver"\nforkserver_warmup = "collect"\n# A mutant's wall-clock bound is (its tests' time + timeout_constant) x timeout_multiplier seconds:\n# mutmut's default multiplier (15) let one mutant that hangs an async test hold the run for a quarter of an hour.\ntimeout_constant = 30\ntimeout_multiplier = 2.0\n`,
  );
  const python = join(root, ".venv/bin/python");
  // One host for every mutant's test run (the session tests' fixture uses it instead of
  // starting its own: seconds per mutant otherwise). mutmut puts its mutants/ first on the
  // path; the tests find the repository through DSPY_BRIDGE_TEST_REPO.
  const token = randomBytes(24).toString("base64url");
  const hosts = [];
  const env = { ...process.env, DSPY_BRIDGE_TEST_REPO: root };
  let code;
  try {
    if (m.host !== false) {
      const host = await startHost(token, ["serve", "--listen", "LISTEN", "--workers", "1", "--preload", ""]);
      hosts.push(host);
      Object.assign(env, { DSPY_BRIDGE_TEST_HOST_ADDRESS: host.address, DSPY_BRIDGE_TEST_HOST_TOKEN: token });
    }
    if (m.extraHosts) {
      const smallLog = await startHost(token, [
        join(root, "python/tests/session/small_log_host.mjs"),
        join(root, "ts/dist/src/index.js"),
        "LISTEN",
      ]);
      hosts.push(smallLog);
      redis ??= await startRedis();
      const onRedis = await startHost(token, [
        ...["serve", "--listen", "LISTEN", "--workers", "1", "--preload", "", "--store", redis.url],
      ]);
      hosts.push(onRedis);
      Object.assign(env, {
        DSPY_BRIDGE_TEST_SMALL_LOG_HOST_ADDRESS: smallLog.address,
        DSPY_BRIDGE_TEST_REDIS_HOST_ADDRESS: onRedis.address,
        DSPY_BRIDGE_TEST_REDIS_HOST_PORT: String(redis.port),
      });
    }
    code = await boxed(python, ["-m", "mutmut", "run", "--max-children", "1", ...onlyMutants], { cwd: work, env });
  } finally {
    for (const host of hosts) host.stop();
  }
  return mutmutScore(name, m, code);
}

/** The score of a mutmut run from its results (after a time box: of the mutants it checked). */
function mutmutScore(name, m, code) {
  const work = join(reports, name, "work");
  const python = join(root, ".venv/bin/python");
  const env = { ...process.env, DSPY_BRIDGE_TEST_REPO: root };
  const listing = spawnSync(python, ["-m", "mutmut", "results", "--all", "true"], { cwd: work, env, encoding: "utf8" });
  const counts = {};
  const survived = [];
  for (const line of listing.stdout.split("\n")) {
    const match = /^\s*(\S+): (\w[\w ]*)$/.exec(line);
    if (!match) continue;
    counts[match[2]] = (counts[match[2]] ?? 0) + 1;
    if (match[2] === "survived" || match[2] === "no tests") survived.push(match[1]);
  }
  const detected = (counts.killed ?? 0) + (counts.timeout ?? 0);
  const valid = detected + (counts.survived ?? 0) + (counts["no tests"] ?? 0);
  if (!valid) return { outcome: `mutmut exited ${code}; no results` };
  const unchecked = counts["not checked"] ?? 0;
  const label = `${m.mutate.join(", ")}${unchecked ? ` (time box: ${unchecked} mutants not checked)` : ""}`;
  return { files: { [label]: { detected, valid, score: (100 * detected) / valid, survived } } };
}

/**
 * A host on a private Unix socket: `dspy-bridge <argv>` when argv starts with "serve", else
 * `node <argv>` (a script); "LISTEN" in argv is replaced by the socket's address. Resolves
 * with its address once it prints its ready event.
 */
function startHost(token, argv) {
  const dir = mkdtempSync(join(tmpdir(), "dspy-bridge-mutation-"));
  const listen = `unix:${join(dir, "bridge.sock")}`;
  const args = argv.map((a) => (a === "LISTEN" ? listen : a));
  const child = spawn(process.execPath, argv[0] === "serve" ? [join(root, "ts/bin/dspy-bridge.js"), ...args] : args, {
    env: { ...process.env, DSPY_BRIDGE_TOKEN: token },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const stop = () => {
    child.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  };
  return new Promise((resolve, reject) => {
    let buffered = "";
    child.stdout.on("data", (chunk) => {
      buffered += chunk;
      for (const line of buffered.split("\n").slice(0, -1)) {
        try {
          const event = JSON.parse(line);
          if (event.event === "ready") resolve({ address: event.address, stop });
        } catch {}
      }
      buffered = buffered.slice(buffered.lastIndexOf("\n") + 1);
    });
    child.on("exit", (code) =>
      reject(new Error(`the host for the Python mutation runs exited (${code}) before it was ready`)),
    );
  });
}

console.error("\n=== mutation scores ===");
for (const r of results) {
  if (r.outcome) {
    console.error(`${r.name}: ${r.outcome}`);
    continue;
  }
  for (const [file, f] of Object.entries(r.files)) {
    console.error(`${r.name.padEnd(16)} ${file}: ${f.score.toFixed(1)}% (${f.detected}/${f.valid} detected)`);
    for (const s of f.survived) console.error(`    survived: ${s}`);
  }
}
