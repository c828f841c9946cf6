// `Value` envelope -> JavaScript value.
//
// Fast path: one native JSON.parse; the tree is only walked when the text could contain a tag,
// i.e. when it contains `"$type"` literally or any `\u` escape (an escaped key such as
// `"\u0024type"` is the only other way to spell that key).
import { isAscii, isUtf8 } from "node:buffer";
import { DType } from "../gen/dspy_bridge/v1/values_pb.js";
import type { Attachment, Tensor as TensorMessage, Value } from "../gen/dspy_bridge/v1/values_pb.js";
import { HOST_IS_LITTLE_ENDIAN, byteSwapped, dtypeInfoFromProto } from "./dtype.js";
import type { TensorArray } from "./dtype.js";
import { ValueDecodingError, WalkFailure, formatPath } from "./errors.js";
import { setOwn } from "./encode.js";
import { JSON_SHAPE_LIMITS, jsonNestsDeeperThan } from "./json-depth.js";
import { Tensor } from "./tensor.js";

const BIGINT_RE = /^-?(?:0|[1-9][0-9]*)$/;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const FLOATS: Readonly<Record<string, number>> = {
  NaN: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  "-Infinity": Number.NEGATIVE_INFINITY,
};

type JsonObject = Record<string, unknown>;

function expectKeys(node: JsonObject, key: string): void {
  const keys = Object.keys(node);
  if (keys.length !== 2 || !Object.hasOwn(node, key)) {
    throw new WalkFailure(
      `${JSON.stringify(node["$type"])} tag must have exactly the key "${key}", got [${keys.filter((k) => k !== "$type").join(", ")}]`,
    );
  }
}

function tensorData(t: TensorMessage, what: string): { array: TensorArray; shape: number[]; name: string } {
  const info = dtypeInfoFromProto(t.dtype);
  if (!info) throw new WalkFailure(`unsupported ${what} dtype ${t.dtype}`);
  let count = 1n;
  const shape: number[] = [];
  for (const dim of t.shape) {
    if (dim > MAX_SAFE) throw new WalkFailure(`${what} dimension ${dim} is too large`);
    count *= dim;
    shape.push(Number(dim));
  }
  let data = t.data;
  if (count * BigInt(info.itemSize) !== BigInt(data.length)) {
    throw new WalkFailure(
      `${what} data is ${data.length} bytes but ${info.name} shape [${shape.join(", ")}] needs ${count * BigInt(info.itemSize)}`,
    );
  }
  if (info.proto === DType.DTYPE_BOOL) {
    for (let i = 0; i < data.length; i++) if (data[i]! > 1) throw new WalkFailure("bool tensor bytes must be 0 or 1");
  }
  if (!HOST_IS_LITTLE_ENDIAN && info.itemSize > 1) data = byteSwapped(data, info.itemSize);
  // A view when the offset is aligned for the element size; otherwise one copy.
  // Copy into a fresh, aligned buffer. Not `data.slice()`: on a Node Buffer that is a view.
  if (data.byteOffset % info.itemSize !== 0) data = new Uint8Array(data);
  const array = new info.ctor(data.buffer, data.byteOffset, data.length / info.itemSize);
  return { array, shape, name: info.name };
}

class Decoder {
  constructor(private readonly attachments: readonly Attachment[]) {}

  walk(node: unknown): unknown {
    if (typeof node !== "object" || node === null) return node;
    if (Array.isArray(node)) {
      let i = 0;
      try {
        for (const n = node.length; i < n; i++) {
          const x: unknown = node[i];
          if (typeof x === "object" && x !== null) {
            const nx = this.walk(x);
            if (nx !== x) node[i] = nx;
          }
        }
      } catch (e) {
        if (e instanceof WalkFailure) e.segments.push(i);
        throw e;
      }
      return node;
    }
    const obj = node as JsonObject;
    if (Object.hasOwn(obj, "$type")) return this.tag(obj);
    this.fields(obj);
    return obj;
  }

  private fields(obj: JsonObject): void {
    let key = "";
    try {
      for (key of Object.keys(obj)) {
        const x = obj[key];
        if (typeof x === "object" && x !== null) {
          const nx = this.walk(x);
          if (nx !== x) setOwn(obj, key, nx);
        }
      }
    } catch (e) {
      if (e instanceof WalkFailure) e.segments.push(key);
      throw e;
    }
  }

  private tag(node: JsonObject): unknown {
    const kind = node["$type"];
    switch (kind) {
      case "bigint": {
        expectKeys(node, "value");
        const digits = node["value"];
        if (typeof digits !== "string" || !BIGINT_RE.test(digits)) {
          throw new WalkFailure(`bigint value must be a decimal integer string, got ${JSON.stringify(digits)}`);
        }
        const n = BigInt(digits);
        return n >= -MAX_SAFE && n <= MAX_SAFE ? Number(n) : n;
      }
      case "float": {
        expectKeys(node, "value");
        const v = node["value"];
        if (typeof v !== "string" || !Object.hasOwn(FLOATS, v)) {
          throw new WalkFailure(`float value must be "NaN", "Infinity" or "-Infinity", got ${JSON.stringify(v)}`);
        }
        return FLOATS[v];
      }
      case "bytes": {
        expectKeys(node, "ref");
        const b = this.ref(node["ref"], "bytes").kind.value as Uint8Array;
        // A plain Uint8Array view (no copy) even when the message was parsed from a Buffer.
        return new Uint8Array(b.buffer, b.byteOffset, b.length);
      }
      case "string": {
        expectKeys(node, "ref");
        const b = this.ref(node["ref"], "utf8").kind.value as Uint8Array;
        const text = Buffer.from(b.buffer, b.byteOffset, b.length);
        // ASCII (checked at memory speed) reads as Latin-1: a copy, about a tenth of the UTF-8 decoder's time.
        if (isAscii(b)) return text.toString("latin1");
        if (!isUtf8(b)) throw new WalkFailure(`string attachment ${String(node["ref"])} is not valid UTF-8`);
        return text.toString("utf8");
      }
      case "tensor": {
        expectKeys(node, "ref");
        const t = this.ref(node["ref"], "tensor").kind.value as TensorMessage;
        const { array, shape, name } = tensorData(t, "tensor");
        return new Tensor(name as Tensor["dtype"], shape, array as never);
      }
      case "embedding": {
        expectKeys(node, "ref");
        const t = this.ref(node["ref"], "tensor").kind.value as TensorMessage;
        if (t.dtype !== DType.DTYPE_FLOAT32 && t.dtype !== DType.DTYPE_FLOAT64) {
          throw new WalkFailure(
            `embedding must be float32 or float64, got ${dtypeInfoFromProto(t.dtype)?.name ?? t.dtype}`,
          );
        }
        if (t.shape.length !== 1) throw new WalkFailure(`embedding must be 1-D, got shape [${t.shape.join(", ")}]`);
        return tensorData(t, "embedding").array;
      }
      case "map": {
        expectKeys(node, "entries");
        const entries = node["entries"];
        if (typeof entries !== "object" || entries === null || Array.isArray(entries)) {
          throw new WalkFailure(
            `map entries must be an object, got ${entries === null ? "null" : Array.isArray(entries) ? "array" : typeof entries}`,
          );
        }
        // The entries object is literal: its own "$type" key is data, not a tag.
        try {
          this.fields(entries as JsonObject);
        } catch (e) {
          if (e instanceof WalkFailure) e.segments.push("entries");
          throw e;
        }
        return entries;
      }
      default:
        throw new WalkFailure(`unknown $type ${JSON.stringify(kind)}`);
    }
  }

  private ref(ref: unknown, expected: "bytes" | "tensor" | "utf8"): Attachment {
    if (typeof ref !== "number" || !Number.isInteger(ref) || ref < 0) {
      throw new WalkFailure(`ref must be a non-negative integer, got ${JSON.stringify(ref)}`);
    }
    if (ref >= this.attachments.length)
      throw new WalkFailure(`ref ${ref} out of range (${this.attachments.length} attachments)`);
    const att = this.attachments[ref]!;
    if (att.kind.case !== expected)
      throw new WalkFailure(`attachment ${ref} holds ${att.kind.case ?? "nothing"}, expected ${expected}`);
    return att;
  }
}

/**
 * Decode a `Value` envelope. Maps -> plain objects, integers -> number when within
 * ±(2^53-1) else bigint, bytes -> Uint8Array, tensors -> `Tensor`, embeddings ->
 * Float32Array/Float64Array. Bytes, tensor and embedding data are views of the message's
 * buffer where alignment allows (no copy). Throws `ValueDecodingError` (with `.path`).
 */
export function decodeValue(value: Value, path = "value"): unknown {
  const text = value.json;
  if (text === "") return null;
  if (jsonNestsDeeperThan(text)) throw new ValueDecodingError(path, `its JSON ${JSON_SHAPE_LIMITS}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new ValueDecodingError(path, `malformed JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!text.includes('"$type"') && !text.includes("\\u")) return parsed;
  if (value.external?.length && !value.attachments.length) {
    // Resolved into `attachments` by the frame reader; anywhere else they point at nothing.
    throw new ValueDecodingError(
      path,
      "external attachments only travel on a worker connection (send them as attachments)",
    );
  }
  try {
    return new Decoder(value.attachments).walk(parsed);
  } catch (e) {
    if (e instanceof WalkFailure) throw new ValueDecodingError(formatPath(path, e.segments.reverse()), e.detail);
    if (e instanceof RangeError && /call stack/i.test(e.message))
      throw new ValueDecodingError(path, "value is nested too deeply");
    throw e;
  }
}
