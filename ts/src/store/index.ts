export {
  Store,
  type StoreOptions,
  type UpdateOptions,
  type UpdateOutcome,
  type WatchMessage,
  type WatchHandle,
} from "./store.js";
export { migrateStore, openStore, parseStoreSpec, type StoreSpec } from "./open-store.js";
export { exportVariables, importVariables, type ImportSummary, type MergeStrategy } from "./export-import.js";
export type { SessionInfo, HistoryEntry, ProgramRecord } from "./records.js";
export { PERMISSIONS, type AccessRule, type Permission } from "./access.js";
