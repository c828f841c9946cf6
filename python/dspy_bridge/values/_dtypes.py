"""Mapping between the proto ``DType`` enum, dtype names and numpy dtypes."""

from __future__ import annotations

from types import MappingProxyType
from collections.abc import Mapping

import numpy as np

from dspy_bridge._gen.dspy_bridge.v1 import values_pb2

#: proto ``DType`` enum value -> little-endian numpy dtype (the wire layout).
DTYPES: Mapping[int, np.dtype] = MappingProxyType(
    {
        values_pb2.DTYPE_FLOAT32: np.dtype("<f4"),
        values_pb2.DTYPE_FLOAT64: np.dtype("<f8"),
        values_pb2.DTYPE_INT32: np.dtype("<i4"),
        values_pb2.DTYPE_INT64: np.dtype("<i8"),
        values_pb2.DTYPE_UINT8: np.dtype("u1"),
        values_pb2.DTYPE_INT8: np.dtype("i1"),
        values_pb2.DTYPE_INT16: np.dtype("<i2"),
        values_pb2.DTYPE_UINT16: np.dtype("<u2"),
        values_pb2.DTYPE_UINT32: np.dtype("<u4"),
        values_pb2.DTYPE_UINT64: np.dtype("<u8"),
        values_pb2.DTYPE_BOOL: np.dtype("?"),
        values_pb2.DTYPE_FLOAT16: np.dtype("<f2"),
    }
)

#: proto ``DType`` enum value -> language-neutral dtype name (as used in docs and test vectors).
DTYPE_NAMES: Mapping[int, str] = MappingProxyType(
    {
        values_pb2.DTYPE_FLOAT32: "float32",
        values_pb2.DTYPE_FLOAT64: "float64",
        values_pb2.DTYPE_INT32: "int32",
        values_pb2.DTYPE_INT64: "int64",
        values_pb2.DTYPE_UINT8: "uint8",
        values_pb2.DTYPE_INT8: "int8",
        values_pb2.DTYPE_INT16: "int16",
        values_pb2.DTYPE_UINT16: "uint16",
        values_pb2.DTYPE_UINT32: "uint32",
        values_pb2.DTYPE_UINT64: "uint64",
        values_pb2.DTYPE_BOOL: "bool",
        values_pb2.DTYPE_FLOAT16: "float16",
    }
)

# (numpy kind, itemsize) -> proto enum; byte order is handled separately.
_BY_KIND_SIZE: dict[tuple[str, int], int] = {(dt.kind, dt.itemsize): code for code, dt in DTYPES.items()}


def proto_dtype_for(dtype: np.dtype) -> int | None:
    """The proto ``DType`` for a numpy dtype (any byte order), or ``None`` if unsupported."""
    if dtype.fields is not None or dtype.subdtype is not None:
        return None
    return _BY_KIND_SIZE.get((dtype.kind, dtype.itemsize))
