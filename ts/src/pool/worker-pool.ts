// The worker pool: it starts the fork server and the workers, schedules calls on them (session
// affinity, bounded queues, deadlines, cancellation) and supervises them (restarts with backoff,
// crash loops, recycling, health probes). It knows nothing of sessions, DSPy, tools or the
// store: the composition root (../bridge.ts) builds those on top and orders the shutdown.
import { EventEmitter } from "node:events";
import {
  BridgeClosedError,
  BridgeError,
  CancelledError,
  CrashLoopError,
  InvalidArgumentError,
  PayloadTooLargeError,
  ProtocolError,
  QueueFullError,
  TimeoutError,
  WorkerCrashedError,
  WorkerStartError,
  errorFromDetail,
} from "../errors/index.js";
import { constants as osConstants } from "node:os";
import {
  Hello_Role,
  type Hello,
  type HostReply,
  type WorkerExited,
  type WorkerFrame,
} from "../gen/dspy_bridge/v1/worker_pb.js";
import type { BridgeEvents, CallEvent, LogEvent, WorkerEvent } from "../telemetry/index.js";
import type { CallOptions, CommandRunner } from "../command-runner.js";
import { BusyPoll } from "../transport/busy-poll.js";
import type { FrameConnection } from "../transport/frame-connection.js";
import { FRAME_OVERHEAD_BYTES, PROTOCOL_VERSION, VERSION } from "../gen/constants.js";
import { attachmentsSize } from "../transport/out-of-band.js";
import { HostListener } from "../transport/host-listener.js";
import { decodeValue, encodeValue, type Value } from "../values/index.js";
import { Call } from "./call.js";
import { ForkServer } from "./fork-server.js";
import { streamWindowOf, type ResolvedOptions } from "./options.js";
import { pythonFixHint } from "./python-env.js";
import { RestartPolicy } from "./restart-policy.js";
import { StreamSink } from "../stream-sink.js";
import type { HostTelemetry } from "../telemetry/otel.js";
import { WorkerProcess, type PoolCall, type WorkerHostCalls } from "./worker-process.js";

export type BridgeState = "starting" | "running" | "closing" | "closed" | "failed";

/** setTimeout's limit (about 24.8 days); longer timeouts would fire at once. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** How long a connecting process has to say hello. */
const HELLO_TIMEOUT_MS = 10_000;
/** A crashed worker's calls wait this long for the fork server to say how it ended. */
const EXIT_REPORT_WAIT_MS = 100;

function signalName(n: number): string | undefined {
  if (!n) return undefined;
  const found = Object.entries(osConstants.signals).find(([, v]) => v === n);
  return found ? found[0] : `signal ${n}`;
}

interface Slot {
  index: number;
  generation: number;
  worker: WorkerProcess | undefined;
  /** Replaced workers finishing their last calls (recycling). */
  retiring: Set<WorkerProcess>;
  /** Calls bound to this slot by session affinity, waiting for capacity. */
  queue: PoolCall[];
  sessions: Set<string>;
  restart: RestartPolicy;
  restartTimer: NodeJS.Timeout | undefined;
}

export interface WorkerStats {
  id: string;
  slot: number;
  pid: number | undefined;
  state: string;
  inFlight: number;
  served: number;
  rssBytes: number;
  sessions: number;
  /** Bridge-service calls this worker has made on its own connection (HostCall frames). */
  hostCalls: number;
}

export interface BridgeStats {
  state: BridgeState;
  workers: WorkerStats[];
  queued: number;
  sessions: number;
}

/** What the pool needs from the code around it. */
export interface WorkerPoolHooks {
  /** Serves the bridge-service calls a worker sends on its connection; `reply` answers them. */
  openHostCalls(reply: (frame: HostReply, raw?: readonly Uint8Array[]) => void): WorkerHostCalls;
  /** A worker has become ready (a new process: what it registered may differ). */
  onWorkerReady(): void;
  /** The pool has failed for good (a crash loop): everything built on it must shut down. */
  onFailed(error: BridgeError): void;
  /** With the `unref` option: whether the bridge's handles should now keep Node alive (a call is in flight) or not (idle). */
  onHoldProcess?(hold: boolean): void;
}

export class WorkerPool implements CommandRunner {
  private state: BridgeState = "starting";
  private readonly emitter = new EventEmitter();
  private readonly slots: Slot[] = [];
  private readonly globalQueue: PoolCall[] = [];
  private queued = 0;
  private readonly affinity = new Map<string, Slot>();
  private readonly awaitingHello = new Map<
    string,
    { worker: WorkerProcess; resolve: () => void; reject: (e: Error) => void }
  >();
  /** Every worker not yet dead, by id: for exit reports from the fork server. */
  private readonly live = new Map<string, WorkerProcess>();
  private forkServer: ForkServer | undefined;
  private forkServerReady: Promise<ForkServer> | undefined;
  private listener!: HostListener;
  /** Where workers reach the bridge service (undefined when it is disabled). */
  private bridgeServiceAddress: string | undefined;
  /** Keeps the event loop turning briefly while a worker's quick answer is due (busy-poll.ts). */
  private readonly busyPoll: BusyPoll;
  private failure: BridgeError | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  private idleWaiters: (() => void)[] = [];
  /** OpenTelemetry, when an SDK was registered before the bridge started (telemetry/otel.ts). */
  telemetry: HostTelemetry | undefined = undefined;
  /** Calls submitted and not yet settled: with the `unref` option, the pool holds the process only while there are some. */
  private activeCalls = 0;
  private holdsProcess = true;

  /** `token`: the per-host secret every worker presents in its Hello. */
  constructor(
    readonly options: ResolvedOptions,
    private readonly token: string,
    private readonly hooks: WorkerPoolHooks,
  ) {
    this.emitter.setMaxListeners(0);
    this.busyPoll = new BusyPoll(options.busyPollUs);
  }

  /** Opens the worker socket (0600, in a 0700 directory); workers connect to it once started. */
  async listen(): Promise<void> {
    this.listener = await HostListener.listen({
      token: this.token,
      maxFrameBytes: this.options.maxMessageBytes + FRAME_OVERHEAD_BYTES,
      helloTimeoutMs: HELLO_TIMEOUT_MS,
      onHello: (hello, connection) => this.onHello(hello, connection),
      onRejected: (reason) => this.log({ source: "host", stream: "stderr", line: `refused a connection: ${reason}` }),
      onLog: (line) => this.log({ source: "host", stream: "stderr", line }),
    });
  }

  /** The host's private directory (where the worker socket lives). */
  get dir(): string {
    return this.listener.dir;
  }

  /**
   * Starts the fork server and `workers` workers, concurrently; resolves when all are ready.
   * `bridgeServiceAddress` is given to the workers for their gRPC calls to the host.
   */
  async startWorkers(bridgeServiceAddress: string | undefined): Promise<void> {
    const o = this.options;
    this.bridgeServiceAddress = bridgeServiceAddress;
    for (let i = 0; i < o.workers; i++) {
      const r = o.restart;
      this.slots.push({
        index: i,
        generation: 0,
        worker: undefined,
        retiring: new Set(),
        queue: [],
        sessions: new Set(),
        restart: new RestartPolicy(r.initialDelayMs, r.maxDelayMs, r.maxRestarts, r.windowMs),
        restartTimer: undefined,
      });
    }
    await Promise.all(this.slots.map((slot) => this.spawnWorker(slot, o.startTimeoutMs)));
    this.state = "running";
    this.updateHold();
    if (o.healthIntervalMs > 0) {
      this.healthTimer = setInterval(() => this.healthTick(), o.healthIntervalMs);
      this.healthTimer.unref();
    }
  }

  /** Ready workers (for the bridge service's Ping). */
  workersReady(): number {
    return this.slots.filter((s) => s.worker?.state === "ready").length;
  }

  // ---------------------------------------------------------------------------------
  // Public API

  get status(): BridgeState {
    return this.state;
  }

  /** Pid of the Python fork server (the parent of every worker). */
  get forkServerPid(): number | undefined {
    return this.forkServer?.pid;
  }

  /** The host's local socket that workers connect to (0600, in a 0700 directory). */
  get workerSocketPath(): string {
    return this.listener.path;
  }

  /** Runs `command` in a worker and resolves with its result. */
  execute<T = unknown>(command: string, args: Record<string, unknown> = {}, options: CallOptions = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const call = this.newCall(command, args, options, false, reject);
      if (!call) return;
      this.callStarted();
      call.resolve = resolve as (v: unknown) => void;
      call.reject = reject;
      this.submit(call, options.signal);
    });
  }

  /** Runs a streaming command; iterate the result with `for await`. Breaking out cancels it. */
  stream<T = unknown>(
    command: string,
    args: Record<string, unknown> = {},
    options: CallOptions = {},
  ): AsyncIterableIterator<T> {
    let early: unknown;
    const call = this.newCall(command, args, options, true, (e) => (early = e));
    if (!call) {
      const failed = new StreamSink<T>(() => {});
      failed.fail(early);
      return failed;
    }
    this.callStarted();
    const window = call.streamWindow;
    const sink = new StreamSink<unknown>(
      () => this.cancelCall(call, new CancelledError(`stream '${command}' closed by the consumer`), true),
      window > 0 ? Math.max(1, Math.floor(window / 2)) : 0,
      (items) => this.grantStreamCredit(call, items),
    );
    call.sink = sink;
    call.resolve = () => sink.end();
    call.reject = (e) => sink.fail(e);
    this.submit(call, options.signal);
    return sink as StreamSink<T>;
  }

  on<E extends keyof BridgeEvents>(event: E, listener: (...args: BridgeEvents[E]) => void): this {
    this.emitter.on(event, listener as (...a: unknown[]) => void);
    return this;
  }

  off<E extends keyof BridgeEvents>(event: E, listener: (...args: BridgeEvents[E]) => void): this {
    this.emitter.off(event, listener as (...a: unknown[]) => void);
    return this;
  }

  /** Forgets a session's worker binding (its Python objects stay until the worker recycles). */
  releaseSession(sessionId: string): void {
    const slot = this.affinity.get(sessionId);
    if (!slot) return;
    slot.sessions.delete(sessionId);
    this.affinity.delete(sessionId);
  }

  /**
   * A deleted or expired session: its worker drops what it kept for it (SessionContext,
   * programs), then the session's worker binding is forgotten.
   */
  dropSession(sessionId: string): void {
    if (this.affinity.has(sessionId) && this.state === "running") {
      this.execute("session.release", {}, { session: sessionId, timeoutMs: 10_000 })
        .catch(() => {})
        .finally(() => this.releaseSession(sessionId));
    } else {
      this.releaseSession(sessionId);
    }
  }

  /** The worker a session is bound to, if any. */
  workerForSession(sessionId: string): string | undefined {
    return this.affinity.get(sessionId)?.worker?.id;
  }

  stats(): BridgeStats {
    const workers: WorkerStats[] = [];
    for (const slot of this.slots) {
      for (const w of [slot.worker, ...slot.retiring]) {
        if (!w) continue;
        workers.push({
          id: w.id,
          slot: slot.index,
          pid: w.pid,
          state: w.state,
          inFlight: w.inFlight.size,
          served: w.served,
          rssBytes: w.rssBytes,
          sessions: slot.sessions.size,
          hostCalls: w.hostCalls?.served ?? 0,
        });
      }
    }
    return { state: this.state, workers, queued: this.queued, sessions: this.affinity.size };
  }

  // ---------------------------------------------------------------------------------
  // Calls

  private newCall(
    command: string,
    args: Record<string, unknown>,
    options: CallOptions,
    stream: boolean,
    fail: (e: unknown) => void,
  ): PoolCall | undefined {
    if (this.state !== "running") {
      fail(this.failure ?? new BridgeClosedError(`the bridge is ${this.state}; cannot run '${command}'`));
      return undefined;
    }
    if (typeof command !== "string" || command.length === 0) {
      fail(new InvalidArgumentError("command must be a non-empty string", { parameter: "command" }));
      return undefined;
    }
    if (args === null || typeof args !== "object" || Array.isArray(args)) {
      fail(
        new InvalidArgumentError(`arguments of '${command}' must be an object of parameter names to values`, {
          parameter: "args",
        }),
      );
      return undefined;
    }
    const timeoutMs = options.timeoutMs ?? this.options.defaultTimeoutMs;
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0 || timeoutMs > MAX_TIMEOUT_MS) {
      fail(
        new InvalidArgumentError(`timeoutMs must be between 0 and ${MAX_TIMEOUT_MS} ms, got ${String(timeoutMs)}`, {
          parameter: "timeoutMs",
        }),
      );
      return undefined;
    }
    let encoded;
    try {
      // Long strings as attachments: this Value only ever travels on a worker connection.
      encoded = encodeValue(args, "args", { longStringAttachments: true });
    } catch (err) {
      fail(
        err instanceof BridgeError
          ? err
          : new InvalidArgumentError(`arguments of '${command}': ${(err as Error).message}`, { cause: err }),
      );
      return undefined;
    }
    // Worst-case UTF-8 bytes first (no second encoding on the common path), exact if close.
    const text = encoded.json.length + command.length + (options.session?.length ?? 0);
    let size = text * 3;
    if (size > this.options.maxMessageBytes)
      size = Buffer.byteLength(encoded.json) + Buffer.byteLength(command) + Buffer.byteLength(options.session ?? "");
    // The attachments count in full: the limit is on the whole message.
    if (encoded.attachments.length) size += 32 * encoded.attachments.length + attachmentsSize(encoded.attachments);
    if (size > this.options.maxMessageBytes) {
      fail(
        new PayloadTooLargeError(
          `arguments of '${command}' are ${size} bytes, over the ${this.options.maxMessageBytes}-byte message limit (option maxMessageBytes)`,
          { size, limit: this.options.maxMessageBytes },
        ),
      );
      return undefined;
    }
    let streamWindow = 0;
    if (stream) {
      try {
        streamWindow = streamWindowOf(options.streamWindow, this.options.streamWindow);
      } catch (err) {
        fail(err);
        return undefined;
      }
    }
    const call = new Call<WorkerProcess>(command, encoded, options.session, Math.ceil(timeoutMs), stream);
    call.streamWindow = streamWindow;
    if (this.telemetry !== undefined) call.span = this.telemetry.startCall(command, options.session, stream);
    return call;
  }

  private submit(call: PoolCall, signal: AbortSignal | undefined): void {
    if (signal) {
      if (signal.aborted) {
        this.settle(
          call,
          new CancelledError(`'${call.command}' was aborted before it started`, { cause: signal.reason }),
        );
        return;
      }
      const onAbort = () =>
        this.cancelCall(call, new CancelledError(`'${call.command}' was aborted`, { cause: signal.reason }), false);
      signal.addEventListener("abort", onAbort, { once: true });
      call.removeAbortListener = () => signal.removeEventListener("abort", onAbort);
    }
    if (call.timeoutMs > 0) {
      call.timer = setTimeout(
        () =>
          this.cancelCall(
            call,
            new TimeoutError(`'${call.command}' timed out after ${call.timeoutMs} ms`, { timeoutMs: call.timeoutMs }),
            false,
          ),
        call.timeoutMs,
      );
    }
    this.dispatch(call);
  }

  private dispatch(call: PoolCall): void {
    if (call.sessionId !== undefined) {
      const slot = this.slotForSession(call.sessionId);
      const w = slot.worker;
      if (w && w.state === "ready" && slot.queue.length === 0 && w.inFlight.size < this.options.concurrencyPerWorker) {
        this.send(w, call);
      } else {
        this.enqueue(slot.queue, call);
      }
      return;
    }
    const w = this.pickWorker();
    if (w && this.globalQueue.length === 0) this.send(w, call);
    else this.enqueue(this.globalQueue, call);
  }

  private slotForSession(sessionId: string): Slot {
    let slot = this.affinity.get(sessionId);
    if (!slot) {
      slot = this.slots.reduce((best, s) => (s.sessions.size < best.sessions.size ? s : best));
      slot.sessions.add(sessionId);
      this.affinity.set(sessionId, slot);
    }
    return slot;
  }

  private pickWorker(): WorkerProcess | undefined {
    let best: WorkerProcess | undefined;
    for (const slot of this.slots) {
      const w = slot.worker;
      if (w?.state !== "ready" || w.inFlight.size >= this.options.concurrencyPerWorker) continue;
      if (!best || w.inFlight.size < best.inFlight.size) best = w;
    }
    return best;
  }

  private enqueue(queue: PoolCall[], call: PoolCall): void {
    if (this.queued >= this.options.maxQueue) {
      this.settle(
        call,
        new QueueFullError(`the call queue is full (${this.options.maxQueue} waiting); '${call.command}' was refused`, {
          limit: this.options.maxQueue,
        }),
      );
      return;
    }
    queue.push(call);
    call.queue = queue;
    this.queued++;
  }

  private send(worker: WorkerProcess, call: PoolCall): void {
    call.queue = undefined;
    if (call.settled) return; // timed out or aborted while queued
    // The frame is checked before it is registered or written: an oversized frame would
    // make the worker drop its connection, failing every other call on it.
    const frame = worker.encodeCall(call);
    if (frame.length > this.options.maxMessageBytes + FRAME_OVERHEAD_BYTES) {
      this.settle(
        call,
        new PayloadTooLargeError(
          `'${call.command}' makes a frame of ${frame.length} bytes, over the message limit (option maxMessageBytes)`,
          {
            size: frame.length,
            limit: this.options.maxMessageBytes,
          },
        ),
      );
      return;
    }
    worker.sendEncoded(call, frame);
  }

  /** Fills free capacity of `worker` from its slot's queue, then from the shared queue. */
  private pump(slot: Slot): void {
    const w = slot.worker;
    if (w?.state !== "ready") return;
    const cap = this.options.concurrencyPerWorker;
    while (w.inFlight.size < cap && slot.queue.length > 0) {
      this.queued--;
      this.send(w, slot.queue.shift()!);
    }
    while (w.inFlight.size < cap && this.globalQueue.length > 0) {
      this.queued--;
      this.send(w, this.globalQueue.shift()!);
    }
  }

  /** Flow control: the consumer took `items` more of a stream; let its worker send as many. */
  private grantStreamCredit(call: PoolCall, items: number): void {
    const w = call.worker;
    if (call.settled || !w || w.inFlight.get(call.id) !== call) return;
    w.sendStreamCredit(call.id, items);
  }

  /** Timeout, abort or consumer break: fail the caller now, ask Python to stop the task. */
  private cancelCall(call: PoolCall, error: BridgeError, quiet: boolean): void {
    if (call.settled) return;
    const w = call.worker;
    if (!w) {
      const queue = call.queue;
      const idx = queue ? queue.indexOf(call) : -1;
      if (queue && idx >= 0) {
        queue.splice(idx, 1);
        this.queued--;
      }
      call.queue = undefined;
      this.settle(call, error, quiet);
      return;
    }
    call.abandoned = true;
    w.sendCancel(call.id);
    if (this.options.cancelGraceMs >= 0) {
      call.hardDeadline = setTimeout(() => {
        if (w.inFlight.get(call.id) === call) {
          this.killWorker(
            w,
            `call '${call.command}' ignored cancellation for ${this.options.cancelGraceMs} ms past its deadline`,
          );
        }
      }, this.options.cancelGraceMs);
    }
    this.settle(call, error, quiet);
  }

  private settle(call: PoolCall, error: unknown, quiet = false, value?: unknown): void {
    if (call.settled) return;
    call.settled = true;
    this.activeCalls--;
    if (this.activeCalls === 0) this.updateHold();
    if (call.timer) clearTimeout(call.timer);
    call.removeAbortListener?.();
    if (error !== undefined) {
      if (!quiet) call.reject(error);
      else call.sink?.end();
    } else {
      call.resolve(value);
    }
    if (call.span !== undefined) {
      const now = performance.now();
      const reason = error === undefined ? undefined : error instanceof BridgeError ? error.reason : "internal";
      this.telemetry!.endCall(call.span, call.worker?.id, (call.dispatchedAt || now) - call.enqueuedAt, error, reason);
    }
    if (this.emitter.listenerCount("call") > 0) {
      const now = performance.now();
      const event: CallEvent = {
        command: call.command,
        sessionId: call.sessionId,
        workerId: call.worker?.id,
        queueMs: (call.dispatchedAt || now) - call.enqueuedAt,
        latencyMs: now - call.enqueuedAt,
        ok: error === undefined,
        reason: error === undefined ? undefined : error instanceof BridgeError ? error.reason : "internal",
        stream: call.stream,
        ...(error === undefined ? {} : { error }),
      };
      this.emitter.emit("call", event);
    }
  }

  // ---------------------------------------------------------------------------------
  // Frames from workers

  private onHello(hello: Hello, connection: FrameConnection): void {
    const mismatch =
      hello.protocolVersion === PROTOCOL_VERSION
        ? undefined
        : `it speaks worker protocol ${hello.protocolVersion} and this host ${PROTOCOL_VERSION}: the Python package dspy_bridge ` +
          `(${hello.role === Hello_Role.FORK_SERVER ? "fork server" : `worker ${hello.workerId}`}, Python ${hello.pythonVersion || "?"}) ` +
          `and the TypeScript package dspy-bridge ${VERSION} are different releases; install matching versions: ${pythonFixHint(this.options.python, this.options.pythonSource)}`;
    if (hello.role === Hello_Role.FORK_SERVER) {
      const fs = this.forkServer;
      if (!fs || fs.exited || hello.pid !== fs.pid) connection.destroy();
      else if (mismatch) {
        connection.destroy();
        fs.refuse(`the fork server was refused: ${mismatch}`);
      } else fs.attach(connection);
      return;
    }
    const waiting = this.awaitingHello.get(hello.workerId);
    if (!waiting) {
      connection.destroy();
      return;
    }
    this.awaitingHello.delete(hello.workerId);
    if (mismatch) {
      connection.destroy();
      waiting.worker.kill("protocol version mismatch");
      waiting.reject(new WorkerStartError(`worker ${hello.workerId} was refused: ${mismatch}`));
      return;
    }
    const worker = waiting.worker;
    worker.attach(connection, hello);
    worker.hostCalls = this.hooks.openHostCalls((reply, raw) => worker.sendHostReply(reply, raw));
    connection.pollWith(this.busyPoll);
    connection.attach({
      onFrame: (frame, raw) => this.onFrame(worker, frame, raw),
      onResult: (callId, value) => this.onResult(worker, callId, value),
      onProtocolError: (err) => {
        worker.killReason ??= `it sent an unreadable frame (${err.message})`;
        this.log({ source: worker.id, stream: "stderr", line: `protocol error from worker: ${err.message}` });
      },
      onClose: () => this.onWorkerClosed(worker),
    });
    waiting.resolve();
  }

  private onFrame(worker: WorkerProcess, frame: WorkerFrame, raw?: readonly Uint8Array[]): void {
    const k = frame.kind;
    switch (k.case) {
      case "result": {
        if (k.value.outcome.case === "result") {
          this.onResult(worker, k.value.callId, k.value.outcome.value);
          return;
        }
        const call = worker.inFlight.get(k.value.callId);
        if (!call) return;
        this.finishOnWorker(worker, call);
        if (k.value.outcome.case === "error") {
          this.settle(call, errorFromDetail(k.value.outcome.value));
        } else {
          this.settle(
            call,
            new ProtocolError(`worker ${worker.id} answered '${call.command}' with neither a result nor an error`),
          );
        }
        break;
      }
      case "streamItem": {
        const call = worker.inFlight.get(k.value.callId);
        if (!call) return;
        const item = k.value.kind;
        if (item.case === "item") {
          if (call.settled) return;
          try {
            call.sink?.push(decodeValue(item.value));
          } catch (err) {
            this.cancelCall(call, BridgeError.from(err), false);
          }
          return;
        }
        this.finishOnWorker(worker, call);
        if (item.case === "error") this.settle(call, errorFromDetail(item.value));
        else this.settle(call, undefined);
        break;
      }
      case "hostCall":
        worker.hostCalls?.handle(k.value, raw);
        return;
      case "hostCallCancel":
        worker.hostCalls?.cancel(k.value.callId);
        return;
      case "hostStreamCredit":
        worker.hostCalls?.credit(k.value.callId, k.value.items);
        return;
      case "healthReply":
        worker.healthSentAt = 0;
        worker.rssBytes = Number(k.value.rssBytes);
        this.checkRecycle(worker);
        return;
      case "protocolError": {
        const detail = k.value.outcome.case === "error" ? k.value.outcome.value : undefined;
        this.log({
          source: worker.id,
          stream: "stderr",
          line: `worker reported a protocol error: ${detail?.message ?? "?"}`,
        });
        const call = worker.inFlight.get(k.value.callId);
        if (call && detail) {
          this.finishOnWorker(worker, call);
          this.settle(call, errorFromDetail(detail));
        }
        return;
      }
      default:
        return;
    }
    this.afterAnswer(worker);
  }

  /** A successful result (from onFrame, or straight from the connection's fast path). */
  private onResult(worker: WorkerProcess, callId: number, encoded: Value): void {
    const call = worker.inFlight.get(callId);
    if (!call) return;
    this.finishOnWorker(worker, call);
    let value: unknown;
    try {
      value = decodeValue(encoded);
    } catch (err) {
      this.settle(call, BridgeError.from(err));
      this.afterAnswer(worker);
      return;
    }
    this.settle(call, undefined, false, value);
    this.afterAnswer(worker);
  }

  /** A call on `worker` has ended: refill its capacity, retire it when drained, wake close(). */
  private afterAnswer(worker: WorkerProcess): void {
    const slot = this.slots[worker.slot]!;
    if (slot.worker === worker) {
      this.checkRecycle(worker);
      this.pump(slot);
    } else if (worker.state === "draining" && worker.inFlight.size === 0) {
      this.stopWorker(worker);
    }
    if (this.idleWaiters.length && this.inFlightCount() === 0) {
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /** The worker has answered this call for good (result, stream end or error). */
  private finishOnWorker(worker: WorkerProcess, call: PoolCall): void {
    worker.inFlight.delete(call);
    worker.served++;
    if (call.hardDeadline) clearTimeout(call.hardDeadline);
  }

  private inFlightCount(): number {
    let n = 0;
    for (const slot of this.slots) {
      if (slot.worker) n += slot.worker.inFlight.size;
      for (const r of slot.retiring) n += r.inFlight.size;
    }
    return n;
  }

  // ---------------------------------------------------------------------------------
  // Supervision

  private ensureForkServer(timeoutMs: number): Promise<ForkServer> {
    if (this.forkServer && !this.forkServer.exited && this.forkServerReady) return this.forkServerReady;
    const server = new ForkServer(
      { ...this.options, onLog: (e) => this.log(e) },
      this.listener.path,
      this.token,
      this.bridgeServiceAddress,
      {
        onExit: (s) => this.onForkServerExit(s),
        onWorkerExited: (e) => this.onWorkerExited(e),
        onWorkerFatal: (workerId, message) => {
          const worker = this.live.get(workerId);
          if (worker) worker.fatalError = message;
        },
      },
    );
    this.forkServer = server;
    server.setRef(this.holdsProcess);
    this.forkServerReady = server.waitReady(timeoutMs).then(
      () => server,
      (err: unknown) => {
        // Not ready in time: stop it so the next attempt starts afresh instead of
        // reusing this failed start forever.
        if (this.forkServer === server) {
          this.forkServer = undefined;
          this.forkServerReady = undefined;
        }
        server.kill();
        throw err;
      },
    );
    this.forkServerReady.catch(() => {});
    return this.forkServerReady;
  }

  private onWorkerExited(e: WorkerExited): void {
    const worker = this.live.get(e.workerId);
    if (!worker) return;
    this.live.delete(e.workerId);
    worker.exit = { exitCode: e.signal ? undefined : e.exitCode, signal: signalName(e.signal) };
    const waiting = this.awaitingHello.get(e.workerId);
    if (waiting) {
      waiting.reject(
        this.forkServer!.startError(`worker ${e.workerId} exited${worker.describeExit()} before it was ready`),
      );
    }
    worker.onExitKnown?.();
  }

  private onForkServerExit(server: ForkServer): void {
    if (this.forkServer === server) this.forkServerReady = undefined;
    for (const [id, w] of this.live) if (w.state === "dead") this.live.delete(id);
    // Its workers die with it (parent-death signal); their closed connections report that.
  }

  private async spawnWorker(slot: Slot, timeoutMs: number): Promise<void> {
    slot.generation++;
    const worker = new WorkerProcess(`w${slot.index}.${slot.generation}`, slot.index);
    slot.worker = worker;
    this.live.set(worker.id, worker);
    this.emitWorker({ type: "starting", workerId: worker.id, pid: undefined, detail: "" });
    let timer: NodeJS.Timeout | undefined;
    try {
      const server = await this.ensureForkServer(timeoutMs);
      // Rejected by a timeout or by close() possibly before it is awaited below: mark it
      // handled now so that never becomes an unhandled rejection.
      const helloArrived = new Promise<void>((resolve, reject) => {
        this.awaitingHello.set(worker.id, { worker, resolve, reject });
        timer = setTimeout(
          () => reject(server.startError(`worker ${worker.id} did not connect within ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
      helloArrived.catch(() => {});
      worker.pid = await server.fork(worker.id);
      await helloArrived;
    } catch (err) {
      this.awaitingHello.delete(worker.id);
      worker.state = "dead";
      worker.kill("start failed");
      if (slot.worker === worker) slot.worker = undefined;
      if (this.state === "starting")
        throw err instanceof BridgeError ? err : new WorkerStartError(String(err), { cause: err });
      this.scheduleRestart(slot, `start failed: ${(err as Error).message}`);
      return;
    } finally {
      clearTimeout(timer);
    }
    if (this.state === "closing" || this.state === "closed" || this.state === "failed") {
      this.stopWorker(worker);
      return;
    }
    this.hooks.onWorkerReady();
    this.emitWorker({
      type: "ready",
      workerId: worker.id,
      pid: worker.pid,
      detail: `python ${worker.hello?.pythonVersion}`,
    });
    this.pump(slot);
  }

  private onWorkerClosed(worker: WorkerProcess): void {
    worker.hostCalls?.close();
    const slot = this.slots[worker.slot]!;
    const expected = worker.state === "stopping" || worker.state === "dead";
    worker.state = "dead";
    slot.retiring.delete(worker);
    // The slot stops routing to it at once; callers and the crash event wait a moment for
    // the fork server's exit report, so they can say which signal or exit code ended it.
    const crashed = !expected && slot.worker === worker;
    if (crashed) slot.worker = undefined;
    const report = () => {
      this.failInFlight(worker);
      if (!crashed) return;
      const how = this.describeDeath(worker);
      this.emitWorker({
        type: "crashed",
        workerId: worker.id,
        pid: worker.pid,
        detail: how,
        lostSessions: [...slot.sessions],
      });
      if (this.state === "running") this.scheduleRestart(slot, how);
    };
    if ((crashed || worker.inFlight.size > 0) && !worker.exit && this.forkServer && !this.forkServer.exited) {
      let done = false;
      const once = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        report();
      };
      const timer = setTimeout(once, EXIT_REPORT_WAIT_MS);
      worker.onExitKnown = once;
    } else {
      report();
    }
  }

  private describeDeath(worker: WorkerProcess): string {
    return worker.killReason ? `was killed: ${worker.killReason}` : `exited unexpectedly${worker.describeExit()}`;
  }

  private failInFlight(worker: WorkerProcess): void {
    const how = this.describeDeath(worker);
    for (const call of worker.inFlight.values()) {
      if (call.hardDeadline) clearTimeout(call.hardDeadline);
      this.settle(
        call,
        new WorkerCrashedError(`worker ${worker.id} (pid ${worker.pid}) ${how} while running '${call.command}'`, {
          workerId: worker.id,
          ...(worker.exit?.exitCode !== undefined ? { exitCode: worker.exit.exitCode } : {}),
          ...(worker.exit?.signal ? { signal: worker.exit.signal } : {}),
        }),
      );
    }
    worker.inFlight.clear();
    this.live.delete(worker.id);
    if (this.idleWaiters.length && this.inFlightCount() === 0) {
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  private scheduleRestart(slot: Slot, why: string): void {
    if (this.state !== "running") return;
    const decision = slot.restart.recordCrash();
    if (decision.crashLoop) {
      const r = this.options.restart;
      const err = new CrashLoopError(
        `worker slot ${slot.index} crashed ${decision.recentCrashes} times within ${r.windowMs} ms (limit restart.maxRestarts = ${r.maxRestarts}); last: ${why}. The bridge has stopped.`,
        { details: { slot: slot.index, crashes: decision.recentCrashes } },
      );
      this.emitWorker({ type: "crash_loop", workerId: `w${slot.index}`, pid: undefined, detail: err.message });
      this.fail(err);
      return;
    }
    this.emitWorker({
      type: "restarting",
      workerId: `w${slot.index}`,
      pid: undefined,
      detail: `in ${decision.delayMs} ms after: ${why}`,
    });
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      void this.spawnWorker(slot, this.options.startTimeoutMs);
    }, decision.delayMs);
  }

  private killWorker(worker: WorkerProcess, reason: string): void {
    if (worker.state === "dead") return;
    this.emitWorker({ type: "killed", workerId: worker.id, pid: worker.pid, detail: reason });
    worker.kill(reason);
  }

  private checkRecycle(worker: WorkerProcess): void {
    if (worker.state !== "ready") return;
    const r = this.options.recycle;
    let why: string | undefined;
    if (r.maxRequests && worker.served >= r.maxRequests) why = `served ${worker.served} calls (recycle.maxRequests)`;
    else if (r.maxAgeMs && worker.ageMs() >= r.maxAgeMs) why = `older than ${r.maxAgeMs} ms (recycle.maxAgeMs)`;
    else if (r.maxMemoryBytes && worker.rssBytes >= r.maxMemoryBytes)
      why = `resident memory ${worker.rssBytes} bytes (recycle.maxMemoryMb)`;
    if (why) this.recycle(worker, why);
  }

  /** Replaces a worker without failing any call: the new one starts, the old one finishes its calls. */
  private recycle(worker: WorkerProcess, why: string): void {
    const slot = this.slots[worker.slot]!;
    if (slot.worker !== worker || this.state !== "running") return;
    worker.state = "draining";
    slot.worker = undefined;
    slot.retiring.add(worker);
    this.emitWorker({
      type: "recycling",
      workerId: worker.id,
      pid: worker.pid,
      detail: why,
      lostSessions: [...slot.sessions],
    });
    if (worker.inFlight.size === 0) this.stopWorker(worker);
    void this.spawnWorker(slot, this.options.startTimeoutMs);
  }

  private stopWorker(worker: WorkerProcess): void {
    if (worker.state === "dead" || worker.state === "stopping") return;
    worker.state = "stopping";
    worker.connection?.close(); // the worker exits when its connection ends
    const pid = worker.pid;
    setTimeout(() => {
      if (pid !== undefined) {
        try {
          process.kill(-pid, "SIGKILL");
        } catch {
          /* exited by itself, as expected */
        }
      }
    }, 2_000).unref();
    this.emitWorker({ type: "stopped", workerId: worker.id, pid: worker.pid, detail: "" });
  }

  private healthTick(): void {
    const now = performance.now();
    for (const slot of this.slots) {
      for (const w of [slot.worker, ...slot.retiring]) {
        if (!w || (w.state !== "ready" && w.state !== "draining")) continue;
        if (w.healthSentAt && now - w.healthSentAt > this.options.healthTimeoutMs) {
          this.killWorker(w, `no answer to a health probe within ${this.options.healthTimeoutMs} ms`);
        } else if (!w.healthSentAt) {
          w.sendHealthProbe();
        }
        this.checkRecycle(w);
      }
    }
  }

  private fail(error: BridgeError): void {
    if (this.state !== "running") return;
    this.failure = error;
    this.state = "failed";
    this.rejectQueued(error);
    this.hooks.onFailed(error);
  }

  private rejectQueued(error: BridgeError): void {
    for (const queue of [this.globalQueue, ...this.slots.map((s) => s.queue)]) {
      for (const call of queue.splice(0)) {
        this.queued--;
        this.settle(call, error);
      }
    }
  }

  /**
   * The first step of closing: no new calls, queued ones fail with `failure` (else "the bridge
   * was closed"), which is returned for the calls still running. Calls in flight go on.
   */
  refuseCalls(failure?: BridgeError): BridgeError {
    if (this.state !== "failed") this.state = "closing";
    const closedError = failure ?? new BridgeClosedError("the bridge was closed");
    this.rejectQueued(closedError);
    this.busyPoll.stop();
    return closedError;
  }

  /**
   * Lets calls in flight finish for `graceMs`, then fails the rest with `closedError` and kills
   * every worker and the fork server.
   */
  async stopWorkers(graceMs: number, closedError: BridgeError): Promise<void> {
    if (this.healthTimer) clearInterval(this.healthTimer);
    for (const slot of this.slots) if (slot.restartTimer) clearTimeout(slot.restartTimer);
    if (graceMs > 0 && this.inFlightCount() > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.idleWaiters.push(() => (clearTimeout(timer), resolve()));
      });
    }
    for (const slot of this.slots) {
      for (const w of [slot.worker, ...slot.retiring]) {
        if (!w) continue;
        for (const call of w.inFlight.values()) {
          if (call.hardDeadline) clearTimeout(call.hardDeadline);
          this.settle(call, closedError);
        }
        w.inFlight.clear();
        w.state = "stopping";
        w.kill("bridge closed");
      }
    }
    for (const waiting of this.awaitingHello.values()) waiting.reject(closedError);
    await this.forkServer?.stop();
  }

  /** The last step: closes the worker socket and its directory; the pool is closed (or failed). */
  async closeSocket(): Promise<void> {
    await this.listener?.close();
    if (this.state !== "failed") this.state = "closed";
  }

  private callStarted(): void {
    if (this.activeCalls++ === 0) this.updateHold();
  }

  /**
   * Whether the pool's handles (the worker socket and its connections, the fork server's
   * process and pipes) keep Node alive: always, or with the `unref` option only while a call
   * is in flight, so that a script that forgets close() still exits when its work is done.
   */
  private updateHold(): void {
    const hold = !this.options.unref || this.activeCalls > 0 || this.state === "starting";
    if (hold === this.holdsProcess) return;
    this.holdsProcess = hold;
    this.listener?.setRef(hold);
    this.forkServer?.setRef(hold);
    this.hooks.onHoldProcess?.(hold);
  }

  /** Every line for the log: to the `onLog` option and to `log` event listeners. */
  log(event: LogEvent): void {
    this.options.onLog(event);
    this.emitter.emit("log", event);
  }

  private emitWorker(event: WorkerEvent): void {
    this.emitter.emit("worker", event);
  }
}
