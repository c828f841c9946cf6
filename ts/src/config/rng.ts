// A small portable PRNG: xoshiro128** seeded through murmur3's fmix32. Only 32-bit integer
// operations (Math.imul, >>>), so python/dspy_bridge/spaces/_rng.py produces the same stream
// bit for bit. Floats are 53 random bits divided by 2**53: exact in both languages.
import { InvalidArgumentError } from "../errors/index.js";

/** Seeds are integers in [0, 2**53 - 1]. */
export const MAX_SEED = Number.MAX_SAFE_INTEGER;

const GOLDEN = 0x9e3779b9;

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const rotl = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0;

/** Deterministic generator: `new Rng(seed)` gives the same stream here and in Python. */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new InvalidArgumentError(`seed must be an integer in [0, 2**53 - 1], got ${String(seed)}`, {
        parameter: "seed",
      });
    }
    const lo = seed >>> 0;
    const hi = Math.floor(seed / 4294967296) >>> 0;
    const k = fmix32((hi + 0x632be5ab) >>> 0);
    // fmix32 is a bijection and the four inputs differ, so at most one word is zero.
    this.s0 = fmix32(((lo + Math.imul(1, GOLDEN)) >>> 0) ^ k);
    this.s1 = fmix32(((lo + Math.imul(2, GOLDEN)) >>> 0) ^ k);
    this.s2 = fmix32(((lo + Math.imul(3, GOLDEN)) >>> 0) ^ k);
    this.s3 = fmix32(((lo + Math.imul(4, GOLDEN)) >>> 0) ^ k);
  }

  /** The next unsigned 32-bit output. */
  nextU32(): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A float in [0, 1) from 53 random bits (two outputs). */
  nextFloat(): number {
    const a = this.nextU32() >>> 5;
    const b = this.nextU32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** An integer in [0, n) as floor(nextFloat() * n). */
  nextBelow(n: number): number {
    const i = Math.floor(this.nextFloat() * n);
    return i >= n ? n - 1 : i;
  }
}
