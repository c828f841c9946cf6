// Hand-written protobuf encoding and decoding for the two frames on the hot path: the
// ExecuteRequest the host sends and the ExecuteResponse / StreamItem it receives.
//
// Why: protobuf-es encodes and decodes by reflection, about 10 µs per call here, which
// alone caps a Node process near 100k calls/s before any other work. These functions
// write and read exactly the wire format of proto/dspy_bridge/v1/worker.proto (tested
// byte-for-byte against the generated code in test/fast-codec.test.ts) and fall back to
// the generated code for every other frame and for anything unexpected.
import { fromBinary } from "@bufbuild/protobuf";
import { ErrorDetailSchema } from "../gen/dspy_bridge/v1/errors_pb.js";
import {
  AttachmentDescriptorSchema,
  AttachmentSchema,
  type Attachment,
  type AttachmentDescriptor,
  type Value,
} from "../gen/dspy_bridge/v1/values_pb.js";
import {
  WorkerFrameSchema,
  type ExecuteResponse,
  type StreamItem,
  type WorkerFrame,
} from "../gen/dspy_bridge/v1/worker_pb.js";
import {
  attachmentBytes,
  descriptorBytes,
  FramePieces,
  outOfBandFrame,
  resolveExternal,
  withResolvedAttachments,
} from "./out-of-band.js";

const WIRE_VARINT = 0;
const WIRE_LEN = 2;

// WorkerFrame field numbers (worker.proto).
const FRAME_EXECUTE = 2;
const FRAME_RESULT = 3;
const FRAME_STREAM_ITEM = 4;

function varintSize(n: number): number {
  if (n < 0x80) return 1;
  if (n < 0x4000) return 2;
  if (n < 0x200000) return 3;
  if (n < 0x10000000) return 4;
  return 5;
}

function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  buf[pos++] = n;
  return pos;
}

function tag(field: number, wire: number): number {
  return (field << 3) | wire;
}

export interface ExecuteFields {
  callId: number;
  command: string;
  args: Value;
  sessionId: string;
  timeoutMs: number;
  stream: boolean;
  /** Stream calls: items the worker may send before the host grants more; 0 = no limit. */
  streamWindow?: number;
  /** W3C traceparent of the host's span for the call (ASCII, 55 bytes); absent when not tracing. */
  traceparent?: string | undefined;
}

// Strings up to this length are measured and copied in JavaScript when they are ASCII:
// cheaper than a call into Buffer's C++ UTF-8 writer for a command name or a small JSON.
const SHORT_STRING = 128;

/** True when `s` is short and ASCII: one byte per char, copied by writeString in JavaScript. */
function isShortAscii(s: string): boolean {
  const n = s.length;
  if (n > SHORT_STRING) return false;
  for (let i = 0; i < n; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

function writeString(buf: Buffer, p: number, s: string, ascii: boolean): number {
  if (!ascii) return p + buf.write(s, p, "utf8");
  for (let i = 0; i < s.length; i++) buf[p + i] = s.charCodeAt(i);
  return p + s.length;
}

/**
 * The length-prefixed bytes of WorkerFrame{execute: ExecuteRequest{...}}; with attachments,
 * an out-of-band frame (the arguments' bytes after the message, out-of-band.ts).
 */
export function encodeExecuteFrame(f: ExecuteFields): Buffer {
  const frame = executeFrame(f);
  return frame instanceof FramePieces ? Buffer.concat(frame.pieces, frame.length) : frame;
}

/**
 * encodeExecuteFrame, but a large out-of-band frame comes as its pieces (FramePieces), the
 * arguments' attachments uncopied: what a worker connection writes.
 */
export function executeFrame(f: ExecuteFields): Buffer | FramePieces {
  const json = f.args.json;
  const commandAscii = isShortAscii(f.command);
  const jsonAscii = isShortAscii(json);
  const sessionAscii = isShortAscii(f.sessionId);
  const commandLen = commandAscii ? f.command.length : Buffer.byteLength(f.command);
  const jsonLen = jsonAscii ? json.length : Buffer.byteLength(json);
  const sessionLen = sessionAscii ? f.sessionId.length : Buffer.byteLength(f.sessionId);
  // Attachments travel out of band: the Value holds their descriptors (field 3), the frame their bytes.
  const attachments: Uint8Array[] | undefined =
    f.args.attachments.length === 0 ? undefined : descriptorBytes(f.args.attachments, 0);

  let valueLen = jsonLen ? 1 + varintSize(jsonLen) + jsonLen : 0;
  if (attachments) for (const a of attachments) valueLen += 1 + varintSize(a.length) + a.length;
  let reqLen = 1 + varintSize(valueLen) + valueLen; // args is always present
  if (f.callId) reqLen += 1 + varintSize(f.callId);
  if (commandLen) reqLen += 1 + varintSize(commandLen) + commandLen;
  if (sessionLen) reqLen += 1 + varintSize(sessionLen) + sessionLen;
  if (f.timeoutMs) reqLen += 1 + varintSize(f.timeoutMs);
  if (f.stream) reqLen += 2;
  const window = f.streamWindow ?? 0;
  if (window) reqLen += 1 + varintSize(window);
  const traceparent = f.traceparent || undefined; // "" is omitted, as the generated code omits it
  if (traceparent !== undefined) reqLen += 1 + varintSize(traceparent.length) + traceparent.length;
  const frameLen = 1 + varintSize(reqLen) + reqLen;

  const buf = Buffer.allocUnsafe(4 + frameLen);
  buf.writeUInt32LE(frameLen, 0);
  let p = 4;
  buf[p++] = tag(FRAME_EXECUTE, WIRE_LEN);
  p = writeVarint(buf, p, reqLen);
  if (f.callId) {
    buf[p++] = tag(1, WIRE_VARINT);
    p = writeVarint(buf, p, f.callId);
  }
  if (commandLen) {
    buf[p++] = tag(2, WIRE_LEN);
    p = writeVarint(buf, p, commandLen);
    p = writeString(buf, p, f.command, commandAscii);
  }
  buf[p++] = tag(3, WIRE_LEN);
  p = writeVarint(buf, p, valueLen);
  if (jsonLen) {
    buf[p++] = tag(1, WIRE_LEN);
    p = writeVarint(buf, p, jsonLen);
    p = writeString(buf, p, json, jsonAscii);
  }
  if (attachments)
    for (const a of attachments) {
      buf[p++] = tag(3, WIRE_LEN);
      p = writeVarint(buf, p, a.length);
      buf.set(a, p);
      p += a.length;
    }
  if (sessionLen) {
    buf[p++] = tag(4, WIRE_LEN);
    p = writeVarint(buf, p, sessionLen);
    p = writeString(buf, p, f.sessionId, sessionAscii);
  }
  if (f.timeoutMs) {
    buf[p++] = tag(5, WIRE_VARINT);
    p = writeVarint(buf, p, f.timeoutMs);
  }
  if (f.stream) {
    buf[p++] = tag(6, WIRE_VARINT);
    buf[p++] = 1;
  }
  if (window) {
    buf[p++] = tag(7, WIRE_VARINT);
    p = writeVarint(buf, p, window);
  }
  if (traceparent !== undefined) {
    buf[p++] = tag(8, WIRE_LEN);
    p = writeVarint(buf, p, traceparent.length);
    p = writeString(buf, p, traceparent, true);
  }
  if (!attachments) return buf;
  return outOfBandFrame(buf.subarray(4), f.args.attachments.map(attachmentBytes));
}

/** Thrown inside the fast decoder to hand the frame to the generated decoder. */
const FALLBACK = Symbol("fallback");

// The decoder's cursor. Module state instead of a reader object per message: a result frame
// is three nested messages, and this runs for every call (no allocation but the results).
let pos = 0;

function readVarint(buf: Buffer, end: number): number {
  let result = 0;
  let shift = 0;
  for (;;) {
    if (pos >= end || shift > 28) throw FALLBACK;
    const b = buf[pos++]!;
    // Shifts stay within 31 bits; the fifth byte (shift 28) is multiplied (no Math.pow per byte).
    result += shift < 28 ? (b & 0x7f) << shift : (b & 0x7f) * 0x10000000;
    if (b < 0x80) return result;
    shift += 7;
  }
}

/** Reads a length prefix; returns the end of the field's bytes, which start at `pos`. */
function readLength(buf: Buffer, end: number): number {
  const len = readVarint(buf, end);
  const fieldEnd = pos + len;
  if (fieldEnd > end) throw FALLBACK;
  return fieldEnd;
}

/** Shared by every decoded Value without attachments (frozen: readers only read it). */
const NO_ATTACHMENTS = Object.freeze([]) as unknown as Attachment[];
const NO_EXTERNAL = Object.freeze([]) as unknown as AttachmentDescriptor[];

/** The raw attachments of the out-of-band frame being decoded (undefined for a plain frame). */
let frameRaw: readonly Uint8Array[] | undefined;

function readValue(buf: Buffer, end: number): Value {
  let json = "";
  let attachments = NO_ATTACHMENTS;
  let external = NO_EXTERNAL;
  while (pos < end) {
    const t = readVarint(buf, end);
    if (t === tag(1, WIRE_LEN)) {
      const e = readLength(buf, end);
      json = buf.toString("utf8", pos, e);
      pos = e;
    } else if (t === tag(2, WIRE_LEN)) {
      const e = readLength(buf, end);
      if (attachments === NO_ATTACHMENTS) attachments = [];
      attachments.push(fromBinary(AttachmentSchema, buf.subarray(pos, e)));
      pos = e;
    } else if (t === tag(3, WIRE_LEN)) {
      const e = readLength(buf, end);
      if (external === NO_EXTERNAL) external = [];
      external.push(fromBinary(AttachmentDescriptorSchema, buf.subarray(pos, e)));
      pos = e;
    } else {
      throw FALLBACK;
    }
  }
  if (external !== NO_EXTERNAL) {
    // Resolved here, while the frame's attachments are at hand: views of them, no copy.
    if (attachments !== NO_ATTACHMENTS) throw FALLBACK;
    return {
      $typeName: "dspy_bridge.v1.Value",
      json,
      attachments: resolveExternal(external, frameRaw),
      external: NO_EXTERNAL,
    };
  }
  return { $typeName: "dspy_bridge.v1.Value", json, attachments, external };
}

function readResponse(buf: Buffer, end: number): WorkerFrame {
  let callId = 0;
  let outcome: ExecuteResponse["outcome"] = { case: undefined };
  while (pos < end) {
    const t = readVarint(buf, end);
    if (t === tag(1, WIRE_VARINT)) callId = readVarint(buf, end);
    else if (t === tag(2, WIRE_LEN)) {
      const e = readLength(buf, end);
      outcome = { case: "result", value: readValue(buf, e) };
    } else if (t === tag(3, WIRE_LEN)) {
      const e = readLength(buf, end);
      outcome = { case: "error", value: fromBinary(ErrorDetailSchema, buf.subarray(pos, e)) };
      pos = e;
    } else throw FALLBACK;
  }
  return {
    $typeName: "dspy_bridge.v1.WorkerFrame",
    kind: { case: "result", value: { $typeName: "dspy_bridge.v1.ExecuteResponse", callId, outcome } },
  };
}

function readStreamItem(buf: Buffer, end: number): WorkerFrame {
  let callId = 0;
  let kind: StreamItem["kind"] = { case: undefined };
  while (pos < end) {
    const t = readVarint(buf, end);
    if (t === tag(1, WIRE_VARINT)) callId = readVarint(buf, end);
    else if (t === tag(2, WIRE_LEN)) {
      const e = readLength(buf, end);
      kind = { case: "item", value: readValue(buf, e) };
    } else if (t === tag(3, WIRE_VARINT)) kind = { case: "end", value: readVarint(buf, end) !== 0 };
    else if (t === tag(4, WIRE_LEN)) {
      const e = readLength(buf, end);
      kind = { case: "error", value: fromBinary(ErrorDetailSchema, buf.subarray(pos, e)) };
      pos = e;
    } else throw FALLBACK;
  }
  return {
    $typeName: "dspy_bridge.v1.WorkerFrame",
    kind: { case: "streamItem", value: { $typeName: "dspy_bridge.v1.StreamItem", callId, kind } },
  };
}

/**
 * The frame on nearly every call's path, a successful result, without the four wrapper
 * objects of a WorkerFrame: returns true after `onResult(callId, value)` when `body` is
 * exactly WorkerFrame{result: ExecuteResponse{call_id, result}}, false for anything else
 * (decode that with decodeWorkerFrame).
 */
export function readResultFrame(
  body: Buffer,
  onResult: (callId: number, value: Value) => void,
  raw?: readonly Uint8Array[],
): boolean {
  const end = body.length;
  if (end < 2 || body[0] !== tag(FRAME_RESULT, WIRE_LEN)) return false;
  let callId = 0;
  let value: Value | undefined;
  try {
    pos = 1;
    frameRaw = raw;
    if (readLength(body, end) !== end) return false;
    while (pos < end) {
      const t = readVarint(body, end);
      if (t === tag(1, WIRE_VARINT)) callId = readVarint(body, end);
      else if (t === tag(2, WIRE_LEN)) value = readValue(body, readLength(body, end));
      else return false; // an error, or a field this reader does not know
    }
  } catch (err) {
    if (err !== FALLBACK) throw err;
    return false;
  }
  if (value === undefined) return false;
  onResult(callId, value);
  return true;
}

/** Decodes one frame body; results and stream items by hand, everything else by the generated code. */
export function decodeWorkerFrame(body: Uint8Array, raw?: readonly Uint8Array[]): WorkerFrame {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  try {
    const end = buf.length;
    if (end === 0) throw FALLBACK;
    pos = 0;
    frameRaw = raw;
    const t = readVarint(buf, end);
    if (t !== tag(FRAME_RESULT, WIRE_LEN) && t !== tag(FRAME_STREAM_ITEM, WIRE_LEN)) throw FALLBACK;
    const e = readLength(buf, end);
    if (e !== end) throw FALLBACK; // not a lone result/stream item
    return t === tag(FRAME_RESULT, WIRE_LEN) ? readResponse(buf, e) : readStreamItem(buf, e);
  } catch (err) {
    if (err !== FALLBACK) throw err;
    const frame = fromBinary(WorkerFrameSchema, body);
    resolveFrameValues(frame, raw);
    return frame;
  }
}

/** Resolves the external attachments of the Values a frame can carry (the generic decoder's frames). */
function resolveFrameValues(frame: WorkerFrame, raw: readonly Uint8Array[] | undefined): void {
  const k = frame.kind;
  if ((k.case === "result" || k.case === "protocolError") && k.value.outcome.case === "result") {
    k.value.outcome.value = withResolvedAttachments(k.value.outcome.value, raw);
  } else if (k.case === "streamItem" && k.value.kind.case === "item") {
    k.value.kind.value = withResolvedAttachments(k.value.kind.value, raw);
  } else if (k.case === "execute" && k.value.args) {
    k.value.args = withResolvedAttachments(k.value.args, raw);
  }
}
