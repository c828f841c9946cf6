import { Tensor } from "../../values/index.js";

/** The type name reported as `details.got`. */
export function typeNameOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  const t = typeof value;
  if (t !== "object") return t;
  if (value instanceof Tensor) return `Tensor(${value.dtype})`;
  const proto = Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null;
  if (proto === null || proto === Object.prototype) return "object";
  const name = proto.constructor?.name;
  return typeof name === "string" && name !== "" ? name : "object";
}

const MAX_PREVIEW = 60;

const ANY_SURROGATE = /[\ud800-\udfff]/;

/**
 * Length in code points: UTF-16 units less the surrogate pairs; no allocation. Without a
 * surrogate (the regular expression engine answers that at once for a one-byte string) it is
 * the length.
 */
export function codePoints(s: string): number {
  if (!ANY_SURROGATE.test(s)) return s.length;
  let pairs = 0;
  const n = s.length;
  for (let i = 0; i < n - 1; i++) {
    if ((s.charCodeAt(i) & 0xfc00) === 0xd800 && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      pairs++;
      i++;
    }
  }
  return n - pairs;
}

/**
 * `text` cut to at most `max` code points (the last one an ellipsis when cut). Linear in the
 * part kept, never in the whole text: no array of characters is built.
 */
export function clip(text: string, max = MAX_PREVIEW): string {
  if (text.length <= max) return text;
  const width = (i: number): number => {
    const c = text.charCodeAt(i);
    return c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00 ? 2 : 1;
  };
  let units = 0;
  for (let points = 0; points < max - 1 && units < text.length; points++) units += width(units);
  // At most one code point left: it fits in place of the ellipsis.
  return units >= text.length || units + width(units) >= text.length ? text : `${text.slice(0, units)}…`;
}

/** The start of a long string, enough for a preview (never a lone half of a surrogate pair). */
function head(text: string, units: number): string {
  if (text.length <= units) return text;
  const last = text.charCodeAt(units - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? units - 1 : units);
}

/** An echo of client input in a message: JSON-quoted and clipped, whatever its length. */
export function quote(text: unknown, max = 100): string {
  if (typeof text !== "string") return preview(text);
  return clip(JSON.stringify(head(text, max * 2)), max);
}

/** A short human-readable rendering of a value for error messages. */
export function preview(value: unknown): string {
  switch (typeof value) {
    case "string":
      // Only the start is rendered: a 100 MiB string costs no more than a short one.
      return clip(JSON.stringify(head(value, MAX_PREVIEW * 2)));
    case "number":
    case "boolean":
      return String(value);
    case "bigint":
      return clip(`${value}`);
    case "undefined":
      return "undefined";
    case "function":
    case "symbol":
      return typeof value;
    default:
  }
  if (value === null) return "null";
  if (value instanceof Tensor) return `Tensor(${value.dtype}, shape [${value.shape.join(", ")}])`;
  if (value instanceof Float32Array || value instanceof Float64Array) {
    return value.length <= 8
      ? `${value.constructor.name}[${Array.from(value).join(", ")}]`
      : `${value.constructor.name}(${value.length} elements)`;
  }
  if (Array.isArray(value)) {
    if (value.length <= 8 && value.every((v) => v === null || typeof v !== "object")) {
      return clip(`[${value.map(preview).join(", ")}]`);
    }
    return `array of ${value.length} items`;
  }
  const name = typeNameOf(value);
  if (name === "object") return `object with ${Object.keys(value as object).length} keys`;
  return name;
}

/** A constraint's value as shown in messages (JSON text). */
export function showLimit(limit: unknown): string {
  if (typeof limit === "number" && !Number.isFinite(limit)) return String(limit);
  try {
    return clip(JSON.stringify(limit) ?? String(limit));
  } catch {
    return String(limit);
  }
}
