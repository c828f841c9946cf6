#!/usr/bin/env node
// Pool start-up with DSPy imported: time until 1 worker is ready and until 4 workers are
// ready (Bridge.start resolves), median of several alternating repetitions; and, as a
// reference, the naive way: 1 vs 4 concurrent `python -c "import dspy"` processes.
// Prints a table, the target, then one JSON line. Run: npm run bench:startup [-- --help]
import { performance } from "node:perf_hooks";
import { parseOptions } from "./lib/cli.mjs";
import { median, round, ratio } from "./lib/stats.mjs";
import { printTable, printTargets, printFinal, progress, fmtFixed } from "./lib/report.mjs";
import { loadBridge } from "./lib/bridge.mjs";
import { runConcurrently } from "./lib/procs.mjs";
import { VENV_PYTHON } from "./lib/paths.mjs";

const TARGET_RATIO = 1.3; // four_workers_ms / one_worker_ms, at most
const FEW = 1;
const MANY = 4;

const opts = parseOptions(
  {
    reps: { type: "int", default: 5, help: "timed repetitions of each measurement (at least 3 recommended)" },
    only: { type: "string", default: undefined, choices: ["bridge", "naive"], help: "run one method only" },
  },
  "node bench/startup.mjs [--reps N] [--only bridge|naive]",
);
const runs = (name) => !opts.only || opts.only === name;

const Bridge = runs("bridge") ? await loadBridge("hint: `--only naive` measures the reference without it.") : null;

async function timeBridge(workers) {
  const t0 = performance.now();
  const b = await Bridge.start({ workers });
  const t = performance.now() - t0;
  await b.close();
  return t;
}

async function timeNaive(count) {
  const t0 = performance.now();
  await runConcurrently(count, VENV_PYTHON, ["-c", "import dspy"]);
  return performance.now() - t0;
}

/**
 * One untimed round, then `reps` rounds alternating FEW and MANY.
 * Returns { few: [ms...], many: [ms...] }.
 */
async function alternate(label, timeIt) {
  const log = progress(label);
  log(`warm-up: ${FEW} and ${MANY} (untimed)`);
  await timeIt(FEW);
  await timeIt(MANY);
  const few = [];
  const many = [];
  for (let i = 0; i < opts.reps; i++) {
    few.push(await timeIt(FEW));
    many.push(await timeIt(MANY));
    log(`rep ${i + 1}/${opts.reps}: ${FEW} → ${few.at(-1).toFixed(0)} ms, ${MANY} → ${many.at(-1).toFixed(0)} ms`);
  }
  return { few, many, fewMs: median(few), manyMs: median(many) };
}

const bridge = runs("bridge") ? await alternate("dspy-bridge", timeBridge) : null;
const naive = runs("naive") ? await alternate("naive", timeNaive) : null;

const bridgeRatio = ratio(bridge?.manyMs, bridge?.fewMs);
const naiveRatio = ratio(naive?.manyMs, naive?.fewMs);
const samples = (r) =>
  r ? `${r.few.map((x) => x.toFixed(0)).join("/")} | ${r.many.map((x) => x.toFixed(0)).join("/")}` : null;

printTable(
  ["method", `${FEW} worker ms`, `${MANY} workers ms`, "ratio", "samples ms (1 | 4)"],
  [
    [
      "dspy-bridge: Bridge.start() until ready",
      fmtFixed(bridge?.fewMs, 0),
      fmtFixed(bridge?.manyMs, 0),
      fmtFixed(bridgeRatio, 2),
      samples(bridge),
    ],
    [
      `naive: concurrent python -c "import dspy"`,
      fmtFixed(naive?.fewMs, 0),
      fmtFixed(naive?.manyMs, 0),
      fmtFixed(naiveRatio, 2),
      samples(naive),
    ],
  ],
  { title: `Start-up with DSPy imported: median of ${opts.reps} alternating repetitions (after one untimed round)` },
);
printTargets([{ name: "ratio (4 workers / 1 worker)", value: round(bridgeRatio, 2), op: "<=", target: TARGET_RATIO }]);
printFinal({
  bench: "startup",
  one_worker_ms: round(bridge?.fewMs, 1),
  four_workers_ms: round(bridge?.manyMs, 1),
  ratio: round(bridgeRatio, 3),
  naive_one_ms: round(naive?.fewMs, 1),
  naive_four_ms: round(naive?.manyMs, 1),
  naive_ratio: round(naiveRatio, 3),
});
process.exit(0);
