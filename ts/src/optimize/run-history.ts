// The durable history of optimization runs and DSPy optimizer jobs: each run's state and its
// trials (a job's progress reports) are recorded in the session store as they happen, so they
// outlive the host that ran them (SQLite, Redis) and every host sharing a Redis store lists
// them. `bridge.runs.list()` and `bridge.runs.get(session, id)` read them back; so do the
// bridge service's ListRuns and GetRun (Python: `SessionContext.list_runs`, `get_run`).
import type { Store } from "../store/store.js";
import type { RunRecord, TrialRecord } from "../store/records.js";
import type { OptimizationObserver, OptimizationRunView } from "./optimization-runs.js";

export type { RunRecord, TrialRecord } from "../store/records.js";

// What a DSPy optimizer job reports (dspy/optimizer-jobs.ts's observer), in the fields kept
// here: declared apart, so that this folder does not depend on dspy (the bridge connects them).
interface OptimizerJobInfo {
  jobId: string;
  optimizer: string;
  expected: number | null;
  trainsetSize: number;
  valsetSize: number | null;
  metric: string | null;
  startedAt: Date;
}
interface OptimizerProgress {
  evaluations: number;
  expected: number | null;
  bestScore: number | null;
  meanScore: number | null;
  evaluateRuns: number;
  lmCalls: Record<string, number>;
  message: string;
  elapsedMs: number;
}
interface OptimizerResult {
  programId: string;
  evaluations: number;
  bestScore: number | null;
  lmCalls: Record<string, number>;
  elapsedMs: number;
  summary: Record<string, unknown>;
}
export interface RunHistoryJobObserver {
  started(sessionId: string, programId: string, info: OptimizerJobInfo): void;
  progress(sessionId: string, info: OptimizerJobInfo, progress: OptimizerProgress): void;
  ended(
    sessionId: string,
    info: OptimizerJobInfo | undefined,
    state: string,
    result: OptimizerResult | undefined,
    error: unknown,
  ): void;
}

export interface RunWithTrials {
  run: RunRecord;
  trials: TrialRecord[];
}

/** A job's progress report as a trial: its metric calls so far and the best score then. */
function progressTrial(p: OptimizerProgress): TrialRecord {
  return {
    iteration: p.evaluations,
    score: p.bestScore,
    values: {},
    metrics: {
      mean_score: p.meanScore,
      evaluate_runs: p.evaluateRuns,
      lm_calls: p.lmCalls,
      message: p.message,
      elapsed_ms: p.elapsedMs,
    },
    atMs: Date.now(),
  };
}

export class RunHistory {
  /** Writes of one run, in order (a trial is never recorded before the run's start). */
  private readonly writes = new Map<string, Promise<void>>();
  private readonly jobs = new Map<string, RunRecord>();

  constructor(
    private readonly store: Store,
    private readonly onError: (message: string) => void = () => {},
  ) {}

  /** The runs of one session (`{ session }`) or of every session, newest first. */
  list(options: { session?: string } = {}): Promise<RunRecord[]> {
    return this.store.listRuns(options.session);
  }

  /** One run and its trials, oldest first (`offset`, `limit` page them). */
  get(sessionId: string, runId: string, options: { offset?: number; limit?: number } = {}): Promise<RunWithTrials> {
    return this.store.getRun(sessionId, runId, options);
  }

  /** Calls `listener` for every run recorded (this host's, and other hosts' on a shared store). */
  onRun(listener: (run: RunRecord, trials: TrialRecord[]) => void): () => void {
    return this.store.onRun(listener);
  }

  /** Waits for the writes under way (tests, shutdown). */
  async flush(): Promise<void> {
    await Promise.all([...this.writes.values()]);
  }

  private record(run: RunRecord, trials: TrialRecord[], last: boolean): void {
    const key = `${run.sessionId}\u0000${run.id}`;
    const previous = this.writes.get(key) ?? Promise.resolve();
    const next = previous.then(() =>
      this.store.recordRun(run, trials).catch((err: unknown) => {
        // The session was deleted (its runs go with it) or the store is closing: nothing to keep.
        this.onError(`run ${run.id} of session '${run.sessionId}' was not recorded: ${(err as Error).message}`);
      }),
    );
    this.writes.set(key, next);
    if (last) void next.then(() => this.writes.get(key) === next && this.writes.delete(key));
  }

  /** The observer the optimization runs report to. */
  readonly optimizationObserver: OptimizationObserver = (view: OptimizationRunView, trial) => {
    const s = view.status;
    const run: RunRecord = {
      id: view.optimizationId,
      kind: "optimization",
      sessionId: view.sessionId,
      target: view.target,
      optimizer: s.optimizer ?? "",
      state: s.state,
      startedAtMs: s.startedAt?.getTime() ?? Date.now(),
      updatedAtMs: s.lastUpdate?.getTime() ?? Date.now(),
      iterations: s.iteration,
      bestScore: s.bestScore ?? null,
      direction: view.direction,
      error: s.error ?? null,
      details: { rejected: s.rejected ?? 0, resumed: s.resumed ?? 0, best_value: s.bestValue ?? null },
    };
    const trials: TrialRecord[] = trial
      ? [
          {
            iteration: trial.iteration,
            score: trial.score,
            values: trial.values,
            metrics: trial.metrics,
            atMs: trial.timestamp.getTime(),
          },
        ]
      : [];
    this.record(run, trials, !s.isOptimizing);
  };

  /** The observer the DSPy optimizer jobs report to. */
  readonly jobObserver: RunHistoryJobObserver = {
    started: (sessionId: string, programId: string, info: OptimizerJobInfo) => {
      const run: RunRecord = {
        id: info.jobId,
        kind: "optimizer_job",
        sessionId,
        target: programId,
        optimizer: info.optimizer,
        state: "running",
        startedAtMs: info.startedAt.getTime(),
        updatedAtMs: Date.now(),
        iterations: 0,
        bestScore: null,
        direction: "maximize",
        error: null,
        details: {
          expected: info.expected,
          trainset_size: info.trainsetSize,
          valset_size: info.valsetSize,
          metric: info.metric,
        },
      };
      this.jobs.set(info.jobId, run);
      this.record(run, [], false);
    },
    progress: (_sessionId: string, info: OptimizerJobInfo, p: OptimizerProgress) => {
      const prior = this.jobs.get(info.jobId);
      if (!prior) return;
      const run: RunRecord = {
        ...prior,
        updatedAtMs: Date.now(),
        iterations: p.evaluations,
        bestScore: p.bestScore,
        details: { ...prior.details, expected: p.expected, lm_calls: p.lmCalls },
      };
      this.jobs.set(info.jobId, run);
      this.record(run, [progressTrial(p)], false);
    },
    ended: (
      _sessionId: string,
      info: OptimizerJobInfo | undefined,
      state: string,
      result: OptimizerResult | undefined,
      error: unknown,
    ) => {
      const prior = info ? this.jobs.get(info.jobId) : undefined;
      if (!prior || !info) return;
      this.jobs.delete(info.jobId);
      const run: RunRecord = {
        ...prior,
        state,
        updatedAtMs: Date.now(),
        iterations: result?.evaluations ?? prior.iterations,
        bestScore: result?.bestScore ?? prior.bestScore,
        error: error === undefined ? null : String((error as Error).message ?? error),
        details: result
          ? {
              ...prior.details,
              program_id: result.programId,
              summary: result.summary,
              lm_calls: result.lmCalls,
              elapsed_ms: result.elapsedMs,
            }
          : prior.details,
      };
      this.record(run, [], true);
    },
  };
}
