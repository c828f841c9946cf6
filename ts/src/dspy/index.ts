export { DSPyApi, SessionPrograms, type DSPyResult, type DSPyStreamItem, type LMSpec, type ModuleType, type ProgramInfo, type RunOptions } from "./dspy-api.js";
export {
  OptimizerJob,
  type MetricSpec,
  type OptimizeOptions,
  type OptimizerInfo,
  type OptimizerJobInfo,
  type OptimizerJobState,
  type OptimizerName,
  type OptimizerProgress,
  type OptimizerResult,
} from "./optimizer-jobs.js";
