// `dspy-bridge optimize`: a DSPy optimizer job on a program built from the command line, or a
// variable optimization run (`--variable`), with a progress bar (stderr; plain lines when not
// a TTY) or, with --json, one JSON object per line on stdout: "started", "progress"…, "result"
// (or "error"). Ctrl-C cancels the run; the program is left as it was.
import { readFileSync, writeFileSync } from "node:fs";
import { BridgeError, NotFoundError } from "../errors/index.js";
import type { LMSpec } from "../dspy/index.js";
import type { MetricSpec, OptimizerProgress } from "../dspy/index.js";
import { Bridge } from "../bridge.js";
import {
  choice,
  EXIT_FAILED,
  EXIT_INTERRUPTED,
  EXIT_OK,
  flag,
  list,
  num,
  str,
  UsageError,
  type OptionTable,
  type Parsed,
} from "./args.js";
import { ProgressBar } from "./progress.js";

export const OPTIMIZE_HELP = `Usage: npx dspy-bridge optimize [options]

Compile a program with a DSPy optimizer, or optimize a variable, with a progress bar (stderr)
or JSON lines (--json). Ctrl-C cancels; the program is left as it was (exit code 130).

A DSPy optimizer job:
  --optimizer NAME      LabeledFewShot, BootstrapFewShot, BootstrapFewShotWithRandomSearch,
                        MIPROv2, COPRO, GEPA, SIMBA or KNNFewShot
  --signature SIG       the program's signature, e.g. "question -> answer"
  --module NAME         Predict (default), ChainOfThought, …
  --trainset FILE       examples: a JSON array of objects, or JSON lines
  --valset FILE         validation examples (same format)
  --input-keys A,B      input fields (default: the signature's inputs)
  --metric NAME         exact_match, answer_exact_match, answer_passage_match or pkg.module:function
  --metric-tool NAME    a Python @tool (from --modules) as the metric
  --param KEY=VALUE     an optimizer parameter (VALUE read as JSON when it parses); repeatable
  --lm MODEL            the task LM: a LiteLLM model string, or "scripted" (offline)
  --api-key-env VAR     environment variable holding the LM's key
  --api-base URL        the LM server's base URL (an OpenAI-compatible server, a local model)
  --prompt-lm MODEL     COPRO/MIPROv2/SIMBA's prompt model (default: --lm)
  --reflection-lm MODEL GEPA's reflection LM (default: --prompt-lm, else --lm)
  --lm-latency-ms N     scripted LM only: simulated latency per call
  --save FILE           write the compiled program (JSON state, loadable with programs.load)
A variable optimization run:
  --variable NAME --min A --max B [--type float|integer] [--initial V]
  --objective TOOL      a Python @tool (from --modules) scoring the candidate values
  --optimizer NAME      random (default), grid or bayesian
  --iterations N        default 20;  --seed N;  --direction maximize|minimize
common: --json, --workers N (default 1), --modules MODULES, --python-path DIRS,
  --store STORE (memory by default; sqlite:PATH or redis://HOST:PORT/DB keeps the result),
  --session ID (default: a new session; an existing one is reused, and a variable
  already defined in it keeps its definition and starts from its current value),
  -h, --help this text`;

interface OptimizeFlags {
  json: boolean;
  workers: number;
  modules: string[];
  pythonPath: string[];
  optimizer?: string;
  signature?: string;
  module: string;
  trainset?: string;
  valset?: string;
  inputKeys?: string[];
  metric?: string;
  metricTool?: string;
  params: Record<string, unknown>;
  lm?: string;
  apiKeyEnv?: string;
  apiBase?: string;
  promptLm?: string;
  reflectionLm?: string;
  lmLatencyMs?: number;
  save?: string;
  variable?: string;
  type: "float" | "integer";
  min?: number;
  max?: number;
  initial?: number;
  objective?: string;
  iterations: number;
  seed?: number;
  direction?: "maximize" | "minimize";
  store?: string;
  session?: string;
}

export const OPTIMIZE_OPTIONS: OptionTable = {
  json: { type: "boolean" },
  workers: { type: "string" },
  modules: { type: "string" },
  "python-path": { type: "string" },
  optimizer: { type: "string" },
  signature: { type: "string" },
  module: { type: "string" },
  trainset: { type: "string" },
  valset: { type: "string" },
  "input-keys": { type: "string" },
  metric: { type: "string" },
  "metric-tool": { type: "string" },
  param: { type: "string", multiple: true },
  lm: { type: "string" },
  "api-key-env": { type: "string" },
  "api-base": { type: "string" },
  "prompt-lm": { type: "string" },
  "reflection-lm": { type: "string" },
  "lm-latency-ms": { type: "string" },
  save: { type: "string" },
  variable: { type: "string" },
  store: { type: "string" },
  session: { type: "string" },
  type: { type: "string" },
  min: { type: "string" },
  max: { type: "string" },
  initial: { type: "string" },
  objective: { type: "string" },
  iterations: { type: "string" },
  seed: { type: "string" },
  direction: { type: "string" },
};

function param(raw: string, params: Record<string, unknown>): void {
  const eq = raw.indexOf("=");
  if (eq < 1) throw new UsageError(`--param needs KEY=VALUE, got ${raw}`);
  const text = raw.slice(eq + 1);
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // a plain string
  }
  params[raw.slice(0, eq)] = parsed;
}

function parse(values: Parsed["values"]): OptimizeFlags {
  const params: Record<string, unknown> = {};
  for (const raw of (values.param as string[] | undefined) ?? []) param(raw, params);
  const optional = <T>(key: string, value: T | undefined): Partial<Record<string, T>> =>
    value === undefined ? {} : { [key]: value };
  const f: OptimizeFlags = {
    json: flag(values, "json"),
    workers: num(values, "workers", { integer: true, min: 1 }) ?? 1,
    modules: list(values, "modules", ",") ?? [],
    pythonPath: list(values, "python-path", ":") ?? [],
    module: str(values, "module") ?? "Predict",
    params,
    type: choice(values, "type", ["float", "integer"] as const) ?? "float",
    iterations: num(values, "iterations", { integer: true, min: 1 }) ?? 20,
    ...optional("optimizer", str(values, "optimizer")),
    ...optional("signature", str(values, "signature")),
    ...optional("trainset", str(values, "trainset")),
    ...optional("valset", str(values, "valset")),
    ...optional("inputKeys", list(values, "input-keys", ",")),
    ...optional("metric", str(values, "metric")),
    ...optional("metricTool", str(values, "metric-tool")),
    ...optional("lm", str(values, "lm")),
    ...optional("apiKeyEnv", str(values, "api-key-env")),
    ...optional("apiBase", str(values, "api-base")),
    ...optional("promptLm", str(values, "prompt-lm")),
    ...optional("reflectionLm", str(values, "reflection-lm")),
    ...optional("lmLatencyMs", num(values, "lm-latency-ms", { min: 0, what: "a non-negative number" })),
    ...optional("save", str(values, "save")),
    ...optional("variable", str(values, "variable")),
    ...optional("store", str(values, "store")),
    ...optional("session", str(values, "session")),
    ...optional("min", num(values, "min")),
    ...optional("max", num(values, "max")),
    ...optional("initial", num(values, "initial")),
    ...optional("objective", str(values, "objective")),
    ...optional("seed", num(values, "seed", { integer: true, min: 0 })),
    ...optional("direction", choice(values, "direction", ["maximize", "minimize"] as const)),
  } as OptimizeFlags;
  if (f.variable === undefined) {
    for (const [flag, v] of [
      ["--optimizer", f.optimizer],
      ["--signature", f.signature],
      ["--trainset", f.trainset],
      ["--lm", f.lm],
    ] as const) {
      if (v === undefined) throw new UsageError(`optimize needs ${flag} (or --variable for a variable optimization)`);
    }
    if (f.metric !== undefined && f.metricTool !== undefined)
      throw new UsageError("give --metric or --metric-tool, not both");
  } else {
    for (const [flag, v] of [
      ["--min", f.min],
      ["--max", f.max],
      ["--objective", f.objective],
    ] as const) {
      if (v === undefined) throw new UsageError(`optimize --variable needs ${flag}`);
    }
  }
  return f;
}

function readExamples(path: string, flag: string): Record<string, unknown>[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new UsageError(`${flag}: cannot read ${path}: ${(err as Error).message}`);
  }
  const trimmed = text.trim();
  try {
    const rows: unknown = trimmed.startsWith("[")
      ? JSON.parse(trimmed)
      : trimmed
          .split("\n")
          .filter((l) => l.trim())
          .map((l) => JSON.parse(l));
    if (!Array.isArray(rows) || rows.some((r) => r === null || typeof r !== "object" || Array.isArray(r)))
      throw new Error("not a list of objects");
    return rows as Record<string, unknown>[];
  } catch (err) {
    throw new UsageError(
      `${flag}: ${path} is not a JSON array of objects or JSON lines of objects (${(err as Error).message})`,
    );
  }
}

function lmSpec(model: string, f: OptimizeFlags): LMSpec {
  return {
    model,
    ...(f.apiKeyEnv && !model.startsWith("scripted") ? { apiKeyEnv: f.apiKeyEnv } : {}),
    ...(f.apiBase && !model.startsWith("scripted") ? { apiBase: f.apiBase } : {}),
    ...(f.lmLatencyMs !== undefined && model.startsWith("scripted") ? { latencyMs: f.lmLatencyMs } : {}),
  };
}

const line = (event: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(event)}\n`);
};

function fmt(score: number | null | undefined): string {
  return score === null || score === undefined ? "-" : score.toFixed(3);
}

/** Cancels on Ctrl-C / SIGTERM; returns a function that removes the handlers. */
function onInterrupt(cancel: () => void): () => void {
  const handler = () => cancel();
  process.once("SIGINT", handler);
  process.once("SIGTERM", handler);
  return () => {
    process.off("SIGINT", handler);
    process.off("SIGTERM", handler);
  };
}

async function runJob(bridge: Bridge, f: OptimizeFlags): Promise<number> {
  const trainset = readExamples(f.trainset!, "--trainset");
  const valset = f.valset ? readExamples(f.valset, "--valset") : undefined;
  const session = await openSession(bridge, f);
  await session.programs.create("program", { module: f.module, signature: f.signature! });
  const metric: MetricSpec | undefined = f.metricTool ? { tool: f.metricTool } : f.metric;
  const bar = f.json ? undefined : new ProgressBar({ label: f.optimizer! });
  const job = session.programs.optimize("program", {
    optimizer: f.optimizer!,
    trainset,
    ...(valset ? { valset } : {}),
    ...(f.inputKeys ? { inputKeys: f.inputKeys } : {}),
    ...(metric !== undefined ? { metric } : {}),
    params: f.params,
    lm: lmSpec(f.lm!, f),
    ...(f.promptLm ? { promptLm: lmSpec(f.promptLm, f) } : {}),
    ...(f.reflectionLm ? { reflectionLm: lmSpec(f.reflectionLm, f) } : {}),
    progressIntervalMs: f.json ? 100 : 50,
    onProgress: (p: OptimizerProgress) => {
      if (f.json)
        line({
          event: "progress",
          evaluations: p.evaluations,
          expected: p.expected,
          best_score: p.bestScore,
          mean_score: p.meanScore,
          lm_calls: p.lmCalls,
          message: p.message,
          elapsed_ms: p.elapsedMs,
          final: p.final,
        });
      else bar!.update(p.evaluations, p.expected, `best ${fmt(p.bestScore)}`);
    },
  });
  const removeHandlers = onInterrupt(() => job.cancel("interrupted by a signal"));
  try {
    const info = await job.started;
    if (f.json)
      line({
        event: "started",
        job_id: info.jobId,
        optimizer: info.optimizer,
        expected: info.expected,
        trainset_size: info.trainsetSize,
        valset_size: info.valsetSize,
        metric: info.metric,
      });
    else
      process.stderr.write(
        `${info.optimizer} on ${f.module}(${f.signature}): ${info.trainsetSize} examples, ~${info.expected ?? "?"} metric calls\n`,
      );
    const result = await job.result;
    if (f.save) writeFileSync(f.save, `${JSON.stringify(result.saved, null, 2)}\n`);
    if (f.json) {
      line({
        event: "result",
        job_id: result.jobId,
        optimizer: result.optimizer,
        evaluations: result.evaluations,
        best_score: result.bestScore,
        mean_score: result.meanScore,
        lm_calls: result.lmCalls,
        elapsed_ms: result.elapsedMs,
        summary: result.summary,
        ...(f.save ? { saved_to: f.save } : { saved: result.saved }),
      });
    } else {
      bar!.finish(result.evaluations, result.evaluations, `best ${fmt(result.bestScore)}`);
      console.log(
        `${result.optimizer}: ${result.evaluations} metric calls in ${(result.elapsedMs / 1000).toFixed(1)} s, best score ${fmt(result.bestScore)}`,
      );
      console.log(f.save ? `compiled program saved to ${f.save}` : JSON.stringify(result.saved.state));
    }
    return 0;
  } catch (err) {
    bar?.abandon();
    report(f, err);
    return job.state === "cancelled" ? EXIT_INTERRUPTED : EXIT_FAILED;
  } finally {
    removeHandlers();
  }
}

/** The --session named (created when new), else a new session of this run's own. */
function openSession(bridge: Bridge, f: OptimizeFlags) {
  return f.session !== undefined
    ? bridge.sessions.open(f.session)
    : bridge.sessions.create({ id: `cli-optimize-${process.pid}` });
}

async function runVariable(bridge: Bridge, f: OptimizeFlags): Promise<number> {
  const session = await openSession(bridge, f);
  // A variable the session already has keeps its definition (type, constraints, history):
  // the run starts from its current value, and its result is one more version of it.
  const existing = await session.variables.info(f.variable!).catch((err: unknown) => {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  });
  if (existing) {
    if (!f.json)
      console.error(
        `${f.variable}: already in session ${session.id} at ${JSON.stringify(existing.value)}; its own type and constraints apply (--type/--min/--max/--initial are not used)`,
      );
  } else {
    const initial = f.initial ?? (f.type === "integer" ? Math.round((f.min! + f.max!) / 2) : (f.min! + f.max!) / 2);
    await session.variables.define(f.variable!, f.type, initial, { constraints: { min: f.min!, max: f.max! } });
  }
  const bar = f.json ? undefined : new ProgressBar({ label: `${f.optimizer ?? "random"} ${f.variable}` });
  const target = { variable: f.variable! };
  let lastIteration = 0;
  const id = await Promise.resolve(
    bridge.optimization.start(session.id, target, {
      optimizer: f.optimizer ?? "random",
      objective: f.objective!,
      maxIterations: f.iterations,
      ...(f.seed !== undefined ? { seed: f.seed } : {}),
      ...(f.direction ? { direction: f.direction } : {}),
      onProgress: (p) => {
        lastIteration = p.iteration;
        if (f.json)
          line({
            event: "progress",
            iteration: p.iteration,
            expected: f.iterations,
            values: p.values,
            score: p.score,
            best_values: p.bestValues,
            best_score: p.bestScore,
          });
        else
          bar!.update(p.iteration, f.iterations, `best ${fmt(p.bestScore)} at ${JSON.stringify(p.bestValues ?? {})}`);
      },
    }),
  );
  if (f.json)
    line({
      event: "started",
      optimization_id: id,
      session: session.id,
      variable: f.variable,
      reused: existing !== undefined,
      optimizer: f.optimizer ?? "random",
      expected: f.iterations,
    });
  let interrupted = false;
  const removeHandlers = onInterrupt(() => {
    interrupted = true;
    void bridge.optimization.stop(session.id, target).catch(() => {});
  });
  try {
    const status = await bridge.optimization.wait(session.id, target);
    if (status.state === "failed") throw status.failure ?? new Error(status.error ?? "the optimization failed");
    if (f.json)
      line({
        event: "result",
        optimization_id: id,
        state: status.state,
        iterations: status.iteration,
        best_value: status.bestValue,
        best_score: status.bestScore,
      });
    else {
      bar!.finish(status.iteration || lastIteration, f.iterations, `best ${fmt(status.bestScore)}`);
      console.log(
        `${f.variable}: best ${JSON.stringify(status.bestValue)} (score ${fmt(status.bestScore)}) after ${status.iteration} iterations, ${status.state}`,
      );
    }
    // stopped by a signal: the best so far is the result, but the run did not finish
    return interrupted ? EXIT_INTERRUPTED : EXIT_OK;
  } catch (err) {
    bar?.abandon();
    report(f, err);
    return 1;
  } finally {
    removeHandlers();
  }
}

function report(f: OptimizeFlags, err: unknown): void {
  const error = err instanceof Error ? err : new Error(String(err));
  if (f.json)
    line({
      event: "error",
      error: error.name,
      message: error.message,
      ...(err instanceof BridgeError ? { reason: err.reason } : {}),
    });
  else console.error(`dspy-bridge optimize: ${error.name}: ${error.message}`);
}

/** `values`: the options as parseOptions(argv, OPTIMIZE_OPTIONS) read them; a UsageError for a bad combination. */
export async function runOptimize(values: Parsed["values"]): Promise<number> {
  const flags = parse(values);
  let bridge: Bridge | undefined;
  try {
    bridge = await Bridge.start({
      workers: flags.workers,
      modules: flags.modules,
      pythonPath: flags.pythonPath,
      ...(flags.store !== undefined ? { store: flags.store } : {}),
      healthIntervalMs: 0,
      onLog: () => {},
    });
    return flags.variable === undefined ? await runJob(bridge, flags) : await runVariable(bridge, flags);
  } catch (err) {
    if (err instanceof UsageError) throw err; // an unreadable --trainset, found once the bridge runs
    report(flags, err);
    return EXIT_FAILED;
  } finally {
    await bridge?.close();
  }
}
