"""A small portable PRNG (xoshiro128**, seeded through murmur3's fmix32).

Only 32-bit integer operations, so the TypeScript twin (``ts/src/config/rng.ts``) produces the
same stream bit for bit. Floats are built from 53 random bits divided by 2**53: exact in both.
"""

from __future__ import annotations

from ..errors import InvalidArgumentError

__all__ = ["MAX_SEED", "Rng"]

_M32 = 0xFFFFFFFF
_GOLDEN = 0x9E3779B9
MAX_SEED = 2**53 - 1
"""Seeds are integers in ``[0, 2**53 - 1]`` (exactly representable in a JavaScript number)."""


def _fmix32(h: int) -> int:
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M32
    h ^= h >> 16
    return h


def _rotl(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M32


class Rng:
    """Deterministic generator: ``Rng(seed)`` gives the same stream here and in TypeScript."""

    __slots__ = ("_s0", "_s1", "_s2", "_s3")

    def __init__(self, seed: int) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0 or seed > MAX_SEED:
            raise InvalidArgumentError(f"seed must be an integer in [0, 2**53 - 1], got {seed!r}", parameter="seed")
        lo = seed & _M32
        hi = seed >> 32
        k = _fmix32((hi + 0x632BE5AB) & _M32)
        # fmix32 is a bijection and the four inputs differ, so at most one word is zero.
        self._s0 = _fmix32(((lo + 1 * _GOLDEN) & _M32) ^ k)
        self._s1 = _fmix32(((lo + 2 * _GOLDEN) & _M32) ^ k)
        self._s2 = _fmix32(((lo + 3 * _GOLDEN) & _M32) ^ k)
        self._s3 = _fmix32(((lo + 4 * _GOLDEN) & _M32) ^ k)

    def next_u32(self) -> int:
        """The next unsigned 32-bit output."""
        s0, s1, s2, s3 = self._s0, self._s1, self._s2, self._s3
        result = (_rotl((s1 * 5) & _M32, 7) * 9) & _M32
        t = (s1 << 9) & _M32
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = _rotl(s3, 11)
        self._s0, self._s1, self._s2, self._s3 = s0, s1, s2, s3
        return result

    def next_float(self) -> float:
        """A float in ``[0, 1)`` from 53 random bits (two outputs)."""
        a = self.next_u32() >> 5
        b = self.next_u32() >> 6
        return (a * 67108864 + b) / 9007199254740992.0

    def next_below(self, n: int) -> int:
        """An integer in ``[0, n)`` as ``floor(next_float() * n)``."""
        i = int(self.next_float() * n)
        return n - 1 if i >= n else i
