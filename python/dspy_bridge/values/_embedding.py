"""``Embedding``: a 1-D float32/float64 numpy array that crosses the bridge as an embedding."""

from __future__ import annotations

from typing import Any

import numpy as np

_FLOAT_DTYPES = (np.dtype("float32"), np.dtype("float64"))


class Embedding(np.ndarray):
    """A 1-D float32 or float64 vector, tagged ``{"$type":"embedding"}`` on the wire.

    ``Embedding(data, dtype=None)``:

    * an ndarray (or anything with a float32/float64 dtype) keeps its dtype;
    * a list/tuple of numbers, or an array of any other dtype, becomes **float64** (so Python
      floats round-trip exactly; pass ``dtype=np.float32`` explicitly for compact vectors);
    * ``dtype`` may be given explicitly and must be float32 or float64.

    It is an ``np.ndarray`` subclass, so all numpy operations work. Operations that produce a
    non-1-D or non-float result (``reshape(2, 2)``, ``astype(int)``) still return an
    ``Embedding`` object (numpy semantics); such an object is rejected by ``encode_value``.
    Convert with ``np.asarray(e)`` if you want a plain tensor.
    Decoded embeddings are read-only views of the received bytes; ``.copy()`` for a writable one.
    """

    def __new__(cls, data: Any, dtype: Any = None) -> Embedding:
        if dtype is not None:
            dt = np.dtype(dtype)
            if dt not in _FLOAT_DTYPES:
                raise ValueError(f"Embedding dtype must be float32 or float64, not {dt}")
            arr = np.asarray(data, dtype=dt)
        else:
            arr = np.asarray(data)
            if arr.dtype not in _FLOAT_DTYPES:
                arr = arr.astype(np.float64)
        if arr.ndim != 1:
            raise ValueError(f"Embedding must be 1-D, got shape {arr.shape}")
        return arr.view(cls)

    def __repr__(self) -> str:
        return f"Embedding({np.asarray(self).tolist()!r}, dtype={self.dtype.name})"
