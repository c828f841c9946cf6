// The value envelope: JavaScript values <-> `dspy_bridge.v1.Value` (JSON text + attachments).
// See docs/contract-values.md for the wire format and the type mapping.
export { encodeValue, encodeValueParts } from "./encode.js";
export type { ValueParts } from "./encode.js";
export { decodeValue } from "./decode.js";
export { JSON_SHAPE_LIMITS, jsonNestsDeeperThan, MAX_JSON_CONTAINERS, MAX_JSON_DEPTH } from "./json-depth.js";
export { Tensor } from "./tensor.js";
export { DTYPE_INFO, dtypeFromProto, dtypeToProto, isDTypeName } from "./dtype.js";
export type { DTypeInfo, DTypeName, TensorArray, TensorArrayByDType } from "./dtype.js";
export { ValueDecodingError, ValueEncodingError, formatPath } from "./errors.js";
export type { PathSegment } from "./errors.js";
export type { Attachment, Value } from "../gen/dspy_bridge/v1/values_pb.js";
