#!/usr/bin/env node
// Scale-out on a Redis Cluster: several host processes on one store partitioned by session.
//   1. commits/s, in total and per session, as hosts and sessions grow (each host writes its
//      own share of the sessions, `--concurrency` writers per host, for `--seconds`);
//   2. a host's memory against the sessions it serves: heap after serving N sessions (per
//      1,000 served), then its growth while another host makes `--unserved` more sessions it
//      never uses (flat when a host holds only what it serves);
//   3. the cross-host watch latency: a write acknowledged on one host to the change reaching
//      a watcher on another (p50, p99).
// Starts a private three-node Redis Cluster (scripts/redis.mjs) unless --cluster names one.
// Run: npm run bench:scale [-- --hosts 3 --sessions 1000 --seconds 3 --unserved 2000 --rounds 300]
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { parseOptions } from "./lib/cli.mjs";
import { BRIDGE_ENTRY, FIXTURES, ROOT } from "./lib/paths.mjs";
import { percentile, round } from "./lib/stats.mjs";
import { fmtFixed, fmtInt, printFinal, printTable, progress } from "./lib/report.mjs";

const opts = parseOptions(
  {
    hosts: { type: "int", default: 3, help: "host processes at most (the runs use 1 .. hosts)" },
    sessions: { type: "int", default: 1000, help: "sessions at most (the runs use a tenth of it and all of it)" },
    seconds: { type: "number", default: 3, help: "duration of each throughput run" },
    concurrency: { type: "int", default: 32, help: "writers per host in the throughput runs" },
    unserved: { type: "int", default: 2000, help: "sessions made by another host while the measured one idles" },
    rounds: { type: "int", default: 300, help: "cross-host watch deliveries timed" },
    cluster: {
      type: "string",
      default: "",
      help: "an existing Redis Cluster (redis+cluster://h:p,...; default: start a private one)",
    },
  },
  "node bench/scale.mjs [--hosts N] [--sessions N] [--seconds S] [--concurrency N] [--unserved N] [--rounds N] [--cluster URL]",
);
const log = progress("scale");
const { startRedisCluster } = await import(pathToFileURL(join(ROOT, "scripts/redis.mjs")).href);

/** A host process; `send` writes a command, `next(op)` waits for the next line of that op. */
function startHost(location, idleMs) {
  const child = spawn(
    process.execPath,
    ["--expose-gc", join(FIXTURES, "scale_host.mjs"), location, BRIDGE_ENTRY, String(idleMs)],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const waiting = new Map();
  const queued = new Map();
  createInterface({ input: child.stdout }).on("line", (line) => {
    const m = JSON.parse(line);
    const key = m.op ?? m.event;
    const w = waiting.get(key);
    if (w?.length) w.shift()(m);
    else queued.set(key, [...(queued.get(key) ?? []), m]);
  });
  const host = {
    child,
    listeners: new Map(),
    send: (cmd) => child.stdin.write(`${JSON.stringify(cmd)}\n`),
    next: (key) =>
      new Promise((resolve) => {
        const q = queued.get(key);
        if (q?.length) resolve(q.shift());
        else waiting.set(key, [...(waiting.get(key) ?? []), resolve]);
      }),
    ask: (cmd) => {
      host.send(cmd);
      return host.next(cmd.op);
    },
    stop: () => child.kill("SIGTERM"),
  };
  return host;
}

const cluster = opts.cluster ? { url: opts.cluster, stop: async () => {} } : await startRedisCluster({ log });
const location = `${cluster.url}?prefix=${encodeURIComponent(`bench-scale-${process.pid}:`)}`;
const hosts = [];
try {
  log(`${opts.hosts} hosts on ${cluster.url}`);
  for (let i = 0; i < opts.hosts; i++) {
    const h = startHost(location, 2_000);
    await h.next("ready");
    hosts.push(h);
  }
  const names = Array.from({ length: opts.sessions }, (_, i) => `s-${i}`);
  // Every host makes its share of the sessions (a session lives on the cluster node of its hash slot).
  log(`making ${opts.sessions} sessions`);
  await Promise.all(
    hosts.map((h, j) => h.ask({ op: "init", sessions: names.filter((_, i) => i % hosts.length === j) })),
  );

  // 1. Throughput.
  const rows = [];
  let last;
  const sessionCounts = [...new Set([Math.max(1, Math.round(opts.sessions / 10)), opts.sessions])];
  for (let n = 1; n <= hosts.length; n++) {
    for (const s of sessionCounts) {
      log(`throughput: ${n} host(s), ${s} sessions`);
      const share = (j) => names.slice(0, s).filter((_, i) => i % n === j);
      const results = await Promise.all(
        hosts
          .slice(0, n)
          .map((h, j) =>
            h.ask({ op: "load", sessions: share(j), seconds: opts.seconds, concurrency: opts.concurrency }),
          ),
      );
      const total = results.reduce((sum, r) => sum + r.commits / r.seconds, 0);
      last = { hosts: n, sessions: s, total, perSession: total / s, perHost: total / n };
      rows.push([n, s, fmtInt(total), fmtInt(total / n), fmtFixed(total / s, 2)]);
    }
  }
  printTable(["hosts", "sessions", "commits/s", "per host", "per session"], rows, {
    title: `Commits (one variable set each; ${opts.concurrency} writers per host, ${opts.seconds} s per run)`,
  });

  // 2. Memory: a fresh host that keeps what it serves (long idle timeout).
  log("memory: a host serving sessions, then idle while another host makes more");
  const measured = startHost(location, 600_000);
  await measured.next("ready");
  const base = await measured.ask({ op: "memory" });
  const served = names.slice(0, Math.min(opts.sessions, 1000));
  const serving = await measured.ask({ op: "serve", sessions: served });
  const others = Array.from({ length: opts.unserved }, (_, i) => `u-${i}`);
  await hosts[0].ask({ op: "init", sessions: others });
  const after = await measured.ask({ op: "memory" });
  const perK = ((serving.heapMB - base.heapMB) / served.length) * 1000;
  const unservedGrowth = after.heapMB - serving.heapMB;
  printTable(
    ["host memory", "heap MB", "RSS MB", "sessions held"],
    [
      ["started, nothing served", fmtFixed(base.heapMB), fmtFixed(base.rssMB), base.held],
      [`serving ${served.length} sessions`, fmtFixed(serving.heapMB), fmtFixed(serving.rssMB), serving.held],
      [`+ ${others.length} sessions made elsewhere`, fmtFixed(after.heapMB), fmtFixed(after.rssMB), after.held],
    ],
    { title: "A host's memory against the sessions it serves (heap after a collection)" },
  );
  console.log(
    `  ${fmtFixed(perK, 2)} MB of heap per 1,000 sessions served; ${fmtFixed(unservedGrowth, 2)} MB more while ${others.length} others were made`,
  );

  // 3. Cross-host watch latency: `measured` watches, hosts[0] writes.
  log(`cross-host watch: ${opts.rounds} writes`);
  await measured.ask({ op: "watch", session: "s-0" });
  const latencies = [];
  for (let i = 0; i < opts.rounds; i++) {
    const value = 1_000_000 + i;
    const ack = await hosts[0].ask({ op: "set", session: "s-0", value });
    for (;;) {
      const seen = await measured.next("seen");
      if (seen.value === value) {
        latencies.push(seen.at - ack.sentAt);
        break;
      }
    }
  }
  latencies.sort((a, b) => a - b);
  const p50 = percentile(latencies, 50);
  printTable(
    ["cross-host watch", "p50 ms", "p99 ms"],
    [["set on one host -> watcher on another", fmtFixed(p50, 2), fmtFixed(percentile(latencies, 99), 2)]],
  );
  measured.stop();
  printFinal({
    bench: "scale",
    hosts: last.hosts,
    sessions: last.sessions,
    commits_per_s: round(last.total),
    commits_per_s_per_session: round(last.perSession, 2),
    host_mb_per_1k_served: round(perK, 2),
    host_mb_unserved_growth: round(unservedGrowth, 2),
    cross_host_watch_p50_ms: round(p50, 2),
  });
} finally {
  for (const h of hosts) h.stop();
  await cluster.stop();
}
