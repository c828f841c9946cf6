// The public API of dspy-bridge. Everything a user needs is exported here; deep imports
// into src/ are not part of the API.
import { Store } from "./store/index.js";

export { Bridge, type BridgeState, type BridgeStats, type WorkerStats } from "./bridge.js";
export type { CallOptions } from "./command-runner.js";
export type { BridgeOptions, BridgeServiceOptions, RecycleOptions, RestartOptions } from "./pool/index.js";
export {
  ensurePythonEnv,
  prunePythonEnvs,
  pythonEnvStatus,
  defaultCacheDir,
  type PythonEnvOptions,
  type PythonEnvProgress,
  type PythonEnvInfo,
  type PythonEnvStatus,
} from "./pool/index.js";
export * from "./errors/index.js";
export {
  Credentials,
  type Credential,
  type CredentialPermission,
  type CredentialSpec,
} from "./bridge-service/index.js";
export * from "./values/index.js";
export type * from "./telemetry/index.js";
export {
  Session,
  Sessions,
  SessionVariables,
  type DefineOptions,
  type VariableInfo,
  type VariableTypeName,
  type VariableUpdate,
  type VariableValue,
  type VariableValueTypes,
  type Watch,
  type WatchOptions,
} from "./sessions/index.js";
/** @deprecated `new Store(options)` is the memory store (so is `openStore("memory")`). */
export const MemoryStore = Store;
/** @deprecated The store's type is Store, whatever its backend. */
export type MemoryStore = Store;
export {
  Store,
  openStore,
  type ImportSummary,
  type SessionInfo,
  type HistoryEntry,
  type ProgramRecord,
  type AccessRule,
  type Permission,
  type StoreOptions,
} from "./store/index.js";
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
  type ModuleOutputs,
  type ModuleType,
  type OutputsOf,
  type ProgramInfo,
  type StoredProgram,
  type PythonType,
  type RunOptions,
  type SchemaSignature,
  type Signature,
  type SignatureInputs,
  type SignatureOutputs,
  type SignatureSchema,
  type SignatureSpec,
  OptimizerJob,
  type MetricSpec,
  type OptimizeOptions,
  type OptimizerInfo,
  type OptimizerJobInfo,
  type OptimizerJobState,
  type OptimizerName,
  type OptimizerProgress,
  type OptimizerResult,
} from "./dspy/index.js";
export {
  ToolsApi,
  type JsonSchema,
  type ToolContext,
  type ToolFunction,
  type ToolInfo,
  type ToolOptions,
} from "./tools/index.js";
export {
  CognitiveConfiguration,
  ConfigurationSpace,
  Configurations,
  compileSpace,
  sample as sampleSpace,
  validate as validateSpace,
  type ConfigurationInfo,
  type SpaceDoc,
} from "./config/index.js";
export {
  OptimizationRuns,
  type OptimizationOptions,
  type OptimizationProgress,
  type OptimizationStatus,
  type OptimizationTarget,
  type PythonOptimizerInfo,
} from "./optimize/index.js";
export { RunHistory, type RunRecord, type RunWithTrials, type TrialRecord } from "./optimize/index.js";
