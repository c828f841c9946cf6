"""Values with out-of-band attachments on the worker connection (the frame: _framing.py).

A Value sent here carries AttachmentDescriptors (index, kind, dtype, shape, length) and its
attachments' bytes follow the frame's protobuf raw; a Value received here has its
descriptors checked against the frame and resolved to views of it.
"""

from __future__ import annotations

from typing import Any

from .._gen.dspy_bridge.v1 import values_pb2
from ..values import ExternalAttachment, ExternalTensor
from ..values._encode import RawAttachment
from ._framing import OutOfBandError

__all__ = ["descriptors_for", "raw_size", "resolve_external"]

_Kind = values_pb2.AttachmentDescriptor
_KINDS = {"bytes": _Kind.KIND_BYTES, "tensor": _Kind.KIND_TENSOR, "utf8": _Kind.KIND_UTF8}


def _nbytes(data: Any) -> int:
    return data.nbytes if type(data) is memoryview else len(data)


def raw_size(raws: list[RawAttachment]) -> int:
    """The bytes the attachments add to a message."""
    return sum(_nbytes(r[3]) for r in raws)


def descriptors_for(raws: list[RawAttachment], first: int = 0) -> list[values_pb2.AttachmentDescriptor]:
    """One descriptor per attachment, numbered in order from `first` (the frame carries them
    in that order; a message with several Values numbers them across the whole frame)."""
    out = []
    for i, (kind, code, shape, data) in enumerate(raws, first):
        d = values_pb2.AttachmentDescriptor(index=i, kind=_KINDS[kind], length=_nbytes(data))
        if kind == "tensor":
            d.dtype = code
            d.shape.extend(shape)
        out.append(d)
    return out


def resolve_external(external: Any, raw: list[memoryview] | None) -> list[ExternalAttachment]:
    """The attachments `external` describes, as views of the frame's `raw` attachments.
    Raises OutOfBandError for a descriptor pointing outside the frame, or whose length or
    kind disagrees with it."""
    have = len(raw) if raw is not None else 0
    out: list[ExternalAttachment] = []
    for i, d in enumerate(external):
        if d.index >= have:
            raise OutOfBandError(f"attachment descriptor {i} points at attachment {d.index}; the frame holds {have}")
        data = raw[d.index]  # type: ignore[index]
        if d.length != data.nbytes:
            raise OutOfBandError(
                f"attachment descriptor {i} says {d.length} bytes; attachment {d.index} holds {data.nbytes}"
            )
        if d.kind == _Kind.KIND_BYTES:
            out.append(ExternalAttachment("bytes", data))
        elif d.kind == _Kind.KIND_UTF8:
            out.append(ExternalAttachment("utf8", data))
        elif d.kind == _Kind.KIND_TENSOR:
            out.append(ExternalAttachment("tensor", data, ExternalTensor(d.dtype, d.shape, data)))
        else:
            raise OutOfBandError(f"attachment descriptor {i} has unknown kind {d.kind}")
    return out
