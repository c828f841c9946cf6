// One Python worker as the host sees it: its connection, its calls in flight and its
// lifecycle state. Scheduling and supervision decisions live in worker-pool.ts.
import { create, toBinary } from "@bufbuild/protobuf";
import {
  CancelRequestSchema,
  HealthRequestSchema,
  StreamCreditSchema,
  WorkerFrameSchema,
  type Hello,
  type HostCall,
  type HostReply,
} from "../gen/dspy_bridge/v1/worker_pb.js";
import { executeFrame } from "../transport/fast-codec.js";
import { outOfBandFrame, type FramePieces } from "../transport/out-of-band.js";
import type { FrameConnection } from "../transport/frame-connection.js";
import type { Call } from "./call.js";
import { InFlightCalls } from "./in-flight.js";

/** A call as the pool runs it: its `worker` is a WorkerProcess. */
export type PoolCall = Call<WorkerProcess>;

/**
 * The bridge-service calls one worker sends on its own connection (HostCall frames), as the
 * pool hands them to whoever serves them (the bridge service's HostCallRouter): the pool only
 * routes the frames and closes the set when the worker is gone.
 */
export interface WorkerHostCalls {
  /** Calls served so far (for stats). */
  readonly served: number;
  /** `raw`: the attachments of the call's out-of-band frame, which its request's Values index. */
  handle(call: HostCall, raw?: readonly Uint8Array[]): void;
  cancel(callId: number): void;
  credit(callId: number, items: number): void;
  close(): void;
}

/**
 * starting → ready → (draining →) stopping → dead; `dead` is also where a crash lands.
 * Only `ready` workers receive new calls.
 */
export type WorkerState = "starting" | "ready" | "draining" | "stopping" | "dead";

export class WorkerProcess {
  state: WorkerState = "starting";
  pid: number | undefined;
  connection: FrameConnection | undefined;
  hello: Hello | undefined;
  readonly inFlight = new InFlightCalls<PoolCall>();
  served = 0;
  readyAt = 0;
  rssBytes = 0;
  healthSentAt = 0;
  healthProbe = 0;
  /** Why the host killed it, when it did: turns a crash report into an explanation. */
  killReason: string | undefined;
  /** How the process ended, as reported by the fork server that reaped it. */
  exit: { exitCode: number | undefined; signal: string | undefined } | undefined;
  /** What the worker printed as its fatal error before exiting, if it did ("RuntimeError: ..."). */
  fatalError: string | undefined;
  /** Called once `exit` is known (the crash report waits briefly for it). */
  onExitKnown: (() => void) | undefined;
  /** The bridge-service calls this worker sends on its connection (HostCall frames). */
  hostCalls: WorkerHostCalls | undefined;

  constructor(
    readonly id: string,
    readonly slot: number,
  ) {}

  attach(connection: FrameConnection, hello: Hello): void {
    this.connection = connection;
    this.hello = hello;
    this.pid = hello.pid || this.pid;
    this.state = "ready";
    this.readyAt = performance.now();
  }

  /**
   * Encodes the call's frame (not sent yet), with the id it will have on this connection: a
   * large one as pieces that view the arguments' attachments (written without a copy).
   */
  encodeCall(call: PoolCall): Buffer | FramePieces {
    call.id = this.inFlight.reserveId();
    return executeFrame({
      callId: call.id,
      command: call.command,
      args: call.args,
      sessionId: call.sessionId ?? "",
      timeoutMs: call.remainingMs(),
      stream: call.stream,
      streamWindow: call.streamWindow,
      traceparent: call.span?.traceparent,
    });
  }

  /** Registers the call as in flight here and writes its frame. */
  sendEncoded(call: PoolCall, frame: Buffer | FramePieces): void {
    call.worker = this;
    call.dispatchedAt = performance.now();
    this.inFlight.put(call);
    this.connection!.sendRaw(frame);
  }

  sendCancel(callId: number): void {
    this.connection?.send(
      create(WorkerFrameSchema, { kind: { case: "cancel", value: create(CancelRequestSchema, { callId }) } }),
    );
  }

  /** The answer to one of the worker's HostCalls. */
  /**
   * A HostReply; with `raw`, as an out-of-band frame whose attachments the response's Values
   * index (written as pieces when large: `raw` must not change until it is written, which
   * holds for the store's values and a tool's result handed over).
   */
  sendHostReply(reply: HostReply, raw?: readonly Uint8Array[]): void {
    const c = this.connection;
    if (!c) return;
    const frame = create(WorkerFrameSchema, { kind: { case: "hostReply", value: reply } });
    if (raw && raw.length > 0) c.sendRaw(outOfBandFrame(toBinary(WorkerFrameSchema, frame), raw));
    else c.send(frame);
  }

  /** Flow control: the consumer of stream `callId` took `items` more, so the worker may send as many. */
  sendStreamCredit(callId: number, items: number): void {
    const c = this.connection;
    if (!c || c.isClosed) return;
    c.send(
      create(WorkerFrameSchema, {
        kind: { case: "streamCredit", value: create(StreamCreditSchema, { callId, items }) },
      }),
    );
  }

  sendHealthProbe(): void {
    this.healthProbe = (this.healthProbe + 1) >>> 0;
    this.healthSentAt = performance.now();
    this.connection?.send(
      create(WorkerFrameSchema, {
        kind: { case: "health", value: create(HealthRequestSchema, { probeId: this.healthProbe }) },
      }),
    );
  }

  /** SIGKILL the worker's whole process group (it leads its own), falling back to the pid. */
  kill(reason: string): void {
    this.killReason ??= reason;
    if (this.pid === undefined) return;
    try {
      process.kill(-this.pid, "SIGKILL");
    } catch {
      try {
        process.kill(this.pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    }
  }

  /** " (exit code 1; fatal error: RuntimeError: ...)", " (SIGKILL)", or "" while unknown. */
  describeExit(): string {
    const fatal = this.fatalError ? `fatal error: ${this.fatalError}` : "";
    if (!this.exit) return fatal ? ` (${fatal})` : "";
    const how = this.exit.signal ? this.exit.signal : `exit code ${this.exit.exitCode}`;
    return ` (${how}${fatal ? `; ${fatal}` : ""})`;
  }

  ageMs(): number {
    return this.readyAt ? performance.now() - this.readyAt : 0;
  }
}
