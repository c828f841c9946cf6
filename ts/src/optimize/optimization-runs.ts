// Optimization runs (start, stop, status, history): the host tries candidate values
// of a variable or of a whole configuration space, applies each (so variable-aware modules see
// it), scores it with an objective tool (TypeScript or Python), and keeps the best. The host
// drives every run, whatever the optimizer: it asks the candidate source, checks the candidate
// against the space with the validator, applies it, scores it and tells the source. One run per
// target at a time; stopping or finishing applies the best values found.
import { randomUUID } from "node:crypto";
import {
  BridgeError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
} from "../errors/index.js";
import { validate, type Config, type Configurations, type SpaceDoc } from "../config/index.js";
import type { Store } from "../store/store.js";
import type { ToolsApi } from "../tools/index.js";
import { gridSource, randomSource, type CandidateSource } from "./candidates.js";
import { BUILT_IN_OPTIMIZERS, PythonOptimizers } from "./python-optimizers.js";
import type { CommandRunner } from "../command-runner.js";
import { openWorkerOptimizer } from "./worker-optimizer.js";
import type { HostTelemetry } from "../telemetry/otel.js";

export interface OptimizationOptions {
  /** "random", "grid", "bayesian" (alias "tpe": Optuna TPE in the session's worker), or a registered Python optimizer. */
  optimizer: string;
  /** A tool (TypeScript or Python `@tool`) called with the candidate values; returns a number or { score, metrics }. */
  objective: string;
  direction?: "maximize" | "minimize";
  maxIterations?: number;
  /** Stop when the best score has not improved by more than this for `patience` iterations. */
  convergenceThreshold?: number;
  patience?: number;
  seed?: number;
  /** Grid points per float variable (grid search). Default 5. */
  gridPoints?: number;
  /** Options of a Python optimizer, snake_case (bayesian: n_startup_trials, n_ei_candidates, multivariate, consider_endpoints). */
  optimizerConfig?: Record<string, unknown>;
  onProgress?: (progress: OptimizationProgress) => void;
}

export interface OptimizationProgress {
  optimizationId: string;
  iteration: number;
  values: Config;
  score: number;
  metrics: Record<string, unknown>;
  bestValues: Config | undefined;
  bestScore: number | undefined;
}

export interface HistoryEntry {
  optimizationId: string;
  iteration: number;
  values: Config;
  score: number;
  metrics: Record<string, unknown>;
  timestamp: Date;
}

export interface OptimizationStatus {
  isOptimizing: boolean;
  optimizationId: string | undefined;
  iteration: number;
  bestValue: Config | unknown;
  bestMetrics: Record<string, unknown>;
  bestScore: number | undefined;
  startedAt: Date | undefined;
  lastUpdate: Date | undefined;
  state: "running" | "converged" | "exhausted" | "stopped" | "failed" | "idle";
  /** The failure's message (state "failed"). */
  error: string | undefined;
  /** The failure itself, typed (a PythonError from a Python optimizer carries its traceback). */
  failure?: BridgeError | undefined;
  /** Candidates the optimizer proposed that broke the space's constraints (told, never evaluated). */
  rejected?: number;
  /** Times the run's Python optimizer was rebuilt in a replacement worker and replayed what it had been told. */
  resumed?: number;
  optimizer?: string;
  /** Time spent optimizing this target, in milliseconds, over all its runs (the running one so far). */
  totalTimeMs?: number;
}

/** What an observer is told of a run: at its start, after each trial (`trial`), and at its end. */
export interface OptimizationRunView {
  optimizationId: string;
  sessionId: string;
  /** The variable's or the configuration's name. */
  target: string;
  direction: "maximize" | "minimize";
  status: OptimizationStatus;
}

/** Told of every run's life (the run history, the dashboard); must not throw. */
export type OptimizationObserver = (run: OptimizationRunView, trial: HistoryEntry | undefined) => void;

/** `{ variable: name }` or `{ configuration: name }`. */
export type OptimizationTarget = { variable: string } | { configuration: string };

/** Evaluated candidates kept per target, over all its runs (the oldest go first). */
const MAX_HISTORY = 10_000;

/** Consecutive infeasible proposals after which a run fails rather than spin. */
const MAX_REJECTED_IN_A_ROW = 100;

interface Run {
  id: string;
  sessionId: string;
  key: string;
  target: OptimizationTarget;
  space: SpaceDoc;
  /** The values before the first candidate: restored if the run ends without a score. */
  initial: Config;
  status: OptimizationStatus;
  history: HistoryEntry[];
  /** Milliseconds spent by the target's earlier runs. */
  priorTimeMs: number;
  stop: boolean;
  /** The session was deleted: nothing to apply or release any more. */
  sessionGone: boolean;
  abort: AbortController;
  opened: Promise<void>;
  done: Promise<void>;
}

/** The run loop's own options: a bad one would silently change how the run stops (NaN never converges, 0 grid points end it at once). */
function checkRunOptions(o: OptimizationOptions): void {
  if (o.maxIterations !== undefined && (!Number.isInteger(o.maxIterations) || o.maxIterations < 1)) {
    throw new InvalidArgumentError("maxIterations must be a positive integer", { parameter: "max_iterations" });
  }
  if (o.direction !== undefined && o.direction !== "maximize" && o.direction !== "minimize") {
    throw new InvalidArgumentError(`direction must be 'maximize' or 'minimize', got ${JSON.stringify(o.direction)}`, {
      parameter: "direction",
    });
  }
  if (o.seed !== undefined && (!Number.isSafeInteger(o.seed) || o.seed < 0)) {
    throw new InvalidArgumentError(`seed must be a non-negative integer, got ${String(o.seed)}`, { parameter: "seed" });
  }
  if (typeof o.objective !== "string" || !o.objective) {
    throw new InvalidArgumentError("objective must name a tool (a TypeScript tool or a Python @tool)", {
      parameter: "objective",
    });
  }
  if (o.patience !== undefined && (!Number.isSafeInteger(o.patience) || o.patience < 1)) {
    throw new InvalidArgumentError(`patience must be a positive integer, got ${String(o.patience)}`, {
      parameter: "patience",
    });
  }
  if (
    o.convergenceThreshold !== undefined &&
    (typeof o.convergenceThreshold !== "number" ||
      !Number.isFinite(o.convergenceThreshold) ||
      o.convergenceThreshold < 0)
  ) {
    throw new InvalidArgumentError(
      `convergenceThreshold must be a finite number >= 0, got ${String(o.convergenceThreshold)}`,
      { parameter: "convergence_threshold" },
    );
  }
  if (o.gridPoints !== undefined && (!Number.isSafeInteger(o.gridPoints) || o.gridPoints < 1)) {
    throw new InvalidArgumentError(`gridPoints must be a positive integer, got ${String(o.gridPoints)}`, {
      parameter: "grid_points",
    });
  }
}

export class OptimizationRuns {
  private readonly runs = new Map<string, Run>();
  /** OpenTelemetry: a span per run and a child span per trial with its score (telemetry/otel.ts). */
  telemetry: HostTelemetry | undefined = undefined;
  /** Told of every run's start, trials and end (set by the bridge: the run history). */
  observer: OptimizationObserver | undefined = undefined;
  /** Python optimizer classes by name (register_python_optimizer). */
  readonly pythonOptimizers: PythonOptimizers;

  constructor(
    private readonly store: Store,
    private readonly configurations: Configurations,
    private readonly tools: ToolsApi,
    private readonly runner: CommandRunner,
  ) {
    this.pythonOptimizers = new PythonOptimizers(runner);
    // A deleted session stops its runs; its worker drops their optimizers (session.release).
    store.onSessionDropped((sessionId) => {
      for (const run of this.runs.values()) {
        if (run.sessionId !== sessionId) continue;
        run.sessionGone = true;
        halt(run);
        void run.done.then(() => this.runs.delete(run.key));
      }
    });
  }

  /** The run's key: a variable by its name (an id resolves to it) — looked up without counting as a read. */
  private key(sessionId: string, target: OptimizationTarget): string {
    if (!("variable" in target)) return `${sessionId}\u0000c\u0000${target.configuration}`;
    const record = this.store.sessionRecord(sessionId).find(target.variable);
    if (!record)
      throw new NotFoundError(`variable '${target.variable}' not found in session '${sessionId}'`, {
        details: { variable: target.variable },
      });
    return `${sessionId}\u0000v\u0000${record.name}`;
  }

  /** The space to search (the configuration's, or one built from the variable's type and constraints) and the values now set. */
  private spaceOf(sessionId: string, target: OptimizationTarget, caller: string): { doc: SpaceDoc; current: Config } {
    if ("configuration" in target) {
      return {
        doc: this.configurations.info(sessionId, target.configuration).definition,
        current: this.configurations.currentValues(sessionId, target.configuration),
      };
    }
    const r = this.store.getLocal(sessionId, target.variable, caller);
    const c = r.constraints;
    const variable: Record<string, unknown> = { name: r.name };
    if ((r.type === "float" || r.type === "integer") && typeof c.min === "number" && typeof c.max === "number")
      Object.assign(variable, { type: r.type, min: c.min, max: c.max });
    else if ((r.type === "choice" || r.type === "module") && Array.isArray(c.choices))
      Object.assign(variable, { type: "choice", values: c.choices });
    else if (r.type === "boolean") Object.assign(variable, { type: "boolean" });
    else {
      throw new InvalidArgumentError(
        `variable '${r.name}' cannot be optimized: it needs min and max (float, integer) or choices (choice, module), or be a boolean`,
        {
          parameter: "variable",
        },
      );
    }
    return { doc: { variables: [variable] } as unknown as SpaceDoc, current: { [r.name]: r.value as Config[string] } };
  }

  private checkOptimize(sessionId: string, names: string[], caller: string): void {
    for (const n of names) {
      if (!this.store.checkAccessLocal(sessionId, n, "optimize", caller)) {
        throw new PermissionDeniedError(`session '${caller}' may not optimize variable '${n}'`, {
          details: { variable: n },
        });
      }
    }
  }

  /** Checks the optimizer name and its options; returns how to open its candidate source. */
  private resolveOptimizer(o: OptimizationOptions): {
    kind: "random" | "grid" | "worker";
    classPath: string | undefined;
  } {
    const name = o.optimizer;
    const config = o.optimizerConfig ?? {};
    if (typeof config !== "object" || config === null || Array.isArray(config)) {
      throw new InvalidArgumentError("optimizerConfig must be an object", { parameter: "optimizer_config" });
    }
    if ((BUILT_IN_OPTIMIZERS as readonly string[]).includes(name)) {
      const kind =
        name === "bayesian" || name === "tpe" || name === "gradient"
          ? "worker"
          : name.startsWith("grid")
            ? "grid"
            : "random";
      const extra = Object.keys(config);
      if (kind !== "worker" && extra.length) {
        throw new InvalidArgumentError(
          `the '${name}' optimizer has no option ${extra.map((k) => `'${k}'`).join(", ")} (its options: seed${kind === "grid" ? ", grid_points" : ""})`,
          {
            parameter: `optimizer_config.${extra[0]!}`,
          },
        );
      }
      return { kind, classPath: undefined };
    }
    const registered = this.pythonOptimizers.get(name);
    if (!registered) {
      const known = [...BUILT_IN_OPTIMIZERS, ...this.pythonOptimizers.list().map((p) => p.name)];
      throw new InvalidArgumentError(
        `unknown optimizer '${String(name)}' (available: ${known.join(", ")}; register Python optimizers with register_python_optimizer)`,
        {
          parameter: "optimizer",
        },
      );
    }
    return { kind: "worker", classPath: registered.classPath };
  }

  start(sessionId: string, target: OptimizationTarget, options: OptimizationOptions, caller = sessionId): string {
    const resolved = this.resolveOptimizer(options);
    const key = this.key(sessionId, target);
    const existing = this.runs.get(key);
    if (existing?.status.isOptimizing) {
      throw new InvalidArgumentError(
        `${"variable" in target ? `variable '${target.variable}'` : `configuration '${target.configuration}'`} is already being optimized (run ${existing.id})`,
        {
          details: { optimization_id: existing.id },
        },
      );
    }
    const { doc, current } = this.spaceOf(sessionId, target, caller);
    const names = (doc.variables as { name: string }[]).map((v) => v.name);
    this.checkOptimize(sessionId, names, caller);
    checkRunOptions(options);
    const maxIterations = options.maxIterations ?? 100;
    const seed = options.seed ?? 1;
    const id = `opt_${randomUUID().slice(0, 8)}`;
    const now = new Date();
    const run: Run = {
      id,
      sessionId,
      key,
      target,
      space: doc,
      initial: current,
      // the target's earlier runs stay in its history (filtered by optimizationId)
      history: existing?.history ?? [],
      priorTimeMs: existing ? runTimeMs(existing) : 0,
      stop: false,
      sessionGone: false,
      abort: new AbortController(),
      opened: Promise.resolve(),
      done: Promise.resolve(),
      status: {
        isOptimizing: true,
        optimizationId: id,
        iteration: 0,
        bestValue: undefined,
        bestMetrics: {},
        bestScore: undefined,
        startedAt: now,
        lastUpdate: now,
        state: "running",
        error: undefined,
        failure: undefined,
        rejected: 0,
        resumed: 0,
        optimizer: options.optimizer,
      },
    };
    this.runs.set(key, run);
    const openSource = (): CandidateSource | Promise<CandidateSource> => {
      if (resolved.kind === "grid") return gridSource(doc, options.gridPoints ?? 5);
      if (resolved.kind === "random") return randomSource(doc, seed);
      return openWorkerOptimizer(this.runner, {
        runId: id,
        sessionId,
        optimizer: options.optimizer,
        classPath: resolved.classPath,
        space: doc,
        direction: options.direction ?? "maximize",
        seed,
        // gradient steps start from the values set now (unless the options say where)
        config:
          options.optimizer === "gradient"
            ? { initial: current, ...(options.optimizerConfig ?? {}) }
            : (options.optimizerConfig ?? {}),
        signal: run.abort.signal,
        onResumed: () => (run.status.resumed = (run.status.resumed ?? 0) + 1),
      });
    };
    // The objective is looked up before anything opens, so a misspelt one fails the start
    // (Python's start_optimization raises it) instead of the first evaluation, after a candidate was applied.
    const source = this.checkObjective(options.objective, sessionId).then(openSource);
    run.opened = source.then(() => undefined);
    run.opened.catch(() => {}); // observed through the run's status and started()
    run.done = this.loop(run, source, options, maxIterations, caller);
    return id;
  }

  /** The objective must be a non-streaming tool the session can call: a TypeScript tool or a workers' Python `@tool`. */
  private async checkObjective(name: string, sessionId: string): Promise<void> {
    const python = async () =>
      (await this.tools.list({ session: sessionId })).find((t) => t.owner === "python" && t.name === name);
    let tool = this.tools.localInfo(name, sessionId) ?? (await python());
    if (!tool) {
      this.tools.invalidatePythonTools(); // the list is cached: a tool defined since must not be missed
      tool = await python();
    }
    if (!tool) {
      throw new NotFoundError(
        `objective '${name}' is neither a TypeScript tool of session '${sessionId}' (or global) nor a Python @tool of the workers`,
        {
          details: { tool: name },
        },
      );
    }
    if (tool.streaming)
      throw new InvalidArgumentError(`objective '${name}' is a streaming tool; an objective returns one score`, {
        parameter: "objective",
      });
  }

  /** Is `values` a configuration the target accepts? (the same check `apply` makes) */
  private feasibility(run: Run, values: Config): { ok: boolean; why: string } {
    const result =
      "configuration" in run.target
        ? this.configurations.validate(run.sessionId, run.target.configuration, values)
        : validate(run.space, values);
    const violations = result.violations.filter((v) => v.kind !== "inactive");
    return { ok: violations.length === 0, why: violations.map((v) => v.message).join("; ") };
  }

  private async loop(
    run: Run,
    opening: Promise<CandidateSource>,
    o: OptimizationOptions,
    maxIterations: number,
    caller: string,
  ): Promise<void> {
    const sign = o.direction === "minimize" ? -1 : 1;
    const threshold = o.convergenceThreshold ?? 0.001;
    const patience = o.patience ?? 10;
    const signal = run.abort.signal;
    let sinceImprovement = 0;
    let best: { values: Config; score: number; metrics: Record<string, unknown> } | undefined;
    const apply = async (values: Config) => {
      if ("configuration" in run.target)
        await this.configurations.apply(
          run.sessionId,
          run.target.configuration,
          values,
          { optimization_id: run.id },
          caller,
        );
      else
        await this.store.set(run.sessionId, run.target.variable, values[run.target.variable], {
          caller,
          source: `optimizer:${run.id}`,
          metadata: { optimization_id: run.id },
        });
    };
    const fail = (err: unknown) => {
      run.status.state = "failed";
      run.status.failure = BridgeError.from(err);
      run.status.error = run.status.failure.message;
    };
    let source: CandidateSource | undefined;
    let applied = false;
    const telemetry = this.telemetry;
    const targetName = "variable" in run.target ? run.target.variable : run.target.configuration;
    const observe = (trial: HistoryEntry | undefined) =>
      this.observer?.(
        {
          optimizationId: run.id,
          sessionId: run.sessionId,
          target: targetName,
          direction: o.direction ?? "maximize",
          status: run.status,
        },
        trial,
      );
    observe(undefined);
    const runSpan = telemetry?.startSpan(`dspy_bridge.optimization ${targetName}`, {
      "dspy_bridge.optimization.id": run.id,
      "dspy_bridge.optimization.optimizer": o.optimizer,
      "dspy_bridge.optimization.target": targetName,
      "dspy_bridge.session_id": run.sessionId,
    });
    try {
      source = await opening;
      for (let i = 1; i <= maxIterations && !run.stop; i++) {
        let values: Config | undefined;
        for (let rejected = 0; ; ) {
          values = await source.ask();
          if (!values || run.stop) break;
          const check = this.feasibility(run, values);
          if (check.ok) break;
          await source.tell(values, undefined);
          run.status.rejected = (run.status.rejected ?? 0) + 1;
          if (++rejected >= MAX_REJECTED_IN_A_ROW) {
            throw new FailedPreconditionError(
              `optimizer '${o.optimizer}' proposed ${rejected} infeasible candidates in a row (last: ${check.why})`,
              {
                details: { rejected, last_violation: check.why },
              },
            );
          }
        }
        if (run.stop) break;
        if (!values) {
          run.status.state = "exhausted";
          break;
        }
        const candidate = values;
        const trial = async (span: { setAttribute(key: string, value: number): unknown } | undefined) => {
          await apply(candidate);
          applied = true;
          const raw = await this.tools.call(o.objective, candidate as Record<string, unknown>, {
            session: run.sessionId,
            signal,
          });
          const scored =
            typeof raw === "number"
              ? { score: raw, metrics: {} }
              : ((raw ?? {}) as { score: number; metrics?: Record<string, unknown> });
          if (typeof scored.score !== "number" || !Number.isFinite(scored.score))
            throw new InvalidArgumentError(`objective '${o.objective}' must return a finite number or { score }`);
          span?.setAttribute("dspy_bridge.trial.score", scored.score);
          return scored;
        };
        const { score, metrics } =
          telemetry && runSpan
            ? await telemetry.inSpan(
                "dspy_bridge.optimization.trial",
                { "dspy_bridge.trial.iteration": i },
                trial,
                runSpan,
              )
            : await trial(undefined);
        await source.tell(values, score);
        const entry = {
          optimizationId: run.id,
          iteration: i,
          values,
          score,
          metrics: metrics ?? {},
          timestamp: new Date(),
        };
        run.history.push(entry);
        if (run.history.length > MAX_HISTORY) run.history.splice(0, run.history.length - MAX_HISTORY);
        const improved = !best || sign * (score - best.score) > threshold;
        if (!best || sign * (score - best.score) > 0) best = { values, score, metrics: metrics ?? {} };
        sinceImprovement = improved ? 0 : sinceImprovement + 1;
        Object.assign(run.status, {
          iteration: i,
          lastUpdate: entry.timestamp,
          bestScore: best.score,
          bestMetrics: best.metrics,
          bestValue: "variable" in run.target ? best.values[run.target.variable] : best.values,
        });
        observe(entry);
        try {
          o.onProgress?.({
            optimizationId: run.id,
            iteration: i,
            values,
            score,
            metrics: metrics ?? {},
            bestValues: best.values,
            bestScore: best.score,
          });
        } catch {
          // a failing progress callback must not fail the run (as for optimizer jobs); stop() ends it
        }
        if (sinceImprovement >= patience) {
          run.status.state = "converged";
          break;
        }
      }
      if (run.stop) run.status.state = "stopped";
      else if (run.status.state === "running") run.status.state = "exhausted";
    } catch (err) {
      if (run.stop && signal.aborted)
        run.status.state = "stopped"; // the stop cancelled a pending call
      else fail(err);
    }
    try {
      // leave the best values in place; nothing scored: put back what was there
      if (run.sessionGone) run.status.error = "the session was deleted";
      else if (best) await apply(best.values);
      else if (applied) await apply(run.initial);
    } catch (err) {
      if (run.status.state !== "failed") fail(err);
    }
    if (!run.sessionGone) await source?.close().catch(() => {}); // the worker may be gone; the run is over either way
    run.status.isOptimizing = false;
    run.status.lastUpdate = new Date();
    observe(undefined);
    if (telemetry && runSpan) {
      const ended = {
        "dspy_bridge.optimization.state": run.status.state,
        "dspy_bridge.optimization.iterations": run.status.iteration,
      };
      telemetry.endSpan(
        runSpan,
        run.status.bestScore === undefined
          ? ended
          : { ...ended, "dspy_bridge.optimization.best_score": run.status.bestScore },
        run.status.failure,
      );
    }
  }

  /** Resolves with the run's id once its optimizer is ready (a Python optimizer is constructed in the worker); rejects with the typed error that failed the run before its first candidate. */
  async started(sessionId: string, target: OptimizationTarget): Promise<string> {
    const run = this.runs.get(this.key(sessionId, target));
    if (!run) throw new NotFoundError("no optimization run for that target");
    await run.opened;
    return run.id;
  }

  /** Stops the run: a pending optimizer call or objective evaluation is cancelled, and the best values so far are applied. */
  async stop(sessionId: string, target: OptimizationTarget): Promise<void> {
    const run = this.runs.get(this.key(sessionId, target));
    if (!run?.status.isOptimizing)
      throw new InvalidArgumentError("not currently optimizing", { parameter: "variable" });
    halt(run);
    await run.done;
  }

  /**
   * Stops every running run, as `stop` does each (best values applied, pending calls
   * cancelled): the bridge calls it first when it closes, while the store and the workers
   * are still there, so a run ends "stopped" with its best values rather than "failed".
   * Waits at most `timeoutMs`.
   */
  async stopAll(timeoutMs: number): Promise<void> {
    const running = [...this.runs.values()].filter((run) => run.status.isOptimizing);
    if (running.length === 0) return;
    for (const run of running) halt(run);
    // Bounded: a run stuck in an objective that ignores its signal must not hold the close up.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(running.map((run) => run.done.catch(() => {}))),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
  }

  status(sessionId: string, target: OptimizationTarget): OptimizationStatus {
    const run = this.runs.get(this.key(sessionId, target));
    if (!run)
      return {
        isOptimizing: false,
        optimizationId: undefined,
        iteration: 0,
        bestValue: undefined,
        bestMetrics: {},
        bestScore: undefined,
        startedAt: undefined,
        lastUpdate: undefined,
        state: "idle",
        error: undefined,
        totalTimeMs: 0,
      };
    return { ...run.status, totalTimeMs: runTimeMs(run) };
  }

  /** A session's runs in sum: time spent optimizing (every target, every run), runs known, runs in progress. */
  sessionSummary(sessionId: string): { totalTimeMs: number; runs: number; optimizing: number } {
    let totalTimeMs = 0;
    let runs = 0;
    let optimizing = 0;
    for (const run of this.runs.values()) {
      if (run.sessionId !== sessionId) continue;
      totalTimeMs += runTimeMs(run);
      runs++;
      if (run.status.isOptimizing) optimizing++;
    }
    return { totalTimeMs, runs, optimizing };
  }

  history(
    sessionId: string,
    target: OptimizationTarget,
    options: { limit?: number; since?: Date; optimizationId?: string } = {},
  ): HistoryEntry[] {
    const limit = options.limit ?? 100;
    if (!Number.isSafeInteger(limit) || limit < 1)
      throw new InvalidArgumentError(`limit must be a positive integer, got ${String(options.limit)}`, {
        parameter: "limit",
      });
    const run = this.runs.get(this.key(sessionId, target));
    if (!run) return [];
    return run.history
      .filter(
        (h) =>
          (!options.since || h.timestamp > options.since) &&
          (!options.optimizationId || h.optimizationId === options.optimizationId),
      )
      .slice(-limit);
  }

  /** Resolves when the run of `target` ends (tests, CLI). */
  async wait(sessionId: string, target: OptimizationTarget): Promise<OptimizationStatus> {
    const run = this.runs.get(this.key(sessionId, target));
    if (!run) throw new NotFoundError("no optimization run for that target");
    await run.done;
    return { ...run.status }; // not looked up again: the run may have ended because its session was deleted
  }

  /** Registers a Python optimizer class ("package.module:ClassName", importable by the workers) under `name`. */
  registerPythonOptimizer(name: string, classPath: string) {
    return this.pythonOptimizers.register(name, classPath);
  }
}

/** Milliseconds spent on the run's target: its earlier runs, and this one until now or its end. */
function runTimeMs(run: Run): number {
  const started = run.status.startedAt?.getTime();
  if (started === undefined) return run.priorTimeMs;
  const end = run.status.isOptimizing ? Date.now() : (run.status.lastUpdate?.getTime() ?? started);
  return run.priorTimeMs + Math.max(0, end - started);
}

/** Asks a run to end: its loop sees `stop`, and the abort cancels its pending optimizer call or evaluation. */
function halt(run: Run): void {
  run.stop = true;
  run.abort.abort();
}
