#!/usr/bin/env node
// The real LM path: DSPy's own HTTP clients in the workers against a local OpenAI-compatible
// server (ts/test/fixtures/openai-server.ts, run standalone in a process of its own so it
// does not share the host's event loop). In one run:
//   - Predict calls/s through the bridge (2 workers) vs plain DSPy in one Python process
//     (bench/fixtures/plain_dspy_lm.py), same engine, server latency 0, DSPy's cache off;
//   - 1,000 concurrent Predict calls through the bridge, server latency 100 ms;
//   - the first real call on a fresh worker, native engine and LiteLLM (latency 0);
//   - total PSS of 8 workers that each made one LiteLLM call, over that of 1 worker.
// Run: npm run bench:lm [-- --help]
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { parseOptions } from "./lib/cli.mjs";
import { loadBridge } from "./lib/bridge.mjs";
import { closedLoop } from "./lib/runner.mjs";
import { median, round, ratio } from "./lib/stats.mjs";
import { printTable, printTargets, printFinal, progress, fmtInt, fmtFixed } from "./lib/report.mjs";
import { FIXTURES, ROOT, VENV_PYTHON } from "./lib/paths.mjs";

const PARTS = ["throughput", "burst", "cold", "pss"];
const opts = parseOptions(
  {
    seconds: { type: "number", default: 3, help: "timed closed-loop seconds per system (split over the rounds)" },
    warmup: { type: "number", default: 2, help: "untimed closed-loop seconds per system first" },
    rounds: { type: "int", default: 6, help: "interleaved throughput rounds (figures pool all rounds)" },
    concurrency: { type: "int", default: 64, help: "calls kept in flight for throughput, on each side" },
    engine: {
      type: "string",
      default: "native",
      choices: ["native", "litellm"],
      help: "engine of the throughput and 1,000-call measurements (both sides)",
    },
    model: {
      type: "string",
      default: "openai/fixture",
      help: "model string (the fixture answers any name without directives)",
    },
    burst: { type: "int", default: 1000, help: "concurrent calls at the burst latency" },
    "burst-latency-ms": { type: "number", default: 100, help: "server latency for the burst" },
    "burst-warmup": {
      type: "int",
      default: 200,
      help: "concurrent calls just before the burst, at its latency (opens the workers' connection pools)",
    },
    reps: { type: "int", default: 5, help: "fresh workers timed per engine for the first call (median)" },
    preload: {
      type: "string",
      default: undefined,
      help: "the Bridges' preload, comma-separated (default: the Bridge's own, \"dspy,litellm\")",
    },
    only: { type: "string", default: undefined, choices: PARTS, help: "run one part only" },
  },
  "node bench/lm.mjs [--seconds S] [--warmup S] [--rounds N] [--concurrency N] [--engine native|litellm] [--model M] [--burst N] [--burst-warmup N] [--reps N] [--preload MODULES] [--only PART]",
);
const runs = (part) => !opts.only || opts.only === part;
const log = progress("lm");

const SERVER_JS = join(ROOT, "ts", "dist", "test", "fixtures", "openai-server.js");
if (!existsSync(SERVER_JS)) {
  console.error(`error: ${SERVER_JS} is missing; build it with \`npx tsc -b ts\` (npm run bench:lm does)`);
  process.exit(1);
}
const KEY_ENV = "BENCH_LM_FIXTURE_KEY";
process.env[KEY_ENV] = "sk-bench-fixture"; // the workers inherit it; the fixture accepts any key
const quiet = {
  onLog: () => {},
  healthIntervalMs: 0,
  ...(opts.preload !== undefined ? { preload: opts.preload.split(",").filter(Boolean) } : {}),
};

// ---- the fixture server, in a process of its own -----------------------------------------

async function startServer() {
  const proc = spawn(process.execPath, [SERVER_JS, "--latency-ms", "0", "--no-record"], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = createInterface({ input: proc.stdout });
  const ready = await new Promise((resolve, reject) => {
    lines.once("line", (line) => resolve(JSON.parse(line)));
    proc.once("error", reject);
    proc.once("exit", (code) => reject(new Error(`the fixture server exited early (code ${code})`)));
  });
  const url = ready.url;
  const admin = url.replace(/\/v1$/, "/_fixture");
  const post = async (path, body) => {
    const res = await fetch(admin + path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`fixture ${path}: ${res.status}`);
  };
  return {
    url,
    port: Number(new URL(url).port),
    pid: proc.pid,
    setLatency: (ms) => post("/latency", { ms }),
    stats: async () => (await fetch(admin + "/stats")).json(),
    close: () =>
      new Promise((resolve) => (proc.exitCode !== null ? resolve() : (proc.once("exit", resolve), proc.stdin.end()))),
  };
}

/** Sockets in TIME-WAIT to or from `port`: how many connections were closed lately (a new client per call would leave one per call). */
function timeWaitSockets(port) {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  let n = 0;
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 3 && f[3] === "06" && (f[1].endsWith(`:${hexPort}`) || f[2].endsWith(`:${hexPort}`))) n++;
    }
  }
  return n;
}

/** CPU time a process has used (user + system), in ms (Linux: /proc/<pid>/stat, 100 ticks a second). */
function cpuMs(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

/** /proc/<pid>/smaps_rollup figures in bytes: { pss, private }. */
function memoryOf(pid) {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN) * 1024;
  return { pss: kb("Pss"), private: kb("Private_Clean") + kb("Private_Dirty") };
}

// ---- plain DSPy in one Python process ------------------------------------------------------

async function startPlain(url, engine, concurrency, model) {
  const proc = spawn(VENV_PYTHON, [join(FIXTURES, "plain_dspy_lm.py"), url, engine, String(concurrency), model], {
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...process.env, PYTHONPATH: [join(ROOT, "python"), process.env.PYTHONPATH].filter(Boolean).join(":") },
  });
  const lines = createInterface({ input: proc.stdout });
  const waiting = [];
  lines.on("line", (line) => waiting.shift()?.(JSON.parse(line)));
  const exited = new Promise((_, reject) =>
    proc.once("exit", (code) => reject(new Error(`plain_dspy_lm.py exited (code ${code})`))),
  );
  const next = () => Promise.race([new Promise((resolve) => waiting.push(resolve)), exited]);
  const ready = await next();
  const send = (msg) => {
    proc.stdin.write(JSON.stringify(msg) + "\n");
    return next();
  };
  return {
    pid: proc.pid,
    loop: ready.loop,
    check: async () => (await send({ cmd: "check" })).answer,
    run: (seconds) => send({ cmd: "run", seconds }),
    close: () =>
      new Promise((resolve) => (proc.exitCode !== null ? resolve() : (proc.once("exit", resolve), proc.stdin.end()))),
  };
}

// ---- the measurements ----------------------------------------------------------------------

const Bridge = await loadBridge();
const server = await startServer();
log(`fixture server ${server.url} (pid ${server.pid})`);
const lmSpec = (engine) => ({ model: opts.model, apiBase: server.url, apiKeyEnv: KEY_ENV, cache: false, engine });
const predictOn = (bridge, engine, tag) => (i) =>
  bridge.dspy.run({
    module: "Predict",
    signature: "question -> answer",
    inputs: { question: `${tag} ${i}` },
    lm: lmSpec(engine),
    usage: false,
  });

const result = {};
try {
  if (runs("throughput") || runs("burst")) {
    const bridge = await Bridge.start({ workers: 2, ...quiet });
    try {
      const call = predictOn(bridge, opts.engine, "q");
      if (runs("throughput")) {
        log(`plain DSPy: one Python process, engine ${opts.engine}, ${opts.concurrency} acall lanes`);
        const plain = await startPlain(server.url, opts.engine, opts.concurrency, opts.model);
        try {
          const [viaBridge, viaPlain] = [(await call(0)).fields?.answer, await plain.check()];
          if (typeof viaBridge !== "string" || !viaBridge || typeof viaPlain !== "string" || !viaPlain) {
            throw new Error(`an empty answer: bridge ${JSON.stringify(viaBridge)}, plain ${JSON.stringify(viaPlain)}`);
          }
          log(`warm-up: ${opts.warmup}s each`);
          await closedLoop(call, { concurrency: opts.concurrency, seconds: opts.warmup });
          await plain.run(opts.warmup);
          const closedBefore = timeWaitSockets(server.port);
          // CPU used during the timed windows: where a call's time goes on each side.
          const workerPids = bridge.stats().workers.map((w) => w.pid);
          const cpu = () => ({
            workers: workerPids.reduce((a, pid) => a + cpuMs(pid), 0),
            host: (process.cpuUsage().user + process.cpuUsage().system) / 1000,
            plain: cpuMs(plain.pid),
            server: cpuMs(server.pid),
          });
          const zero = () => ({ calls: 0, seconds: 0, workers: 0, host: 0, plain: 0, server: 0 });
          const acc = { bridge: zero(), plain: zero() };
          const window = opts.seconds / opts.rounds;
          for (let r = 0; r < opts.rounds; r++) {
            const order = r % 2 === 0 ? ["bridge", "plain"] : ["plain", "bridge"];
            log(`round ${r + 1}/${opts.rounds}: ${order.join(", ")}`);
            for (const name of order) {
              let tp;
              let before;
              if (name === "bridge") {
                await closedLoop(call, { concurrency: opts.concurrency, seconds: 0.25 });
                before = cpu();
                tp = await closedLoop(call, { concurrency: opts.concurrency, seconds: window });
              } else {
                before = cpu(); // includes the script's 0.25 s ramp-up: plain CPU per call is a slight overestimate
                tp = await plain.run(window);
              }
              const after = cpu();
              log(`  ${name}: ${(tp.calls / tp.seconds).toFixed(0)} calls/s`);
              for (const k of ["workers", "host", "plain", "server"]) acc[name][k] += after[k] - before[k];
              acc[name].calls += tp.calls;
              acc[name].seconds += tp.seconds;
            }
          }
          result.bridgePerS = acc.bridge.calls / acc.bridge.seconds;
          result.plainPerS = acc.plain.calls / acc.plain.seconds;
          result.cpu = {
            bridgeWorkers: acc.bridge.workers / acc.bridge.calls,
            bridgeHost: acc.bridge.host / acc.bridge.calls,
            bridgeServer: acc.bridge.server / acc.bridge.calls,
            plain: acc.plain.plain / acc.plain.calls,
            plainServer: acc.plain.server / acc.plain.calls,
          };
          result.plainLoop = plain.loop;
          result.closedConnections = timeWaitSockets(server.port) - closedBefore;
          result.throughputCalls = acc.bridge.calls + acc.plain.calls;
        } finally {
          await plain.close();
        }
      }
      if (runs("burst")) {
        log(`bridge: ${opts.burst} concurrent Predict calls, server latency ${opts["burst-latency-ms"]} ms`);
        await server.setLatency(opts["burst-latency-ms"]);
        // Warm, as a bridge that has been serving is: every worker's connection pool to the
        // server opened (DSPy's native client keeps up to 100 per LM and event loop), so the
        // burst measures calls, not TCP handshakes. Connections opened during the burst are
        // counted below.
        await Promise.all(Array.from({ length: opts["burst-warmup"] }, (_, i) => call(`w${i}`)));
        const workerPids = bridge.stats().workers.map((w) => w.pid);
        const cpu = () => ({
          workers: workerPids.reduce((a, pid) => a + cpuMs(pid), 0),
          host: (process.cpuUsage().user + process.cpuUsage().system) / 1000,
          server: cpuMs(server.pid),
        });
        const openBefore = (await server.stats()).openConnections;
        const before = cpu();
        const t0 = performance.now();
        await Promise.all(Array.from({ length: opts.burst }, (_, i) => call(`b${i}`)));
        result.burstSeconds = (performance.now() - t0) / 1000;
        const after = cpu();
        result.burstCpu = Object.fromEntries(Object.keys(before).map((k) => [k, (after[k] - before[k]) / opts.burst]));
        result.burstConnections = { before: openBefore, after: (await server.stats()).openConnections };
        await server.setLatency(0);
      }
    } finally {
      await bridge.close();
    }
  }

  if (runs("cold")) {
    // One worker that is replaced after every call (recycle.maxRequests: 1): each call meets a
    // fresh fork of the fork server, as after Bridge.start or a restart.
    const bridge = await Bridge.start({ workers: 1, recycle: { maxRequests: 1 }, ...quiet });
    try {
      const seen = new Set();
      const times = { native: [], litellm: [] };
      for (let i = 0; i < opts.reps; i++) {
        for (const engine of i % 2 === 0 ? ["native", "litellm"] : ["litellm", "native"]) {
          let fresh;
          while (!(fresh = bridge.stats().workers.find((w) => w.state === "ready" && !seen.has(w.pid)))) await sleep(5);
          seen.add(fresh.pid);
          await sleep(100); // the previous worker is gone and the new one idle
          const t0 = performance.now();
          await predictOn(bridge, engine, `cold ${engine}`)(i);
          times[engine].push(performance.now() - t0);
          log(`fresh worker ${fresh.pid}: first ${engine} call ${times[engine].at(-1).toFixed(1)} ms`);
        }
      }
      result.coldNative = median(times.native);
      result.coldLitellm = median(times.litellm);
      result.coldSamples = times;
    } finally {
      await bridge.close();
    }
  }

  if (runs("pss")) {
    const pssAfterOneCallEach = async (workers) => {
      const bridge = await Bridge.start({ workers, ...quiet });
      try {
        // With the server slow, concurrent calls spread one per idle worker (least loaded first).
        await server.setLatency(300);
        const call = predictOn(bridge, "litellm", `pss${workers}`);
        for (let round = 0; round < 5 && bridge.stats().workers.some((w) => w.served === 0); round++) {
          await Promise.all(Array.from({ length: workers }, (_, i) => call(i)));
        }
        await server.setLatency(0);
        const ws = bridge.stats().workers;
        if (ws.some((w) => w.served === 0)) throw new Error("a worker made no LiteLLM call");
        const mem = ws.map((w) => memoryOf(w.pid));
        return {
          pss: mem.reduce((a, m) => a + m.pss, 0),
          private: mem.reduce((a, m) => a + m.private, 0) / mem.length,
          calls: ws.map((w) => w.served),
        };
      } finally {
        await server.setLatency(0);
        await bridge.close();
      }
    };
    log("memory: 8 workers that each made a LiteLLM call, then 1");
    const eight = await pssAfterOneCallEach(8);
    const one = await pssAfterOneCallEach(1);
    result.pss8 = eight.pss;
    result.pss1 = one.pss;
    result.private8 = eight.private;
    result.private1 = one.private;
  }
} finally {
  await server.close();
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const MB = 1024 * 1024;
const mb = (bytes) => (bytes === undefined ? null : (bytes / MB).toFixed(1));
const throughputRatio = ratio(result.bridgePerS, result.plainPerS);
const pssRatio = ratio(result.pss8, result.pss1);
printTable(
  ["measure", "value"],
  [
    [`bridge Predict calls/s (2 workers, ${opts.engine} engine, server latency 0)`, fmtInt(result.bridgePerS)],
    [`plain DSPy Predict calls/s (one process, ${result.plainLoop ?? "-"}, same engine)`, fmtInt(result.plainPerS)],
    ["throughput ratio", fmtFixed(throughputRatio, 2)],
    [
      "CPU ms per call: bridge workers | host | server",
      result.cpu
        ? `${result.cpu.bridgeWorkers.toFixed(2)} | ${result.cpu.bridgeHost.toFixed(2)} | ${result.cpu.bridgeServer.toFixed(2)}`
        : null,
    ],
    [
      "CPU ms per call: plain DSPy | server",
      result.cpu ? `${result.cpu.plain.toFixed(2)} | ${result.cpu.plainServer.toFixed(2)}` : null,
    ],
    ["connections closed during the throughput runs (TIME-WAIT)", result.closedConnections ?? null],
    [
      `${opts.burst} concurrent Predict calls, server latency ${opts["burst-latency-ms"]} ms (s)`,
      fmtFixed(result.burstSeconds, 2),
    ],
    [
      "burst CPU ms per call: bridge workers | host | server",
      result.burstCpu
        ? `${result.burstCpu.workers.toFixed(2)} | ${result.burstCpu.host.toFixed(2)} | ${result.burstCpu.server.toFixed(2)}`
        : null,
    ],
    [
      "server connections open before | after the burst",
      result.burstConnections ? `${result.burstConnections.before} | ${result.burstConnections.after}` : null,
    ],
    ["first call on a fresh worker, native engine (ms, median)", fmtFixed(result.coldNative, 1)],
    ["first call on a fresh worker, LiteLLM (ms, median)", fmtFixed(result.coldLitellm, 1)],
    ["PSS of 8 workers after a LiteLLM call each (MB)", mb(result.pss8)],
    ["PSS of 1 worker after a LiteLLM call (MB)", mb(result.pss1)],
    [
      "private memory per worker, 8 | 1 workers (MB)",
      result.private8 ? `${(result.private8 / MB).toFixed(1)} | ${(result.private1 / MB).toFixed(1)}` : null,
    ],
    ["PSS ratio 8 / 1", fmtFixed(pssRatio, 2)],
  ],
  {
    title: `The real LM path against a local OpenAI-compatible server (${opts.model}, ${opts.concurrency} in flight, ${opts.seconds}s each after ${opts.warmup}s warm-up, ${opts.rounds} interleaved rounds)`,
  },
);
if (result.coldSamples)
  console.log(
    `first-call samples ms: native ${result.coldSamples.native.map((x) => x.toFixed(0)).join("/")} | litellm ${result.coldSamples.litellm.map((x) => x.toFixed(0)).join("/")}`,
  );
printTargets([
  { name: "throughput_ratio", value: round(throughputRatio, 3), op: ">=", target: 1.8 },
  { name: "concurrent_1000_s", value: round(result.burstSeconds, 3), op: "<=", target: 1.5 },
  { name: "cold_first_call_ms", value: round(result.coldNative, 1), op: "<=", target: 250 },
  { name: "cold_first_call_litellm_ms", value: round(result.coldLitellm, 1), op: "<=", target: 250 },
  { name: "pss_8_over_1", value: round(pssRatio, 3), op: "<=", target: 3 },
]);
printFinal({
  bench: "lm",
  predict_per_s: round(result.bridgePerS),
  plain_dspy_predict_per_s: round(result.plainPerS),
  throughput_ratio: round(throughputRatio, 3),
  concurrent_1000_s: round(result.burstSeconds, 3),
  cold_first_call_ms: round(result.coldNative, 1),
  cold_first_call_litellm_ms: round(result.coldLitellm, 1),
  pss_8_over_1: round(pssRatio, 3),
});
process.exit(0);
