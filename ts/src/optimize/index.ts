export { OptimizationRuns, type HistoryEntry, type OptimizationOptions, type OptimizationProgress, type OptimizationStatus, type OptimizationTarget } from "./optimization-runs.js";
export { gridSource, randomSource, type CandidateSource } from "./candidates.js";
export { BUILT_IN_OPTIMIZERS, PythonOptimizers, type PythonOptimizerInfo } from "./python-optimizers.js";
export { openWorkerOptimizer, type CommandRunner, type WorkerOptimizerSpec } from "./worker-optimizer.js";
