// The bridge service's optimization RPCs (Python's SessionContext.start_optimization & co.).
import { create } from "@bufbuild/protobuf";
import { JSON_SHAPE_LIMITS, jsonNestsDeeperThan } from "../values/index.js";
import { clip } from "../store/types/describe.js";
import { InvalidArgumentError, errorToDetail } from "../errors/index.js";
import {
  GetRunResponseSchema,
  ListRunsResponseSchema,
  OptimizationHistoryResponseSchema,
  OptimizationStatusResponseSchema,
  RegisterPythonOptimizerResponseSchema,
  StartOptimizationResponseSchema,
  type GetRunRequest,
  type ListRunsRequest,
  type OptimizationRequest,
  type OptimizationTarget as TargetMessage,
  type RegisterPythonOptimizerRequest,
  type StartOptimizationRequest,
} from "../gen/dspy_bridge/v1/optimization_pb.js";
import type {
  OptimizationOptions,
  OptimizationRuns,
  OptimizationStatus,
  OptimizationTarget,
  RunHistory,
} from "../optimize/index.js";
import { caller, type Wrap } from "./unary.js";

/** Keys of options_json the run loop reads; every other key configures the optimizer itself. */
const RUN_OPTIONS = new Set(["direction", "seed", "grid_points", "patience", "convergence_threshold"]);

function target(t: TargetMessage | undefined): OptimizationTarget {
  if (t?.kind.case === "variable") return { variable: t.kind.value };
  if (t?.kind.case === "configuration") return { configuration: t.kind.value };
  throw new InvalidArgumentError("target must name a variable or a configuration", { parameter: "target" });
}

// Dates as epoch milliseconds (the replacer must look at the holder: toJSON runs first).
const statusJson = (s: object) =>
  JSON.stringify(s, function (this: Record<string, unknown>, key: string, value: unknown) {
    const raw = this[key];
    return raw instanceof Date ? raw.getTime() : value;
  });

function statusResponse(s: OptimizationStatus) {
  const { failure, ...rest } = s;
  return create(OptimizationStatusResponseSchema, {
    statusJson: statusJson(rest),
    ...(failure ? { error: errorToDetail(failure) } : {}),
  });
}

function runOptions(req: StartOptimizationRequest): OptimizationOptions {
  let options: Record<string, unknown> = {};
  if (req.optionsJson) {
    if (jsonNestsDeeperThan(req.optionsJson))
      throw new InvalidArgumentError(`options_json ${JSON_SHAPE_LIMITS}`, { parameter: "options_json" });
    try {
      options = JSON.parse(req.optionsJson) as Record<string, unknown>;
    } catch (err) {
      throw new InvalidArgumentError(`options_json is not valid JSON: ${clip((err as Error).message, 200)}`, {
        parameter: "options_json",
      });
    }
    if (typeof options !== "object" || options === null || Array.isArray(options)) {
      throw new InvalidArgumentError("options_json must be a JSON object", { parameter: "options_json" });
    }
  }
  const optimizerConfig = Object.fromEntries(Object.entries(options).filter(([k]) => !RUN_OPTIONS.has(k)));
  return {
    optimizer: req.optimizer,
    objective: req.objective,
    ...(req.maxIterations ? { maxIterations: req.maxIterations } : {}),
    // a threshold of 0 cannot travel in the proto field (0 is "unset" there): options_json carries it
    ...(req.convergenceThreshold ? { convergenceThreshold: req.convergenceThreshold } : {}),
    ...(options.convergence_threshold !== undefined
      ? { convergenceThreshold: Number(options.convergence_threshold) }
      : {}),
    ...(options.direction !== undefined ? { direction: options.direction as "maximize" | "minimize" } : {}),
    ...(options.seed !== undefined ? { seed: Number(options.seed) } : {}),
    ...(options.grid_points !== undefined ? { gridPoints: Number(options.grid_points) } : {}),
    ...(options.patience !== undefined ? { patience: Number(options.patience) } : {}),
    ...(Object.keys(optimizerConfig).length ? { optimizerConfig } : {}),
  };
}

export function optimizationHandlers(runs: OptimizationRuns, history: RunHistory, unary: Wrap) {
  return {
    startOptimization: unary<StartOptimizationRequest, unknown>(async (req) => {
      const t = target(req.target);
      const id = runs.start(req.sessionId, t, runOptions(req), caller(req));
      // A Python optimizer that cannot be constructed (bad options, a failing __init__) is
      // reported to the caller here rather than only in the run's status.
      await runs.started(req.sessionId, t);
      return create(StartOptimizationResponseSchema, { optimizationId: id });
    }),
    stopOptimization: unary<OptimizationRequest, unknown>(async (req) => {
      await runs.stop(req.sessionId, target(req.target));
      return statusResponse(runs.status(req.sessionId, target(req.target)));
    }),
    // No target: the session's runs in sum ({ totalTimeMs, runs, optimizing }), for Python's get_variable_stats().
    getOptimizationStatus: unary<OptimizationRequest, unknown>((req) =>
      req.target?.kind.case === undefined
        ? create(OptimizationStatusResponseSchema, { statusJson: JSON.stringify(runs.sessionSummary(req.sessionId)) })
        : statusResponse(runs.status(req.sessionId, target(req.target))),
    ),
    getOptimizationHistory: unary<OptimizationRequest, unknown>((req) =>
      create(OptimizationHistoryResponseSchema, {
        historyJson: statusJson(
          runs.history(req.sessionId, target(req.target), {
            limit: req.limit || 100,
            ...(req.sinceMs ? { since: new Date(Number(req.sinceMs)) } : {}),
            ...(req.optimizationId ? { optimizationId: req.optimizationId } : {}),
          }),
        ),
      }),
    ),
    listRuns: unary<ListRunsRequest, unknown>(async (req) =>
      create(ListRunsResponseSchema, {
        runsJson: JSON.stringify(await history.list(req.sessionId ? { session: req.sessionId } : {})),
      }),
    ),
    getRun: unary<GetRunRequest, unknown>(async (req) => {
      const { run, trials } = await history.get(req.sessionId, req.runId, {
        offset: req.offset,
        ...(req.limit ? { limit: req.limit } : {}),
      });
      return create(GetRunResponseSchema, { runJson: JSON.stringify(run), trialsJson: JSON.stringify(trials) });
    }),
    registerPythonOptimizer: unary<RegisterPythonOptimizerRequest, unknown>(async (req) => {
      // Checked by any worker (they all import the same modules): routing by a session here
      // would bind a worker to a session that may not exist.
      const info = await runs.registerPythonOptimizer(req.name, req.classPath);
      return create(RegisterPythonOptimizerResponseSchema, { name: info.name, classPath: info.classPath });
    }),
  };
}
