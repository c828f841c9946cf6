// One framed, batched connection. Writes issued in the same tick leave in one syscall:
// with many calls in flight this is what makes throughput scale (bench/bridge.mjs).
import { Socket, type SocketConstructorOpts } from "node:net";
import type { WorkerFrame } from "../gen/dspy_bridge/v1/worker_pb.js";
import type { Value } from "../gen/dspy_bridge/v1/values_pb.js";
import { readResultFrame } from "./fast-codec.js";
import { FrameReader, type ReadFrame, decodeFrame, encodeFrame } from "./frame-codec.js";
import { FramePieces, OutOfBandFrame } from "./out-of-band.js";
import type { BusyPoll, ConnectionPoll } from "./busy-poll.js";

/** The largest lone write that starts busy polling. */
const LONE_FRAME_MAX_BYTES = 64 * 1024;
/** Queued frames larger than this together are written one by one (no joined copy). */
const JOIN_MAX_BYTES = 1024 * 1024;
/** Reads land here (direct reads) unless a large frame is being gathered: the size Node reads by itself. */
const SCRATCH_BYTES = 64 * 1024;

/** What Node's Socket keeps of an accepted connection (not in its typings). */
interface SocketInternals {
  _handle: { useUserBuffer?: unknown } | null;
  _server: unknown;
  server: unknown;
}

export interface FrameConnectionHandlers {
  /**
   * A frame; `raw`: the attachments of an out-of-band frame, for the frames whose messages
   * the transport does not resolve itself (a HostCall's request: its handler resolves them).
   */
  onFrame(frame: WorkerFrame, raw?: readonly Uint8Array[]): void;
  /**
   * A successful result, delivered without building its WorkerFrame (the hot path). Without
   * this handler results arrive through onFrame like every other frame.
   */
  onResult?(callId: number, value: Value): void;
  /** A frame that could not be decoded or was too large; the connection is closed after it. */
  onProtocolError(error: Error): void;
  onClose(): void;
}

export class FrameConnection {
  private readonly reader: FrameReader;
  /** What the next flush writes: whole frames, and the pieces of large out-of-band frames. */
  private pending: Uint8Array[] = [];
  private pendingFrames = 0;
  private flushScheduled = false;
  private closed = false;
  private handlers: FrameConnectionHandlers | undefined;
  private onResult: ((callId: number, value: Value) => void) | undefined;

  private poll: ConnectionPoll | undefined;
  /**
   * Direct reads (see adopt): where reads land when no large frame is being gathered, and
   * where the next read lands (kept referenced here: the socket holds only its address).
   */
  private scratch: Buffer | undefined;
  private readTarget: Buffer | undefined;

  constructor(
    readonly socket: Socket,
    maxFrameBytes: number,
    scratch?: Buffer,
  ) {
    this.reader = new FrameReader(maxFrameBytes);
    socket.setNoDelay?.(true);
    if (scratch) this.scratch = this.readTarget = scratch;
    else socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("close", () => this.onSocketClose());
    socket.on("error", () => {
      /* 'close' follows and is what we act on */
    });
  }

  /**
   * A connection over an accepted socket (a server's, made with `pauseOnConnect`) that reads
   * straight into the frame it belongs to: the rest of a large frame goes from the kernel
   * into the frame's own buffer, not in 64 KiB chunks, each a new buffer, copied into it
   * (for a 64 MiB answer: 1,024 allocations, a copy of 64 MiB, and the garbage collections
   * their external memory triggers). Node offers this (the `onread` option) only to sockets
   * it creates, so the accepted socket's handle moves into a new Socket made with it; where
   * the handle is not what this expects, the accepted socket is used as it is.
   */
  static adopt(accepted: Socket, maxFrameBytes: number): FrameConnection {
    const old = accepted as unknown as SocketInternals;
    const handle = old._handle;
    if (typeof handle?.useUserBuffer !== "function") {
      accepted.resume();
      return new FrameConnection(accepted, maxFrameBytes);
    }
    const scratch = Buffer.allocUnsafeSlow(SCRATCH_BYTES);
    let connection: FrameConnection | undefined;
    const options = {
      handle,
      readable: true,
      writable: true,
      onread: {
        // Called once before the connection exists (the first read target), then after each read.
        buffer: () => connection?.nextReadTarget() ?? scratch,
        callback: (n: number) => connection!.onDirectRead(n),
      },
    } as SocketConstructorOpts;
    const socket = new Socket(options);
    // The server counts its connections by their sockets' closing: the new socket closes, the old one never will.
    const moved = socket as unknown as SocketInternals;
    moved._server = old._server;
    moved.server = old.server;
    old._server = null;
    old.server = null;
    old._handle = null;
    connection = new FrameConnection(socket, maxFrameBytes, scratch);
    return connection;
  }

  /** Whether reads land straight in their frames (adopt). */
  get readsDirect(): boolean {
    return this.scratch !== undefined;
  }

  /** Attaches the handlers; frames that arrived before are not buffered, so attach early. */
  attach(handlers: FrameConnectionHandlers): void {
    this.handlers = handlers;
    this.onResult = handlers.onResult?.bind(handlers);
  }

  /** Busy-polls for this connection's answers through `driver` (see busy-poll.ts). */
  pollWith(driver: BusyPoll): void {
    if (driver.limitUs > 0) this.poll = driver.connection();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  send(frame: WorkerFrame): number {
    const bytes = encodeFrame(frame);
    this.sendRaw(bytes);
    return bytes.length;
  }

  /** Queues already-encoded bytes (also used by tests to send malformed frames). */
  sendRaw(bytes: Buffer | FramePieces): void {
    if (this.closed) return;
    if (bytes instanceof FramePieces) for (const piece of bytes.pieces) this.pending.push(piece);
    else this.pending.push(bytes);
    this.pendingFrames++;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  close(): void {
    this.flush();
    this.poll?.forget(); // nothing more to wait for on a connection that is ending
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0 || this.closed) return;
    const frames = this.pendingFrames;
    this.pendingFrames = 0;
    let bytes: number;
    let flushed: boolean;
    if (this.pending.length === 1) {
      const data = this.pending[0]!;
      bytes = data.length;
      flushed = this.socket.write(data);
    } else {
      bytes = 0;
      for (const b of this.pending) bytes += b.length;
      if (bytes <= JOIN_MAX_BYTES) flushed = this.socket.write(Buffer.concat(this.pending, bytes));
      else {
        // Large frames among them: one writev of the frames and pieces as they are, not a joined copy.
        this.socket.cork();
        for (const b of this.pending) this.socket.write(b);
        this.socket.uncork();
        flushed = this.socket.writableLength === 0;
      }
    }
    this.pending = [];
    // A frame still queued in the socket, or a large one, cannot be answered within
    // microseconds: count it as a batch, so it starts no spinning.
    if (this.poll) this.poll.sent(flushed && bytes <= LONE_FRAME_MAX_BYTES ? frames : 0);
  }

  /** The buffer the next read lands in: the rest of a large frame being gathered, or the scratch. */
  private nextReadTarget(): Buffer {
    this.readTarget = this.reader.gatherTarget() ?? this.scratch!;
    return this.readTarget;
  }

  private onDirectRead(n: number): void {
    const target = this.readTarget!;
    // Frames are handed on as views of their chunk, and the scratch is read into again: copy.
    if (target === this.scratch) return this.onData(Buffer.from(target.subarray(0, n)));
    this.poll?.received();
    let frames: ReadFrame[];
    try {
      frames = this.reader.gatherFilled(n);
    } catch (err) {
      this.handlers?.onProtocolError(err as Error);
      this.socket.destroy();
      return;
    }
    this.deliver(frames);
  }

  private onData(chunk: Buffer): void {
    this.poll?.received();
    let frames: ReadFrame[];
    try {
      frames = this.reader.push(chunk);
    } catch (err) {
      this.handlers?.onProtocolError(err as Error);
      this.socket.destroy();
      return;
    }
    this.deliver(frames);
  }

  private deliver(frames: ReadFrame[]): void {
    const onResult = this.onResult;
    for (const read of frames) {
      let body: Buffer;
      let raw: readonly Uint8Array[] | undefined;
      if (read instanceof OutOfBandFrame) {
        body = read.proto;
        raw = read.raw;
      } else body = read;
      let frame: WorkerFrame;
      try {
        if (onResult && readResultFrame(body, onResult, raw)) continue;
        frame = decodeFrame(body, raw);
      } catch (err) {
        // Undecodable, or attachment descriptors that lie about the frame: the stream
        // cannot be trusted further.
        this.handlers?.onProtocolError(new Error(`malformed frame of ${body.length} bytes: ${(err as Error).message}`));
        this.socket.destroy();
        return;
      }
      this.handlers?.onFrame(frame, raw);
    }
  }

  private onSocketClose(): void {
    this.poll?.forget();
    if (this.closed) return;
    this.closed = true;
    this.handlers?.onClose();
  }
}
