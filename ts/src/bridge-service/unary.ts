// The shape of the unary handlers the bridge service registers: `Wrap` turns a plain
// request -> response function into a grpc-js handler that reports errors typed
// (handlers.ts builds it; the *-handlers.ts files use it).
import type { ServerUnaryCall, sendUnaryData } from "@grpc/grpc-js";

export type Unary<Req, Res> = (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void;
export type Wrap = <Req, Res>(handler: (request: Req) => Res | Promise<Res>) => Unary<Req, Res>;

/** The session whose access rules a request is checked against: the caller, else the session itself. */
export const caller = (req: { callerSessionId: string; sessionId: string }): string =>
  req.callerSessionId || req.sessionId;
