#!/usr/bin/env node
// Call overhead of dspy-bridge against pythonia and against the floor (a raw
// length-prefixed echo over a Unix socket into a plain Python loop), all in one run:
// sequential round-trip latency (p50/p99) and closed-loop throughput with 64 in flight.
// With --contended, everything is measured twice: on the machine as it is, then beside a
// CPU-bound child process (one core's worth, started and stopped here).
// Prints a table, the targets, then one JSON line. Run: npm run bench:bridge [-- --help]
import { isDeepStrictEqual } from "node:util";
import { parseOptions } from "./lib/cli.mjs";
import { measureInterleaved } from "./lib/runner.mjs";
import { round, ratio } from "./lib/stats.mjs";
import { printTable, printTargets, printFinal, progress, fmtInt, fmtFixed } from "./lib/report.mjs";
import { loadBridge } from "./lib/bridge.mjs";
import { startPythonia } from "./lib/pythonia.mjs";
import { startFloor } from "./lib/floor.mjs";
import { VENV_PYTHON } from "./lib/paths.mjs";
import { startSpinner } from "./lib/procs.mjs";

const TARGET_P50_RATIO = 0.8; // p50_us / pythonia_p50_us, at most
const TARGET_THROUGHPUT_RATIO = 2.0; // throughput_per_s / pythonia_throughput_per_s, at least

const opts = parseOptions(
  {
    calls: { type: "int", default: 10000, help: "timed sequential calls per system" },
    warmup: { type: "int", default: 2000, help: "untimed sequential calls first" },
    seconds: { type: "number", default: 3, help: "timed closed-loop throughput duration" },
    concurrency: { type: "int", default: 64, help: "calls kept in flight for throughput" },
    workers: { type: "int", default: 2, help: "Bridge workers" },
    python: {
      type: "string",
      default: VENV_PYTHON,
      help: "the interpreter of all three systems (e.g. .venvs/py3.12/bin/python)",
    },
    "busy-poll-us": {
      type: "int",
      default: undefined,
      min: 0,
      help: "the Bridge's busyPollUs option (default: the Bridge's own, 100; 0 turns busy polling off)",
    },
    rounds: { type: "int", default: 6, help: "interleaved measurement rounds (figures pool all rounds)" },
    only: { type: "string", default: undefined, choices: ["bridge", "pythonia", "floor"], help: "run one system only" },
    contended: {
      type: "flag",
      default: false,
      help: "measure again beside a CPU-bound process (a child spinning in a tight loop)",
    },
    otel: {
      type: "flag",
      default: false,
      help: "register the OpenTelemetry SDK (batch span processor, periodic metric reader) exporting nowhere: the bridge's spans and metrics on every call",
    },
  },
  "node bench/bridge.mjs [--calls N] [--seconds S] [--busy-poll-us N] [--only bridge|pythonia|floor] [--contended] [--otel] [--python PATH]",
);
const runs = (name) => !opts.only || opts.only === name;
const measureOpts = {
  rounds: opts.rounds,
  warmup: opts.warmup,
  calls: opts.calls,
  concurrency: opts.concurrency,
  seconds: opts.seconds,
  log: progress("bench"),
};

// Fail fast, before spending minutes on the peers, if the product is not importable.
const Bridge = runs("bridge")
  ? await loadBridge("hint: `--only pythonia` or `--only floor` measures the peers without it.")
  : null;

// Start every system first, then measure them side by side (see measureInterleaved).
const systems = [];
const closers = [];
let results;
let contended = { bridge: null, pythonia: null, floor: null };
try {
  if (runs("bridge")) {
    const log = progress("dspy-bridge");
    const busyPollUs = opts["busy-poll-us"];
    if (opts.otel) {
      const { registerNoopOtel } = await import("./lib/otel.mjs");
      closers.push(registerNoopOtel());
      log("OpenTelemetry SDK registered (no-op exporters): every call is traced and metered");
    }
    log(`starting Bridge with ${opts.workers} workers${busyPollUs === undefined ? "" : `, busyPollUs ${busyPollUs}`}`);
    const bridge = await Bridge.start({
      workers: opts.workers,
      python: opts.python,
      onLog: () => {},
      ...(busyPollUs === undefined ? {} : { busyPollUs }),
    });
    closers.push(() => bridge.close());
    const sample = { text: "héllo", n: 42, x: 2.5, flag: true, list: [1, "two", false], nested: { a: "b" } };
    const back = await bridge.execute("echo", { value: sample });
    if (!isDeepStrictEqual(back, sample)) {
      console.error(`[dspy-bridge] WARNING: echo returned ${JSON.stringify(back)}, expected ${JSON.stringify(sample)}`);
    }
    systems.push({ name: "bridge", call: () => bridge.execute("ping", {}) });
  }
  if (runs("pythonia")) {
    const log = progress("pythonia");
    log(`starting pythonia with PYTHON_BIN=${opts.python}`);
    const py = await startPythonia(undefined, { python: opts.python });
    closers.push(() => py.close());
    const exe = await py.fixture.executable();
    log(`pythonia's Python: ${exe}`);
    if (exe !== opts.python) console.error(`[pythonia] WARNING: expected ${opts.python}`);
    const pong = await py.fixture.ping();
    if (pong !== "pong") throw new Error(`pythonia ping() returned ${JSON.stringify(pong)}`);
    systems.push({ name: "pythonia", call: () => py.fixture.ping() });
  }
  if (runs("floor")) {
    const log = progress("floor");
    log("starting floor_echo.py");
    const floor = await startFloor({ python: opts.python });
    closers.push(() => floor.close());
    const probe = '{"id":0,"cmd":"ping"}';
    const echoed = (await floor.call(probe)).toString();
    if (echoed !== probe) throw new Error(`floor echoed ${JSON.stringify(echoed)}`);
    systems.push({ name: "floor", call: (i) => floor.call(`{"id":${i},"cmd":"ping"}`) });
  }
  results = { bridge: null, pythonia: null, floor: null, ...(await measureInterleaved(systems, measureOpts)) };
  if (opts.contended) {
    const log = progress("contended");
    const spinner = await startSpinner();
    closers.push(() => spinner.stop());
    log(`a CPU-bound process (pid ${spinner.pid}) spins beside the systems; measuring them again`);
    contended = { ...contended, ...(await measureInterleaved(systems, measureOpts)) };
    await spinner.stop();
    log("the CPU-bound process is stopped");
  }
} finally {
  for (const close of closers.reverse()) await close();
}

const { bridge: b, pythonia: p, floor: f } = results;
const p50Ratio = ratio(b?.p50_us, p?.p50_us);
const throughputRatio = ratio(b?.throughput_per_s, p?.throughput_per_s);
const { bridge: cb, pythonia: cp, floor: cf } = contended;
const contendedP50Ratio = ratio(cb?.p50_us, cp?.p50_us);
const contendedThroughputRatio = ratio(cb?.throughput_per_s, cp?.throughput_per_s);

const row = (name, r, py) => [
  name,
  fmtFixed(r?.p50_us),
  fmtFixed(r?.p99_us),
  fmtFixed(r?.mean_us),
  fmtInt(r?.throughput_per_s),
  r ? `${fmtInt(r.throughput_calls)} in ${r.throughput_seconds.toFixed(2)}s` : null,
  fmtFixed(ratio(r?.p50_us, py?.p50_us), 2),
  fmtFixed(ratio(r?.throughput_per_s, py?.throughput_per_s), 2),
];
const headers = [
  "system",
  "p50 µs",
  "p99 µs",
  "mean µs",
  "calls/s",
  "throughput run",
  "p50 vs pythonia",
  "calls/s vs pythonia",
];
const title =
  `Trivial call round trip: ${opts.calls} sequential calls after ${opts.warmup} warm-up; ` +
  `throughput with ${opts.concurrency} in flight for ${opts.seconds}s (Bridge: ${opts.workers} workers); ` +
  `${opts.rounds} interleaved rounds`;
printTable(headers, [row("dspy-bridge", b, p), row("pythonia", p, p), row("floor (raw socket echo)", f, p)], { title });
if (opts.contended) {
  printTable(headers, [row("dspy-bridge", cb, cp), row("pythonia", cp, cp), row("floor (raw socket echo)", cf, cp)], {
    title: `The same beside one CPU-bound process (a child spinning in a tight loop)`,
  });
}
printTargets([
  { name: "p50_ratio", value: round(p50Ratio, 3), op: "<=", target: TARGET_P50_RATIO },
  { name: "throughput_ratio", value: round(throughputRatio, 3), op: ">=", target: TARGET_THROUGHPUT_RATIO },
  ...(opts.contended
    ? [
        { name: "contended_p50_ratio", value: round(contendedP50Ratio, 3), op: "<=", target: TARGET_P50_RATIO },
        {
          name: "contended_throughput_ratio",
          value: round(contendedThroughputRatio, 3),
          op: ">=",
          target: TARGET_THROUGHPUT_RATIO,
        },
      ]
    : []),
]);
printFinal({
  bench: "bridge",
  p50_us: round(b?.p50_us, 1),
  p99_us: round(b?.p99_us, 1),
  throughput_per_s: round(b?.throughput_per_s),
  pythonia_p50_us: round(p?.p50_us, 1),
  pythonia_throughput_per_s: round(p?.throughput_per_s),
  floor_p50_us: round(f?.p50_us, 1),
  floor_throughput_per_s: round(f?.throughput_per_s),
  p50_ratio: round(p50Ratio, 3),
  throughput_ratio: round(throughputRatio, 3),
  contended_p50_us: round(cb?.p50_us, 1),
  contended_p99_us: round(cb?.p99_us, 1),
  contended_throughput_per_s: round(cb?.throughput_per_s),
  contended_pythonia_p50_us: round(cp?.p50_us, 1),
  contended_pythonia_throughput_per_s: round(cp?.throughput_per_s),
  contended_floor_p50_us: round(cf?.p50_us, 1),
  contended_floor_throughput_per_s: round(cf?.throughput_per_s),
  contended_p50_ratio: round(contendedP50Ratio, 3),
  contended_throughput_ratio: round(contendedThroughputRatio, 3),
});
process.exit(0);
