// DSPy optimizers as long jobs: `session.programs.optimize(programId, options)` compiles a
// session program in its worker with one of DSPy's optimizers and returns at once with a job
// handle: progress as an async iterator and/or `onProgress`, `cancel()` (or an AbortSignal),
// and `result`. The job is one streaming call (`dspy.optimize`) on the session's worker; a
// cancelled or failed job leaves the program as it was, a finished one replaces it (or is
// saved beside it with `saveAs`).
import { CancelledError, InvalidArgumentError } from "../errors/index.js";
import type { CommandRunner } from "../command-runner.js";
import type { LMSpec } from "./lm-spec.js";

export type OptimizerName =
  | "LabeledFewShot"
  | "BootstrapFewShot"
  | "BootstrapFewShotWithRandomSearch"
  | "MIPROv2"
  | "COPRO"
  | "GEPA"
  | "SIMBA"
  | "KNNFewShot";

/**
 * A built-in metric ("exact_match", "answer_exact_match", "answer_passage_match"), a Python
 * function by dotted path ("my_pkg.metrics:accuracy", imported in the worker), or a tool:
 * `{ tool: "score" }` — a Python `@tool` of the workers or a TypeScript tool
 * (`bridge.tools.register`), called with `{ example, prediction, trace, pred_name? }` and
 * returning a number, a boolean or `{ score, feedback }` (feedback feeds GEPA's reflection).
 */
export type MetricSpec = string | { python: string } | { tool: string };

export interface OptimizeOptions {
  optimizer: OptimizerName | string;
  /** Examples as field values; `inputKeys` (default: the signature's input fields) mark the inputs. */
  trainset: Record<string, unknown>[];
  inputKeys?: string[];
  valset?: Record<string, unknown>[];
  /** Required by all but LabeledFewShot, BootstrapFewShot and KNNFewShot. */
  metric?: MetricSpec;
  /** DSPy's own parameters, by their Python names: constructor ones (max_bootstrapped_demos,
   * num_candidates, auto, breadth, max_metric_calls, …) and compile ones (num_trials, …). */
  params?: Record<string, unknown>;
  /** The task LM (a configured name or a spec); default: the LM configured as "default". */
  lm?: string | LMSpec;
  /** COPRO's, MIPROv2's and SIMBA's prompt model; default: the task LM. */
  promptLm?: string | LMSpec;
  /** GEPA's reflection LM; default: promptLm, else the task LM. */
  reflectionLm?: string | LMSpec;
  /** Save the compiled program under this id instead of replacing `programId`. */
  saveAs?: string;
  /** At most one progress event per this many ms (default 100; the final one always comes). */
  progressIntervalMs?: number;
  onProgress?: (progress: OptimizerProgress) => void;
  /** Aborting cancels the job (like `job.cancel()`). */
  signal?: AbortSignal;
  /** Fails the job with TimeoutError after this long. Default: none (a job is not a call:
   * the bridge's `defaultTimeoutMs` does not apply). */
  timeoutMs?: number;
}

export interface OptimizerProgress {
  jobId: string;
  optimizer: string;
  /** Metric calls so far. */
  evaluations: number;
  /** Metric calls expected (an estimate where DSPy decides as it goes; null when unknowable;
   * equal to `evaluations` in the final event). */
  expected: number | null;
  /** The best score DSPy reported so far (its Evaluate runs, SIMBA's batches), 0..1 for a 0..1 metric. */
  bestScore: number | null;
  meanScore: number | null;
  evaluateRuns: number;
  /** LM calls per model (task, prompt and reflection LMs). */
  lmCalls: Record<string, number>;
  /** The optimizer's latest log line. */
  message: string;
  elapsedMs: number;
  final: boolean;
}

export interface OptimizerJobInfo {
  jobId: string;
  optimizer: string;
  expected: number | null;
  trainsetSize: number;
  valsetSize: number | null;
  metric: string | null;
  startedAt: Date;
}

export interface OptimizerResult {
  jobId: string;
  optimizer: string;
  /** Where the compiled program now lives (`programId`, or `saveAs`). */
  programId: string;
  replaced: boolean;
  evaluations: number;
  bestScore: number | null;
  meanScore: number | null;
  lmCalls: Record<string, number>;
  elapsedMs: number;
  /** What the optimizer attached: `score`, `candidate_scores`. */
  summary: Record<string, unknown>;
  /** The compiled program as `session.programs.save()` gives it (JSON state; load it with `load`). */
  saved: Record<string, unknown>;
}

export interface OptimizerInfo {
  name: string;
  metric: "required" | "optional" | "none";
  constructorParams: string[];
  compileParams: string[];
  usesPromptLm: boolean;
  usesReflectionLm: boolean;
  available: boolean;
  missingPackage?: string;
  note: string;
}

export type OptimizerJobState = "running" | "succeeded" | "failed" | "cancelled";

type LMResolver = (choice: string | LMSpec | undefined) => Record<string, unknown> | undefined;

/**
 * How a job reaches the stored program (session programs): `prepare` gives the arguments that
 * name the stored revision to compile (the worker builds it if it does not hold it), awaited
 * before the job starts; `compiled` stores the result as the program's next revision, awaited
 * before `result` resolves (its failure fails the job).
 */
export interface JobProgramStore {
  prepare(): Promise<Record<string, unknown>>;
  compiled(result: OptimizerResult): Promise<void>;
}

/** Told of every optimizer job's life (telemetry, the run history, the dashboard). */
export interface OptimizerJobObserver {
  started(sessionId: string, programId: string, info: OptimizerJobInfo): void;
  progress(sessionId: string, info: OptimizerJobInfo, progress: OptimizerProgress): void;
  ended(
    sessionId: string,
    info: OptimizerJobInfo | undefined,
    state: OptimizerJobState,
    result: OptimizerResult | undefined,
    error: unknown,
  ): void;
}

function wireMetric(metric: MetricSpec | undefined): unknown {
  if (metric === undefined) return null;
  if (typeof metric === "string" && metric.length > 0) return metric;
  if (metric && typeof metric === "object" && !Array.isArray(metric)) {
    const keys = Object.keys(metric);
    if (
      keys.length === 1 &&
      keys[0] === "tool" &&
      typeof (metric as { tool: unknown }).tool === "string" &&
      (metric as { tool: string }).tool
    )
      return { tool: (metric as { tool: string }).tool };
    if (
      keys.length === 1 &&
      keys[0] === "python" &&
      typeof (metric as { python: unknown }).python === "string" &&
      (metric as { python: string }).python
    )
      return { python: (metric as { python: string }).python };
  }
  throw new InvalidArgumentError(
    "metric must be a built-in name, a dotted path 'pkg.module:function', { python: path } or { tool: name }",
    { parameter: "metric" },
  );
}

function progressFrom(raw: Record<string, unknown>, jobId: string, optimizer: string): OptimizerProgress {
  return {
    jobId,
    optimizer,
    evaluations: raw.evaluations as number,
    expected: (raw.expected ?? null) as number | null,
    bestScore: (raw.best_score ?? null) as number | null,
    meanScore: (raw.mean_score ?? null) as number | null,
    evaluateRuns: (raw.evaluate_runs ?? 0) as number,
    lmCalls: (raw.lm_calls ?? {}) as Record<string, number>,
    message: (raw.message ?? "") as string,
    elapsedMs: raw.elapsed_ms as number,
    final: Boolean(raw.final),
  };
}

function resultFrom(raw: Record<string, unknown>): OptimizerResult {
  return {
    jobId: raw.job_id as string,
    optimizer: raw.optimizer as string,
    programId: raw.program_id as string,
    replaced: Boolean(raw.replaced),
    evaluations: raw.evaluations as number,
    bestScore: (raw.best_score ?? null) as number | null,
    meanScore: (raw.mean_score ?? null) as number | null,
    lmCalls: (raw.lm_calls ?? {}) as Record<string, number>,
    elapsedMs: raw.elapsed_ms as number,
    summary: (raw.summary ?? {}) as Record<string, unknown>,
    saved: raw.saved as Record<string, unknown>,
  };
}

function optimizerInfo(raw: Record<string, unknown>): OptimizerInfo {
  return {
    name: raw.name as string,
    metric: raw.metric as OptimizerInfo["metric"],
    constructorParams: raw.constructor_params as string[],
    compileParams: raw.compile_params as string[],
    usesPromptLm: Boolean(raw.uses_prompt_lm),
    usesReflectionLm: Boolean(raw.uses_reflection_lm),
    available: Boolean(raw.available),
    ...(raw.missing_package ? { missingPackage: raw.missing_package as string } : {}),
    note: (raw.note ?? "") as string,
  };
}

/** A running (or finished) optimizer job. Iterate it for progress; await `result`. */
export class OptimizerJob implements AsyncIterable<OptimizerProgress> {
  /** Resolves with the compiled program's description; rejects with the job's typed error
   * (CancelledError when cancelled). */
  readonly result: Promise<OptimizerResult>;
  /** Resolves once the worker has checked the request and started compiling. */
  readonly started: Promise<OptimizerJobInfo>;
  private readonly events: OptimizerProgress[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly controller = new AbortController();
  private jobState: OptimizerJobState = "running";
  private failure: unknown;
  private info: OptimizerJobInfo | undefined;

  constructor(
    runner: CommandRunner,
    lmFor: LMResolver,
    sessionId: string,
    readonly programId: string,
    private readonly options: OptimizeOptions,
    private readonly observer?: OptimizerJobObserver,
    private readonly programStore?: JobProgramStore,
  ) {
    if (!options || typeof options.optimizer !== "string" || !options.optimizer) {
      throw new InvalidArgumentError("optimize needs an optimizer name", { parameter: "optimizer" });
    }
    if (!Array.isArray(options.trainset) || options.trainset.length === 0) {
      throw new InvalidArgumentError("optimize needs a non-empty trainset (a list of objects)", {
        parameter: "trainset",
      });
    }
    const args: Record<string, unknown> = {
      program_id: programId,
      optimizer: options.optimizer,
      trainset: options.trainset,
      metric: wireMetric(options.metric),
      input_keys: options.inputKeys ?? null,
      valset: options.valset ?? null,
      params: options.params ?? null,
      lm: lmFor(options.lm) ?? null,
      prompt_lm: options.promptLm === undefined ? null : (lmFor(options.promptLm) ?? null),
      reflection_lm: options.reflectionLm === undefined ? null : (lmFor(options.reflectionLm) ?? null),
      save_as: options.saveAs ?? null,
      progress_interval_ms: options.progressIntervalMs ?? 100,
    };
    const external = options.signal;
    if (external?.aborted) this.controller.abort(external.reason);
    else external?.addEventListener("abort", () => this.controller.abort(external.reason), { once: true });
    let startedResolve!: (info: OptimizerJobInfo) => void;
    let startedReject!: (error: unknown) => void;
    this.started = new Promise((resolve, reject) => ((startedResolve = resolve), (startedReject = reject)));
    this.result = this.consume(runner, sessionId, args, startedResolve, startedReject);
    // Callers may use only the iterator or onProgress: the rejection is theirs to observe.
    this.result.catch(() => {});
    this.started.catch(() => {});
  }

  private async consume(
    runner: CommandRunner,
    sessionId: string,
    args: Record<string, unknown>,
    startedResolve: (info: OptimizerJobInfo) => void,
    startedReject: (error: unknown) => void,
  ): Promise<OptimizerResult> {
    let result: OptimizerResult | undefined;
    try {
      if (this.programStore) Object.assign(args, await this.programStore.prepare());
      const stream = runner.stream<Record<string, unknown>>("dspy.optimize", args, {
        session: sessionId,
        signal: this.controller.signal,
        timeoutMs: this.options.timeoutMs ?? 0,
      });
      for await (const item of stream) {
        if (item.type === "started") {
          this.info = {
            jobId: item.job_id as string,
            optimizer: item.optimizer as string,
            expected: (item.expected ?? null) as number | null,
            trainsetSize: item.trainset_size as number,
            valsetSize: (item.valset_size ?? null) as number | null,
            metric: (item.metric ?? null) as string | null,
            startedAt: new Date((item.started_at as number) * 1000),
          };
          startedResolve(this.info);
          this.observer?.started(sessionId, this.programId, this.info);
        } else if (item.type === "progress") {
          const progress = progressFrom(item, this.info?.jobId ?? "", this.info?.optimizer ?? this.options.optimizer);
          this.events.push(progress);
          this.wake();
          if (this.info) this.observer?.progress(sessionId, this.info, progress);
          try {
            this.options.onProgress?.(progress);
          } catch {
            // a failing progress callback must not fail the job
          }
        } else if (item.type === "result") {
          result = resultFrom(item);
        }
      }
      if (!result) throw new InvalidArgumentError("the optimizer job ended without a result");
      await this.programStore?.compiled(result);
      this.jobState = "succeeded";
      this.observer?.ended(sessionId, this.info, "succeeded", result, undefined);
      return result;
    } catch (error) {
      const cancelled = error instanceof CancelledError || this.controller.signal.aborted;
      this.jobState = cancelled ? "cancelled" : "failed";
      // cancel() put a CancelledError saying why into the signal: that is the one to report.
      const reason: unknown = this.controller.signal.aborted ? this.controller.signal.reason : undefined;
      this.failure = !cancelled
        ? error
        : reason instanceof CancelledError
          ? reason
          : error instanceof CancelledError
            ? error
            : new CancelledError("optimization job cancelled", { cause: error });
      startedReject(this.failure);
      this.observer?.ended(sessionId, this.info, this.jobState, undefined, this.failure);
      throw this.failure;
    } finally {
      this.wake();
    }
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
    this.waiters.clear();
  }

  /** The job id the worker gave (known once `started` resolved). */
  get id(): string | undefined {
    return this.info?.jobId;
  }

  get state(): OptimizerJobState {
    return this.jobState;
  }

  /** The latest progress event, if any. */
  get latest(): OptimizerProgress | undefined {
    return this.events[this.events.length - 1];
  }

  /** Stops the job; the program stays as it was. `result` rejects with CancelledError. */
  cancel(reason = "optimization job cancelled"): void {
    if (this.jobState === "running")
      this.controller.abort(
        new CancelledError(`${reason} (${this.info?.optimizer ?? this.options.optimizer} on '${this.programId}')`),
      );
  }

  /** Every progress event from the start; ends when the job ends (throws if it failed or was cancelled). */
  async *progress(): AsyncGenerator<OptimizerProgress> {
    let next = 0;
    for (;;) {
      while (next < this.events.length) yield this.events[next++]!;
      if (this.jobState !== "running") {
        if (this.jobState !== "succeeded") throw this.failure;
        return;
      }
      await new Promise<void>((resolve) => this.waiters.add(resolve));
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<OptimizerProgress> {
    return this.progress();
  }
}

/** Lists the optimizers a job can run (and whether their Python dependencies are installed). */
export async function listOptimizers(runner: CommandRunner): Promise<OptimizerInfo[]> {
  return (await runner.execute<Record<string, unknown>[]>("dspy.optimizers", {})).map(optimizerInfo);
}
