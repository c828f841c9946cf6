// The bridge service's optimization RPCs (Python's SessionContext.start_optimization & co.).
import { create } from "@bufbuild/protobuf";
import { InvalidArgumentError } from "../errors/index.js";
import {
  OptimizationHistoryResponseSchema,
  OptimizationStatusResponseSchema,
  StartOptimizationResponseSchema,
  type OptimizationRequest,
  type OptimizationTarget as TargetMessage,
  type StartOptimizationRequest,
} from "../gen/dspy_bridge/v1/optimization_pb.js";
import type { OptimizationRuns, OptimizationTarget } from "../optimize/index.js";
import { caller, type Wrap } from "./unary.js";


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

export function optimizationHandlers(runs: OptimizationRuns, unary: Wrap) {
  return {
    startOptimization: unary<StartOptimizationRequest, unknown>((req) => {
      let options: Record<string, unknown> = {};
      if (req.optionsJson) {
        try {
          options = JSON.parse(req.optionsJson) as Record<string, unknown>;
        } catch (err) {
          throw new InvalidArgumentError(`options_json is not valid JSON: ${(err as Error).message}`, { parameter: "options_json" });
        }
      }
      const id = runs.start(
        req.sessionId,
        target(req.target),
        {
          optimizer: req.optimizer,
          objective: req.objective,
          ...(req.maxIterations ? { maxIterations: req.maxIterations } : {}),
          ...(req.convergenceThreshold ? { convergenceThreshold: req.convergenceThreshold } : {}),
          ...(options.direction ? { direction: options.direction as "maximize" | "minimize" } : {}),
          ...(options.seed !== undefined ? { seed: Number(options.seed) } : {}),
          ...(options.grid_points !== undefined ? { gridPoints: Number(options.grid_points) } : {}),
          ...(options.patience !== undefined ? { patience: Number(options.patience) } : {}),
        },
        caller(req),
      );
      return create(StartOptimizationResponseSchema, { optimizationId: id });
    }),
    stopOptimization: unary<OptimizationRequest, unknown>(async (req) => {
      await runs.stop(req.sessionId, target(req.target));
      return create(OptimizationStatusResponseSchema, { statusJson: statusJson(runs.status(req.sessionId, target(req.target))) });
    }),
    getOptimizationStatus: unary<OptimizationRequest, unknown>((req) =>
      create(OptimizationStatusResponseSchema, { statusJson: statusJson(runs.status(req.sessionId, target(req.target))) }),
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
  };
}
