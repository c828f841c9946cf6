"""``values_pb2.Value`` -> Python object.

Fast path: one C-accelerated ``json`` decode; the tree is only walked when the text could
contain a tag, i.e. when it contains ``"$type"`` literally or any ``\\u`` escape (an escaped key
such as ``"\\u0024type"`` is the only other way to spell that key).
"""

from __future__ import annotations

import json
import re
from typing import Any, NoReturn

import numpy as np

from dspy_bridge._gen.dspy_bridge.v1 import values_pb2

from ._dtypes import DTYPE_NAMES, DTYPES
from ._embedding import Embedding
from ._errors import ValueDecodingError, _Fail, format_path

MAX_SAFE_INTEGER = 2**53 - 1
_BIGINT = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")
_FLOATS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}
_FLOAT_CODES = (values_pb2.DTYPE_FLOAT32, values_pb2.DTYPE_FLOAT64)


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON (non-finite floats must be tagged)")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_scan_once = _DECODER.scan_once


def _decode_json(text: str) -> Any:
    # Fast path: the scanner directly (JSONDecoder.decode adds two regex whitespace scans).
    # Anything unusual (surrounding whitespace, errors) goes through decode() for its checks
    # and error messages.
    try:
        obj, end = _scan_once(text, 0)
    except StopIteration:
        return _DECODER.decode(text)
    if end != len(text):
        return _DECODER.decode(text)
    return obj


class _Decoder:
    __slots__ = ("attachments",)

    def __init__(self, attachments: Any) -> None:
        self.attachments = attachments

    def walk(self, node: Any) -> Any:
        t = type(node)
        if t is dict:
            if "$type" in node:
                return self._tag(node)
            key: Any = None
            try:
                for key, v in node.items():
                    tv = type(v)
                    if tv is dict or tv is list:
                        nv = self.walk(v)
                        if nv is not v:
                            node[key] = nv
            except _Fail as f:
                f.segments.append(key)
                raise
            return node
        if t is list:
            i = 0
            try:
                for i, v in enumerate(node):
                    tv = type(v)
                    if tv is dict or tv is list:
                        nv = self.walk(v)
                        if nv is not v:
                            node[i] = nv
            except _Fail as f:
                f.segments.append(i)
                raise
            return node
        return node

    def _tag(self, node: dict[str, Any]) -> Any:
        kind = node["$type"]
        if kind == "bigint":
            _expect_keys(node, "value")
            digits = node["value"]
            if type(digits) is not str or not _BIGINT.match(digits):
                raise _Fail(f"bigint value must be a decimal integer string, got {digits!r}")
            try:
                return int(digits)
            except ValueError as exc:
                raise _Fail(f"bigint too large ({exc})") from None
        if kind == "float":
            _expect_keys(node, "value")
            v = node["value"]
            if type(v) is not str or v not in _FLOATS:
                raise _Fail(f'float value must be "NaN", "Infinity" or "-Infinity", got {v!r}')
            return _FLOATS[v]
        if kind == "bytes":
            _expect_keys(node, "ref")
            data = self._ref(node["ref"], "bytes").bytes
            return data if type(data) is bytes else bytes(data)
        if kind == "string":
            _expect_keys(node, "ref")
            ref = node["ref"]
            try:
                return str(self._ref(ref, "utf8").utf8, "utf-8")
            except UnicodeDecodeError as exc:
                raise _Fail(f"string attachment {ref} is not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
        if kind == "tensor":
            _expect_keys(node, "ref")
            return _tensor(self._ref(node["ref"], "tensor").tensor)
        if kind == "embedding":
            _expect_keys(node, "ref")
            t = self._ref(node["ref"], "tensor").tensor
            if t.dtype not in _FLOAT_CODES:
                name = DTYPE_NAMES.get(t.dtype, str(t.dtype))
                raise _Fail(f"embedding must be float32 or float64, got {name}")
            if len(t.shape) != 1:
                raise _Fail(f"embedding must be 1-D, got shape {list(t.shape)}")
            return _tensor(t).view(Embedding)
        if kind == "map":
            _expect_keys(node, "entries")
            entries = node["entries"]
            if type(entries) is not dict:
                raise _Fail(f"map entries must be an object, got {type(entries).__name__}")
            # The entries object is literal: its own "$type" key is data, not a tag.
            try:
                for key, v in entries.items():
                    tv = type(v)
                    if tv is dict or tv is list:
                        nv = self.walk(v)
                        if nv is not v:
                            entries[key] = nv
            except _Fail as f:
                f.segments.append(key)
                f.segments.append("entries")
                raise
            return entries
        raise _Fail(f"unknown $type {kind!r}")

    def _ref(self, ref: Any, case: str) -> Any:
        if type(ref) is float and ref.is_integer():
            ref = int(ref)  # JSON does not distinguish 1 and 1.0 (JavaScript cannot either)
        if type(ref) is not int or ref < 0:
            raise _Fail(f"ref must be a non-negative integer, got {ref!r}")
        if ref >= len(self.attachments):
            raise _Fail(f"ref {ref} out of range ({len(self.attachments)} attachments)")
        att = self.attachments[ref]
        which = att.WhichOneof("kind")
        if which != case:
            raise _Fail(f"attachment {ref} holds {which or 'nothing'}, expected {case}")
        return att


def _expect_keys(node: dict[str, Any], key: str) -> None:
    if len(node) != 2 or key not in node:
        keys = sorted(k for k in node if k != "$type")
        raise _Fail(f"{node['$type']!r} tag must have exactly the key {key!r}, got {keys}")


def _tensor(t: values_pb2.Tensor) -> np.ndarray:
    dtype = DTYPES.get(t.dtype)
    if dtype is None:
        raise _Fail(f"unsupported tensor dtype {t.dtype}")
    shape = tuple(t.shape)
    count = 1
    for dim in shape:
        count *= dim
    data = t.data
    if count * dtype.itemsize != len(data):
        raise _Fail(
            f"tensor data is {len(data)} bytes but {DTYPE_NAMES[t.dtype]} shape {list(shape)} "
            f"needs {count * dtype.itemsize}"
        )
    arr = np.frombuffer(data, dtype=dtype)
    if t.dtype == values_pb2.DTYPE_BOOL and count and arr.view(np.uint8).max() > 1:
        raise _Fail("bool tensor bytes must be 0 or 1")
    # Read-only whatever it views (a received frame is shared by all its attachments).
    arr.flags.writeable = False
    return arr.reshape(shape)


class ExternalTensor:
    """A tensor attachment received out of band: what ``values_pb2.Tensor`` holds, its data
    a memoryview of the received frame."""

    __slots__ = ("dtype", "shape", "data")

    def __init__(self, dtype: int, shape: Any, data: memoryview) -> None:
        self.dtype = dtype
        self.shape = shape
        self.data = data


class ExternalAttachment:
    """An attachment received out of band, read like a ``values_pb2.Attachment``."""

    __slots__ = ("_kind", "bytes", "utf8", "tensor")

    def __init__(self, kind: str, data: memoryview, tensor: ExternalTensor | None = None) -> None:
        self._kind = kind
        self.bytes = data
        self.utf8 = data
        self.tensor = tensor

    def WhichOneof(self, _oneof: str) -> str:  # noqa: N802 - the protobuf message's spelling
        return self._kind


def decode_value(msg: values_pb2.Value, path: str = "value", attachments: Any = None) -> Any:
    """Decode a ``Value`` envelope into Python objects.

    Maps -> ``dict``, lists -> ``list``, integers -> ``int`` (any size), finite JSON floats and
    the float tags -> ``float``, bytes -> ``bytes``, tensors -> read-only ``np.ndarray`` viewing
    the received bytes (``.copy()`` to mutate), embeddings -> read-only ``Embedding``.
    Raises ``ValueDecodingError`` (with ``.path``) for malformed envelopes.
    ``attachments`` replaces the message's own: the out-of-band attachments of a frame
    (a list of ``ExternalAttachment``), resolved from ``msg.external`` by the reader.
    """
    text = msg.json
    if not text:
        return None
    try:
        obj = _decode_json(text)
    except RecursionError:
        raise ValueDecodingError(path, "JSON is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, rejected constants, int digit limit
        raise ValueDecodingError(path, f"malformed JSON: {exc}") from None
    if '"$type"' not in text and "\\u" not in text:
        return obj
    try:
        if attachments is None:
            if len(msg.external):
                raise _Fail("external attachments only travel on a worker connection (send them as attachments)")
            attachments = msg.attachments
        return _Decoder(attachments).walk(obj)
    except _Fail as f:
        f.segments.reverse()
        raise ValueDecodingError(format_path(path, f.segments), f.detail) from None
    except RecursionError:
        raise ValueDecodingError(path, "value is nested too deeply") from None
