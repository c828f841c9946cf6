#!/usr/bin/env node
// Large values through the bridge: round trips (echo) of bytes (Uint8Array), Float32Array
// and strings, and numpy float32 arrays made by a command (one way, worker -> host), at
// 1 KiB, 64 KiB, 1 MiB, 16 MiB and 64 MiB; pythonia carries the strings (its JSON) for
// comparison. For the 64 MiB case the host's memory (RSS) and the worker's (VmRSS, VmHWM)
// are sampled, to see how many copies a transfer holds. CPU time per transfer (host and
// worker) is reported beside the wall time: on a loaded machine it is the steadier figure.
// Prints a table, the targets, then one JSON line. Run: npm run bench:payload [-- --help]
import { readFileSync } from "node:fs";
import { parseOptions } from "./lib/cli.mjs";
import { median, round, ratio } from "./lib/stats.mjs";
import { printTable, printTargets, printFinal, progress, fmtFixed } from "./lib/report.mjs";
import { loadBridge } from "./lib/bridge.mjs";
import { startPythonia } from "./lib/pythonia.mjs";
import { FIXTURES, VENV_PYTHON } from "./lib/paths.mjs";

const KiB = 1024;
const MiB = 1024 * KiB;
const SIZES = [
  ["1 KiB", KiB],
  ["64 KiB", 64 * KiB],
  ["1 MiB", MiB],
  ["16 MiB", 16 * MiB],
  ["64 MiB", 64 * MiB],
];
const TARGET_BYTES_1M_MS = 2; // at most
const TARGET_F32_64M_GIB_S = 1; // at least, both ways (2 x payload / round trip)
const TARGET_STRING_RATIO = 5; // pythonia's 1 MiB string time / the bridge's, at least
const TARGET_MEMORY_X = 3; // transient memory per side, in payloads, at most

const opts = parseOptions(
  {
    reps: {
      type: "int",
      default: 20,
      help: "timed transfers per kind at 1 MiB (more for smaller sizes, fewer for larger: at least 3)",
    },
    python: { type: "string", default: VENV_PYTHON, help: "the interpreter of the Bridge's worker and of pythonia" },
    "pythonia-max-mib": {
      type: "int",
      default: 16,
      help: "largest string sent through pythonia (it is slow with large ones)",
    },
    "skip-pythonia": { type: "flag", default: false, help: "measure the bridge only" },
  },
  "node bench/payload.mjs [--reps N] [--pythonia-max-mib N] [--skip-pythonia] [--python PATH]",
);
const log = progress("payload");

/** More transfers of small values, fewer of large ones (at least 3, at most 500). */
const repsFor = (size) => Math.min(500, Math.max(3, Math.round(opts.reps * Math.sqrt(MiB / size))));
const gibPerS = (bytes, ms) => bytes / (1024 * MiB) / (ms / 1000);

function procStat(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) * (1000 / 100); // utime + stime, clock ticks (100/s) -> ms
}

function procMemMb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? NaN);
  return { rss: kb("VmRSS") / 1024, hwm: kb("VmHWM") / 1024 };
}

/** Times `reps` sequential transfers: median wall ms, host and worker CPU ms per transfer. */
async function timeIt(reps, once, workerPid) {
  await once(); // warm: first-use allocations and code paths
  const walls = [];
  const host0 = process.cpuUsage();
  const worker0 = workerPid ? procStat(workerPid) : 0;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await once();
    walls.push(performance.now() - t0);
  }
  const host = process.cpuUsage(host0);
  return {
    ms: median(walls),
    hostCpuMs: (host.user + host.system) / 1000 / reps,
    workerCpuMs: workerPid ? (procStat(workerPid) - worker0) / reps : null,
  };
}

/** Peak growth of the host's RSS and the worker's resident memory while `run` runs, in MiB. */
async function peakMemory(run, workerPid) {
  globalThis.gc?.();
  const hostBase = process.memoryUsage().rss / MiB;
  const workerBase = procMemMb(workerPid);
  let hostPeak = hostBase;
  let workerPeak = workerBase.rss;
  const sample = () => {
    hostPeak = Math.max(hostPeak, process.memoryUsage().rss / MiB);
    workerPeak = Math.max(workerPeak, procMemMb(workerPid).rss);
  };
  const timer = setInterval(sample, 2);
  try {
    await run();
  } finally {
    clearInterval(timer);
  }
  sample();
  // VmHWM catches a worker peak between samples (when the worker's peak so far was lower).
  const hwm = procMemMb(workerPid).hwm;
  if (hwm > workerBase.hwm) workerPeak = Math.max(workerPeak, hwm);
  return { host: hostPeak - hostBase, worker: workerPeak - workerBase.rss };
}

const Bridge = await loadBridge();
log("starting Bridge with 1 worker");
const bridge = await Bridge.start({
  workers: 1,
  python: opts.python,
  preload: [],
  modules: ["payload_commands"],
  pythonPath: [FIXTURES],
  maxMessageBytes: 256 * MiB,
  onLog: () => {},
});
let py;
const rows = [];
const results = {};
try {
  const workerPid = bridge.stats().workers[0].pid;
  const kinds = {
    bytes: (n) => {
      const v = new Uint8Array(n).fill(7);
      return () => bridge.execute("echo", { value: v });
    },
    f32: (n) => {
      const v = new Float32Array(n / 4).fill(1.5);
      return () => bridge.execute("echo", { value: v });
    },
    numpy_f32: (n) => () => bridge.execute("numpy_f32", { n: n / 4 }),
    string: (n) => {
      const v = "a".repeat(n);
      return () => bridge.execute("echo", { value: v });
    },
  };
  // Correctness first: what comes back is what went.
  for (const [kind, make] of Object.entries(kinds)) {
    const got = await make(4 * KiB)();
    const ok =
      kind === "string"
        ? got === "a".repeat(4 * KiB)
        : kind === "numpy_f32"
          ? got.data?.length === KiB
          : got.length === (kind === "bytes" ? 4 * KiB : KiB);
    if (!ok) throw new Error(`${kind}: the echo came back wrong`);
  }
  if (!opts["skip-pythonia"]) {
    log("starting pythonia");
    py = await startPythonia(undefined, { python: opts.python });
  }
  for (const [label, size] of SIZES) {
    const reps = repsFor(size);
    for (const [kind, make] of Object.entries(kinds)) {
      log(`${kind} ${label} x ${reps}`);
      const r = await timeIt(reps, make(size), workerPid);
      const moved = kind === "numpy_f32" ? size : 2 * size;
      results[`${kind}_${size}`] = r;
      rows.push([
        `bridge ${kind}`,
        label,
        reps,
        fmtFixed(r.ms, 2),
        fmtFixed(gibPerS(moved, r.ms), 2),
        fmtFixed(r.hostCpuMs, 2),
        fmtFixed(r.workerCpuMs, 2),
      ]);
    }
    if (py && size <= opts["pythonia-max-mib"] * MiB) {
      const s = "a".repeat(size);
      const preps = Math.min(reps, 20);
      log(`pythonia string ${label} x ${preps}`);
      const r = await timeIt(preps, () => py.fixture.echo(s), null);
      results[`pythonia_string_${size}`] = r;
      rows.push([
        "pythonia string",
        label,
        preps,
        fmtFixed(r.ms, 2),
        fmtFixed(gibPerS(2 * size, r.ms), 2),
        fmtFixed(r.hostCpuMs, 2),
        null,
      ]);
    }
  }
  log("memory during the 64 MiB Float32Array round trip");
  const big = kinds.f32(64 * MiB);
  await big();
  results.memory = await peakMemory(big, workerPid);
} finally {
  await py?.close();
  await bridge.close();
}

printTable(["system kind", "size", "reps", "median ms", "GiB/s", "host CPU ms", "worker CPU ms"], rows, {
  title:
    "Large values: round trips (numpy_f32: worker -> host only); GiB/s counts the bytes moved (both ways for a round trip)",
});
const bytes1m = results[`bytes_${MiB}`]?.ms;
const f32 = results[`f32_${64 * MiB}`]?.ms;
const f32GiB = f32 ? gibPerS(2 * 64 * MiB, f32) : null;
const string1m = results[`string_${MiB}`]?.ms;
const pyString1m = results[`pythonia_string_${MiB}`]?.ms ?? null;
const stringRatio = ratio(pyString1m, string1m);
const payloadMb = 64;
printTargets([
  { name: "bytes_1m_ms", value: round(bytes1m, 3), op: "<=", target: TARGET_BYTES_1M_MS },
  { name: "f32_64m_gib_s", value: round(f32GiB, 3), op: ">=", target: TARGET_F32_64M_GIB_S },
  { name: "string_ratio", value: round(stringRatio, 2), op: ">=", target: TARGET_STRING_RATIO },
  { name: "peak_host_mb_64m", value: round(results.memory.host, 1), op: "<=", target: TARGET_MEMORY_X * payloadMb },
  { name: "peak_worker_mb_64m", value: round(results.memory.worker, 1), op: "<=", target: TARGET_MEMORY_X * payloadMb },
]);
printFinal({
  bench: "payload",
  bytes_1m_ms: round(bytes1m, 3),
  f32_64m_gib_s: round(f32GiB, 3),
  string_1m_ms: round(string1m, 3),
  pythonia_string_1m_ms: round(pyString1m, 3),
  string_ratio: round(stringRatio, 2),
  peak_host_mb_64m: round(results.memory.host, 1),
  peak_worker_mb_64m: round(results.memory.worker, 1),
});
