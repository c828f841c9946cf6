#!/usr/bin/env node
// DSPy through the bridge: Predict calls/s with a zero-latency scripted LM on 2 workers,
// against pythonia driving DSPy directly (same interpreter, same LM) in the same run; and
// 1,000 concurrent Predict calls on a 100 ms scripted LM.
// Run: npm run bench:dspy [-- --seconds S --concurrency N]
import { join } from "node:path";
import { parseOptions } from "./lib/cli.mjs";
import { loadBridge } from "./lib/bridge.mjs";
import { throughputInterleaved } from "./lib/runner.mjs";
import { round, ratio } from "./lib/stats.mjs";
import { printTable, printTargets, printFinal, progress, fmtInt, fmtFixed } from "./lib/report.mjs";
import { ROOT } from "./lib/paths.mjs";
import { startPythonia } from "./lib/pythonia.mjs";

const opts = parseOptions(
  {
    seconds: { type: "number", default: 3, help: "timed closed-loop duration per system (split over the rounds)" },
    warmup: { type: "number", default: 3, help: "untimed closed-loop seconds per system first" },
    rounds: { type: "int", default: 6, help: "interleaved throughput rounds (figures pool all rounds)" },
    concurrency: { type: "int", default: 64, help: "calls kept in flight for throughput" },
    burst: { type: "int", default: 1000, help: "concurrent calls on the 100 ms LM" },
  },
  "node bench/dspy.mjs [--seconds S] [--warmup S] [--rounds N] [--concurrency N] [--burst N]",
);
const log = progress("dspy");
const Bridge = await loadBridge();
const bridge = await Bridge.start({ workers: 2, onLog: () => {} });
let py;
let bridgeRate;
let pythoniaRate;
let burstSeconds;
try {
  log("pythonia: DSPy Predict driven directly");
  process.env.PYTHONPATH = [join(ROOT, "python"), process.env.PYTHONPATH].filter(Boolean).join(":");
  py = await startPythonia("pythonia_dspy.py");

  // usage: false — pythonia's side does not track token usage either: the same work on both.
  const predict = (i) =>
    bridge.dspy.run({
      module: "Predict",
      signature: "question -> answer",
      inputs: { question: `q${i}` },
      lm: { model: "scripted" },
      usage: false,
    });
  const direct = (i) => py.fixture.predict(`q${i}`);
  const [viaBridge, viaPythonia] = [(await predict(0)).fields?.answer, await direct(0)];
  if (viaBridge !== viaPythonia)
    throw new Error(
      `the two systems answer differently: bridge ${JSON.stringify(viaBridge)}, pythonia ${JSON.stringify(viaPythonia)}`,
    );

  // Both systems stay up and are measured in alternating rounds (see throughputInterleaved).
  const rates = await throughputInterleaved(
    [
      { name: "bridge", call: predict },
      { name: "pythonia", call: direct },
    ],
    { rounds: opts.rounds, warmupSeconds: opts.warmup, seconds: opts.seconds, concurrency: opts.concurrency, log },
  );
  bridgeRate = rates.bridge.per_s;
  pythoniaRate = rates.pythonia.per_s;

  log(`bridge: ${opts.burst} concurrent Predict calls on a 100 ms LM`);
  const slow = { model: "scripted", latencyMs: 100 };
  await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      bridge.dspy.run({ module: "Predict", signature: "question -> answer", inputs: { question: `w${i}` }, lm: slow }),
    ),
  );
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: opts.burst }, (_, i) =>
      bridge.dspy.run({ module: "Predict", signature: "question -> answer", inputs: { question: `b${i}` }, lm: slow }),
    ),
  );
  burstSeconds = (performance.now() - t0) / 1000;
} finally {
  py?.close();
  await bridge.close();
}

const throughputRatio = ratio(bridgeRate, pythoniaRate);
printTable(
  ["measure", "value"],
  [
    ["bridge Predict calls/s (2 workers, zero-latency scripted LM)", fmtInt(bridgeRate)],
    ["pythonia Predict calls/s (DSPy directly, same LM)", fmtInt(pythoniaRate)],
    ["throughput ratio", fmtFixed(throughputRatio, 2)],
    [`${opts.burst} concurrent Predict calls on a 100 ms LM (s)`, fmtFixed(burstSeconds, 2)],
  ],
  {
    title: `DSPy through the bridge vs pythonia (${opts.concurrency} in flight, ${opts.seconds}s each after ${opts.warmup}s warm-up, ${opts.rounds} interleaved rounds)`,
  },
);
printTargets([
  { name: "throughput_ratio", value: round(throughputRatio, 3), op: ">=", target: 1.8 },
  { name: "concurrent_1000_s", value: round(burstSeconds, 3), op: "<=", target: 1.5 },
]);
printFinal({
  bench: "dspy",
  predict_per_s: round(bridgeRate),
  pythonia_predict_per_s: round(pythoniaRate),
  throughput_ratio: round(throughputRatio, 3),
  concurrent_1000_s: round(burstSeconds, 3),
});
process.exit(0);
