#!/usr/bin/env node
// The dashboard on a large state, measured in a real headless Chromium (Debian's package, as
// the browser test): a host with 100 sessions of 100 variables and a 1,000-trial optimization
// run, its dashboard opened in the browser.
//   first paint: from the page's request to the snapshot's data drawn in it (the page's own
//     performance mark "dashboard:first-paint"; its startTime counts from the request);
//   update: from a variable's commit on the host to its new value in the page's DOM (the
//     page's "dashboard:update" marks: now - the commit's time, same machine and clock), one
//     variable of the session shown at a time, the next set once the previous one is shown.
// Prints a table, the targets, then one JSON line. Run: npm run bench:dashboard [-- --help]
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseOptions } from "./lib/cli.mjs";
import { loadBridge } from "./lib/bridge.mjs";
import { ROOT } from "./lib/paths.mjs";
import { median, percentile, round } from "./lib/stats.mjs";
import { fmtFixed, printFinal, printTable, printTargets, progress } from "./lib/report.mjs";

const TARGET_FIRST_PAINT_MS = 1_000;
const TARGET_UPDATE_MS = 250;

const opts = parseOptions(
  {
    sessions: { type: "int", default: 100, help: "sessions in the store" },
    variables: { type: "int", default: 100, help: "variables per session" },
    trials: { type: "int", default: 1000, help: "trials of the optimization run" },
    loads: { type: "int", default: 7, help: "page loads timed (first paint: their median)" },
    updates: { type: "int", default: 100, help: "variable updates timed, one at a time" },
  },
  "node bench/dashboard.mjs [--sessions N] [--variables N] [--trials N] [--loads N] [--updates N]",
);
const log = progress("dashboard");
const Bridge = await loadBridge();
const { findChromium } = await import(pathToFileURL(join(ROOT, "scripts/chromium.mjs")).href);
let puppeteer;
try {
  puppeteer = (await import("puppeteer-core")).default;
} catch (err) {
  console.error(`error: puppeteer-core is not installed (npm run setup installs it): ${err.message}`);
  process.exit(1);
}
const chromium = findChromium();
if (!chromium.path) {
  console.error(`error: no Chromium to measure in: ${chromium.why}`);
  process.exit(1);
}

const sid = (i) => `s${String(i).padStart(3, "0")}`;
const vname = (j) => `v${String(j).padStart(3, "0")}`;
const floats = Math.ceil(opts.variables / 2);

const bridge = await Bridge.start({
  workers: 1,
  preload: [],
  healthIntervalMs: 0,
  dashboard: { listen: "127.0.0.1:0" },
  onLog: () => {},
});
let browser;
try {
  // The state: sessions of variables (half floats in [0, 1], half strings), then a run.
  const built = performance.now();
  for (let i = 0; i < opts.sessions; i++) {
    await bridge.sessions.create({ id: sid(i) });
    await bridge.store.register(
      sid(i),
      Array.from({ length: opts.variables }, (_, j) =>
        j < floats
          ? {
              name: vname(j),
              type: "float",
              initialValue: ((i * 31 + j * 7) % 100) / 100,
              constraints: { min: 0, max: 1 },
            }
          : { name: vname(j), type: "string", initialValue: `${sid(i)}:${vname(j)}` },
      ),
    );
  }
  bridge.tools.register("peak", async (args) => 1 - Math.abs(args.v000 - 0.3));
  const runSession = sid(Math.min(42, opts.sessions - 1));
  const target = { variable: "v000" };
  bridge.optimization.start(runSession, target, {
    optimizer: "random",
    objective: "peak",
    maxIterations: opts.trials,
    patience: opts.trials * 10,
    seed: 7,
  });
  await bridge.optimization.wait(runSession, target);
  await bridge.runs.flush();
  log(
    `state: ${opts.sessions} sessions × ${opts.variables} variables, a ${opts.trials}-trial run (${((performance.now() - built) / 1000).toFixed(1)} s)`,
  );

  browser = await puppeteer.launch({
    executablePath: chromium.path,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 1000 });
  const firstPaint = async (url) => {
    await page.goto(url);
    await page.waitForFunction(() => performance.getEntriesByName("dashboard:first-paint").length > 0, {
      timeout: 30_000,
    });
    return page.evaluate(() => ({
      page: performance.getEntriesByType("navigation")[0].responseEnd,
      snapshot: performance.getEntriesByName("dashboard:snapshot-received")[0].startTime,
      painted: performance.getEntriesByName("dashboard:first-paint")[0].startTime,
    }));
  };

  // The first load carries the token (it sets the cookie); the timed loads are fresh
  // navigations of the page: every file, the snapshot and the render again.
  const cold = (await firstPaint(bridge.dashboardUrl)).painted;
  const origin = new URL(bridge.dashboardUrl).origin;
  const loads = [];
  for (let k = 0; k < opts.loads; k++) loads.push(await firstPaint(`${origin}/`));
  const paints = loads.map((l) => l.painted);
  log(`first paint: cold ${cold.toFixed(0)} ms, then ${paints.map((p) => p.toFixed(0)).join(", ")} ms`);

  // What the page shows must be the state (a fast page that shows the wrong thing is no figure).
  const shown = await page.evaluate(() => ({
    sessions: document.querySelector("#session-count")?.textContent,
    variables: document.querySelector("#variable-count")?.textContent,
    rows: document.querySelectorAll('[data-variable^="s000/"]').length,
    points: document.querySelector("[data-run-plot]")?.getAttribute("data-points"),
  }));
  const expected = {
    sessions: String(opts.sessions),
    variables: String(opts.variables),
    rows: Math.min(opts.variables, 200),
    points: String(opts.trials),
  };
  if (JSON.stringify(shown) !== JSON.stringify(expected)) {
    console.error(`error: the page shows ${JSON.stringify(shown)}, expected ${JSON.stringify(expected)}`);
    process.exitCode = 1;
  }

  // Updates: one variable of the session shown at a time, the next once the page shows it.
  const latencies = [];
  for (let k = 0; k < opts.updates; k++) {
    const name = vname(k % floats);
    const record = await bridge.store.set(sid(0), name, Math.round(Math.random() * 1e6) / 1e6);
    const shownAt = await page.waitForFunction(
      (n, v) =>
        performance.getEntriesByName("dashboard:update").find((e) => e.detail.name === n && e.detail.version === v)
          ?.detail,
      { timeout: 10_000 },
      name,
      record.version,
    );
    latencies.push((await shownAt.jsonValue()).latencyMs);
  }
  latencies.sort((a, b) => a - b);
  const result = {
    first_paint_ms: round(median(paints), 1),
    first_paint_max_ms: round(Math.max(...paints), 1),
    first_paint_cold_ms: round(cold, 1),
    update_p50_ms: round(percentile(latencies, 50), 1),
    update_p99_ms: round(percentile(latencies, 99), 1),
    update_max_ms: round(latencies[latencies.length - 1], 1),
  };
  printTable(
    ["figure", "ms"],
    [
      ["first paint, median of the timed loads", fmtFixed(result.first_paint_ms)],
      ["  of which: the page's HTML received (median)", fmtFixed(median(loads.map((l) => l.page)))],
      ["  of which: the snapshot received (median)", fmtFixed(median(loads.map((l) => l.snapshot)))],
      ["  of which: snapshot read and drawn (median)", fmtFixed(median(loads.map((l) => l.painted - l.snapshot)))],
      ["first paint, slowest timed load", fmtFixed(result.first_paint_max_ms)],
      ["first paint, first load (with the token's redirect)", fmtFixed(result.first_paint_cold_ms)],
      ["update visible after the commit, p50", fmtFixed(result.update_p50_ms)],
      ["update visible after the commit, p99", fmtFixed(result.update_p99_ms)],
      ["update visible after the commit, max", fmtFixed(result.update_max_ms)],
    ],
    {
      title: `Dashboard: ${opts.sessions} sessions × ${opts.variables} variables, a ${opts.trials}-trial run; ${opts.loads} loads, ${opts.updates} updates`,
    },
  );
  printTargets([
    { name: "first_paint_ms", value: result.first_paint_ms, op: "<=", target: TARGET_FIRST_PAINT_MS },
    { name: "update_max_ms", value: result.update_max_ms, op: "<=", target: TARGET_UPDATE_MS },
  ]);
  printFinal({
    bench: "dashboard",
    sessions: opts.sessions,
    variables_per_session: opts.variables,
    trials: opts.trials,
    first_paint_ms: result.first_paint_ms,
    update_p50_ms: result.update_p50_ms,
    update_max_ms: result.update_max_ms,
  });
} finally {
  await browser?.close();
  await bridge.close();
}
