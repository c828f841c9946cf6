// Bridge-service RPCs that a worker sends on its own connection (WorkerFrame.host_call)
// rather than over gRPC, served by the same handlers as the gRPC server. A worker's calls to
// the host from its event loop (variable reads and writes, sessions, TypeScript tools)
// skip grpcio's client and HTTP/2: about a sixth of a unary gRPC round trip
// (docs/benchmarks.md). Only unary RPCs come this way; Watch and StreamTool stay on gRPC.
import { Metadata } from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type DescMessage } from "@bufbuild/protobuf";
import { BridgeService } from "../gen/dspy_bridge/v1/bridge_pb.js";
import { ErrorDetailSchema, type ErrorDetail } from "../gen/dspy_bridge/v1/errors_pb.js";
import { HostReplySchema, type HostCall, type HostReply } from "../gen/dspy_bridge/v1/worker_pb.js";
import { errorToDetail, FailedPreconditionError, InvalidArgumentError, PayloadTooLargeError } from "../errors/index.js";
import type { Handler } from "./handlers.js";
import { ERROR_DETAIL_METADATA_KEY } from "./service-error.js";

interface Method {
  input: DescMessage;
  output: DescMessage;
  handler: Handler;
}

/** The unary RPCs of the bridge service by name ("GetVariables"), for every worker connection. */
export class HostCallRouter {
  private readonly methods = new Map<string, Method>();

  /** @param maxMessageBytes the largest response sent back (the worker refuses bigger frames). */
  constructor(
    handlers: Record<string, Handler>,
    private readonly maxMessageBytes: number,
  ) {
    for (const m of BridgeService.methods) {
      const handler = handlers[m.localName] as Handler | undefined;
      if (m.methodKind === "unary" && handler) this.methods.set(m.name, { input: m.input, output: m.output, handler });
    }
  }

  /**
   * The host calls of one worker connection; `reply` sends a HostReply frame on it. With
   * `refuseAll` (the pool runs without its bridge service) every call is refused.
   */
  open(reply: (frame: HostReply) => void, refuseAll = false): HostCalls {
    return new HostCalls(this.methods, reply, this.maxMessageBytes, refuseAll);
  }
}

/** What a handler is given in place of a grpc-js call: the request, and its "cancelled" event. */
interface CallShim {
  request: unknown;
  metadata: Metadata;
  cancelled: boolean;
  on(event: string, listener: () => void): CallShim;
}

export class HostCalls {
  /** Calls being served, by the worker's call id: what cancels each. */
  private readonly pending = new Map<number, () => void>();
  /** Calls handled so far (answered, refused or cancelled). */
  served = 0;

  constructor(
    private readonly methods: Map<string, Method>,
    private readonly reply: (frame: HostReply) => void,
    private readonly maxMessageBytes: number,
    private readonly refuseAll = false,
  ) {}

  get inFlight(): number {
    return this.pending.size;
  }

  handle(call: HostCall): void {
    const id = call.callId;
    this.served++;
    if (this.refuseAll) {
      return this.answer(id, errorToDetail(new FailedPreconditionError("the bridge service is disabled (option bridgeService: false): workers cannot call the host")));
    }
    if (this.pending.has(id)) {
      return this.answer(id, errorToDetail(new InvalidArgumentError(`host call ${id} is already in flight`, { parameter: "call_id" })));
    }
    const method = this.methods.get(call.method);
    if (!method) {
      return this.answer(id, errorToDetail(new InvalidArgumentError(`'${call.method}' is not a unary RPC of the bridge service`, { parameter: "method" })));
    }
    let request: unknown;
    try {
      request = fromBinary(method.input, call.request);
    } catch (err) {
      return this.answer(id, errorToDetail(new InvalidArgumentError(`a malformed ${call.method} request: ${(err as Error).message}`, { parameter: "request" })));
    }
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
    this.pending.set(id, () => {
      if (done) return;
      done = true;
      shim.cancelled = true;
      for (const listener of listeners) listener();
    });
    const finish = (outcome: HostReply["outcome"]) => {
      if (done) return; // cancelled: the worker expects no reply
      done = true;
      this.pending.delete(id);
      this.reply(create(HostReplySchema, { callId: id, outcome }));
    };
    try {
      (method.handler as (call: CallShim, callback: (err: unknown, res?: unknown) => void) => void)(shim, (err, res) => {
        if (err) return finish({ case: "error", value: detailOf(err) });
        let bytes: Uint8Array;
        try {
          bytes = toBinary(method.output, res as never);
        } catch (encodeErr) {
          return finish({ case: "error", value: errorToDetail(encodeErr) });
        }
        if (bytes.length > this.maxMessageBytes) {
          const limit = this.maxMessageBytes;
          const tooLarge = new PayloadTooLargeError(`the ${call.method} response is ${bytes.length} bytes, over the message limit of ${limit} bytes (option maxMessageBytes)`, {
            size: bytes.length,
            limit,
          });
          return finish({ case: "error", value: errorToDetail(tooLarge) });
        }
        finish({ case: "response", value: bytes });
      });
    } catch (err) {
      finish({ case: "error", value: errorToDetail(err) });
    }
  }

  /** The worker gave up on call `callId` (HostCallCancel). */
  cancel(callId: number): void {
    const cancel = this.pending.get(callId);
    this.pending.delete(callId);
    cancel?.();
  }

  /** The connection is gone: cancel everything still being served. */
  close(): void {
    for (const id of [...this.pending.keys()]) this.cancel(id);
  }

  private answer(callId: number, error: ErrorDetail): void {
    this.reply(create(HostReplySchema, { callId, outcome: { case: "error", value: error } }));
  }
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
