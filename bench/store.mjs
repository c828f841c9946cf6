#!/usr/bin/env node
// Store backends: set, get and commit (an atomic update of three variables) throughput on
// memory, SQLite (synchronous=FULL: every commit fsynced) and Redis (a private server with
// appendfsync always), one request at a time as a single client sees them; and the watch
// latency from a write on one host to a watcher on another host on the same Redis.
// With --sessions N instead: the time to create N sessions with a TTL, one at a time, on each
// backend (SQLite with synchronous=normal: the session code is measured, not fsync), and the
// rate of the first and the last tenth, which stay alike when a create does not scan them all.
// With --export N instead: one session of N variables on the memory store exported and
// imported (YAML, JSON; dry runs and one real import, on the memory store and on SQLite),
// each with the longest time a 5 ms timer on the host waited meanwhile (what every other
// client would have waited) and the longest the event loop was blocked (perf_hooks'
// monitorEventLoopDelay).
// Run: npm run bench:store [-- --seconds S --rounds N --redis URL] [-- --sessions N] [-- --export N]
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { parseOptions } from "./lib/cli.mjs";
import { BRIDGE_ENTRY, FIXTURES, ROOT } from "./lib/paths.mjs";
import { percentile, round } from "./lib/stats.mjs";
import { fmtFixed, fmtInt, printFinal, printTable, progress } from "./lib/report.mjs";

const opts = parseOptions(
  {
    seconds: { type: "number", default: 1.5, help: "duration of each throughput measurement" },
    rounds: { type: "int", default: 300, help: "cross-host watch deliveries timed" },
    redis: { type: "string", default: "", help: "an existing Redis URL (default: start a private one)" },
    sessions: {
      type: "int",
      default: 0,
      min: 0,
      help: "instead: create this many sessions on each backend and time it (0: off)",
    },
    export: {
      type: "int",
      default: 0,
      min: 0,
      help: "instead: export and import a session of this many variables, timing the host's longest wait (0: off)",
    },
  },
  "node bench/store.mjs [--seconds S] [--rounds N] [--redis URL] [--sessions N] [--export N]",
);
const log = progress("store");
const { openStore } = await import(pathToFileURL(BRIDGE_ENTRY).href);
const { startRedis } = await import(pathToFileURL(join(ROOT, "scripts/redis.mjs")).href);

/** Calls `op(i)` one at a time for `seconds`; returns calls per second. */
async function throughput(op) {
  let n = 0;
  const t0 = performance.now();
  const end = t0 + opts.seconds * 1000;
  while (performance.now() < end) for (let i = 0; i < 50; i++) await op(n++);
  return n / ((performance.now() - t0) / 1000);
}

async function measure(location) {
  const store = await openStore(location);
  try {
    await store.createSession({ sessionId: "bench" });
    await store.register("bench", [
      { name: "t", type: "float", initialValue: 0, constraints: { min: 0, max: 1e12 } },
      ...["x", "y", "z"].map((name) => ({ name, type: "float", initialValue: 0 })),
    ]);
    const set = await throughput((i) => store.set("bench", "t", i));
    const get = await throughput(() => store.get("bench", "t"));
    const commit = await throughput((i) =>
      store.update("bench", [
        { name: "x", value: i },
        { name: "y", value: i },
        { name: "z", value: i },
      ]),
    );
    return { set, get, commit };
  } finally {
    await store.close();
  }
}

/** A second host process writes; this one watches; p50 of write-start -> delivery. */
async function crossHostWatch(location) {
  const watcher = await openStore(location);
  await watcher.createSession({ sessionId: "bench" });
  await watcher.register("bench", [{ name: "w", type: "float", initialValue: -1 }]);
  const delivered = new Map();
  await watcher.watch(
    "bench",
    { names: ["w"] },
    (m) => {
      if (m.kind === "commit")
        for (const c of m.changes) delivered.set(c.value, performance.timeOrigin + performance.now());
    },
    () => {},
  );
  const peer = spawn(process.execPath, [join(FIXTURES, "store_peer.mjs"), location, BRIDGE_ENTRY], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = createInterface({ input: peer.stdout })[Symbol.asyncIterator]();
  await lines.next(); // ready
  const samples = [];
  try {
    for (let i = 0; i < opts.rounds; i++) {
      peer.stdin.write(`set ${i}\n`);
      const { value, sentAt } = JSON.parse((await lines.next()).value);
      const deadline = performance.now() + 2_000;
      while (!delivered.has(value) && performance.now() < deadline) await new Promise((r) => setImmediate(r));
      if (!delivered.has(value)) throw new Error(`write ${value} never reached the other host's watcher`);
      samples.push(delivered.get(value) - sentAt);
    }
  } finally {
    peer.stdin.end();
    peer.kill();
    await watcher.close();
  }
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

/** Creates `n` sessions (1 h TTL) one at a time: total seconds, creates/s of the first and the last tenth. */
async function createSessions(location, n) {
  const store = await openStore(location);
  const tenth = Math.max(1, Math.floor(n / 10));
  const marks = [];
  try {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      if (i % tenth === 0) marks.push(performance.now());
      await store.createSession({ sessionId: `bench-${i}`, ttlMs: 3_600_000 });
    }
    const end = performance.now();
    marks.push(end);
    const rate = (a, b) => tenth / ((b - a) / 1000);
    return { seconds: (end - t0) / 1000, first: rate(marks[0], marks[1]), last: rate(marks.at(-2), marks.at(-1)) };
  } finally {
    await store.close();
  }
}

if (opts.export > 0) {
  const { Store } = await import(pathToFileURL(BRIDGE_ENTRY).href);
  const { exportVariables, importVariables } = await import(
    pathToFileURL(join(ROOT, "ts/dist/src/store/export-import.js")).href
  );
  const store = new Store();
  await store.createSession({ sessionId: "big" });
  log(`registering ${opts.export} variables`);
  for (let i = 0; i < opts.export; i += 1000) {
    const batch = Array.from({ length: Math.min(1000, opts.export - i) }, (_, k) => ({
      name: `v${i + k}`,
      type: ["float", "string", "map"][k % 3],
      initialValue: [0.5, "hello world", { a: 1, b: [1, 2] }][k % 3],
      metadata: { who: "bench" },
    }));
    await store.register("big", batch);
  }
  /** Runs `op`, timing it, the longest wait of a 5 ms timer beside it and the longest block of the event loop. */
  const timed = async (op) => {
    const delay = monitorEventLoopDelay({ resolution: 5 });
    delay.enable();
    let longest = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      longest = Math.max(longest, now - last - 5);
      last = now;
    }, 5);
    const t0 = performance.now();
    const result = await op();
    const seconds = (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 20)); // lets the timer see a wait that ran to the end
    clearInterval(timer);
    delay.disable();
    return { result, seconds, longest, maxBlock: delay.max / 1e6 };
  };
  const rows = [];
  const docs = {};
  for (const format of ["yaml", "json"]) {
    log(`export, ${format}`);
    const r = await timed(() => exportVariables(store, "big", { format }));
    docs[format] = r.result.data;
    rows.push([`export, ${format} (${(r.result.data.length / 1e6).toFixed(1)} MB)`, r]);
  }
  let n = 0;
  for (const format of ["yaml", "json"]) {
    log(`import dry run, ${format}`);
    await store.createSession({ sessionId: `copy${++n}` });
    rows.push([
      `import dry run, ${format}`,
      await timed(() => importVariables(store, `copy${n}`, docs[format], { format, dryRun: true })),
    ]);
  }
  log("import, json");
  await store.createSession({ sessionId: "copy-real" });
  rows.push([
    "import, json (one atomic commit)",
    await timed(() => importVariables(store, "copy-real", docs.json, { format: "json" })),
  ]);
  await store.close();
  // The same import into a SQLite store: the commit is also written, in one transaction.
  log("import, json, sqlite");
  const dir = mkdtempSync(join(tmpdir(), "dspy-bridge-bench-import-"));
  try {
    const sqlite = await openStore(`sqlite:${join(dir, "import.db")}`);
    await sqlite.createSession({ sessionId: "copy-real" });
    rows.push([
      "import, json, sqlite (one atomic commit)",
      await timed(() => importVariables(sqlite, "copy-real", docs.json, { format: "json" })),
    ]);
    await sqlite.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  printTable(
    ["call", "seconds", "longest wait of the host (ms)", "longest event-loop block (ms)"],
    rows.map(([name, r]) => [name, fmtFixed(r.seconds, 2), fmtInt(r.longest), fmtInt(r.maxBlock)]),
    { title: `Export and import of ${opts.export} variables (memory store unless named)` },
  );
  const key = (name) => name.split(" (")[0].replaceAll(/[ ,]+/g, "_");
  printFinal({
    bench: "store-export",
    variables: opts.export,
    ...Object.fromEntries(rows.map(([name, r]) => [`${key(name)}_longest_wait_ms`, round(r.longest)])),
    ...Object.fromEntries(
      rows
        .filter(([name]) => name.startsWith("import, json"))
        .flatMap(([name, r]) => [
          [`${key(name)}_total_ms`, round(r.seconds * 1000)],
          [`${key(name)}_max_block_ms`, round(r.maxBlock)],
        ]),
    ),
  });
  process.exit(0);
}

if (opts.sessions > 0) {
  const dir = mkdtempSync(join(tmpdir(), "dspy-bridge-bench-store-"));
  const redis = opts.redis ? undefined : await startRedis({ log: (l) => log(l) });
  const results = {};
  try {
    for (const [name, location] of [
      ["memory", "memory"],
      ["sqlite", `sqlite:${join(dir, "sessions.db")}?synchronous=normal`],
      ["redis", `${opts.redis || redis.url}?prefix=bench-sessions-${process.pid}:`],
    ]) {
      log(`${name}: creating ${opts.sessions} sessions`);
      results[name] = await createSessions(location, opts.sessions);
    }
  } finally {
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  printTable(
    ["backend", "seconds", "creates/s, first tenth", "creates/s, last tenth"],
    Object.entries(results).map(([b, r]) => [b, fmtFixed(r.seconds, 2), fmtInt(r.first), fmtInt(r.last)]),
    { title: `Creating ${opts.sessions} sessions with a TTL, one at a time (SQLite: synchronous=normal)` },
  );
  printFinal({
    bench: "store-sessions",
    sessions: opts.sessions,
    ...Object.fromEntries(Object.entries(results).map(([b, r]) => [`${b}_seconds`, round(r.seconds, 2)])),
  });
  process.exit(0);
}

const dir = mkdtempSync(join(tmpdir(), "dspy-bridge-bench-store-"));
const redis = opts.redis ? undefined : await startRedis({ log: (l) => log(l) });
const redisUrl = opts.redis || redis.url;
const results = {};
try {
  for (const [name, location] of [
    ["memory", "memory"],
    ["sqlite", `sqlite:${join(dir, "bench.db")}`],
    ["redis", `${redisUrl}?prefix=bench-${process.pid}:`],
  ]) {
    log(`${name}: set, get, commit for ${opts.seconds}s each`);
    results[name] = await measure(location);
  }
  log(`redis: ${opts.rounds} writes on one host, delivered to a watcher on another`);
  results.watch = await crossHostWatch(`${redisUrl}?prefix=bench-watch-${process.pid}:`);
} finally {
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
}

printTable(
  ["backend", "set/s", "get/s", "commit/s (3 variables)"],
  ["memory", "sqlite", "redis"].map((b) => [
    b,
    fmtInt(results[b].set),
    fmtInt(results[b].get),
    fmtInt(results[b].commit),
  ]),
  { title: "Store throughput, one request at a time (SQLite: synchronous=FULL; Redis: appendfsync always, loopback)" },
);
printTable(
  ["measure", "value"],
  [
    ["cross-host watch latency on Redis, p50 (ms)", fmtFixed(results.watch.p50, 2)],
    ["cross-host watch latency on Redis, p99 (ms)", fmtFixed(results.watch.p99, 2)],
  ],
  { title: `Watch latency: a write on one host to a watcher on another (${opts.rounds} writes)` },
);
printFinal({
  bench: "store",
  memory_set_per_s: round(results.memory.set),
  sqlite_set_per_s: round(results.sqlite.set),
  redis_set_per_s: round(results.redis.set),
  memory_commit_per_s: round(results.memory.commit),
  sqlite_commit_per_s: round(results.sqlite.commit),
  redis_commit_per_s: round(results.redis.commit),
  redis_cross_host_watch_p50_ms: round(results.watch.p50, 3),
});
