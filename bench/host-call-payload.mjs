#!/usr/bin/env node
// CPU per large host-call round trip: a worker writing a 16 MiB float32 embedding to a
// session variable and reading it back (UpdateVariables + GetVariables on its connection),
// and calling a TypeScript tool with 16 MiB of bytes that returns them (CallTool both ways).
// The host's CPU (process.cpuUsage) and the worker's (time.process_time, measured by the
// command around its host calls) per round trip: on a loaded machine CPU is the steady
// figure, wall time is printed beside it. Run: node bench/host-call-payload.mjs [--reps N]
import { parseOptions } from "./lib/cli.mjs";
import { median, round } from "./lib/stats.mjs";
import { printTable, printFinal, progress } from "./lib/report.mjs";
import { loadBridge } from "./lib/bridge.mjs";
import { FIXTURES } from "./lib/paths.mjs";

const MiB = 1024 * 1024;
const opts = parseOptions(
  {
    reps: { type: "int", default: 5, help: "round trips per sample" },
    samples: { type: "int", default: 5, help: "samples (the median is reported)" },
    mib: { type: "int", default: 16, help: "payload size in MiB" },
  },
  "node bench/host-call-payload.mjs [--reps N] [--samples N] [--mib N]",
);
const log = progress("host-call-payload");
const Bridge = await loadBridge();
const size = opts.mib * MiB;
const bridge = await Bridge.start({
  workers: 1,
  modules: ["host_call_payload"],
  pythonPath: [FIXTURES],
  healthIntervalMs: 0,
  maxMessageBytes: Math.max(128 * MiB, 2 * size + MiB),
  // A value of 16 MiB and its metadata is over the store's default limit (16 MiB).
  store: { maxValueBytes: 4 * size, historyBytesLimit: 8 * size, sessionBytesLimit: 16 * size },
  logger: () => {},
});
try {
  bridge.tools.register("echo_bytes", async (args) => args.data, {
    description: "returns its bytes",
    parameters: { type: "object", properties: { data: {} } },
  });
  const session = await bridge.sessions.create({ id: "host-call-payload" });
  await session.variables.define("embedding", "embedding", new Float32Array(size / 4));
  const rows = [];
  const final = { bench: "host_call_payload", mib: opts.mib };
  for (const [label, command, args] of [
    ["variable write+read", "variable_round_trips", { name: "embedding", n: size / 4 }],
    ["TS tool call (args+result)", "tool_round_trips", { tool: "echo_bytes", n: size }],
  ]) {
    await bridge.execute(command, { ...args, reps: 1 }, { session: session.id }); // warm
    const host = [];
    const worker = [];
    const wall = [];
    for (let s = 0; s < opts.samples; s++) {
      const cpu = process.cpuUsage();
      const t0 = performance.now();
      const out = await bridge.execute(command, { ...args, reps: opts.reps }, { session: session.id });
      const elapsed = performance.now() - t0;
      const used = process.cpuUsage(cpu);
      host.push((used.user + used.system) / 1000 / opts.reps);
      worker.push((out.cpu_s * 1000) / opts.reps);
      wall.push(elapsed / opts.reps);
      log(`${label}: sample ${s + 1}/${opts.samples}`);
    }
    rows.push([label, round(median(host), 1), round(median(worker), 1), round(median(wall), 1)]);
    const key = command === "variable_round_trips" ? "variable" : "tool";
    final[`${key}_host_cpu_ms`] = round(median(host), 1);
    final[`${key}_worker_cpu_ms`] = round(median(worker), 1);
    final[`${key}_wall_ms`] = round(median(wall), 1);
  }
  printTable([`${opts.mib} MiB round trip`, "host CPU ms", "worker CPU ms", "wall ms"], rows);
  printFinal(final);
} finally {
  await bridge.close();
}
