// The bridge service's tool RPCs: Python (a worker or an outside process) calls TypeScript
// tools. Cancelling the gRPC call (a cancelled Python task, a deadline) aborts the tool.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { ServerUnaryCall, ServerWritableStream, sendUnaryData } from "@grpc/grpc-js";
import { InvalidArgumentError } from "../errors/index.js";
import {
  CallToolResponseSchema,
  ListToolsResponseSchema,
  type CallToolRequest,
  type CallToolResponse,
  type ListToolsRequest,
} from "../gen/dspy_bridge/v1/tools_pb.js";
import type { ToolsApi } from "../tools/index.js";
import { decodeValue, encodeValue } from "../values/index.js";
import { toServiceError } from "./service-error.js";

function argsOf(request: CallToolRequest): unknown {
  return request.args ? decodeValue(request.args, "args") : {};
}

/** An AbortSignal that fires when the gRPC call is cancelled or its deadline passes. */
function callSignal(call: { on(event: "cancelled", fn: () => void): unknown }): AbortSignal {
  const controller = new AbortController();
  call.on("cancelled", () => controller.abort(new Error("the caller cancelled the tool call")));
  return controller.signal;
}

/** Resolves when a stream that refused a write (back-pressure) takes more, or the call ends. */
function drained(call: ServerWritableStream<CallToolRequest, CallToolResponse>, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    // A write can fail and end the call before it returns (an item over the message limit):
    // then nothing more will fire.
    if (signal.aborted || call.closed) return resolve();
    const done = () => {
      call.off("drain", done);
      call.off("close", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    call.on("drain", done);
    call.on("close", done);
    signal.addEventListener("abort", done, { once: true });
  });
}

export function toolHandlers(tools: ToolsApi) {
  return {
    listTools: (call: ServerUnaryCall<ListToolsRequest, unknown>, callback: sendUnaryData<unknown>) => {
      const session = call.request.sessionId || undefined;
      callback(
        null,
        create(ListToolsResponseSchema, {
          tools: tools.listLocal(session).map((t) => ({
            name: t.name,
            description: t.description,
            parametersJson: JSON.stringify(t.parameters),
            streaming: t.streaming,
            owner: t.owner,
            sessionId: t.session ?? "",
          })),
        }),
      );
    },
    callTool: (call: ServerUnaryCall<CallToolRequest, CallToolResponse>, callback: sendUnaryData<CallToolResponse>) => {
      const request = call.request;
      const session = request.sessionId || undefined;
      const signal = callSignal(call);
      Promise.resolve()
        .then(() => {
          if (tools.localInfo(request.name, session)?.streaming) {
            throw new InvalidArgumentError(`tool '${request.name}' streams: call it with StreamTool`, {
              parameter: "name",
            });
          }
          return tools.invoke(request.name, argsOf(request), session, signal, request.timeoutMs);
        })
        .then(
          (result) => callback(null, create(CallToolResponseSchema, { result: encodeValue(result, "result") })),
          (err: unknown) => callback(toServiceError(err)),
        );
    },
    streamTool: (call: ServerWritableStream<CallToolRequest, CallToolResponse>) => {
      const request = call.request;
      const session = request.sessionId || undefined;
      const signal = callSignal(call);
      (async () => {
        if (!tools.localInfo(request.name, session)?.streaming && tools.localInfo(request.name, session)) {
          throw new InvalidArgumentError(`tool '${request.name}' does not stream: call it with CallTool`, {
            parameter: "name",
          });
        }
        const iterable = (await tools.invoke(
          request.name,
          argsOf(request),
          session,
          signal,
          request.timeoutMs,
        )) as AsyncIterable<unknown>;
        for await (const item of iterable) {
          if (signal.aborted) break;
          const init: MessageInitShape<typeof CallToolResponseSchema> = { result: encodeValue(item, "item") };
          // A consumer slower than the tool holds the tool back instead of the host
          // buffering without bound (the caller's stream window, or gRPC's own buffer).
          if (!call.write(create(CallToolResponseSchema, init))) {
            if (signal.aborted) break;
            await drained(call, signal);
            if (signal.aborted) break; // not one more item pulled from the tool after a cancel
          }
        }
        call.end();
      })().catch((err: unknown) => call.emit("error", toServiceError(err)));
    },
  };
}
