// A candidate source whose optimizer lives in the session's worker (the bayesian/TPE optimizer,
// registered Python optimizers): one "optimize.open", then "optimize.ask"/"optimize.tell" in
// turn, "optimize.close" at the end. Session affinity keeps every call on the same worker, which
// holds the optimizer's state for the run. When that worker is replaced (a crash, recycling),
// the run is opened again in the new one with everything told so far, so it carries on.
import type { Config, SpaceDoc } from "../config/index.js";
import { NotFoundError, WorkerCrashedError } from "../errors/index.js";
import type { CommandRunner } from "../command-runner.js";
import type { CandidateSource } from "./candidates.js";

export interface WorkerOptimizerSpec {
  runId: string;
  sessionId: string;
  /** "bayesian"/"tpe", or a registered name (then `classPath` says what to import). */
  optimizer: string;
  classPath: string | undefined;
  space: SpaceDoc;
  direction: "maximize" | "minimize";
  seed: number;
  /** The optimizer's own options (passed to its constructor). */
  config: Record<string, unknown>;
  /** Aborted when the run is stopped: a pending ask/tell is cancelled in Python too. */
  signal: AbortSignal;
  /** Called each time the run was reopened in a replacement worker. */
  onResumed?: (told: number) => void;
}

/** Times in a row a run may be reopened before the failure is reported instead. */
const MAX_REOPEN_IN_A_ROW = 3;

export async function openWorkerOptimizer(runner: CommandRunner, spec: WorkerOptimizerSpec): Promise<CandidateSource> {
  const call = { session: spec.sessionId, signal: spec.signal };
  const run = { run_id: spec.runId };
  const told: { values: Config; score: number | null }[] = [];
  const close = async () => {
    await runner.execute("optimize.close", run, { session: spec.sessionId, timeoutMs: 30_000 });
  };
  const open = (history: typeof told) =>
    runner.execute(
      "optimize.open",
      {
        ...run,
        optimizer: spec.optimizer,
        space: spec.space as unknown as Record<string, unknown>,
        direction: spec.direction,
        seed: spec.seed,
        config: spec.config,
        class_path: spec.classPath ?? "",
        ...(history.length ? { history } : {}),
      },
      call,
    );
  // The worker holding the run is gone (the call died with it, or a new worker has never heard of the run).
  const lost = (err: unknown) =>
    !spec.signal.aborted &&
    (err instanceof WorkerCrashedError ||
      (err instanceof NotFoundError && err.details.optimization_run === spec.runId));
  let reopened = 0;
  const resilient = async <T>(op: () => Promise<T>, retry: boolean): Promise<T | undefined> => {
    for (;;) {
      try {
        const out = await op();
        reopened = 0;
        return out;
      } catch (err) {
        if (!lost(err) || ++reopened > MAX_REOPEN_IN_A_ROW) throw err;
        await open(told);
        spec.onResumed?.(told.length);
        if (!retry) return undefined;
      }
    }
  };
  try {
    await open(told);
  } catch (err) {
    // A stop can cancel the call after the worker opened the run: make sure it is released.
    if (spec.signal.aborted) void close().catch(() => {});
    throw err;
  }
  return {
    ask: async () =>
      (await resilient(() => runner.execute<Config | null>("optimize.ask", run, call), true)) ?? undefined,
    tell: async (values, score) => {
      told.push({ values, score: score ?? null });
      // A reopened run is replayed with this score included: nothing left to tell.
      await resilient(() => runner.execute("optimize.tell", { ...run, values, score: score ?? null }, call), false);
    },
    // Not tied to the run's signal: a stopped run must still release its optimizer.
    close,
  };
}
