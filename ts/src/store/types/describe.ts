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

function clip(text: string): string {
  const chars = [...text];
  return chars.length <= MAX_PREVIEW ? text : `${chars.slice(0, MAX_PREVIEW - 1).join("")}…`;
}

/** A short human-readable rendering of a value for error messages. */
export function preview(value: unknown): string {
  switch (typeof value) {
    case "string":
      return clip(JSON.stringify(value));
    case "number":
    case "boolean":
      return String(value);
    case "bigint":
      return `${value}`;
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
