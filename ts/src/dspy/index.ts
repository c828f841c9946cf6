export {
  DSPyApi,
  Program,
  SessionPrograms,
  type DSPyResult,
  type DSPyStreamItem,
  type InputsOf,
  type LMOptionName,
  type LMSpec,
  type ModuleName,
  type ModuleType,
  type OutputsOf,
  type ProgramInfo,
  type ProgramStore,
  type StoredProgram,
  type RunOptions,
  type Signature,
} from "./dspy-api.js";
export type { SchemaSignature, SignatureSchema, SignatureSpec } from "./schema-signature.js";
export type { ModuleOutputs, PythonType, SignatureInputs, SignatureOutputs } from "./signature-types.js";
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
