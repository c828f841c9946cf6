export { Bridge, type BridgeState, type BridgeStats, type WorkerStats } from "./bridge.js";
export type { CallOptions } from "./call.js";
export { resolveOptions, type BridgeOptions, type RecycleOptions, type RestartOptions } from "./options.js";
export {
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
