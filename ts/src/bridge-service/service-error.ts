// Errors leave the bridge service as a gRPC status carrying the error's code, plus the
// serialized ErrorDetail in trailing metadata so clients rebuild the same typed error.
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { create, toBinary } from "@bufbuild/protobuf";
import { BridgeError, errorToDetail } from "../errors/index.js";
import { ErrorDetailSchema } from "../gen/dspy_bridge/v1/errors_pb.js";

/** Trailing metadata key carrying the serialized ErrorDetail of a failed call. */
export const ERROR_DETAIL_METADATA_KEY = "dspy-bridge-error-bin";

/** Turns any error into a gRPC status whose trailing metadata carries the typed ErrorDetail. */
export function toServiceError(err: unknown): Partial<ServiceError> & Error {
  const bridgeError = BridgeError.from(err);
  const detail = errorToDetail(bridgeError);
  const error = Object.assign(new Error(bridgeError.message), { code: bridgeError.code as status, details: bridgeError.message }) as Partial<ServiceError> & Error;
  const metadata = new Metadata();
  metadata.set(ERROR_DETAIL_METADATA_KEY, Buffer.from(toBinary(ErrorDetailSchema, create(ErrorDetailSchema, detail))));
  error.metadata = metadata;
  return error;
}

