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
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxFrameBytes: number) {}

  /** Feeds bytes; returns the complete frame bodies. Throws FrameTooLargeError. */
  push(chunk: Buffer): Uint8Array[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Uint8Array[] = [];
    while (this.buffered >= FRAME_HEADER_BYTES) {
      const size = this.peekLength();
      if (size > this.maxFrameBytes) throw new FrameTooLargeError(size, this.maxFrameBytes);
      if (this.buffered < FRAME_HEADER_BYTES + size) break;
      frames.push(this.take(FRAME_HEADER_BYTES + size).subarray(FRAME_HEADER_BYTES));
    }
    return frames;
  }

  private peekLength(): number {
    const first = this.chunks[0]!;
    if (first.length >= FRAME_HEADER_BYTES) return first.readUInt32LE(0);
    const head = Buffer.concat(this.chunks, FRAME_HEADER_BYTES);
    return head.readUInt32LE(0);
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      const all = Buffer.concat(this.chunks, this.buffered);
      out = all.subarray(0, n);
      this.chunks = all.length > n ? [all.subarray(n)] : [];
    }
    this.buffered -= n;
    return out;
  }
}

export function decodeFrame(body: Uint8Array): WorkerFrame {
  return decodeWorkerFrame(body);
}
