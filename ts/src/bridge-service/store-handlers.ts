// The bridge service's session and variable RPCs: proto messages in, store calls, proto
// messages out. All validation and access control happen in the store.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { ServerWritableStream } from "@grpc/grpc-js";
import { BridgeError, CompactedError, InvalidArgumentError } from "../errors/index.js";
import {
  SessionInfoSchema,
  ListSessionsResponseSchema,
  DeleteSessionResponseSchema,
} from "../gen/dspy_bridge/v1/session_pb.js";
import type {
  CreateSessionRequest,
  DeleteSessionRequest,
  GetSessionRequest,
} from "../gen/dspy_bridge/v1/session_pb.js";
import type { Value } from "../gen/dspy_bridge/v1/values_pb.js";
import {
  CheckAccessResponseSchema,
  ExportVariablesResponseSchema,
  GetDependenciesResponseSchema,
  GetVariablesResponseSchema,
  HistoryResponseSchema,
  ImportVariablesResponseSchema,
  ListVariablesResponseSchema,
  RegisterVariablesResponseSchema,
  StatsResponseSchema,
  UpdateVariablesResponseSchema,
  DeleteVariablesResponseSchema,
  VariableChange_Kind,
  VariableSchema,
  WatchResponseSchema,
  type AccessRule,
  type CheckAccessRequest,
  type DeleteVariablesRequest,
  type DependencyRequest,
  type ExportVariablesRequest,
  type GetDependenciesRequest,
  type GetVariablesRequest,
  type HistoryRequest,
  type ImportVariablesRequest,
  type ListVariablesRequest,
  type RegisterVariablesRequest,
  type RollbackRequest,
  type SetPermissionsRequest,
  type StatsRequest,
  type UpdateVariablesRequest,
  type WatchRequest,
  type WatchResponse,
} from "../gen/dspy_bridge/v1/variables_pb.js";
import { errorToDetail } from "../errors/index.js";
import { decodeValue, encodeValue, JSON_SHAPE_LIMITS, jsonNestsDeeperThan } from "../values/index.js";
import { toServiceError } from "./service-error.js";
import { clip } from "../store/types/describe.js";
import { caller, type Wrap } from "./unary.js";
import { exportVariables, importVariables } from "../store/export-import.js";
import type { Store } from "../store/store.js";
import { changeEnvelope, changeOldEnvelope, type Change, type SessionInfo } from "../store/records.js";
import type { VariableRecord } from "../store/records.js";
import type { AccessRule as StoreRule } from "../store/access.js";

function parseJsonObject(text: string, where: string): Record<string, unknown> {
  if (!text) return {};
  if (jsonNestsDeeperThan(text)) throw new InvalidArgumentError(`${where} ${JSON_SHAPE_LIMITS}`, { parameter: where });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`${where} is not valid JSON: ${clip((err as Error).message, 200)}`, {
      parameter: where,
    });
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new InvalidArgumentError(`${where} must be a JSON object`, { parameter: where });
  }
  return parsed as Record<string, unknown>;
}

const decodeArg = (value: Value | undefined, where: string): unknown => {
  if (!value) throw new InvalidArgumentError(`${where} is missing`, { parameter: where });
  return decodeValue(value, where);
};

const rulesIn = (rules: AccessRule[]) =>
  rules.map((r) => ({ session_pattern: r.sessionPattern, permissions: r.permissions, conditions: r.conditions }));
const rulesOut = (rules: StoreRule[]) =>
  rules.map((r) => ({ sessionPattern: r.sessionPattern, permissions: r.permissions, conditions: r.conditions }));

export function sessionMessage(info: SessionInfo, revision: number) {
  return create(SessionInfoSchema, {
    sessionId: info.sessionId,
    createdAtMs: BigInt(info.createdAtMs),
    lastAccessedAtMs: BigInt(info.lastAccessedAtMs),
    ttlMs: BigInt(info.ttlMs),
    metadataJson: JSON.stringify(info.metadata),
    revision: BigInt(revision),
  });
}

export function variableMessage(store: Store, sessionId: string, r: VariableRecord) {
  return create(VariableSchema, {
    id: r.id,
    name: r.name,
    type: r.type,
    value: r.encoded(),
    constraintsJson: JSON.stringify(r.constraints),
    metadata: r.metadata,
    version: BigInt(r.version),
    createRevision: BigInt(r.createRevision),
    modifyRevision: BigInt(r.modifyRevision),
    createdAtMs: BigInt(r.createdAtMs),
    updatedAtMs: BigInt(r.updatedAtMs),
    updatedBy: r.updatedBy,
    accessRules: rulesOut(r.accessRules),
    dependencies: store
      .sessionRecord(sessionId)
      .dependencies.edgesFrom(r.name)
      .map((e) => ({ variable: e.to, type: e.type, metadata: e.metadata })),
  });
}

export function storeHandlers(store: Store, unary: Wrap) {
  return {
    createSession: unary<CreateSessionRequest, unknown>(async (req) => {
      const info = await store.createSession({
        sessionId: req.sessionId,
        ttlMs: Number(req.ttlMs),
        metadata: parseJsonObject(req.metadataJson, "metadata_json"),
      });
      return sessionMessage(info, store.revisionOf(info.sessionId));
    }),
    getSession: unary<GetSessionRequest, unknown>(async (req) =>
      sessionMessage(await store.getSession(req.sessionId), store.revisionOf(req.sessionId)),
    ),
    listSessions: unary<unknown, unknown>(async () =>
      create(ListSessionsResponseSchema, {
        sessions: (await store.listSessions()).map((s) => sessionMessage(s, store.revisionOf(s.sessionId))),
      }),
    ),
    deleteSession: unary<DeleteSessionRequest, unknown>(async (req) =>
      create(DeleteSessionResponseSchema, { deleted: await store.deleteSession(req.sessionId) }),
    ),

    registerVariables: unary<RegisterVariablesRequest, unknown>(async (req) => {
      const records = await store.register(
        req.sessionId,
        req.variables.map((v, i) => ({
          name: v.name,
          type: v.type,
          initialValue: decodeArg(v.initialValue, `variables[${i}].initial_value`),
          constraints: parseJsonObject(v.constraintsJson, `variables[${i}].constraints_json`),
          metadata: v.metadata,
          dependencies: v.dependencies,
          accessRules: rulesIn(v.accessRules),
        })),
        caller(req),
      );
      return create(RegisterVariablesResponseSchema, {
        variables: records.map((r) => variableMessage(store, req.sessionId, r)),
        revision: BigInt(store.revisionOf(req.sessionId)),
      });
    }),
    getVariables: unary<GetVariablesRequest, unknown>(async (req) => {
      const found = await store.getMany(req.sessionId, req.names, caller(req));
      return create(GetVariablesResponseSchema, {
        revision: BigInt(store.revisionOf(req.sessionId)),
        results: req.names.map((name) => {
          const r = found.get(name);
          return {
            name,
            found: r !== undefined,
            ...(r ? { variable: variableMessage(store, req.sessionId, r) } : {}),
            ...(r && req.includeStats
              ? {
                  stats: {
                    readCount: BigInt(r.stats.reads),
                    writeCount: BigInt(r.stats.writes),
                    lastReadMs: BigInt(r.stats.lastReadMs),
                    lastWriteMs: BigInt(r.stats.lastWriteMs),
                  },
                }
              : {}),
          };
        }),
      });
    }),
    listVariables: unary<ListVariablesRequest, unknown>(async (req) =>
      create(ListVariablesResponseSchema, {
        variables: (await store.list(req.sessionId, req.pattern, caller(req))).map((r) =>
          variableMessage(store, req.sessionId, r),
        ),
        revision: BigInt(store.revisionOf(req.sessionId)),
      }),
    ),
    updateVariables: unary<UpdateVariablesRequest, unknown>(async (req) => {
      const { revision, results } = await store.update(
        req.sessionId,
        req.updates.map((u, i) => ({
          name: u.name,
          value: decodeArg(u.value, `updates[${i}].value`),
          expectedVersion: Number(u.expectedVersion),
          metadata: u.metadata,
        })),
        {
          atomic: req.atomic,
          createIfMissing: req.createIfMissing,
          typeHint: req.typeHint,
          caller: caller(req),
          source: req.source,
        },
      );
      return create(UpdateVariablesResponseSchema, {
        revision: BigInt(revision),
        results: results.map((r) => ({
          name: r.name,
          ok: r.ok,
          version: BigInt(r.version),
          ...(r.error ? { error: errorToDetail(r.error) } : {}),
        })),
      });
    }),
    deleteVariables: unary<DeleteVariablesRequest, unknown>(async (req) => {
      const { revision, deleted } = await store.delete(req.sessionId, req.names, caller(req));
      return create(DeleteVariablesResponseSchema, { revision: BigInt(revision), deleted });
    }),
    getHistory: unary<HistoryRequest, unknown>(async (req) =>
      create(HistoryResponseSchema, {
        entries: (await store.history(req.sessionId, req.name, req.limit || 100, req.offset, caller(req))).map((h) => ({
          version: BigInt(h.version),
          value: encodeValue(h.value),
          updatedAtMs: BigInt(h.updatedAtMs),
          updatedBy: h.updatedBy,
          metadata: h.metadata,
          revision: BigInt(h.revision),
        })),
      }),
    ),
    rollback: unary<RollbackRequest, unknown>(async (req) =>
      variableMessage(
        store,
        req.sessionId,
        await store.rollback(req.sessionId, req.name, Number(req.version), req.reason, caller(req)),
      ),
    ),
    changeDependency: unary<DependencyRequest, unknown>(async (req) => {
      if (req.remove) await store.removeDependency(req.sessionId, req.fromVariable, req.toVariable, caller(req));
      else
        await store.addDependency(
          req.sessionId,
          req.fromVariable,
          req.toVariable,
          req.type || "data",
          req.metadata,
          caller(req),
        );
      return dependenciesMessage(store, req.sessionId, req.fromVariable, false, false, caller(req));
    }),
    getDependencies: unary<GetDependenciesRequest, unknown>(async (req) =>
      dependenciesMessage(store, req.sessionId, req.variable, req.includeTransitive, req.dependents, caller(req)),
    ),
    setPermissions: unary<SetPermissionsRequest, unknown>(async (req) =>
      variableMessage(
        store,
        req.sessionId,
        await store.setPermissions(req.sessionId, req.variable, rulesIn(req.rules), caller(req)),
      ),
    ),
    checkAccess: unary<CheckAccessRequest, unknown>(async (req) =>
      create(CheckAccessResponseSchema, {
        allowed: await store.checkAccess(req.sessionId, req.variable, req.permission, caller(req)),
      }),
    ),
    exportVariables: unary<ExportVariablesRequest, unknown>(async (req) => {
      const { data, count } = await exportVariables(store, req.sessionId, {
        format: req.format || "json",
        includeHistory: req.includeHistory,
        includeDependencies: req.includeDependencies,
        filterPattern: req.filterPattern,
        caller: caller(req),
      });
      return create(ExportVariablesResponseSchema, { data, count });
    }),
    importVariables: unary<ImportVariablesRequest, unknown>(async (req) => {
      const s = await importVariables(store, req.sessionId, req.data, {
        format: req.format || "json",
        mergeStrategy: req.mergeStrategy || "replace",
        dryRun: req.dryRun,
        caller: caller(req),
      });
      return create(ImportVariablesResponseSchema, {
        imported: s.imported,
        skipped: s.skipped,
        errors: s.errors,
        detailsJson: JSON.stringify(s.details),
        revision: BigInt(s.revision),
        warnings: s.warnings,
        warningCount: s.warningCount,
      });
    }),
    getStats: unary<StatsRequest, unknown>(async (req) =>
      create(StatsResponseSchema, {
        statsJson: JSON.stringify(await store.stats(req.sessionId, req.variable || undefined, caller(req))),
      }),
    ),
    watch: (call: ServerWritableStream<WatchRequest, WatchResponse>) => watchHandler(store, call),
  };
}

async function dependenciesMessage(
  store: Store,
  sessionId: string,
  variable: string,
  transitive: boolean,
  dependents: boolean,
  callerId: string,
) {
  return create(GetDependenciesResponseSchema, {
    dependencies: (await store.dependencies(sessionId, variable, transitive, dependents, callerId)).map((d) => ({
      variable: d.variable,
      variableId: d.variableId,
      type: d.type,
      depth: d.depth,
    })),
  });
}

/**
 * One WatchResponse per (commit, set of changes): a hundred watchers of the same variable
 * receive the same message object, which the gRPC layer then serializes once
 * (see grpc-definition.ts).
 */
const responses = new WeakMap<Change[], { revision: number; initial: boolean; message: WatchResponse }>();

function watchResponse(revision: number, changes: Change[], initial: boolean): WatchResponse {
  const cached = responses.get(changes);
  if (cached && cached.revision === revision && cached.initial === initial) return cached.message;
  const init: MessageInitShape<typeof WatchResponseSchema> = {
    revision: BigInt(revision),
    initial,
    changes: changes.map((c) => ({
      kind: c.kind === "put" ? VariableChange_Kind.PUT : VariableChange_Kind.DELETE,
      name: c.name,
      id: c.id,
      type: c.type,
      value: changeEnvelope(c),
      oldValue: changeOldEnvelope(c),
      version: BigInt(c.version),
      metadata: c.metadata,
      source: c.source,
      timestampMs: BigInt(c.timestampMs),
    })),
  };
  const message = create(WatchResponseSchema, init);
  responses.set(changes, { revision, initial, message });
  return message;
}

function watchHandler(store: Store, call: ServerWritableStream<WatchRequest, WatchResponse>): void {
  const req = call.request;
  let ended = false;
  const end = (error?: BridgeError) => {
    if (ended) return;
    ended = true;
    // emit("error") sends the status; destroy() would leave the client waiting forever.
    if (error && !(error instanceof CompactedError)) call.emit("error", toServiceError(error));
    else call.end();
  };
  let handle: { cancel(): void } | undefined;
  let gone = false;
  call.on("cancelled", () => {
    ended = true;
    gone = true;
    handle?.cancel();
  });
  call.on("close", () => {
    gone = true;
    handle?.cancel();
  });
  store
    .watch(
      req.sessionId,
      {
        names: req.names,
        startRevision: Number(req.startRevision),
        includeInitial: req.includeInitial,
        caller: caller(req),
      },
      (m) => {
        if (ended) return;
        if (m.kind === "compacted") {
          call.write(
            create(WatchResponseSchema, {
              revision: BigInt(m.revision),
              compacted: true,
              compactRevision: BigInt(m.compactRevision),
            }),
          );
          return;
        }
        call.write(watchResponse(m.revision, m.changes, m.initial));
      },
      end,
    )
    .then(
      (h) => {
        handle = h;
        if (gone) h.cancel(); // the client left while the watch was starting
      },
      (err: unknown) => end(BridgeError.from(err)),
    );
}
