export {
  OptimizationRuns,
  type HistoryEntry,
  type OptimizationOptions,
  type OptimizationProgress,
  type OptimizationStatus,
  type OptimizationTarget,
} from "./optimization-runs.js";
export type { CandidateSource } from "./candidates.js";
export type { PythonOptimizerInfo } from "./python-optimizers.js";
export { RunHistory, type RunRecord, type RunWithTrials, type TrialRecord } from "./run-history.js";
