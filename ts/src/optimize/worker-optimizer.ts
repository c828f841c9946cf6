// A candidate source whose optimizer lives in the session's worker (the bayesian/TPE optimizer,
// registered Python optimizers): one "optimize.open", then "optimize.ask"/"optimize.tell" in
// turn, "optimize.close" at the end. Session affinity keeps every call on the same worker, which
// holds the optimizer's state for the run.
import type { Config, SpaceDoc } from "../config/index.js";
import type { CallOptions } from "../pool/call.js";
import type { CandidateSource } from "./candidates.js";

export interface CommandRunner {
  execute<T = unknown>(command: string, args?: Record<string, unknown>, options?: CallOptions): Promise<T>;
}

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
}

export async function openWorkerOptimizer(runner: CommandRunner, spec: WorkerOptimizerSpec): Promise<CandidateSource> {
  const call = { session: spec.sessionId, signal: spec.signal };
  const run = { run_id: spec.runId };
  const close = async () => {
    await runner.execute("optimize.close", run, { session: spec.sessionId, timeoutMs: 30_000 });
  };
  try {
    await runner.execute(
      "optimize.open",
      {
        ...run,
        optimizer: spec.optimizer,
        space: spec.space as unknown as Record<string, unknown>,
        direction: spec.direction,
        seed: spec.seed,
        config: spec.config,
        class_path: spec.classPath ?? "",
      },
      call,
    );
  } catch (err) {
    // A stop can cancel the call after the worker opened the run: make sure it is released.
    if (spec.signal.aborted) void close().catch(() => {});
    throw err;
  }
  return {
    ask: async () => (await runner.execute<Config | null>("optimize.ask", run, call)) ?? undefined,
    tell: async (values, score) => {
      await runner.execute("optimize.tell", { ...run, values, score: score ?? null }, call);
    },
    // Not tied to the run's signal: a stopped run must still release its optimizer.
    close,
  };
}
