// Optimization runs (the seed's start/stop/status/history): the host tries candidate values
// of a variable or of a whole configuration space, applies each (so variable-aware modules see
// it), scores it with an objective tool (TypeScript or Python), and keeps the best. One run per
// target at a time; stopping or finishing applies the best values found.
import { randomUUID } from "node:crypto";
import { BridgeError, InvalidArgumentError, NotFoundError, PermissionDeniedError } from "../errors/index.js";
import type { Config, Configurations, SpaceDoc } from "../config/index.js";
import type { MemoryStore } from "../store/memory-store.js";
import type { ToolsApi } from "../tools/index.js";
import { candidateSource } from "./candidates.js";

export interface OptimizationOptions {
  /** "random" or "grid" ("bayesian" is not built yet). */
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
  error: string | undefined;
}

/** `{ variable: name }` or `{ configuration: name }`. */
export type OptimizationTarget = { variable: string } | { configuration: string };

interface Run {
  id: string;
  sessionId: string;
  key: string;
  target: OptimizationTarget;
  status: OptimizationStatus;
  history: HistoryEntry[];
  stop: boolean;
  done: Promise<void>;
}

export class OptimizationRuns {
  private readonly runs = new Map<string, Run>();

  constructor(
    private readonly store: MemoryStore,
    private readonly configurations: Configurations,
    private readonly tools: ToolsApi,
  ) {}

  /** The run's key: a variable by its name (an id resolves to it) — looked up without counting as a read. */
  private key(sessionId: string, target: OptimizationTarget): string {
    if (!("variable" in target)) return `${sessionId}\u0000c\u0000${target.configuration}`;
    const record = this.store.sessionRecord(sessionId).find(target.variable);
    if (!record) throw new NotFoundError(`variable '${target.variable}' not found in session '${sessionId}'`, { details: { variable: target.variable } });
    return `${sessionId}\u0000v\u0000${record.name}`;
  }

  /** The space to search: the configuration's, or one built from the variable's type and constraints. */
  private spaceOf(sessionId: string, target: OptimizationTarget, caller: string): SpaceDoc {
    if ("configuration" in target) return this.configurations.info(sessionId, target.configuration).definition;
    const r = this.store.get(sessionId, target.variable, caller);
    const c = r.constraints;
    const variable: Record<string, unknown> = { name: r.name };
    if ((r.type === "float" || r.type === "integer") && typeof c.min === "number" && typeof c.max === "number") Object.assign(variable, { type: r.type, min: c.min, max: c.max });
    else if ((r.type === "choice" || r.type === "module") && Array.isArray(c.choices)) Object.assign(variable, { type: "choice", values: c.choices });
    else if (r.type === "boolean") Object.assign(variable, { type: "boolean" });
    else {
      throw new InvalidArgumentError(`variable '${r.name}' cannot be optimized: it needs min and max (float, integer) or choices (choice, module), or be a boolean`, {
        parameter: "variable",
      });
    }
    return { variables: [variable] } as unknown as SpaceDoc;
  }

  private checkOptimize(sessionId: string, names: string[], caller: string): void {
    for (const n of names) {
      if (!this.store.checkAccess(sessionId, n, "optimize", caller)) {
        throw new PermissionDeniedError(`session '${caller}' may not optimize variable '${n}'`, { details: { variable: n } });
      }
    }
  }

  start(sessionId: string, target: OptimizationTarget, options: OptimizationOptions, caller = sessionId): string {
    const key = this.key(sessionId, target);
    const existing = this.runs.get(key);
    if (existing?.status.isOptimizing) {
      throw new InvalidArgumentError(`${"variable" in target ? `variable '${target.variable}'` : `configuration '${target.configuration}'`} is already being optimized (run ${existing.id})`, {
        details: { optimization_id: existing.id },
      });
    }
    const doc = this.spaceOf(sessionId, target, caller);
    const names = (doc.variables as { name: string }[]).map((v) => v.name);
    this.checkOptimize(sessionId, names, caller);
    const maxIterations = options.maxIterations ?? 100;
    if (!Number.isInteger(maxIterations) || maxIterations < 1) throw new InvalidArgumentError("maxIterations must be a positive integer", { parameter: "max_iterations" });
    const source = candidateSource(options.optimizer, doc, { seed: options.seed ?? 1, gridPoints: options.gridPoints ?? 5 });
    const id = `opt_${randomUUID().slice(0, 8)}`;
    const now = new Date();
    const run: Run = {
      id,
      sessionId,
      key,
      target,
      history: [],
      stop: false,
      done: Promise.resolve(),
      status: { isOptimizing: true, optimizationId: id, iteration: 0, bestValue: undefined, bestMetrics: {}, bestScore: undefined, startedAt: now, lastUpdate: now, state: "running", error: undefined },
    };
    this.runs.set(key, run);
    run.done = this.loop(run, source, options, maxIterations, caller);
    return id;
  }

  private async loop(run: Run, source: ReturnType<typeof candidateSource>, o: OptimizationOptions, maxIterations: number, caller: string): Promise<void> {
    const sign = o.direction === "minimize" ? -1 : 1;
    const threshold = o.convergenceThreshold ?? 0.001;
    const patience = o.patience ?? 10;
    let sinceImprovement = 0;
    let best: { values: Config; score: number; metrics: Record<string, unknown> } | undefined;
    const apply = (values: Config) => {
      if ("configuration" in run.target) this.configurations.apply(run.sessionId, run.target.configuration, values, { optimization_id: run.id }, caller);
      else this.store.set(run.sessionId, run.target.variable, values[run.target.variable], { caller, source: `optimizer:${run.id}`, metadata: { optimization_id: run.id } });
    };
    try {
      for (let i = 1; i <= maxIterations && !run.stop; i++) {
        const values = source.next();
        if (!values) {
          run.status.state = "exhausted";
          break;
        }
        apply(values);
        const raw = await this.tools.call(o.objective, values as Record<string, unknown>, { session: run.sessionId });
        const { score, metrics } = typeof raw === "number" ? { score: raw, metrics: {} } : (raw as { score: number; metrics?: Record<string, unknown> });
        if (typeof score !== "number" || !Number.isFinite(score)) throw new InvalidArgumentError(`objective '${o.objective}' must return a finite number or { score }`);
        const entry = { optimizationId: run.id, iteration: i, values, score, metrics: metrics ?? {}, timestamp: new Date() };
        run.history.push(entry);
        const improved = !best || sign * (score - best.score) > threshold;
        if (!best || sign * (score - best.score) > 0) best = { values, score, metrics: metrics ?? {} };
        sinceImprovement = improved ? 0 : sinceImprovement + 1;
        Object.assign(run.status, { iteration: i, lastUpdate: entry.timestamp, bestScore: best.score, bestMetrics: best.metrics, bestValue: "variable" in run.target ? best.values[run.target.variable] : best.values });
        o.onProgress?.({ optimizationId: run.id, iteration: i, values, score, metrics: metrics ?? {}, bestValues: best.values, bestScore: best.score });
        if (sinceImprovement >= patience) {
          run.status.state = "converged";
          break;
        }
      }
      if (run.stop) run.status.state = "stopped";
      else if (run.status.state === "running") run.status.state = "exhausted";
      if (best) apply(best.values); // leave the best values in place
    } catch (err) {
      run.status.state = "failed";
      run.status.error = BridgeError.from(err).message;
    } finally {
      run.status.isOptimizing = false;
      run.status.lastUpdate = new Date();
    }
  }

  async stop(sessionId: string, target: OptimizationTarget): Promise<void> {
    const run = this.runs.get(this.key(sessionId, target));
    if (!run?.status.isOptimizing) throw new InvalidArgumentError("not currently optimizing", { parameter: "variable" });
    run.stop = true;
    await run.done;
  }

  status(sessionId: string, target: OptimizationTarget): OptimizationStatus {
    const run = this.runs.get(this.key(sessionId, target));
    if (!run) return { isOptimizing: false, optimizationId: undefined, iteration: 0, bestValue: undefined, bestMetrics: {}, bestScore: undefined, startedAt: undefined, lastUpdate: undefined, state: "idle", error: undefined };
    return { ...run.status };
  }

  history(sessionId: string, target: OptimizationTarget, options: { limit?: number; since?: Date; optimizationId?: string } = {}): HistoryEntry[] {
    const run = this.runs.get(this.key(sessionId, target));
    if (!run) return [];
    return run.history
      .filter((h) => (!options.since || h.timestamp > options.since) && (!options.optimizationId || h.optimizationId === options.optimizationId))
      .slice(-(options.limit ?? 100));
  }

  /** Resolves when the run of `target` ends (tests, CLI). */
  async wait(sessionId: string, target: OptimizationTarget): Promise<OptimizationStatus> {
    const run = this.runs.get(this.key(sessionId, target));
    if (!run) throw new NotFoundError("no optimization run for that target");
    await run.done;
    return this.status(sessionId, target);
  }
}
