// `npm run demo`: the worker pool at work, offline, in about ten seconds.
import { Bridge } from "../bridge.js";
import { type BridgeError, TimeoutError } from "../errors/index.js";
import { Tensor } from "../values/index.js";
import type { CallEvent } from "../telemetry/index.js";
import type { CliFlags } from "./flags.js";
import { Reporter, percentile } from "./report.js";

export async function runDemo(flags: CliFlags): Promise<number> {
  const r = new Reporter(flags.json);
  r.section(`Starting ${flags.workers} Python workers (DSPy imported once, then forked)`);
  const t0 = performance.now();
  // Offline (the scripted LM): LiteLLM, in the default preload for real LMs, would only add seconds.
  const bridge = await Bridge.start({ workers: flags.workers, preload: ["dspy"], onLog: () => {} });
  const calls: CallEvent[] = [];
  bridge.on("call", (e) => calls.push(e));
  bridge.on("worker", (e) => {
    if (e.type !== "starting")
      r.step("worker_event", `[worker event] ${e.workerId} ${e.type}${e.detail ? `: ${e.detail}` : ""}`, { ...e });
  });
  try {
    const startMs = performance.now() - t0;
    const stats = bridge.stats();
    r.step(
      "start",
      `ready in ${startMs.toFixed(0)} ms: ${stats.workers.map((w) => `${w.id} (pid ${w.pid})`).join(", ")}`,
      {
        ms: Math.round(startMs),
        workers: stats.workers.map((w) => ({ id: w.id, pid: w.pid })),
      },
    );

    r.section("Round trips");
    const lat: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const s = performance.now();
      await bridge.execute("ping");
      lat.push((performance.now() - s) * 1000);
    }
    lat.sort((a, b) => a - b);
    r.step(
      "ping",
      `2,000 sequential pings: p50 ${percentile(lat, 50).toFixed(0)} µs, p99 ${percentile(lat, 99).toFixed(0)} µs`,
      {
        p50_us: percentile(lat, 50),
        p99_us: percentile(lat, 99),
      },
    );

    r.section("Honest values across the boundary");
    const embedding = new Float32Array([0.25, -1.5, Math.PI]);
    const tensor = new Tensor("float64", [2, 2], new Float64Array([1, 2, 3, Number.NaN]));
    const sent = { embedding, tensor, big: 2n ** 70n, text: "naïve — 東京 🚀", nested: { a: [1, { b: [Infinity] }] } };
    const back = (await bridge.execute("echo", { value: sent })) as typeof sent;
    r.step(
      "echo",
      `embedding ${back.embedding.constructor.name}[${Array.from(back.embedding)
        .map((x) => x.toFixed(4))
        .join(", ")}], ` +
        `tensor ${back.tensor.dtype} ${JSON.stringify(back.tensor.shape)}, bigint ${back.big}, text "${back.text}", nested Infinity ${String((back.nested.a[1] as { b: number[] }).b[0])}`,
      { ok: back.big === sent.big && back.text === sent.text },
    );

    r.section("Concurrency: 200 calls that each wait 100 ms (asyncio in every worker)");
    const c0 = performance.now();
    await Promise.all(Array.from({ length: 200 }, () => bridge.execute("sleep", { seconds: 0.1 })));
    const concMs = performance.now() - c0;
    r.step("concurrency", `all 200 done in ${concMs.toFixed(0)} ms (serially: 20,000 ms)`, { ms: Math.round(concMs) });

    r.section("Streaming");
    const items: number[] = [];
    for await (const n of bridge.stream<number>("count", { n: 5, delay_ms: 20 })) items.push(n);
    r.step("stream", `count(5) streamed ${JSON.stringify(items)}`, { items });

    r.section("Session affinity");
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const info = (await bridge.execute("worker_info", {}, { session: "alice" })) as { worker_id: string };
      seen.add(info.worker_id);
    }
    r.step("affinity", `100 calls of session 'alice' ran on ${[...seen].join(", ")}`, { workers: [...seen] });

    r.section("Timeouts cancel the Python task");
    try {
      await bridge.execute("sleep", { seconds: 5, probe: "demo-timeout" }, { session: "alice", timeoutMs: 200 });
    } catch (err) {
      const probe = await bridge.execute("cancellation_probe", { probe: "demo-timeout" }, { session: "alice" });
      r.step(
        "timeout",
        `${(err as Error).constructor.name}: ${(err as Error).message}; Python task state: ${String(probe)}`,
        {
          error: (err as BridgeError).reason,
          python_task: probe,
          ok: err instanceof TimeoutError,
        },
      );
    }

    r.section("Session variables: the host owns the truth, workers read through a watched cache");
    const session = await bridge.sessions.create({ id: "demo" });
    await session.variables.define("temperature", "float", 0.7, { constraints: { min: 0, max: 2 } });
    const first = await session.execute<{ value: number; cache_hit: boolean }>("session.get_variable", {
      name: "temperature",
    });
    const second = await session.execute<{ value: number; cache_hit: boolean }>("session.get_variable", {
      name: "temperature",
    });
    r.step(
      "variables",
      `Python in ${bridge.workerForSession("demo")} reads temperature = ${first.value} (round trip), then ${second.value} (cache hit: ${second.cache_hit})`,
      {
        value: first.value,
        cache_hit: second.cache_hit,
      },
    );
    const setAt = performance.now();
    await session.variables.set("temperature", 0.9, { source: "demo" });
    let read = 0;
    while (
      (read = (await session.execute<{ value: number }>("session.get_variable", { name: "temperature" })).value) !==
        0.9 &&
      performance.now() - setAt < 5_000
    );
    r.step(
      "variables",
      `TypeScript sets 0.9; the worker's cached read shows ${read} after ${(performance.now() - setAt).toFixed(1)} ms (delivered by the watch stream)`,
      { value: read },
    );
    try {
      await session.variables.set("temperature", 2.5);
    } catch (err) {
      r.step("variables", `set 2.5 -> ${(err as Error).constructor.name}: ${(err as Error).message}`, {
        reason: (err as BridgeError).reason,
      });
    }
    const history = await session.variables.history("temperature");
    r.step("variables", `history: ${history.map((h) => `v${h.version}=${String(h.value)}`).join(", ")}`, {
      versions: history.length,
    });

    r.section("DSPy: a variable-aware ChainOfThought whose temperature TypeScript controls");
    bridge.dspy.configureLM({ model: "scripted" }); // the offline scripted LM; any LiteLLM model string works
    await session.variables.define("cot_temperature", "float", 0.2, { constraints: { min: 0, max: 2 } });
    await session.programs.create("qa", {
      module: "ChainOfThought",
      signature: "question -> answer",
      bindings: { temperature: "cot_temperature" },
    });
    const before = await session.programs.execute("qa", { question: "What is the capital of France?" });
    r.step(
      "dspy",
      `answer: ${JSON.stringify(before.fields.answer)}; reasoning: ${JSON.stringify(before.fields.reasoning)}`,
      { fields: before.fields },
    );
    r.step("dspy", `the LM call received temperature ${String(before.lmCalls[0]?.temperature)}`, {
      temperature: before.lmCalls[0]?.temperature,
    });
    await session.variables.set("cot_temperature", 1.1);
    const next = await session.programs.execute("qa", { question: "And of Italy?" });
    r.step(
      "dspy",
      `TypeScript set cot_temperature = 1.1; the next LM call received temperature ${String(next.lmCalls[0]?.temperature)}`,
      {
        temperature: next.lmCalls[0]?.temperature,
        ok: next.lmCalls[0]?.temperature === 1.1,
      },
    );

    r.section("DSPy optimizer as a long job: BootstrapFewShot compiles that program");
    const sums = [
      [1, 2],
      [3, 4],
      [5, 6],
      [7, 8],
    ].map(([a, b]) => ({ question: `What is ${a} + ${b}?`, answer: String(a! + b!) }));
    const job = session.programs.optimize("qa", {
      optimizer: "BootstrapFewShot",
      trainset: sums,
      metric: "exact_match",
      params: { max_bootstrapped_demos: 2, max_labeled_demos: 0 },
      lm: { model: "scripted", latencyMs: 20 },
      progressIntervalMs: 0,
    });
    let progressEvents = 0;
    for await (const _p of job) progressEvents++;
    const compiled = await job.result;
    const demos = ((compiled.saved.state as { predict?: { demos?: unknown[] } }).predict?.demos ?? []).length;
    r.step(
      "optimize",
      `${compiled.evaluations} metric calls, ${progressEvents} progress events, ${demos} bootstrapped demos now in 'qa' (${compiled.elapsedMs.toFixed(0)} ms)`,
      {
        evaluations: compiled.evaluations,
        progress_events: progressEvents,
        demos,
        ok: demos === 2,
      },
    );

    r.section("Clear errors");
    for (const [cmd, args] of [
      ["no_such_command", {}],
      ["sleep", { seconds: "soon" }],
    ] as const) {
      try {
        await bridge.execute(cmd, args);
      } catch (err) {
        const e = err as BridgeError;
        r.step("error", `${e.constructor.name} (${e.reason}): ${e.message}`, { reason: e.reason, message: e.message });
      }
    }

    r.section("A worker killed in the middle of a call");
    try {
      await bridge.execute("crash", { delay_ms: 50 });
    } catch (err) {
      const e = err as BridgeError;
      r.step("crash", `${e.constructor.name}: ${e.message}`, { reason: e.reason });
    }
    const waitStart = performance.now();
    while (
      bridge.stats().workers.filter((w) => w.state === "ready").length < flags.workers &&
      performance.now() - waitStart < 10_000
    ) {
      await new Promise((res) => setTimeout(res, 20));
    }
    const after = bridge.stats().workers.filter((w) => w.state === "ready");
    r.step(
      "recovered",
      `pool back to ${after.length} ready workers in ${(performance.now() - waitStart).toFixed(0)} ms: ${after.map((w) => w.id).join(", ")}`,
      {
        ready: after.length,
      },
    );

    r.section("Telemetry (from bridge.on('call'))");
    const byCommand = new Map<string, number[]>();
    for (const c of calls) byCommand.set(c.command, [...(byCommand.get(c.command) ?? []), c.latencyMs]);
    for (const [cmd, l] of byCommand) {
      l.sort((a, b) => a - b);
      r.step(
        "telemetry",
        `${cmd.padEnd(22)} ${String(l.length).padStart(5)} calls, p50 ${percentile(l, 50).toFixed(2)} ms`,
        {
          command: cmd,
          calls: l.length,
          p50_ms: percentile(l, 50),
        },
      );
    }
  } finally {
    const pids = [...bridge.stats().workers.map((w) => w.pid), bridge.forkServerPid].filter(
      (p): p is number => p !== undefined,
    );
    await bridge.close();
    await new Promise((res) => setTimeout(res, 300));
    const alive = pids.filter((pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    });
    r.section("Closed");
    r.step(
      "closed",
      alive.length ? `still running: ${alive.join(", ")}` : `all ${pids.length} Python processes have exited`,
      { alive },
    );
  }
  return 0;
}
