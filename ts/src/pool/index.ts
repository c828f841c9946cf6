export {
  WorkerPool,
  type BridgeState,
  type BridgeStats,
  type WorkerPoolHooks,
  type WorkerStats,
} from "./worker-pool.js";
export {
  resolveOptions,
  type BridgeOptions,
  type BridgeServiceOptions,
  type ResolvedOptions,
  type RecycleOptions,
  type RestartOptions,
} from "./options.js";
export {
  choosePython,
  defaultCacheDir,
  ensurePythonEnv,
  prunePythonEnvs,
  pythonEnvStatus,
  shippedWheel,
  type PythonEnvInfo,
  type PythonEnvMarker,
  type PythonEnvOptions,
  type PythonEnvPhase,
  type PythonEnvProgress,
  type PythonEnvStatus,
} from "./python-env.js";
