// The bridge service's handlers as outside clients reach them over gRPC: a call made with the
// host token runs as it is; a call made with a scoped credential (credentials.ts) is checked
// first — method allowed, session in scope, caller identity taken from the credential — and
// ListSessions answers only the sessions in its scope. Workers reach the same handlers on
// their own connections with the host token and are not wrapped.
import type { Metadata } from "@grpc/grpc-js";
import { BridgeService } from "../gen/dspy_bridge/v1/bridge_pb.js";
import { tokensEqual } from "../transport/host-listener.js";
import { AUTH_METADATA_KEY } from "./auth.js";
import { authorize, type Credentials, inScope } from "./credentials.js";
import { toServiceError } from "./service-error.js";

type Call = { request?: unknown; metadata?: Metadata; emit?: (event: "error", err: unknown) => void };
type Callback = (err: unknown, value?: unknown) => void;
type AnyHandler = (call: Call, callback?: Callback) => void;

const methodNames = new Map(BridgeService.methods.map((m) => [m.localName, m.name]));

export function scopeHandlers<T extends Record<string, unknown>>(
  handlers: T,
  hostToken: string,
  credentials: Credentials,
): T {
  const hostBearer = `Bearer ${hostToken}`;
  const wrapped: Record<string, unknown> = {};
  for (const [localName, handler] of Object.entries(handlers)) {
    const inner = handler as AnyHandler;
    const method = methodNames.get(localName) ?? localName;
    wrapped[localName] = ((call, callback) => {
      const presented = call.metadata?.get(AUTH_METADATA_KEY)[0];
      if (typeof presented === "string" && tokensEqual(presented, hostBearer)) return inner(call, callback);
      try {
        const token =
          typeof presented === "string" && presented.startsWith("Bearer ") ? presented.slice("Bearer ".length) : "";
        const credential = credentials.verify(token);
        authorize(credential, method, (call.request ?? {}) as Record<string, unknown>);
        if (method === "ListSessions" && callback) {
          return inner(call, (err, value) => {
            const answer = value as { sessions?: { sessionId: string }[] } | undefined;
            if (!err && answer?.sessions)
              answer.sessions = answer.sessions.filter((s) => inScope(credential, s.sessionId));
            callback(err, value);
          });
        }
        return inner(call, callback);
      } catch (err) {
        const error = toServiceError(err);
        if (callback) callback(error);
        else call.emit?.("error", error);
      }
    }) satisfies AnyHandler;
  }
  return wrapped as T;
}
