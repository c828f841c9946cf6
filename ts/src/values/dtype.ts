import { DType } from "../gen/dspy_bridge/v1/values_pb.js";

/** Element types a tensor can carry (the proto `DType` enum, by name). */
export type DTypeName =
  | "float32"
  | "float64"
  | "int32"
  | "int64"
  | "uint8"
  | "int8"
  | "int16"
  | "uint16"
  | "uint32"
  | "uint64"
  | "bool"
  | "float16";

/** The typed array holding a tensor's elements. float16 is raw IEEE half bits; bool is 0/1 bytes. */
export interface TensorArrayByDType {
  float32: Float32Array;
  float64: Float64Array;
  int32: Int32Array;
  int64: BigInt64Array;
  uint8: Uint8Array;
  int8: Int8Array;
  int16: Int16Array;
  uint16: Uint16Array;
  uint32: Uint32Array;
  uint64: BigUint64Array;
  bool: Uint8Array;
  float16: Uint16Array;
}

export type TensorArray = TensorArrayByDType[DTypeName];

type TypedArrayCtor = {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TensorArray;
  new (length: number): TensorArray;
  readonly BYTES_PER_ELEMENT: number;
};

export interface DTypeInfo {
  readonly name: DTypeName;
  readonly proto: DType;
  readonly itemSize: number;
  readonly ctor: TypedArrayCtor;
}

function info(name: DTypeName, proto: DType, ctor: TypedArrayCtor): DTypeInfo {
  return Object.freeze({ name, proto, itemSize: ctor.BYTES_PER_ELEMENT, ctor });
}

export const DTYPE_INFO: Readonly<Record<DTypeName, DTypeInfo>> = Object.freeze({
  float32: info("float32", DType.DTYPE_FLOAT32, Float32Array as unknown as TypedArrayCtor),
  float64: info("float64", DType.DTYPE_FLOAT64, Float64Array as unknown as TypedArrayCtor),
  int32: info("int32", DType.DTYPE_INT32, Int32Array as unknown as TypedArrayCtor),
  int64: info("int64", DType.DTYPE_INT64, BigInt64Array as unknown as TypedArrayCtor),
  uint8: info("uint8", DType.DTYPE_UINT8, Uint8Array as unknown as TypedArrayCtor),
  int8: info("int8", DType.DTYPE_INT8, Int8Array as unknown as TypedArrayCtor),
  int16: info("int16", DType.DTYPE_INT16, Int16Array as unknown as TypedArrayCtor),
  uint16: info("uint16", DType.DTYPE_UINT16, Uint16Array as unknown as TypedArrayCtor),
  uint32: info("uint32", DType.DTYPE_UINT32, Uint32Array as unknown as TypedArrayCtor),
  uint64: info("uint64", DType.DTYPE_UINT64, BigUint64Array as unknown as TypedArrayCtor),
  bool: info("bool", DType.DTYPE_BOOL, Uint8Array as unknown as TypedArrayCtor),
  float16: info("float16", DType.DTYPE_FLOAT16, Uint16Array as unknown as TypedArrayCtor),
});

const BY_PROTO: ReadonlyMap<number, DTypeInfo> = new Map(Object.values(DTYPE_INFO).map((i) => [i.proto, i]));

/** The proto enum value for a dtype name. */
export function dtypeToProto(name: DTypeName): DType {
  return DTYPE_INFO[name].proto;
}

/** The dtype name for a proto enum value, or undefined for UNSPECIFIED / unknown values. */
export function dtypeFromProto(proto: DType | number): DTypeName | undefined {
  return BY_PROTO.get(proto)?.name;
}

export function dtypeInfoFromProto(proto: DType | number): DTypeInfo | undefined {
  return BY_PROTO.get(proto);
}

export function isDTypeName(name: unknown): name is DTypeName {
  return typeof name === "string" && Object.hasOwn(DTYPE_INFO, name);
}

/** True on little-endian hosts (all mainstream ones); the wire format is little-endian. */
export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A copy of `bytes` with every `itemSize`-byte element reversed (endianness swap). */
export function byteSwapped(bytes: Uint8Array, itemSize: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += itemSize) {
    for (let j = 0; j < itemSize; j++) out[i + j] = bytes[i + itemSize - 1 - j]!;
  }
  return out;
}
