// `session.variables`: the TypeScript face of the host's variable store. Values are plain
// JavaScript values; embeddings are Float32Array/Float64Array, tensors are `Tensor`.
import type { BridgeError } from "../errors/index.js";
import { StreamSink } from "../stream-sink.js";
import type { Permission } from "../store/access.js";
import { exportVariables, importVariables, type ImportSummary } from "../store/export-import.js";
import type { CodecProgress } from "../store/codec.js";
import type { Store } from "../store/store.js";
import type { Change, HistoryEntry, VariableRecord } from "../store/records.js";
import type { VariableTypeName, VariableValue } from "../store/types/index.js";

export type { VariableTypeName, VariableValue, VariableValueTypes } from "../store/types/index.js";

export interface DefineOptions {
  constraints?: Record<string, unknown>;
  metadata?: Record<string, string>;
  /** Names of variables this one depends on ("data" dependencies). */
  dependencies?: string[];
  accessRules?: { sessionPattern: string; permissions: Permission[]; conditions?: Record<string, string> }[];
}

export interface VariableInfo {
  id: string;
  name: string;
  type: string;
  value: unknown;
  constraints: Record<string, unknown>;
  metadata: Record<string, string>;
  version: number;
  createRevision: number;
  modifyRevision: number;
  createdAt: Date;
  updatedAt: Date;
  updatedBy: string;
}

export interface VariableUpdate {
  kind: "put" | "delete";
  name: string;
  id: string;
  type: string;
  value: unknown;
  oldValue: unknown;
  version: number;
  /** The store revision of the commit; every change of one atomic update shares it. */
  revision: number;
  metadata: Record<string, string>;
  source: string;
  timestamp: Date;
  /** True for the current values delivered first with `includeInitial`. */
  initial: boolean;
}

export interface WatchOptions {
  includeInitial?: boolean;
  /** Replay every change since this revision first (resume after a disconnect). */
  startRevision?: number;
  signal?: AbortSignal;
}

export interface Watch extends AsyncIterableIterator<VariableUpdate> {
  cancel(): void;
}

function info(r: VariableRecord): VariableInfo {
  return {
    id: r.id,
    name: r.name,
    type: r.type,
    value: r.value,
    constraints: r.constraints,
    metadata: r.metadata,
    version: r.version,
    createRevision: r.createRevision,
    modifyRevision: r.modifyRevision,
    createdAt: new Date(r.createdAtMs),
    updatedAt: new Date(r.updatedAtMs),
    updatedBy: r.updatedBy,
  };
}

function update(c: Change, revision: number, initial: boolean): VariableUpdate {
  return {
    kind: c.kind,
    name: c.name,
    id: c.id,
    type: c.type,
    value: c.value,
    oldValue: c.oldValue,
    version: c.version,
    revision,
    metadata: c.metadata,
    source: c.source,
    timestamp: new Date(c.timestampMs),
    initial,
  };
}

export class SessionVariables {
  constructor(
    private readonly store: Store,
    readonly sessionId: string,
  ) {}

  /** Defines a variable; the initial value's type follows the type name (`define("t", "float", 0.2)`). */
  async define<T extends VariableTypeName>(
    name: string,
    type: T,
    initialValue: VariableValue<T>,
    options: DefineOptions = {},
  ): Promise<VariableInfo> {
    return (await this.defineMany([{ name, type, initialValue, ...options }]))[name]!;
  }

  /** Defines all or none, under one revision. */
  async defineMany(
    specs: ({ name: string; type: string; initialValue: unknown } & DefineOptions)[],
  ): Promise<Record<string, VariableInfo>> {
    const records = await this.store.register(this.sessionId, specs);
    return Object.fromEntries(records.map((r) => [r.name, info(r)]));
  }

  /** The value; NotFoundError if missing unless a `fallback` is given. */
  async get<T = unknown>(name: string, fallback?: { default: T }): Promise<T> {
    try {
      return (await this.store.get(this.sessionId, name)).value as T;
    } catch (err) {
      if (fallback && (err as BridgeError).reason === "not_found") return fallback.default;
      throw err;
    }
  }

  /** Values by name; missing names are left out. One consistent read. */
  async getMany(names: string[]): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const [name, r] of await this.store.getMany(this.sessionId, names)) if (r) out[name] = r.value;
    return out;
  }

  async info(name: string): Promise<VariableInfo> {
    return info(await this.store.get(this.sessionId, name));
  }

  async list(pattern?: string): Promise<VariableInfo[]> {
    return (await this.store.list(this.sessionId, pattern)).map(info);
  }

  async set(
    name: string,
    value: unknown,
    options: {
      expectedVersion?: number;
      metadata?: Record<string, string>;
      createIfMissing?: boolean;
      typeHint?: string;
      source?: string;
    } = {},
  ): Promise<VariableInfo> {
    return info(await this.store.set(this.sessionId, name, value, options));
  }

  /** Several values in one commit. `atomic` (default): all or nothing. Returns true or the error per name. */
  async update(
    values: Record<string, unknown>,
    options: { atomic?: boolean; metadata?: Record<string, string>; source?: string } = {},
  ): Promise<{ revision: number; results: Record<string, true | BridgeError> }> {
    const { revision, results } = await this.store.update(
      this.sessionId,
      Object.entries(values).map(([name, value]) => ({ name, value, metadata: options.metadata ?? {} })),
      options,
    );
    return { revision, results: Object.fromEntries(results.map((r) => [r.name, r.ok ? true : r.error!])) };
  }

  async delete(...names: string[]): Promise<number> {
    return (await this.store.delete(this.sessionId, names)).deleted;
  }

  /** Changes as they are committed; `for await` it, `cancel()` or abort to stop. */
  watch(names: string[] = [], options: WatchOptions = {}): Watch {
    let handle: { cancel(): void } | undefined;
    let cancelled = false;
    const signal = options.signal;
    const onAbort = () => void sink.return();
    // However the watch ends, its listener leaves the signal (which may outlive many watches).
    const sink = new StreamSink<VariableUpdate>(() => {
      cancelled = true;
      signal?.removeEventListener("abort", onAbort);
      handle?.cancel();
    });
    const ended = (error?: unknown) => {
      signal?.removeEventListener("abort", onAbort);
      if (error) sink.fail(error);
      else sink.end();
    };
    this.store
      .watch(
        this.sessionId,
        { names, startRevision: options.startRevision ?? 0, includeInitial: options.includeInitial ?? false },
        (m) => {
          if (m.kind === "compacted") return;
          for (const c of m.changes) sink.push(update(c, m.revision, m.initial));
        },
        ended,
      )
      .then((h) => {
        handle = h;
        if (cancelled) h.cancel(); // stopped while the watch was starting
      }, ended);
    if (signal?.aborted)
      onAbort(); // "abort" has fired already and would never reach the listener
    else signal?.addEventListener("abort", onAbort, { once: true });
    return Object.assign(sink, { cancel: () => void sink.return() });
  }

  async history(
    name: string,
    options: { limit?: number; offset?: number } = {},
  ): Promise<(HistoryEntry & { updatedAt: Date })[]> {
    return (await this.store.history(this.sessionId, name, options.limit ?? 100, options.offset ?? 0)).map((h) => ({
      ...h,
      updatedAt: new Date(h.updatedAtMs),
    }));
  }

  async rollback(name: string, version: number, reason = ""): Promise<VariableInfo> {
    return info(await this.store.rollback(this.sessionId, name, version, reason));
  }

  readonly dependencies = {
    add: async (from: string, to: string, type = "data", metadata: Record<string, string> = {}) =>
      this.store.addDependency(this.sessionId, from, to, type, metadata),
    remove: async (from: string, to: string) => this.store.removeDependency(this.sessionId, from, to),
    list: async (name: string, options: { transitive?: boolean; dependents?: boolean } = {}) =>
      this.store.dependencies(this.sessionId, name, options.transitive ?? false, options.dependents ?? false),
  };

  readonly permissions = {
    set: async (name: string, rules: DefineOptions["accessRules"]) =>
      void (await this.store.setPermissions(this.sessionId, name, rules ?? [])),
    check: async (name: string, permission: Permission, asSession = this.sessionId) =>
      this.store.checkAccess(this.sessionId, name, permission, asSession),
  };

  /** A large export yields to other work between slices; `onProgress` follows it. */
  async export(
    options: {
      format?: "json" | "yaml";
      includeHistory?: boolean;
      includeDependencies?: boolean;
      filterPattern?: string;
      onProgress?: (progress: CodecProgress) => void;
    } = {},
  ): Promise<Buffer> {
    return (await exportVariables(this.store, this.sessionId, options)).data;
  }

  /** A large import yields to other work between slices; `onProgress` follows it. YAML warnings come back in the summary, bounded. */
  async import(
    data: Uint8Array | string,
    options: {
      format?: "json" | "yaml";
      mergeStrategy?: "replace" | "keep" | "merge";
      dryRun?: boolean;
      onProgress?: (progress: CodecProgress) => void;
    } = {},
  ): Promise<ImportSummary> {
    return importVariables(this.store, this.sessionId, typeof data === "string" ? Buffer.from(data) : data, options);
  }

  async stats(name?: string): Promise<Record<string, unknown>> {
    return this.store.stats(this.sessionId, name);
  }
}
