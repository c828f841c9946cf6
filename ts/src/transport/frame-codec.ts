// Length-prefixed frames on a worker connection: a 4-byte little-endian length, then one
// serialized WorkerFrame (proto/dspy_bridge/v1/worker.proto).
import { toBinary } from "@bufbuild/protobuf";
import { decodeWorkerFrame } from "./fast-codec.js";
import { WorkerFrameSchema, type WorkerFrame } from "../gen/dspy_bridge/v1/worker_pb.js";

export const FRAME_HEADER_BYTES = 4;

/** Serializes a frame with its length prefix. */
export function encodeFrame(frame: WorkerFrame): Buffer {
  const body = toBinary(WorkerFrameSchema, frame);
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
  out.writeUInt32LE(body.length, 0);
  out.set(body, FRAME_HEADER_BYTES);
  return out;
}

export class FrameTooLargeError extends Error {
  constructor(readonly size: number, readonly limit: number) {
    super(`frame of ${size} bytes exceeds the limit of ${limit} bytes`);
  }
}

/**
 * Splits a byte stream into frame bodies. Chunks are kept as a list and joined only when a
 * frame spans several of them, so a large frame arriving in many chunks is copied once.
 * Frames wholly inside the first chunk are returned as views of it, read from an offset:
 * one Buffer object per frame, none for the bookkeeping.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  /** Where the unread bytes of chunks[0] start. */
  private offset = 0;
  private buffered = 0;

  constructor(private readonly maxFrameBytes: number) {}

  /** Feeds bytes; returns the complete frame bodies. Throws FrameTooLargeError. */
  push(chunk: Buffer): Buffer[] {
    if (chunk.length === 0) return [];
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Buffer[] = [];
    while (this.buffered >= FRAME_HEADER_BYTES) {
      const first = this.chunks[0]!;
      const available = first.length - this.offset;
      const size = available >= FRAME_HEADER_BYTES ? first.readUInt32LE(this.offset) : this.peekSplitHeader();
      if (size > this.maxFrameBytes) throw new FrameTooLargeError(size, this.maxFrameBytes);
      const total = FRAME_HEADER_BYTES + size;
      if (this.buffered < total) break;
      const head = available < total ? this.joinFirst() : first;
      const start = this.offset + FRAME_HEADER_BYTES;
      frames.push(head.subarray(start, start + size));
      this.consume(total);
    }
    return frames;
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

export function decodeFrame(body: Uint8Array): WorkerFrame {
  return decodeWorkerFrame(body);
}
