export { OptimizationRuns, type HistoryEntry, type OptimizationOptions, type OptimizationProgress, type OptimizationStatus, type OptimizationTarget } from "./optimization-runs.js";
export { candidateSource, type CandidateSource } from "./candidates.js";
