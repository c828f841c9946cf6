#!/usr/bin/env node
// Configuration spaces: seeded sampling throughput of a 20-variable space with 5
// cross-variable constraints (testdata/config-spaces.json "twenty"), with its acceptance rate,
// and validation throughput on the accepted samples. In-process (TypeScript); no workers.
// Run: npm run bench:config [-- --samples N --rounds N]
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseOptions } from "./lib/cli.mjs";
import { round } from "./lib/stats.mjs";
import { printTable, printFinal, progress, fmtInt } from "./lib/report.mjs";
import { ROOT } from "./lib/paths.mjs";

const opts = parseOptions(
  {
    samples: { type: "int", default: 20000, help: "samples per round" },
    rounds: { type: "int", default: 5, help: "timed rounds (best is reported)" },
  },
  "node bench/config.mjs [--samples N] [--rounds N]",
);
const log = progress("config");
const { compileSpace, sample, validate } = await import(join(ROOT, "ts", "dist", "src", "config", "index.js"));
const vectors = JSON.parse(readFileSync(join(ROOT, "testdata", "config-spaces.json"), "utf8"));
const space = compileSpace(vectors.spaces.twenty);

sample(space, 2000, 1); // warm-up
let best = 0;
let result;
for (let r = 0; r < opts.rounds; r++) {
  log(`round ${r + 1}/${opts.rounds}: ${opts.samples} samples`);
  const t0 = performance.now();
  result = sample(space, opts.samples, 1000 + r);
  const perS = opts.samples / ((performance.now() - t0) / 1000);
  best = Math.max(best, perS);
}
const t1 = performance.now();
for (const s of result.samples) if (!validate(space, s).ok) throw new Error("a sample violated the space");
const validatePerS = result.samples.length / ((performance.now() - t1) / 1000);

printTable(
  ["measure", "value"],
  [
    ["variables", space.variables.length],
    ["cross-variable constraints", space.constraints.length],
    ["samples/s (best round)", fmtInt(best)],
    ["acceptance rate", round(result.acceptanceRate, 4)],
    ["validations/s", fmtInt(validatePerS)],
  ],
  { title: "Configuration space sampling (TypeScript, in-process)" },
);
printFinal({
  bench: "config",
  samples_per_s: round(best),
  acceptance_rate: round(result.acceptanceRate, 4),
  validations_per_s: round(validatePerS),
});
