// Bounds on what clients may store: the nesting depth of a value and its size in bytes (one
// value; a variable's history; a session's values and history; the watch log). Sizes are
// measured once per write, without recursion and without copying anything.
import { InvalidArgumentError, PayloadTooLargeError } from "../errors/index.js";
import { Tensor } from "../values/index.js";
import { quote } from "./types/describe.js";

/**
 * The deepest a value may nest lists and maps (a scalar is depth 0, `[1]` depth 1). Every
 * client can decode this much: Python's JSON decoder gives up near 1,000 levels.
 */
export const MAX_VALUE_DEPTH = 100;

const MiB = 1024 * 1024;

/** The size limits of a store, in bytes (docs/variables.md, "Limits"). */
export interface SizeLimits {
  /** One written value, with its write's metadata (and, for a new variable, its constraints). */
  maxValueBytes: number;
  /** The versions a variable keeps (its current value included); older ones are dropped first. */
  historyBytesLimit: number;
  /** All of a session's variables: current values and history. Older versions are dropped first; current values never are. */
  sessionBytesLimit: number;
  /** The changes kept for watches that resume from a revision; older commits are compacted. */
  eventLogBytesLimit: number;
}

export const DEFAULT_SIZE_LIMITS: Readonly<SizeLimits> = Object.freeze({
  maxValueBytes: 16 * MiB,
  historyBytesLimit: 64 * MiB,
  sessionBytesLimit: 256 * MiB,
  eventLogBytesLimit: 256 * MiB,
});

const utf8 = (s: string): number => Buffer.byteLength(s, "utf8");

/**
 * The size of a value as stored (close to its encoded size): UTF-8 bytes of strings and map
 * keys, raw bytes of tensors, embeddings and bytes, 8 bytes per number, boolean, null, list
 * item and map entry. Throws InvalidArgumentError (`parameter`) when the value nests deeper
 * than `maxDepth` (a reference cycle included) or holds something no value can hold.
 */
export function measureValue(value: unknown, parameter: string, maxDepth = MAX_VALUE_DEPTH): number {
  let bytes = 0;
  // An explicit stack (values, with their depth): a million levels cannot overflow the call stack.
  const stack: unknown[] = [value];
  const depths: number[] = [0];
  while (stack.length > 0) {
    const v = stack.pop();
    const depth = depths.pop()!;
    switch (typeof v) {
      case "string":
        bytes += utf8(v) + 2;
        continue;
      case "number":
      case "boolean":
      case "undefined":
        bytes += 8;
        continue;
      case "bigint":
        bytes += 8 + Math.ceil(v.toString(16).length / 2);
        continue;
      case "object":
        break;
      default:
        bytes += 8; // not storable: the store's validation says so, with the value's type
        continue;
    }
    if (v === null) {
      bytes += 8;
      continue;
    }
    if (v instanceof Tensor) {
      bytes += v.data.byteLength + 8 * v.shape.length + 16;
      continue;
    }
    if (ArrayBuffer.isView(v)) {
      bytes += v.byteLength + 16;
      continue;
    }
    if (depth >= maxDepth) {
      throw new InvalidArgumentError(
        `${parameter} nests lists and maps more than ${maxDepth} levels deep (the limit)`,
        {
          parameter,
          details: { limit: maxDepth },
        },
      );
    }
    if (Array.isArray(v)) {
      bytes += 16 + 8 * v.length;
      for (let i = v.length - 1; i >= 0; i--) {
        stack.push(v[i]);
        depths.push(depth + 1);
      }
      continue;
    }
    if (v instanceof Map) {
      bytes += 16;
      for (const [k, x] of v) {
        bytes += 8 + (typeof k === "string" ? utf8(k) : 8);
        stack.push(x);
        depths.push(depth + 1);
      }
      continue;
    }
    bytes += 16;
    for (const k of Object.keys(v)) {
      bytes += 8 + utf8(k);
      stack.push((v as Record<string, unknown>)[k]);
      depths.push(depth + 1);
    }
  }
  return bytes;
}

/** PayloadTooLargeError when `size` is over `limit`. */
export function checkSize(size: number, limit: number, what: string, option: string): void {
  if (size > limit) {
    throw new PayloadTooLargeError(`${what} is ${size} bytes, over the limit of ${limit} bytes (option ${option})`, {
      size,
      limit,
    });
  }
}

/** Measures a write (value and metadata) and refuses one over `maxValueBytes`; returns its size. */
export function measureWrite(
  name: string,
  value: unknown,
  metadata: unknown,
  limits: SizeLimits,
  extra: unknown = undefined,
): number {
  const size =
    measureValue(value, "value") +
    measureValue(metadata, "metadata", 2) +
    (extra === undefined ? 0 : measureValue(extra, "constraints"));
  checkSize(size, limits.maxValueBytes, `the value of ${quote(name)}`, "maxValueBytes");
  return size;
}

/** Positive integer options, with a typed error naming the one that is not. */
export function sizeLimits(options: Partial<Record<keyof SizeLimits, unknown>>): SizeLimits {
  const out = { ...DEFAULT_SIZE_LIMITS };
  for (const key of Object.keys(DEFAULT_SIZE_LIMITS) as (keyof SizeLimits)[]) {
    const v = options[key];
    if (v === undefined) continue;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) {
      throw new InvalidArgumentError(`store option ${key} must be a positive integer (bytes), got ${quote(v)}`, {
        parameter: key,
      });
    }
    out[key] = v;
  }
  return out;
}
