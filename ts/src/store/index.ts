export { MemoryStore, type StoreOptions, type UpdateOptions, type UpdateOutcome, type WatchMessage } from "./memory-store.js";
export { exportVariables, importVariables, type ImportSummary, type MergeStrategy } from "./export-import.js";
export type { SessionInfo, HistoryEntry } from "./records.js";
export { PERMISSIONS, type AccessRule, type Permission } from "./access.js";
