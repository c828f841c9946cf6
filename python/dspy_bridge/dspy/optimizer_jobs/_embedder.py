"""A deterministic local embedder for KNNFewShot: no model, no network.

Feature hashing of words and character trigrams into a fixed-size vector, L2-normalised, so
texts that share words land near each other. Good enough to pick neighbours in a trainset;
a real embedding model can be named instead (``embedder: "pkg.module:function"``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

__all__ = ["HASHING_DIMENSIONS", "hashing_embedder"]

HASHING_DIMENSIONS = 256
_WORD = re.compile(r"\w+")


def _bucket(token: str) -> tuple[int, float]:
    digest = hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % HASHING_DIMENSIONS, 1.0 if (value >> 63) & 1 else -1.0


def hashing_embedder(texts: Sequence[str]) -> np.ndarray:
    """``texts`` -> float32 array of shape (len(texts), 256)."""
    out = np.zeros((len(texts), HASHING_DIMENSIONS), dtype=np.float32)
    for row, text in enumerate(texts):
        lowered = str(text).lower()
        tokens = _WORD.findall(lowered)
        grams = [lowered[i : i + 3] for i in range(max(0, len(lowered) - 2))]
        for token in [*tokens, *(f"#{g}" for g in grams)]:
            index, sign = _bucket(token)
            out[row, index] += sign
        norm = float(np.linalg.norm(out[row]))
        if norm > 0:
            out[row] /= norm
    return out
