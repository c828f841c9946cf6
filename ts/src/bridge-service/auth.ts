// Every call to the bridge service must carry `authorization: Bearer <per-host secret>`.
// Checked in a server interceptor; `routeUnknownMethods` makes grpc-js run the interceptors
// for methods this host does not implement too, so a stranger learns nothing from a call,
// not even which methods exist (UNIMPLEMENTED is for callers with the token).
import {
  Metadata,
  ServerInterceptingCall,
  status,
  type Server,
  type ServerDuplexStream,
  type ServerInterceptor,
} from "@grpc/grpc-js";
import { tokensEqual } from "../transport/host-listener.js";
import { Credentials } from "./credentials.js";

export const AUTH_METADATA_KEY = "authorization";

/**
 * Lets a call through with the host token or a valid scoped credential (credentials.ts; what
 * it may do is checked per request by scoped-handlers.ts); refuses it otherwise.
 */
export function authInterceptor(
  token: string,
  onRefused: (why: string) => void,
  credentials?: Credentials,
): ServerInterceptor {
  const expected = `Bearer ${token}`;
  return (methodDescriptor, call) =>
    new ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            const presented = metadata.get(AUTH_METADATA_KEY)[0];
            if (typeof presented === "string" && tokensEqual(presented, expected)) {
              nextMetadata(metadata);
              return;
            }
            let why = presented === undefined ? "no authorization metadata" : "wrong token";
            const scoped =
              typeof presented === "string" && presented.startsWith("Bearer ") ? presented.slice("Bearer ".length) : "";
            if (credentials && Credentials.looksScoped(scoped)) {
              try {
                credentials.verify(scoped);
                nextMetadata(metadata);
                return;
              } catch (err) {
                why = err instanceof Error ? err.message : "invalid credential";
              }
            }
            onRefused(`${methodDescriptor.path}: ${why}`);
            call.sendStatus({
              code: status.UNAUTHENTICATED,
              details: `dspy-bridge: ${why}; pass the host's token (DSPY_BRIDGE_TOKEN) as 'authorization: Bearer <token>'`,
              metadata: new Metadata(),
            });
          },
        });
      },
    });
}

/**
 * grpc-js answers a method nobody registered with UNIMPLEMENTED before any interceptor runs.
 * This gives every unknown path a handler (a stream that ends at once with UNIMPLEMENTED), so
 * the call goes through the interceptors like any other: without the token it gets
 * UNAUTHENTICATED. The hook is grpc-js's handler lookup (`_retrieveHandler`, grpc-js 1.14);
 * should it ever be missing, the server refuses to start rather than leak method names.
 */
export function routeUnknownMethods(server: Server): void {
  const internals = server as unknown as { _retrieveHandler?: (path: string) => unknown };
  const lookup = internals._retrieveHandler;
  if (typeof lookup !== "function") {
    throw new Error(
      "this version of @grpc/grpc-js has no handler lookup to hook: unknown methods would skip authentication",
    );
  }
  internals._retrieveHandler = function (this: Server, path: string) {
    return (
      lookup.call(this, path) ?? {
        type: "bidi",
        path,
        serialize: (value: Buffer) => value,
        deserialize: (bytes: Buffer) => bytes,
        func: (stream: ServerDuplexStream<Buffer, Buffer>) =>
          stream.emit("error", { code: status.UNIMPLEMENTED, details: `the bridge service has no method ${path}` }),
      }
    );
  };
}
