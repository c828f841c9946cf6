// Errors leave the bridge service as a gRPC status carrying the error's code, plus the
// serialized ErrorDetail in trailing metadata so clients rebuild the same typed error.
import { Metadata, type status, type ServiceError } from "@grpc/grpc-js";
import { create, toBinary } from "@bufbuild/protobuf";
import { BridgeError, errorToDetail } from "../errors/index.js";
import { ErrorDetailSchema } from "../gen/dspy_bridge/v1/errors_pb.js";

/** Trailing metadata key carrying the serialized ErrorDetail of a failed call. */
export const ERROR_DETAIL_METADATA_KEY = "dspy-bridge-error-bin";

/** The largest message and details a status carries: trailing metadata is small (a few KiB), a bigger one would arrive as RESOURCE_EXHAUSTED instead of the typed error. */
const MAX_MESSAGE = 2_000;
const MAX_DETAILS_JSON = 2_000;
const MAX_DETAIL_STRING = 256;

function clipped(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Long strings in details cut, long lists shortened; what cannot be made small enough is dropped. */
function boundDetails(json: string): string {
  if (json.length <= MAX_DETAILS_JSON) return json;
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return "{}";
  }
  const shrink = (v: unknown, depth: number): unknown => {
    if (typeof v === "string") return clipped(v, MAX_DETAIL_STRING);
    if (typeof v !== "object" || v === null) return v;
    if (depth > 4) return null;
    if (Array.isArray(v)) return v.slice(0, 20).map((x) => shrink(x, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v).slice(0, 50))
      Object.defineProperty(out, clipped(k, MAX_DETAIL_STRING), {
        value: shrink(x, depth + 1),
        enumerable: true,
        configurable: true,
        writable: true,
      });
    return out;
  };
  const small = JSON.stringify(shrink(parsed, 0));
  return small.length <= MAX_DETAILS_JSON * 2 ? small : "{}";
}

/** Turns any error into a gRPC status whose trailing metadata carries the typed ErrorDetail (bounded in size). */
export function toServiceError(err: unknown): Partial<ServiceError> & Error {
  const bridgeError = BridgeError.from(err);
  const detail = errorToDetail(bridgeError);
  detail.message = clipped(detail.message, MAX_MESSAGE);
  detail.detailsJson = boundDetails(detail.detailsJson);
  const message = clipped(bridgeError.message, MAX_MESSAGE);
  const error = Object.assign(new Error(message), {
    code: bridgeError.code as status,
    details: message,
  }) as Partial<ServiceError> & Error;
  const metadata = new Metadata();
  metadata.set(ERROR_DETAIL_METADATA_KEY, Buffer.from(toBinary(ErrorDetailSchema, create(ErrorDetailSchema, detail))));
  error.metadata = metadata;
  return error;
}
