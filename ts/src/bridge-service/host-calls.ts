// Bridge-service RPCs that a worker sends on its own connection (WorkerFrame.host_call)
// rather than over gRPC, served by the same handlers as the gRPC server. A worker's calls to
// the host from its event loop (variable reads and writes, sessions, TypeScript tools,
// watches) skip grpcio's client and HTTP/2: a unary call costs about a sixth of a unary gRPC
// round trip (docs/benchmarks.md). Unary RPCs get one HostReply; server-streaming ones
// (Watch, StreamTool) get one per response message and then an end or an error, with the
// worker granting credit as it consumes them (HostStreamCredit).
//
// Large values travel out of band both ways, as a command's arguments and results do: a
// HostCall frame's raw attachments are what its request's Values index (resolved here into
// views of the frame before the handler sees the request), and a caller that asked for it
// (HostCall.out_of_band_reply) gets each response whose Values hold attachments as an
// out-of-band frame, the attachments written from the store's or the tool's own memory.
import { EventEmitter } from "node:events";
import { Metadata } from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type DescMessage } from "@bufbuild/protobuf";
import { BridgeService } from "../gen/dspy_bridge/v1/bridge_pb.js";
import { ErrorDetailSchema, type ErrorDetail } from "../gen/dspy_bridge/v1/errors_pb.js";
import { HostReplySchema, type HostCall, type HostReply } from "../gen/dspy_bridge/v1/worker_pb.js";
import {
  errorToDetail,
  FailedPreconditionError,
  InvalidArgumentError,
  PayloadTooLargeError,
  ProtocolError,
} from "../errors/index.js";
import { IdMap } from "../transport/id-map.js";
import { externalizeMessage, rawSize, resolveMessageAttachments } from "../transport/message-attachments.js";
import type { Handler } from "./handlers.js";
import type { HostTelemetry } from "../telemetry/otel.js";
import { ERROR_DETAIL_METADATA_KEY } from "./service-error.js";

interface Method {
  input: DescMessage;
  output: DescMessage;
  handler: Handler;
  /** Server-streaming (Watch, StreamTool): answered through a StreamShim. */
  streaming: boolean;
}

/** The RPCs of the bridge service by name ("GetVariables"), for every worker connection. */
export class HostCallRouter {
  private readonly methods = new Map<string, Method>();
  /** OpenTelemetry: a span per host call that carries the worker's span (telemetry/otel.ts). */
  telemetry: HostTelemetry | undefined = undefined;

  /** @param maxMessageBytes the largest response sent back (the worker refuses bigger frames). */
  constructor(
    handlers: Record<string, Handler>,
    private readonly maxMessageBytes: number,
  ) {
    for (const m of BridgeService.methods) {
      const handler = handlers[m.localName] as Handler | undefined;
      if (!handler) continue;
      // Client-streaming RPCs have no use on a worker's connection (the service has none).
      if (m.methodKind === "unary" || m.methodKind === "server_streaming") {
        this.methods.set(m.name, {
          input: m.input,
          output: m.output,
          handler,
          streaming: m.methodKind === "server_streaming",
        });
      }
    }
  }

  /**
   * The host calls of one worker connection; `reply` sends a HostReply frame on it. With
   * `refuseAll` (the pool runs without its bridge service) every call is refused.
   */
  open(reply: Reply, refuseAll = false): HostCalls {
    return new HostCalls(this.methods, reply, this.maxMessageBytes, refuseAll, this.telemetry);
  }
}

/** Sends a HostReply on the worker's connection; with `raw`, as an out-of-band frame of those attachments. */
export type Reply = (frame: HostReply, raw?: readonly Uint8Array[]) => void;

/** A reply's outcome, and the raw attachments its response's Values index (out of band). */
interface Outcome {
  outcome: HostReply["outcome"];
  raw?: readonly Uint8Array[];
}

/** What a unary handler is given in place of a grpc-js call: the request, and its "cancelled" event. */
interface CallShim {
  request: unknown;
  metadata: Metadata;
  cancelled: boolean;
  on(event: string, listener: () => void): CallShim;
}

/**
 * What a server-streaming handler is given in place of grpc-js's ServerWritableStream:
 * write() sends a response at once and returns false once the worker holds a window of
 * responses it has not granted back (a producer that honours back-pressure waits for
 * "drain"), end() ends the stream, emit("error", e) ends it with e; the worker's cancel
 * fires "cancelled", and every ending fires "close".
 */
class StreamShim extends EventEmitter {
  readonly metadata = new Metadata();
  cancelled = false;
  /** Ended (end, error, cancel): what grpc-js's Writable calls `closed`. */
  closed = false;
  /** Responses sent and not yet granted back by the worker. */
  private outstanding = 0;

  constructor(
    readonly request: unknown,
    private readonly method: string,
    private readonly output: DescMessage,
    private readonly window: number,
    private readonly maxMessageBytes: number,
    private readonly outOfBand: boolean,
    private readonly send: (outcome: HostReply["outcome"], raw?: readonly Uint8Array[]) => void,
    private readonly onFinish: () => void,
  ) {
    super();
  }

  write(message: unknown): boolean {
    if (this.closed) return false;
    const encoded = encodeResponse(
      this.output,
      message,
      `a ${this.method} response`,
      this.maxMessageBytes,
      this.outOfBand,
      true,
    );
    if (encoded.outcome.case === "error") {
      this.fail(encoded.outcome.value);
      return false;
    }
    this.send(encoded.outcome, encoded.raw);
    this.outstanding++;
    return this.window === 0 || this.outstanding < this.window;
  }

  end(): void {
    this.finish({ case: "end", value: true });
  }

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event !== "error") return super.emit(event, ...args);
    // The handler's own error: the stream ends with it (its producer is not "cancelled").
    this.finish({ case: "error", value: detailOf(args[0]) });
    return true;
  }

  /** The worker took `items` more responses. */
  credit(items: number): void {
    const wasFull = this.window > 0 && this.outstanding >= this.window;
    this.outstanding = Math.max(0, this.outstanding - items);
    if (wasFull && this.outstanding < this.window && !this.closed) super.emit("drain");
  }

  /** The worker gave up on the stream, or its connection ended: no more frames. */
  cancel(): void {
    if (this.closed) return;
    this.closed = true;
    this.cancelled = true;
    this.onFinish();
    super.emit("cancelled");
    super.emit("close");
  }

  /** A write that cannot be sent: the stream ends with its error, and the handler is told to stop producing. */
  private fail(detail: ErrorDetail): void {
    this.finish({ case: "error", value: detail }, true);
  }

  /** Sends the stream's last frame; with `cancel`, tells the handler to stop before "close". */
  private finish(outcome: HostReply["outcome"], cancel = false): void {
    if (this.closed) return;
    this.closed = true;
    this.onFinish();
    this.send(outcome);
    if (cancel) {
      this.cancelled = true;
      super.emit("cancelled");
    }
    super.emit("close");
  }
}

export class HostCalls {
  /** Calls being served, by the worker's call id: what cancels each (and, for streams, the shim). */
  // Not a Map: it turns over with every call while watches stay (transport/id-map.ts says why).
  private readonly pending = new IdMap<{ cancel: () => void; stream?: StreamShim }>();
  /** Calls handled so far (answered, refused or cancelled). */
  served = 0;

  constructor(
    private readonly methods: Map<string, Method>,
    private readonly reply: Reply,
    private readonly maxMessageBytes: number,
    private readonly refuseAll = false,
    private readonly telemetry: HostTelemetry | undefined = undefined,
  ) {}

  get inFlight(): number {
    return this.pending.size;
  }

  /** Serves `call`; `raw`: the attachments of its out-of-band frame (its request's Values index them). */
  handle(call: HostCall, raw?: readonly Uint8Array[]): void {
    const id = call.callId;
    this.served++;
    if (this.refuseAll) {
      return this.answer(
        id,
        errorToDetail(
          new FailedPreconditionError(
            "the bridge service is disabled (option bridgeService: false): workers cannot call the host",
          ),
        ),
      );
    }
    if (this.pending.has(id)) {
      return this.answer(
        id,
        errorToDetail(new InvalidArgumentError(`host call ${id} is already in flight`, { parameter: "call_id" })),
      );
    }
    const method = this.methods.get(call.method);
    if (!method) {
      return this.answer(
        id,
        errorToDetail(
          new InvalidArgumentError(`'${call.method}' is not an RPC of the bridge service`, { parameter: "method" }),
        ),
      );
    }
    if (method.streaming !== call.stream) {
      const why = method.streaming
        ? `'${call.method}' streams its responses: send it with stream set`
        : `'${call.method}' is a unary RPC: send it without stream`;
      return this.answer(id, errorToDetail(new InvalidArgumentError(why, { parameter: "stream" })));
    }
    const size = call.request.length + rawSize(raw);
    if (size > this.maxMessageBytes) {
      // The frame fits the connection's limit (its overhead aside), the message with its
      // attachments does not: refused as gRPC refuses a message over the limit.
      return this.answer(
        id,
        errorToDetail(
          new PayloadTooLargeError(
            `the ${call.method} request is ${size} bytes, over the message limit of ${this.maxMessageBytes} bytes (option maxMessageBytes)`,
            { size, limit: this.maxMessageBytes },
          ),
        ),
      );
    }
    let request: unknown;
    try {
      request = fromBinary(method.input, call.request);
    } catch (err) {
      return this.answer(
        id,
        errorToDetail(
          new InvalidArgumentError(`a malformed ${call.method} request: ${(err as Error).message}`, {
            parameter: "request",
          }),
        ),
      );
    }
    try {
      resolveMessageAttachments(method.input, request, raw);
    } catch (err) {
      // Descriptors that point outside the frame or lie about it: this call is refused, the
      // connection (whose framing is intact) serves on.
      return this.answer(
        id,
        errorToDetail(
          new ProtocolError(
            `the ${call.method} request's attachments do not match its frame: ${(err as Error).message}`,
          ),
        ),
      );
    }
    if (method.streaming) this.serveStream(id, call, method, request);
    else if (call.traceparent && this.telemetry !== undefined)
      this.serveTraced(id, call, method, request, this.telemetry);
    else this.serveUnary(id, call, method, request);
  }

  /** A unary host call inside a span, a child of the worker's span the call carries. */
  private serveTraced(id: number, call: HostCall, method: Method, request: unknown, telemetry: HostTelemetry): void {
    const scope = telemetry.startRemote(`dspy_bridge.host_call ${call.method}`, call.traceparent, {
      "dspy_bridge.host_call.method": call.method,
    });
    if (!scope) return this.serveUnary(id, call, method, request);
    scope.run(() => this.serveUnary(id, call, method, request, (error) => scope.end(error)));
  }

  private serveUnary(
    id: number,
    call: HostCall,
    method: Method,
    request: unknown,
    onFinish?: (error?: unknown) => void,
  ): void {
    const listeners: (() => void)[] = [];
    const shim: CallShim = {
      request,
      metadata: new Metadata(),
      cancelled: false,
      on(event, listener) {
        if (event === "cancelled") listeners.push(listener);
        return shim;
      },
    };
    let done = false;
    this.pending.set(id, {
      cancel: () => {
        if (done) return;
        done = true;
        shim.cancelled = true;
        for (const listener of listeners) listener();
      },
    });
    const finish = ({ outcome, raw }: Outcome) => {
      if (done) return; // cancelled: the worker expects no reply
      done = true;
      this.pending.delete(id);
      this.reply(create(HostReplySchema, { callId: id, outcome }), raw);
      onFinish?.(outcome.case === "error" ? new Error(outcome.value.message) : undefined);
    };
    try {
      (method.handler as (call: CallShim, callback: (err: unknown, res?: unknown) => void) => void)(
        shim,
        (err, res) => {
          if (err) return finish({ outcome: { case: "error", value: detailOf(err) } });
          finish(
            encodeResponse(
              method.output,
              res,
              `the ${call.method} response`,
              this.maxMessageBytes,
              call.outOfBandReply,
              false,
            ),
          );
        },
      );
    } catch (err) {
      finish({ outcome: { case: "error", value: errorToDetail(err) } });
    }
  }

  private serveStream(id: number, call: HostCall, method: Method, request: unknown): void {
    const shim = new StreamShim(
      request,
      call.method,
      method.output,
      call.streamWindow,
      this.maxMessageBytes,
      call.outOfBandReply,
      (outcome, raw) => this.reply(create(HostReplySchema, { callId: id, outcome }), raw),
      () => this.pending.delete(id),
    );
    this.pending.set(id, { cancel: () => shim.cancel(), stream: shim });
    try {
      (method.handler as (call: StreamShim) => void)(shim);
    } catch (err) {
      shim.emit("error", err);
    }
  }

  /** The worker gave up on call `callId` (HostCallCancel). */
  cancel(callId: number): void {
    const entry = this.pending.get(callId);
    this.pending.delete(callId);
    entry?.cancel();
  }

  /** The worker took `items` more responses of stream `callId` (HostStreamCredit). */
  credit(callId: number, items: number): void {
    this.pending.get(callId)?.stream?.credit(items);
  }

  /** The connection is gone: cancel everything still being served. */
  close(): void {
    for (const id of this.pending.keys()) this.cancel(id);
  }

  private answer(callId: number, error: ErrorDetail): void {
    this.reply(create(HostReplySchema, { callId, outcome: { case: "error", value: error } }));
  }
}

/** A response as it goes out: its bytes and, out of band, the attachments its Values index. */
interface EncodedResponse {
  bytes: Uint8Array;
  raw?: readonly Uint8Array[];
}

/**
 * Out-of-band encodings of stream responses: a watch sends the same message object to every
 * watcher of a change (store-handlers.ts), so its Values are moved out of band and it is
 * serialized once, not once per worker.
 */
const sharedEncodings = new WeakMap<object, EncodedResponse>();

/**
 * A response message serialized for a HostReply (with `outOfBand`, its Values' attachments
 * beside it as raw attachments), or the error to send instead (`what` names it in the
 * message). The message limit counts the attachments. `shared`: the message may be sent to
 * several callers (a stream's), so its encoding is kept for the next.
 */
function encodeResponse(
  output: DescMessage,
  message: unknown,
  what: string,
  limit: number,
  outOfBand: boolean,
  shared: boolean,
): Outcome {
  let encoded: EncodedResponse | undefined;
  try {
    if (!outOfBand) encoded = { bytes: toBinary(output, message as never) };
    else {
      encoded = shared && typeof message === "object" && message ? sharedEncodings.get(message) : undefined;
      if (!encoded) {
        const external = externalizeMessage(output, message);
        encoded = { bytes: toBinary(output, external.message as never), raw: external.raw };
        if (shared && typeof message === "object" && message) sharedEncodings.set(message, encoded);
      }
    }
  } catch (err) {
    return { outcome: { case: "error", value: errorToDetail(err) } };
  }
  const size = encoded.bytes.length + rawSize(encoded.raw);
  if (size <= limit) return { outcome: { case: "response", value: encoded.bytes }, raw: encoded.raw };
  const tooLarge = new PayloadTooLargeError(
    `${what} is ${size} bytes, over the message limit of ${limit} bytes (option maxMessageBytes)`,
    { size, limit },
  );
  return { outcome: { case: "error", value: errorToDetail(tooLarge) } };
}

/** The ErrorDetail of a handler's error: the one toServiceError put in the metadata, if any. */
function detailOf(err: unknown): ErrorDetail {
  const metadata = (err as { metadata?: Metadata }).metadata;
  const bytes = metadata instanceof Metadata ? metadata.get(ERROR_DETAIL_METADATA_KEY)[0] : undefined;
  if (bytes instanceof Uint8Array) {
    try {
      return fromBinary(ErrorDetailSchema, bytes);
    } catch {
      /* fall through to the error itself */
    }
  }
  return errorToDetail(err);
}
