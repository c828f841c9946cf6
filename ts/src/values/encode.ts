// JavaScript value -> `Value` envelope.
//
// Fast path: one copy-on-write walk (allocates nothing unless something special is found)
// followed by one native JSON.stringify. The walk is needed because JSON.stringify silently
// mangles what the envelope must carry honestly (NaN -> null, undefined dropped, bigint throws,
// typed arrays become objects, Map becomes {}).
import { create } from "@bufbuild/protobuf";
import { AttachmentSchema, TensorSchema } from "../gen/dspy_bridge/v1/values_pb.js";
import type { Attachment, Value } from "../gen/dspy_bridge/v1/values_pb.js";
import { DTYPE_INFO, HOST_IS_LITTLE_ENDIAN, byteSwapped } from "./dtype.js";
import type { PathSegment } from "./errors.js";
import { ValueEncodingError, WalkFailure, formatPath } from "./errors.js";
import { Tensor } from "./tensor.js";

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = -MAX_SAFE;

/**
 * Strings of at least this many characters travel as UTF-8 attachments ({"$type":"string"})
 * when the encoding asks for it (the worker connection): they then cross as raw bytes beside
 * the message, neither escaped into the JSON text nor parsed out of it. Python uses the same
 * number (LONG_STRING_CHARS in python/dspy_bridge/values/_encode.py).
 */
export const LONG_STRING_CHARS = 16 * 1024;

export interface EncodeOptions {
  /** Long strings as UTF-8 attachments (only where the receiver decodes the "string" tag). */
  longStringAttachments?: boolean;
}

/** The parts of an encoded value, before they are wrapped in a `Value` message. */
export interface ValueParts {
  json: string;
  attachments: Attachment[];
}

/** Own data property assignment that is safe for the key "__proto__". */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__")
    Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
  else obj[key] = value;
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  const t = typeof v;
  if (t === "function") return `function ${(v as { name?: string }).name || "(anonymous)"}`;
  if (t !== "object") return t;
  const ctor = (v as { constructor?: { name?: string } }).constructor;
  return ctor?.name ? `${ctor.name} instance` : "object with a custom prototype";
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function isWellFormed(s: string): boolean {
  const native = (s as { isWellFormed?: () => boolean }).isWellFormed;
  return native ? native.call(s) : !LONE_SURROGATE.test(s);
}

function floatTag(x: number): { $type: "float"; value: string } {
  return { $type: "float", value: Number.isNaN(x) ? "NaN" : x > 0 ? "Infinity" : "-Infinity" };
}

function littleEndianBytes(data: ArrayBufferView & { BYTES_PER_ELEMENT: number }): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return HOST_IS_LITTLE_ENDIAN || data.BYTES_PER_ELEMENT === 1 ? bytes : byteSwapped(bytes, data.BYTES_PER_ELEMENT);
}

class Encoder {
  readonly attachments: Attachment[] = [];

  constructor(private readonly longStrings: boolean) {}

  walk(v: unknown): unknown {
    switch (typeof v) {
      case "string":
        return v.length < LONG_STRING_CHARS || !this.longStrings ? v : this.longString(v);
      case "boolean":
        return v;
      case "number":
        return Number.isFinite(v) ? v : floatTag(v);
      case "object":
        if (v === null) return v;
        if (Array.isArray(v)) return this.array(v);
        {
          const proto = Object.getPrototypeOf(v);
          if (proto === Object.prototype || proto === null) return this.object(v as Record<string, unknown>);
        }
        return this.special(v);
      case "undefined":
        return null;
      case "bigint":
        return v >= MIN_SAFE && v <= MAX_SAFE ? Number(v) : { $type: "bigint", value: v.toString() };
      default:
        throw new WalkFailure(`values of type ${typeName(v)} are not supported`);
    }
  }

  private array(arr: readonly unknown[]): unknown[] {
    let out: unknown[] | undefined;
    let i = 0;
    try {
      for (const n = arr.length; i < n; i++) {
        const x = arr[i];
        const nx = this.walk(x);
        if (nx !== x) {
          out ??= arr.slice();
          out[i] = nx;
        }
      }
    } catch (e) {
      if (e instanceof WalkFailure) e.segments.push(i);
      throw e;
    }
    return out ?? (arr as unknown[]);
  }

  private object(obj: Record<string, unknown>): unknown {
    let out: Record<string, unknown> | undefined;
    let hasType = false;
    let key = "";
    try {
      for (key of Object.keys(obj)) {
        if (key === "$type") hasType = true;
        const x = obj[key];
        const nx = this.walk(x);
        if (nx !== x) {
          out ??= { ...obj };
          setOwn(out, key, nx);
        }
      }
    } catch (e) {
      if (e instanceof WalkFailure) e.segments.push(key);
      throw e;
    }
    const result = out ?? obj;
    return hasType ? { $type: "map", entries: result } : result;
  }

  private longString(s: string): unknown {
    // A lone surrogate has no UTF-8 form (Buffer would write U+FFFD): only a JSON escape carries it.
    if (!isWellFormed(s)) return s;
    const utf8 = Buffer.from(s, "utf8");
    return { $type: "string", ref: this.attach(create(AttachmentSchema, { kind: { case: "utf8", value: utf8 } })) };
  }

  private attach(att: Attachment): number {
    return this.attachments.push(att) - 1;
  }

  private special(v: object): unknown {
    if (v instanceof Tensor) {
      const t = create(TensorSchema, {
        dtype: DTYPE_INFO[v.dtype as keyof typeof DTYPE_INFO].proto,
        shape: v.shape.map((d) => BigInt(d)),
        data: littleEndianBytes(v.data),
      });
      return { $type: "tensor", ref: this.attach(create(AttachmentSchema, { kind: { case: "tensor", value: t } })) };
    }
    if (v instanceof Uint8Array) {
      return { $type: "bytes", ref: this.attach(create(AttachmentSchema, { kind: { case: "bytes", value: v } })) };
    }
    if (v instanceof Float32Array || v instanceof Float64Array) {
      const t = create(TensorSchema, {
        dtype: DTYPE_INFO[v instanceof Float32Array ? "float32" : "float64"].proto,
        shape: [BigInt(v.length)],
        data: littleEndianBytes(v),
      });
      return { $type: "embedding", ref: this.attach(create(AttachmentSchema, { kind: { case: "tensor", value: t } })) };
    }
    if (v instanceof Map) return this.map(v);
    if (ArrayBuffer.isView(v)) {
      throw new WalkFailure(
        `${typeName(v)} is not supported (bytes are Uint8Array, embeddings Float32Array/Float64Array; wrap other arrays in a Tensor)`,
      );
    }
    if (v instanceof ArrayBuffer)
      throw new WalkFailure("ArrayBuffer is not supported (wrap it: new Uint8Array(buffer))");
    throw new WalkFailure(
      `values of type ${typeName(v)} are not supported (only plain objects, arrays, Map, Uint8Array, Float32Array/Float64Array, Tensor)`,
    );
  }

  private map(m: Map<unknown, unknown>): unknown {
    const out: Record<string, unknown> = {};
    let hasType = false;
    let key: unknown;
    try {
      for (const [k, x] of m) {
        key = k;
        if (typeof k !== "string") {
          const e = new WalkFailure(
            `Map key ${typeof k === "symbol" ? k.toString() : String(k)} has type ${typeName(k)}; only string keys are allowed`,
          );
          throw e;
        }
        if (k === "$type") hasType = true;
        setOwn(out, k, this.walk(x));
      }
    } catch (e) {
      if (e instanceof WalkFailure && typeof key === "string") e.segments.push(key);
      throw e;
    }
    return hasType ? { $type: "map", entries: out } : out;
  }
}

function diagnoseDepth(value: unknown, root: string): ValueEncodingError {
  const active = new Set<unknown>();
  const path: PathSegment[] = [];
  const visit = (v: unknown): ValueEncodingError | undefined => {
    if (typeof v !== "object" || v === null) return undefined;
    let entries: Iterable<[PathSegment, unknown]>;
    if (Array.isArray(v)) entries = v.map((x, i) => [i, x] as [PathSegment, unknown]);
    else if (v instanceof Map) entries = [...v].filter(([k]) => typeof k === "string") as [PathSegment, unknown][];
    else if (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null)
      entries = Object.entries(v);
    else return undefined;
    if (active.has(v))
      return new ValueEncodingError(formatPath(root, path), `reference cycle (${typeName(v)} contains itself)`);
    active.add(v);
    for (const [k, x] of entries) {
      path.push(k);
      const found = visit(x);
      if (found) return found;
      path.pop();
    }
    active.delete(v);
    return undefined;
  };
  let found: ValueEncodingError | undefined;
  try {
    found = visit(value);
  } catch {
    found = undefined;
  }
  return found ?? new ValueEncodingError(root, "value is nested too deeply");
}

/**
 * Encode to the JSON text and attachments of an envelope. `path` names the root in error
 * messages (e.g. pass "args" to get `args.items[3]`).
 */
export function encodeValueParts(value: unknown, path = "value", options?: EncodeOptions): ValueParts {
  const enc = new Encoder(options?.longStringAttachments === true);
  let prepared: unknown;
  try {
    prepared = enc.walk(value);
  } catch (e) {
    if (e instanceof WalkFailure) throw new ValueEncodingError(formatPath(path, e.segments.reverse()), e.detail);
    if (e instanceof RangeError && /call stack/i.test(e.message)) throw diagnoseDepth(value, path);
    throw e;
  }
  let json: string;
  try {
    json = JSON.stringify(prepared);
  } catch (e) {
    if (e instanceof RangeError && /call stack/i.test(e.message)) throw diagnoseDepth(value, path);
    throw e;
  }
  return { json, attachments: enc.attachments };
}

/**
 * Encode a JavaScript value as a `Value` envelope. Throws `ValueEncodingError` (with `.path`)
 * for values the envelope cannot carry. Byte and tensor attachments reference the caller's
 * memory (no copy) until the message is serialized.
 */
export function encodeValue(value: unknown, path = "value", options?: EncodeOptions): Value {
  const { json, attachments } = encodeValueParts(value, path, options);
  // A plain message object: what create() would build, without its reflective walk over
  // the schema (this runs on every call).
  return { $typeName: "dspy_bridge.v1.Value", json, attachments, external: [] };
}
