#!/usr/bin/env node
// The host under hostile input, at volume: every bridge-service method with messages from the
// contract filled with hostile values or raw bytes (ts/test/fixtures/bridge-fuzz.ts), and
// garbage on the worker socket. Reports host crashes, untyped or unbounded refusals and any
// store change from a refused call: all must be 0. A failing case is reproduced by --seed and
// its index. Run: npm run fuzz [-- --cases N --seed S --store sqlite:PATH|redis://…]
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseOptions } from "./lib/cli.mjs";
import { loadBridge } from "./lib/bridge.mjs";
import { ROOT } from "./lib/paths.mjs";
import { printTable, printTargets, printFinal, progress, fmtInt } from "./lib/report.mjs";

const opts = parseOptions(
  {
    cases: { type: "int", default: 100_000, help: "bridge-service calls" },
    seed: { type: "int", default: 20261207, help: "fast-check seed (a finding is reproduced by seed and index)" },
    connections: { type: "int", default: 2000, help: "garbage connections to the worker socket" },
    store: { type: "string", default: "", help: "store URL (default: memory)" },
  },
  "node bench/fuzz.mjs [--cases N] [--seed S] [--connections N] [--store URL]",
);
const log = progress("fuzz");
const Bridge = await loadBridge();
const fixtures = join(ROOT, "ts/dist/test/fixtures");
const { fuzzBridgeService, fuzzWorkerSocket } = await import(pathToFileURL(join(fixtures, "bridge-fuzz.js")).href);
const { prepareFuzzSessions, FUZZ_SESSIONS, FUZZ_VARIABLES } = await import(
  pathToFileURL(join(fixtures, "fuzz-sessions.js")).href
);

const bridge = await Bridge.start({
  workers: 1,
  preload: [],
  onLog: () => {},
  ...(opts.store ? { store: opts.store } : {}),
});
let report;
let frames;
let alive = false;
try {
  log(`${opts.cases} bridge-service cases, seed ${opts.seed}`);
  report = await fuzzBridgeService(
    {
      address: bridge.address,
      token: bridge.secret,
      revision: () => bridge.store.currentRevision,
      sessions: FUZZ_SESSIONS,
      variables: FUZZ_VARIABLES,
    },
    {
      cases: opts.cases,
      seed: opts.seed,
      prepare: () => prepareFuzzSessions(bridge),
      onProgress: (n) => (n % 10_000 === 0 ? log(`${n} cases`) : undefined),
    },
  );
  log(`${opts.connections} garbage connections to the worker socket`);
  frames = await fuzzWorkerSocket(bridge.workerSocketPath, { connections: opts.connections, seed: opts.seed });
  alive = (await bridge.execute("ping")).ok === true;
} finally {
  await bridge.close();
}

const count = (problem) => report.findings.filter((f) => f.problem === problem).length;
printTable(
  ["refusal reason", "calls"],
  Object.entries(report.byReason)
    .sort((a, b) => b[1] - a[1])
    .map(([r, n]) => [r, fmtInt(n)]),
  {
    title: `Bridge service: ${fmtInt(report.cases)} cases (${fmtInt(report.rawCases)} raw bytes) in ${report.seconds.toFixed(1)} s; ${fmtInt(report.answeredOk)} answered, ${fmtInt(report.refusedTyped)} refused with a typed error`,
  },
);
for (const f of report.findings.slice(0, 20))
  console.log(`  finding: case ${f.index} ${f.method}: ${f.problem} (${f.reason ?? f.code}) ${f.message ?? ""}`);
const result = {
  bench: "fuzz",
  seed: opts.seed,
  cases: report.cases,
  worker_socket_connections: frames.connections,
  host_crashes: alive ? 0 : 1,
  untyped_errors: count("untyped"),
  unbounded_messages: count("unbounded message"),
  store_changed_on_refusal: count("store changed on refusal"),
  unanswered: count("no answer"),
  seconds: Math.round(report.seconds),
};
printTargets([
  { name: "host_crashes", value: result.host_crashes, op: "<=", target: 0 },
  { name: "untyped_errors", value: result.untyped_errors, op: "<=", target: 0 },
  { name: "unbounded_messages", value: result.unbounded_messages, op: "<=", target: 0 },
  { name: "store_changed_on_refusal", value: result.store_changed_on_refusal, op: "<=", target: 0 },
]);
printFinal(result);
