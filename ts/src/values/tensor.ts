import { DTYPE_INFO, isDTypeName } from "./dtype.js";
import type { DTypeName, TensorArrayByDType } from "./dtype.js";

/**
 * A dense row-major array crossing the bridge as `{"$type":"tensor"}` (Python: numpy ndarray).
 *
 * `data` is a typed array of exactly `product(shape)` elements: Float32Array for float32,
 * BigInt64Array for int64, Uint8Array (0/1) for bool, Uint16Array (raw half-precision bits) for
 * float16, and so on (see `TensorArrayByDType`). Decoded tensors are usually views of the
 * received message bytes (no copy); copy `data` before mutating it if the buffer is shared.
 */
export class Tensor<D extends DTypeName = DTypeName> {
  readonly dtype: D;
  readonly shape: readonly number[];
  readonly data: TensorArrayByDType[D];

  constructor(dtype: D, shape: readonly number[], data: TensorArrayByDType[D]) {
    if (!isDTypeName(dtype)) throw new TypeError(`Tensor: unknown dtype ${String(dtype)}`);
    const info = DTYPE_INFO[dtype];
    if (!(data instanceof info.ctor)) {
      throw new TypeError(`Tensor: ${dtype} data must be a ${info.ctor.name}, got ${describe(data)}`);
    }
    let size = 1;
    for (const dim of shape) {
      if (!Number.isSafeInteger(dim) || dim < 0)
        throw new TypeError(`Tensor: invalid dimension ${String(dim)} in shape`);
      size *= dim;
    }
    if (data.length !== size) {
      throw new TypeError(`Tensor: shape [${shape.join(", ")}] needs ${size} elements, data has ${data.length}`);
    }
    if (dtype === "bool") {
      const bytes = data as Uint8Array;
      for (let i = 0; i < bytes.length; i++) if (bytes[i]! > 1) throw new TypeError("Tensor: bool data must be 0 or 1");
    }
    this.dtype = dtype;
    this.shape = Object.freeze([...shape]);
    this.data = data;
  }

  /** Number of elements. */
  get size(): number {
    return this.data.length;
  }

  /** Build a tensor from plain numbers/bigints (float16 takes raw bits; bool takes 0/1 or booleans). */
  static fromValues<D extends DTypeName>(
    dtype: D,
    shape: readonly number[],
    values: ArrayLike<number | bigint | boolean>,
  ): Tensor<D> {
    const info = DTYPE_INFO[dtype];
    const arr = new info.ctor(values.length);
    const big = dtype === "int64" || dtype === "uint64";
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      (arr as unknown as (number | bigint)[])[i] = big ? BigInt(v) : Number(v);
    }
    return new Tensor(dtype, shape, arr as TensorArrayByDType[D]);
  }
}

function describe(x: unknown): string {
  if (x === null) return "null";
  if (typeof x === "object") return (x as object).constructor?.name ?? "object";
  return typeof x;
}
