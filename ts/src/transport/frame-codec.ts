// Length-prefixed frames on a worker connection: a 4-byte little-endian length, then one
// serialized WorkerFrame (proto/dspy_bridge/v1/worker.proto).
import { toBinary } from "@bufbuild/protobuf";
import { decodeWorkerFrame } from "./fast-codec.js";
import { WorkerFrameSchema, type WorkerFrame } from "../gen/dspy_bridge/v1/worker_pb.js";
import { FRAME_LENGTH_MASK, OUT_OF_BAND_FLAG, type OutOfBandFrame, parseOutOfBandBody } from "./out-of-band.js";

export const FRAME_HEADER_BYTES = 4;

/** Frames at least this large are gathered into one buffer allocated when their header arrives. */
const GATHER_MIN_BYTES = 64 * 1024;

/** Serializes a frame with its length prefix. */
export function encodeFrame(frame: WorkerFrame): Buffer {
  const body = toBinary(WorkerFrameSchema, frame);
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
  out.writeUInt32LE(body.length, 0);
  out.set(body, FRAME_HEADER_BYTES);
  return out;
}

export class FrameTooLargeError extends Error {
  constructor(
    readonly size: number,
    readonly limit: number,
  ) {
    super(`frame of ${size} bytes exceeds the limit of ${limit} bytes`);
  }
}

/** A frame as read: a WorkerFrame body, or an out-of-band frame (protobuf + raw attachments). */
export type ReadFrame = Buffer | OutOfBandFrame;

/**
 * Splits a byte stream into frame bodies. Chunks are kept as a list and joined only when a
 * frame spans several of them, so a large frame arriving in many chunks is copied once;
 * a large frame is gathered into a buffer of its exact size as its chunks arrive (the
 * chunks are free as soon as they are copied). Frames wholly inside the first chunk are
 * returned as views of it, read from an offset: one Buffer object per frame, none for the
 * bookkeeping. Out-of-band frames come back split into their parts (views, no copy).
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  /** Where the unread bytes of chunks[0] start. */
  private offset = 0;
  private buffered = 0;
  /** A large frame being gathered: its body, how much of it is filled, its flag. */
  private gather: Buffer | undefined;
  private gathered = 0;
  private gatherFlagged = false;

  constructor(private readonly maxFrameBytes: number) {}

  /** Feeds bytes; returns the complete frames. Throws FrameTooLargeError, OutOfBandError. */
  push(chunk: Buffer): ReadFrame[] {
    if (chunk.length === 0) return [];
    const frames: ReadFrame[] = [];
    if (this.gather) {
      const body = this.gather;
      const take = Math.min(chunk.length, body.length - this.gathered);
      chunk.copy(body, this.gathered, 0, take);
      this.gathered += take;
      if (this.gathered < body.length) return frames;
      this.gather = undefined;
      frames.push(this.gatherFlagged ? parseOutOfBandBody(body) : body);
      if (take === chunk.length) return frames;
      chunk = chunk.subarray(take);
    }
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (this.buffered >= FRAME_HEADER_BYTES) {
      const first = this.chunks[0]!;
      const available = first.length - this.offset;
      const word = available >= FRAME_HEADER_BYTES ? first.readUInt32LE(this.offset) : this.peekSplitHeader();
      const flagged = word >= OUT_OF_BAND_FLAG;
      const size = flagged ? word & FRAME_LENGTH_MASK : word;
      if (size > this.maxFrameBytes) throw new FrameTooLargeError(size, this.maxFrameBytes);
      const total = FRAME_HEADER_BYTES + size;
      if (this.buffered < total) {
        if (size >= GATHER_MIN_BYTES) this.startGather(size, flagged);
        break;
      }
      const head = available < total ? this.joinFirst() : first;
      const start = this.offset + FRAME_HEADER_BYTES;
      const body = head.subarray(start, start + size);
      frames.push(flagged ? parseOutOfBandBody(body) : body);
      this.consume(total);
    }
    return frames;
  }

  /**
   * The unfilled rest of the large frame being gathered, for a read straight into it (no
   * chunk, no copy: frame-connection.ts); undefined when no large frame is being gathered.
   */
  gatherTarget(): Buffer | undefined {
    return this.gather?.subarray(this.gathered);
  }

  /**
   * `n` bytes were read into gatherTarget() (never more than it holds): the finished frame,
   * if this completed it. Throws OutOfBandError, as push does.
   */
  gatherFilled(n: number): ReadFrame[] {
    const body = this.gather!;
    this.gathered += n;
    if (this.gathered < body.length) return [];
    this.gather = undefined;
    return [this.gatherFlagged ? parseOutOfBandBody(body) : body];
  }

  /** Moves the buffered start of a large frame into a buffer of its size; later chunks go straight there. */
  private startGather(size: number, flagged: boolean): void {
    // Its own ArrayBuffer (allocUnsafe pools only small sizes): attachments start 8-byte aligned.
    const body = Buffer.allocUnsafe(size);
    let filled = 0;
    let skip = FRAME_HEADER_BYTES;
    for (let i = 0; i < this.chunks.length; i++) {
      let part = i === 0 ? this.chunks[0]!.subarray(this.offset) : this.chunks[i]!;
      if (skip) {
        const cut = Math.min(skip, part.length);
        part = part.subarray(cut);
        skip -= cut;
      }
      part.copy(body, filled);
      filled += part.length;
    }
    this.chunks = [];
    this.offset = 0;
    this.buffered = 0;
    this.gather = body;
    this.gathered = filled;
    this.gatherFlagged = flagged;
  }

  /** The length prefix when it spans chunks (rare: copies its 4 bytes only). */
  private peekSplitHeader(): number {
    const parts = [this.chunks[0]!.subarray(this.offset), ...this.chunks.slice(1)];
    return Buffer.concat(parts, FRAME_HEADER_BYTES).readUInt32LE(0);
  }

  /** Makes chunks[0] hold every buffered byte from the read position on. */
  private joinFirst(): Buffer {
    const first = this.chunks[0]!;
    const rest = this.offset ? first.subarray(this.offset) : first;
    const all = Buffer.concat([rest, ...this.chunks.slice(1)], this.buffered);
    this.chunks = [all];
    this.offset = 0;
    return all;
  }

  private consume(n: number): void {
    this.buffered -= n;
    this.offset += n;
    if (this.offset === this.chunks[0]!.length) {
      this.chunks.shift();
      this.offset = 0;
    }
  }
}

export function decodeFrame(body: Uint8Array, raw?: readonly Uint8Array[]): WorkerFrame {
  return decodeWorkerFrame(body, raw);
}
