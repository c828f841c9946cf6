// Out-of-band attachments on a worker connection (worker.proto describes the frame).
//
// Bytes, tensors and long strings cross beside the protobuf message as raw bytes: the
// message carries AttachmentDescriptors only, so nothing large is copied through a
// protobuf repeated field, and on arrival each attachment is a view of the received frame.
import { toBinary } from "@bufbuild/protobuf";
import {
  type Attachment,
  type AttachmentDescriptor,
  AttachmentDescriptor_Kind,
  AttachmentDescriptorSchema,
  type Value,
} from "../gen/dspy_bridge/v1/values_pb.js";

/** Set in a frame's length word: the body holds out-of-band attachments. */
export const OUT_OF_BAND_FLAG = 0x80000000;
/** The body length beside the flag (the flag leaves 31 bits). */
export const FRAME_LENGTH_MASK = 0x7fffffff;
/** Each attachment starts at a multiple of this from the body's start: aligned typed-array views. */
export const ATTACHMENT_ALIGNMENT = 8;

const align = (n: number): number => (n + ATTACHMENT_ALIGNMENT - 1) & ~(ATTACHMENT_ALIGNMENT - 1);

/** A frame body that is not a well-formed out-of-band frame, or a descriptor that lies about it. */
export class OutOfBandError extends Error {
  override readonly name = "OutOfBandError";
}

/** A received out-of-band frame: its WorkerFrame protobuf and the raw attachments, all views of one buffer. */
export class OutOfBandFrame {
  constructor(
    readonly proto: Buffer,
    readonly raw: readonly Uint8Array[],
  ) {}
}

/** Splits an out-of-band body into its protobuf and attachments. Throws OutOfBandError. */
export function parseOutOfBandBody(body: Buffer): OutOfBandFrame {
  const size = body.length;
  if (size < 8) throw new OutOfBandError(`out-of-band frame of ${size} bytes is shorter than its 8-byte header`);
  const protoLen = body.readUInt32LE(0);
  const count = body.readUInt32LE(4);
  let pos = 8 + 4 * count;
  if (count > (size - 8) / 4 || pos + protoLen > size) {
    throw new OutOfBandError(
      `out-of-band frame of ${size} bytes announces ${count} attachments and ${protoLen} protobuf bytes`,
    );
  }
  const proto = body.subarray(pos, pos + protoLen);
  pos += protoLen;
  const raw: Uint8Array[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const len = body.readUInt32LE(8 + 4 * i);
    const start = align(pos);
    if (start + len > size)
      throw new OutOfBandError(`attachment ${i} of ${len} bytes runs past the end of its ${size}-byte frame`);
    raw[i] = new Uint8Array(body.buffer, body.byteOffset + start, len);
    pos = start + len;
  }
  if (pos !== size)
    throw new OutOfBandError(`out-of-band frame of ${size} bytes holds ${size - pos} bytes after its last attachment`);
  return new OutOfBandFrame(proto, raw);
}

/** The raw bytes of an attachment as sent out of band. */
export function attachmentBytes(a: Attachment): Uint8Array {
  switch (a.kind.case) {
    case "bytes":
    case "utf8":
      return a.kind.value;
    case "tensor":
      return a.kind.value.data;
    default:
      throw new OutOfBandError("an attachment without a kind cannot be sent");
  }
}

/** Total raw bytes of `attachments` (what they add to a message). */
export function attachmentsSize(attachments: readonly Attachment[]): number {
  let n = 0;
  for (const a of attachments)
    n +=
      a.kind.case === "tensor"
        ? a.kind.value.data.length + 8 * a.kind.value.shape.length
        : a.kind.case
          ? a.kind.value.length
          : 0;
  return n;
}

/**
 * Where attachment `a` is among the frame's raw attachments (`index`) and what it holds.
 * Throws OutOfBandError for an attachment without a kind (attachmentBytes).
 */
export function descriptorOf(a: Attachment, index: number): AttachmentDescriptor {
  const d: AttachmentDescriptor = {
    $typeName: "dspy_bridge.v1.AttachmentDescriptor",
    index,
    kind: AttachmentDescriptor_Kind.BYTES,
    dtype: 0,
    shape: [],
    length: BigInt(attachmentBytes(a).length),
  };
  if (a.kind.case === "utf8") d.kind = AttachmentDescriptor_Kind.UTF8;
  else if (a.kind.case === "tensor") {
    d.kind = AttachmentDescriptor_Kind.TENSOR;
    d.dtype = a.kind.value.dtype;
    d.shape = a.kind.value.shape;
  }
  return d;
}

/**
 * The serialized AttachmentDescriptor of each attachment, numbered from `first` (its index
 * among the frame's attachments).
 */
export function descriptorBytes(attachments: readonly Attachment[], first: number): Uint8Array[] {
  return attachments.map((a, i) => toBinary(AttachmentDescriptorSchema, descriptorOf(a, first + i)));
}

/**
 * A large out-of-band frame as the pieces to write in order (length word, header and
 * protobuf in the first; then each attachment, the caller's own memory, after its padding).
 * `length` is the frame's whole size, as a Buffer's would be.
 */
export class FramePieces {
  constructor(
    readonly pieces: readonly Uint8Array[],
    readonly length: number,
  ) {}
}

/** Frames at least this large are written as pieces (a writev), their attachments not copied. */
export const PIECES_MIN_BYTES = 256 * 1024;

const ZEROS = new Uint8Array(ATTACHMENT_ALIGNMENT);

function outOfBandSize(proto: Uint8Array, raw: readonly Uint8Array[]): number {
  let size = 8 + 4 * raw.length + proto.length;
  for (const r of raw) size = align(size) + r.length;
  if (size > FRAME_LENGTH_MASK)
    throw new OutOfBandError(`a frame of ${size} bytes is over the largest frame (${FRAME_LENGTH_MASK} bytes)`);
  return size;
}

function writeOutOfBandHead(out: Buffer, size: number, proto: Uint8Array, raw: readonly Uint8Array[]): void {
  out.writeUInt32LE((size | OUT_OF_BAND_FLAG) >>> 0, 0);
  out.writeUInt32LE(proto.length, 4);
  out.writeUInt32LE(raw.length, 8);
  for (let i = 0; i < raw.length; i++) out.writeUInt32LE(raw[i]!.length, 12 + 4 * i);
  out.set(proto, 12 + 4 * raw.length);
}

/**
 * An out-of-band frame of at least PIECES_MIN_BYTES as pieces, smaller ones as one buffer
 * (encodeOutOfBandFrame). The pieces view the attachments' memory: it must not change until
 * the frame is written (a call's arguments: until the call settles).
 */
export function outOfBandFrame(proto: Uint8Array, raw: readonly Uint8Array[]): Buffer | FramePieces {
  const size = outOfBandSize(proto, raw);
  if (size < PIECES_MIN_BYTES) return encodeOutOfBandFrame(proto, raw);
  const header = 8 + 4 * raw.length;
  const head = Buffer.allocUnsafe(4 + header + proto.length);
  writeOutOfBandHead(head, size, proto, raw);
  const pieces: Uint8Array[] = [head];
  let pos = header + proto.length;
  for (const r of raw) {
    const start = align(pos);
    if (start !== pos) pieces.push(ZEROS.subarray(0, start - pos));
    if (r.length) pieces.push(r);
    pos = start + r.length;
  }
  return new FramePieces(pieces, 4 + size);
}

/**
 * Lays out a whole out-of-band frame: length word (with the flag), header, protobuf,
 * attachments. One buffer, one copy of each attachment (the caller's memory is free again
 * when this returns, whatever the socket does later).
 */
export function encodeOutOfBandFrame(proto: Uint8Array, raw: readonly Uint8Array[]): Buffer {
  const header = 8 + 4 * raw.length;
  const size = outOfBandSize(proto, raw);
  // Not zero-filled (it is about to be overwritten); the padding is zeroed below, so no
  // old heap bytes leave in the gaps.
  const out = Buffer.allocUnsafe(4 + size);
  writeOutOfBandHead(out, size, proto, raw);
  let pos = header + proto.length;
  for (const r of raw) {
    const start = align(pos);
    out.fill(0, 4 + pos, 4 + start);
    out.set(r, 4 + start);
    pos = start + r.length;
  }
  return out;
}

/**
 * The attachments `value.external` describes, as Attachment objects viewing `raw` (no
 * copy). Throws OutOfBandError for a descriptor that points outside the frame or whose
 * length or kind disagrees with it.
 */
export function resolveExternal(
  external: readonly AttachmentDescriptor[],
  raw: readonly Uint8Array[] | undefined,
): Attachment[] {
  const have = raw?.length ?? 0;
  return external.map((d, i) => {
    if (d.index >= have)
      throw new OutOfBandError(`attachment descriptor ${i} points at attachment ${d.index}; the frame holds ${have}`);
    const bytes = raw![d.index]!;
    if (d.length !== BigInt(bytes.length)) {
      throw new OutOfBandError(
        `attachment descriptor ${i} says ${d.length} bytes; attachment ${d.index} holds ${bytes.length}`,
      );
    }
    switch (d.kind) {
      case AttachmentDescriptor_Kind.BYTES:
        return { $typeName: "dspy_bridge.v1.Attachment", kind: { case: "bytes", value: bytes } };
      case AttachmentDescriptor_Kind.UTF8:
        return { $typeName: "dspy_bridge.v1.Attachment", kind: { case: "utf8", value: bytes } };
      case AttachmentDescriptor_Kind.TENSOR:
        return {
          $typeName: "dspy_bridge.v1.Attachment",
          kind: {
            case: "tensor",
            value: { $typeName: "dspy_bridge.v1.Tensor", dtype: d.dtype, shape: d.shape, data: bytes },
          },
        };
      default:
        throw new OutOfBandError(`attachment descriptor ${i} has unknown kind ${d.kind}`);
    }
  });
}

/** `value` with its external descriptors resolved against `raw` (attachments as views). */
export function withResolvedAttachments(value: Value, raw: readonly Uint8Array[] | undefined): Value {
  if (value.external.length === 0) return value;
  if (value.attachments.length !== 0)
    throw new OutOfBandError("a value holds both attachments and external attachment descriptors");
  return {
    $typeName: "dspy_bridge.v1.Value",
    json: value.json,
    attachments: resolveExternal(value.external, raw),
    external: [],
  };
}
