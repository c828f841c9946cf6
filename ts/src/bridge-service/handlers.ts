// Every RPC of the bridge service as a grpc-js style handler, in one table: the gRPC
// server (bridge-server.ts) registers it, and the host-call router (host-calls.ts) serves
// the same handlers to the unary calls workers send on their own connections.
import type { sendUnaryData, ServerUnaryCall } from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { PingResponseSchema, type PingRequest, type PingResponse } from "../gen/dspy_bridge/v1/bridge_pb.js";
import type { Configurations } from "../config/index.js";
import type { OptimizationRuns, RunHistory } from "../optimize/index.js";
import type { Store } from "../store/store.js";
import type { ToolsApi } from "../tools/index.js";
import { configurationHandlers } from "./configuration-handlers.js";
import { optimizationHandlers } from "./optimization-handlers.js";
import { toServiceError } from "./service-error.js";
import { storeHandlers } from "./store-handlers.js";
import { toolHandlers } from "./tool-handlers.js";

export interface BridgeServiceParts {
  hostVersion: string;
  workersReady: () => number;
  store: Store;
  tools: ToolsApi;
  configurations: Configurations;
  optimization: OptimizationRuns;
  runs: RunHistory;
}

/** A handler as grpc-js calls it: the call (request, events) and a callback for the answer. */
export type Handler = (call: never, callback: never) => void;

/** The handlers by the RPC's local name (`getVariables`), as grpc-js expects them. */
export function bridgeServiceHandlers(parts: BridgeServiceParts): Record<string, Handler> {
  const unary =
    <Req, Res>(handler: (request: Req) => Promise<Res> | Res) =>
    (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
      Promise.resolve()
        .then(() => handler(call.request))
        .then(
          (res) => callback(null, res),
          (err: unknown) => callback(toServiceError(err)),
        );
    };
  return {
    ping: unary<PingRequest, PingResponse>((req) =>
      create(PingResponseSchema, {
        message: req.message,
        hostVersion: parts.hostVersion,
        workersReady: parts.workersReady(),
      }),
    ),
    ...storeHandlers(parts.store, unary),
    ...toolHandlers(parts.tools),
    ...configurationHandlers(parts.configurations, unary),
    ...optimizationHandlers(parts.optimization, parts.runs, unary),
  } as Record<string, Handler>;
}
