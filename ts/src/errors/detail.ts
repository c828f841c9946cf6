import { create } from "@bufbuild/protobuf";
import { ErrorDetailSchema, type ErrorDetail } from "../gen/dspy_bridge/v1/errors_pb.js";
import { BridgeError, PythonError } from "./bridge-error.js";
import { Code } from "./code.js";
import { errorClassForReason } from "./registry.js";

/**
 * Rebuild a typed error from the wire. The class is chosen by `reason` (for a known reason the
 * class's own code wins over `detail.code`); unknown reasons give a plain BridgeError with the
 * received code and reason. `details_json` becomes `details`, and typed fields such as
 * `InvalidArgumentError.parameter` are read from it.
 */
export function errorFromDetail(detail: ErrorDetail): BridgeError {
  const options = {
    details: parseDetails(detail.detailsJson),
    ...(detail.pythonType === "" ? {} : { pythonType: detail.pythonType }),
    traceback: detail.traceback,
  };
  const cls = errorClassForReason(detail.reason);
  if (cls !== undefined) return new cls(detail.message, options);
  return new BridgeError(detail.message, {
    ...options,
    code: detail.code,
    reason: detail.reason === "" ? BridgeError.reason : detail.reason,
  });
}

/**
 * Describe anything thrown as an ErrorDetail (via `BridgeError.from`, so a plain Error is
 * sent as `internal`). Python origin (type, frames) is forwarded unchanged when present.
 */
export function errorToDetail(err: unknown): ErrorDetail {
  const e = BridgeError.from(err);
  return create(ErrorDetailSchema, {
    code: Number.isInteger(e.code) && e.code >= 0 ? e.code : Code.UNKNOWN,
    reason: e.reason,
    message: e instanceof PythonError ? e.pythonMessage : e.message,
    pythonType: e.pythonType ?? "",
    traceback: e.traceback.map((f) => ({ ...f })),
    detailsJson: stringifyDetails(e.details),
  });
}

function parseDetails(text: string): Record<string, unknown> {
  if (text === "") return {};
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === "object" && value !== null && !Array.isArray(value)) {
      return value as Record<string, unknown>;
    }
  } catch {
    // fall through: keep the text rather than lose it or throw while handling an error
  }
  return { details_json: text };
}

function stringifyDetails(details: Record<string, unknown>): string {
  if (Object.keys(details).length === 0) return "";
  try {
    return JSON.stringify(details, (_key, value: unknown) => (typeof value === "bigint" ? value.toString() : value));
  } catch {
    return JSON.stringify({ unserializable_details: Object.keys(details) });
  }
}
