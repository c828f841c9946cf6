// Every call to the bridge service must carry `authorization: Bearer <per-host secret>`.
// Checked in a server interceptor so it also covers methods this host does not implement.
import { Metadata, ServerInterceptingCall, status, type ServerInterceptor } from "@grpc/grpc-js";
import { tokensEqual } from "../transport/host-listener.js";

export const AUTH_METADATA_KEY = "authorization";

export function authInterceptor(token: string, onRefused: (why: string) => void): ServerInterceptor {
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
            const why = presented === undefined ? "no authorization metadata" : "wrong token";
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
