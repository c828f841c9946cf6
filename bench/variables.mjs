#!/usr/bin/env node
// Variables: cache-hit and cache-miss reads from Python, a batch read of 10, set throughput
// on the host, and one update delivered to 100 Python watchers. The Python figures come
// from bench/fixtures/variables_bench.py run against this process's host; the worker's
// cache-miss reads and watch deliveries (over its own connection and over gRPC) from
// bench/fixtures/worker_reads.py.
// Run: npm run bench:variables [-- --reads N --rounds N --seconds S]
import { spawn } from "node:child_process";
import { join } from "node:path";
import { parseOptions } from "./lib/cli.mjs";
import { loadBridge } from "./lib/bridge.mjs";
import { round } from "./lib/stats.mjs";
import { printTable, printTargets, printFinal, progress, fmtFixed, fmtInt } from "./lib/report.mjs";
import { ROOT as REPO_ROOT, VENV_PYTHON } from "./lib/paths.mjs";

const opts = parseOptions(
  {
    reads: { type: "int", default: 200000, help: "cache-hit reads timed in Python" },
    rounds: { type: "int", default: 40, help: "updates delivered to the 100 watchers" },
    seconds: { type: "number", default: 2, help: "host set-throughput duration" },
  },
  "node bench/variables.mjs [--reads N] [--rounds N] [--seconds S]",
);
const log = progress("variables");
const Bridge = await loadBridge();
const bridge = await Bridge.start({
  workers: 1,
  preload: [],
  modules: ["worker_reads"],
  pythonPath: [join(REPO_ROOT, "bench/fixtures")],
  onLog: () => {},
});
let python;
let worker;
let hostSetPerS;
try {
  // Host set throughput: in-process writes through the store (validation, version, history, log).
  const host = await bridge.sessions.create({ id: "bench-host" });
  await host.variables.define("t", "float", 0, { constraints: { min: 0, max: 1e12 } });
  log(`host set throughput for ${opts.seconds}s`);
  let n = 0;
  const end = performance.now() + opts.seconds * 1000;
  const t0 = performance.now();
  while (performance.now() < end) {
    for (let i = 0; i < 1000; i++) await host.variables.set("t", n++);
  }
  hostSetPerS = n / ((performance.now() - t0) / 1000);

  const session = await bridge.sessions.create({ id: "bench-py" });
  await session.variables.defineMany([
    { name: "x", type: "float", initialValue: 0.5 },
    { name: "fan", type: "float", initialValue: -1 },
    ...Array.from({ length: 10 }, (_, i) => ({ name: `v${i}`, type: "float", initialValue: i })),
  ]);
  log("Python: cache hits, misses, batch of 10, 100 watchers");
  python = await new Promise((resolve, reject) => {
    const child = spawn(
      VENV_PYTHON,
      [join(REPO_ROOT, "bench/fixtures/variables_bench.py"), "bench-py", String(opts.reads), String(opts.rounds)],
      {
        env: {
          ...process.env,
          DSPY_BRIDGE_ADDRESS: bridge.address,
          DSPY_BRIDGE_TOKEN: bridge.secret,
          PYTHONPATH: join(REPO_ROOT, "python"),
        },
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("exit", (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`variables_bench.py exited with ${code}`)),
    );
  });

  log("worker: cache-miss reads over its connection and over gRPC");
  worker = await bridge.execute("bench_worker_reads", { name: "x", reads: 4000, rounds: 8 }, { session: session.id });

  log("worker: watch deliveries over its connection and over gRPC");
  await session.variables.defineMany([
    { name: "stamp", type: "float", initialValue: 0 },
    { name: "stamp_ready", type: "float", initialValue: 0 },
  ]);
  const watchDelays = { connection: [], grpc: [] };
  for (let r = 0; r < 8; r++) {
    for (const route of r % 2 === 0 ? ["connection", "grpc"] : ["grpc", "connection"]) {
      const before = await session.variables.get("stamp_ready");
      const done = bridge.execute(
        "bench_worker_watch",
        { name: "stamp", ready_name: "stamp_ready", updates: 25, route },
        { session: session.id, timeoutMs: 60_000 },
      );
      let finished = false;
      done.finally(() => (finished = true)).catch(() => {});
      while (!finished && (await session.variables.get("stamp_ready")) === before)
        await new Promise((res) => setTimeout(res, 2));
      // A set 4 ms after the last was acknowledged: each is its own delivery, stamped with
      // CLOCK_MONOTONIC in ms (process.hrtime), which the worker reads too.
      while (!finished) {
        await session.variables.set("stamp", Number(process.hrtime.bigint()) / 1e6);
        await new Promise((res) => setTimeout(res, 4));
      }
      watchDelays[route].push((await done).p50_ms);
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  worker.watch_connection_ms = median(watchDelays.connection);
  worker.watch_grpc_ms = median(watchDelays.grpc);
} finally {
  await bridge.close();
}

printTable(
  ["measure", "value"],
  [
    ["cache-hit read from Python (µs)", fmtFixed(python.cache_hit_read_us, 2)],
    ["cache-miss read from Python, p50 (µs)", fmtFixed(python.cache_miss_read_p50_us)],
    ["cache-miss read in a worker, over its connection, p50 (µs)", fmtFixed(worker.connection)],
    ["cache-miss read in a worker, over gRPC, p50 (µs)", fmtFixed(worker.grpc)],
    ["a set reaching a worker's watch, over its connection, p50 (ms)", fmtFixed(worker.watch_connection_ms, 2)],
    ["a set reaching a worker's watch, over gRPC, p50 (ms)", fmtFixed(worker.watch_grpc_ms, 2)],
    ["batch read of 10, one round trip, p50 (µs)", fmtFixed(python.batch10_read_p50_us)],
    ["host set throughput (sets/s)", fmtInt(hostSetPerS)],
    ["one update to 100 watchers, p50 (ms)", fmtFixed(python.watch_fanout_100_p50_ms, 2)],
    ["one update to 100 watchers, p99 (ms)", fmtFixed(python.watch_fanout_100_p99_ms, 2)],
  ],
  {
    title: `Variables (${opts.reads} cached reads, ${opts.rounds} fan-out rounds × 100 watchers = ${python.watch_fanout_samples} deliveries)`,
  },
);
printTargets([
  { name: "cache_hit_read_us", value: round(python.cache_hit_read_us, 2), op: "<=", target: 5 },
  { name: "watch_fanout_100_p99_ms", value: round(python.watch_fanout_100_p99_ms, 2), op: "<=", target: 20 },
]);
printFinal({
  bench: "variables",
  cache_hit_read_us: round(python.cache_hit_read_us, 2),
  cache_miss_read_p50_us: round(python.cache_miss_read_p50_us, 1),
  batch10_read_p50_us: round(python.batch10_read_p50_us, 1),
  worker_read_p50_us: round(worker.connection, 1),
  worker_read_grpc_p50_us: round(worker.grpc, 1),
  worker_watch_p50_ms: round(worker.watch_connection_ms, 3),
  worker_watch_grpc_p50_ms: round(worker.watch_grpc_ms, 3),
  host_set_per_s: round(hostSetPerS),
  watch_fanout_100_p99_ms: round(python.watch_fanout_100_p99_ms, 2),
});
process.exit(0);
