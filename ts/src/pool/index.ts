export { Bridge, type BridgeState, type BridgeStats, type WorkerStats } from "./bridge.js";
export type { CallOptions } from "./call.js";
export { resolveOptions, type BridgeOptions, type RecycleOptions, type RestartOptions } from "./options.js";
