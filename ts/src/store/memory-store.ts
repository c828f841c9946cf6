// The store in memory: the default backend. Everything the store does (store.ts) without
// a durable backend: commits apply synchronously, nothing survives the host.
import { Store, type StoreOptions } from "./store.js";

export class MemoryStore extends Store {
  constructor(options: StoreOptions = {}) {
    super(options);
  }
}

export { compilePattern, stringMap, type StoreOptions, type UpdateOptions, type UpdateOutcome, type WatchMessage, type WatchHandle, type VariableSpecInput } from "./store.js";
