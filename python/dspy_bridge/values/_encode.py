"""Python object -> ``values_pb2.Value``.

Fast path: one copy-on-write walk (no allocation unless something special is found) followed by
one C-accelerated ``json`` encoder call. The walk is needed even for plain data because
``json.dumps`` would silently accept things the envelope must treat specially (integers beyond
2**53, non-str dict keys, ``"$type"`` keys).
"""

from __future__ import annotations

import json
import sys
from typing import Any
from collections.abc import Callable

import numpy as np

from dspy_bridge._gen.dspy_bridge.v1 import values_pb2

from ._dtypes import proto_dtype_for
from ._embedding import Embedding
from ._errors import PathSegment, ValueEncodingError, _Fail, format_path

MAX_SAFE_INTEGER = 2**53 - 1
# Strings of at least this many characters travel as UTF-8 attachments ({"$type":"string"})
# on the worker connection: raw bytes beside the message, never escaped into the JSON text
# or parsed out of it. The host uses the same number (LONG_STRING_CHARS in ts/src/values).
LONG_STRING_CHARS = 16 * 1024

# An attachment before it is put anywhere: (kind, dtype code, shape, bytes-like). Over gRPC
# it becomes a values_pb2.Attachment; on the worker connection its bytes go out of band.
RawAttachment = tuple[str, int, tuple[int, ...], Any]

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
# Fallback for strings holding lone surrogates: they are legal Python str values (and legal
# JSON escapes) but cannot be stored raw in a proto string field (must be UTF-8).
_ASCII_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def _no_default(o: Any) -> Any:
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


# Runs once, when the module loads: a mutation test cannot switch a mutant of it in afterwards.
def _make_fast_encoder() -> Callable[[Any], str]:  # pragma: no mutate block
    """Reuse one C encoder: ``JSONEncoder.encode()`` builds a new one on every call (~0.8 us)."""
    try:
        from json.encoder import (
            c_make_encoder,
            encode_basestring,
        )  # here: a Python without the C accelerator falls back
    except ImportError:  # pragma: no cover
        return _ENCODER.encode
    if c_make_encoder is None:  # pragma: no cover - pure-Python json
        return _ENCODER.encode
    # markers=None: no circular check here; the walk before it already rejects cycles.
    c_encoder = c_make_encoder(None, _no_default, encode_basestring, None, ":", ",", False, False, False)
    join = "".join

    def encode(obj: Any) -> str:
        return join(c_encoder(obj, 0))

    return encode


_encode_json: Callable[[Any], str] = _make_fast_encoder()
# What the C encoder writes for a string, an int and a float (encode_small_map_utf8).
_escape: Callable[[str], str] = json.encoder.encode_basestring
_int_repr = int.__repr__
_float_repr = float.__repr__
_encode_json_ascii: Callable[[Any], str] = _ASCII_ENCODER.encode

_NAN: dict[str, str] = {"$type": "float", "value": "NaN"}
_INF: dict[str, str] = {"$type": "float", "value": "Infinity"}
_NINF: dict[str, str] = {"$type": "float", "value": "-Infinity"}

_FLOAT_KINDS = (np.dtype("<f4"), np.dtype("<f8"))


def _type_name(obj: Any) -> str:
    t = type(obj)
    mod = t.__module__
    return t.__qualname__ if mod == "builtins" else f"{mod}.{t.__qualname__}"


def _special_float(x: float) -> dict[str, str]:
    if x != x:
        return dict(_NAN)
    return dict(_INF) if x > 0 else dict(_NINF)


def _raw_tensor(arr: np.ndarray, what: str) -> RawAttachment:
    code = proto_dtype_for(arr.dtype)
    if code is None:
        raise _Fail(f"{what} dtype {arr.dtype} is not supported (use float16/32/64, (u)int8/16/32/64 or bool)")
    if arr.dtype.byteorder == ">" or (arr.dtype.byteorder == "=" and sys.byteorder == "big"):
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    # Row-major element bytes: a view of a C-contiguous array (no copy), a copy otherwise.
    if not arr.flags.c_contiguous:
        arr = arr.copy(order="C")  # not ascontiguousarray: it makes a 0-d array 1-d
    data = memoryview(arr.reshape(-1).view(np.uint8)) if arr.size else b""
    return ("tensor", code, arr.shape, data)


def _bytes_of(data: Any) -> bytes:
    return data if type(data) is bytes else bytes(data)


def raw_to_attachment(raw: RawAttachment) -> values_pb2.Attachment:
    """The protobuf Attachment of a raw attachment (copies its bytes into the message)."""
    kind, code, shape, data = raw
    if kind == "tensor":
        return values_pb2.Attachment(tensor=values_pb2.Tensor(dtype=code, shape=shape, data=_bytes_of(data)))
    if kind == "utf8":
        return values_pb2.Attachment(utf8=_bytes_of(data))
    return values_pb2.Attachment(bytes=_bytes_of(data))


class _Walker:
    """Copy-on-write walk: returns the object itself when nothing inside it needs changing."""

    __slots__ = ("attachments", "long_strings")

    def __init__(self, long_strings: bool = False) -> None:
        self.attachments: list[RawAttachment] = []
        self.long_strings = long_strings

    def walk(self, obj: Any) -> Any:
        t = type(obj)
        if t is str:
            if len(obj) < LONG_STRING_CHARS or not self.long_strings:
                return obj
            return self._long_string(obj)
        if obj is None or t is bool:
            return obj
        if t is int:
            if -MAX_SAFE_INTEGER <= obj <= MAX_SAFE_INTEGER:
                return obj
            return self._bigint(obj)
        if t is float:
            if obj - obj == 0.0:  # finite (inf - inf and nan - nan are nan)
                return obj
            return _special_float(obj)
        if t is dict:
            return self._dict(obj)
        if t is list or t is tuple:
            return self._list(obj)
        return self._other(obj)

    def _bigint(self, obj: int) -> dict[str, str]:
        try:
            digits = str(obj)
        except ValueError as exc:  # beyond sys.get_int_max_str_digits()
            raise _Fail(f"int too large to encode ({exc})") from None
        return {"$type": "bigint", "value": digits}

    def _dict(self, d: dict[Any, Any]) -> Any:
        out: dict[str, Any] | None = None
        walk = self.walk
        key: Any = None
        renamed = False
        try:
            for key, v in d.items():
                if type(key) is not str:
                    if not isinstance(key, str):
                        raise _Fail(
                            f"dict key {key!r} has type {_type_name(key)}; only str keys are allowed",
                            ["\0key"],
                        )
                    # str subclass: made a plain str below, so json sees one, in the key's own place
                    if out is None:
                        out = dict(d)
                    out[key] = walk(v)
                    renamed = True
                    continue
                nv = walk(v)
                if nv is not v:
                    if out is None:
                        out = dict(d)
                    out[key] = nv
        except _Fail as f:
            if f.segments and f.segments[-1] == "\0key":
                f.segments.pop()
            else:
                f.segments.append(key)
            raise
        result = d if out is None else out
        if renamed:
            result = {k if type(k) is str else str(k): v for k, v in result.items()}
        if "$type" in result:
            return {"$type": "map", "entries": result}
        return result

    def _list(self, seq: list[Any] | tuple[Any, ...]) -> Any:
        out: list[Any] | None = None
        walk = self.walk
        i = 0
        try:
            for i, v in enumerate(seq):
                nv = walk(v)
                if nv is not v:
                    if out is None:
                        out = list(seq)
                    out[i] = nv
        except _Fail as f:
            f.segments.append(i)
            raise
        if out is not None:
            return out
        return seq if type(seq) is list else list(seq)

    def _attach(self, att: RawAttachment) -> int:
        self.attachments.append(att)
        return len(self.attachments) - 1

    def _long_string(self, s: str) -> Any:
        try:
            data = s.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: only a JSON escape can carry them
            return s
        return {"$type": "string", "ref": self._attach(("utf8", 0, (), data))}

    def _other(self, obj: Any) -> Any:
        # Subclasses of the JSON types (IntEnum, str enums, OrderedDict, numpy float64, ...).
        if isinstance(obj, bool):
            return bool(obj)
        if isinstance(obj, str):
            return self.walk(str(obj))
        if isinstance(obj, int):
            return self.walk(int(obj))
        if isinstance(obj, float):
            return self.walk(float(obj))
        if isinstance(obj, np.ndarray):
            return self._array(obj)
        if isinstance(obj, (bytes, bytearray, memoryview)):
            # A snapshot: a bytearray or memoryview may change before the frame is written.
            data = obj.tobytes() if isinstance(obj, memoryview) else bytes(obj)
            return {"$type": "bytes", "ref": self._attach(("bytes", 0, (), data))}
        if isinstance(obj, np.generic):
            # numpy scalars: np.bool_ -> bool, np.integer -> int, np.floating -> float
            if isinstance(obj, np.bool_):
                return bool(obj)
            if isinstance(obj, np.integer):
                return self.walk(int(obj))
            if isinstance(obj, np.floating):
                return self.walk(float(obj))
            raise _Fail(f"numpy scalar of type {_type_name(obj)} is not supported")
        if isinstance(obj, dict):
            return self._dict(obj)
        if isinstance(obj, (list, tuple)):
            return self._list(obj)
        hint = ""
        if isinstance(obj, (set, frozenset)):
            hint = " (sets are not supported; convert to a sorted list)"
        raise _Fail(f"values of type {_type_name(obj)} are not supported{hint}")

    def _array(self, arr: np.ndarray) -> Any:
        if isinstance(arr, np.ma.MaskedArray):
            raise _Fail("masked arrays are not supported (the mask would be lost)")
        if isinstance(arr, Embedding):
            if arr.ndim != 1 or arr.dtype.newbyteorder("<") not in _FLOAT_KINDS:
                raise _Fail(
                    f"an Embedding must be 1-D float32/float64, got shape {arr.shape} dtype {arr.dtype}; "
                    "use np.asarray(x) to send it as a tensor"
                )
            t = _raw_tensor(np.asarray(arr), "embedding")
            return {"$type": "embedding", "ref": self._attach(t)}
        return {"$type": "tensor", "ref": self._attach(_raw_tensor(arr, "tensor"))}


def _diagnose_depth(obj: Any, root: str) -> ValueEncodingError:
    """Called after a RecursionError: find a reference cycle (with its path) if there is one."""
    active: set[int] = set()
    path: list[PathSegment] = []

    def visit(o: Any) -> ValueEncodingError | None:
        if isinstance(o, dict):
            items: Any = o.items()
        elif isinstance(o, (list, tuple)):
            items = enumerate(o)
        else:
            return None
        if id(o) in active:
            return ValueEncodingError(format_path(root, path), f"reference cycle ({_type_name(o)} contains itself)")
        active.add(id(o))
        for k, v in items:
            path.append(k)
            found = visit(v)
            if found is not None:
                return found
            path.pop()
        active.discard(id(o))
        return None

    try:
        found = visit(obj)
    except RecursionError:
        found = None
    return found or ValueEncodingError(format_path(root, []), "value is nested too deeply")


def _is_plain_scalar(v: Any) -> bool:
    t = type(v)
    if t is str:
        return len(v) < LONG_STRING_CHARS
    if v is None or t is bool:
        return True
    if t is int:
        return -MAX_SAFE_INTEGER <= v <= MAX_SAFE_INTEGER
    if t is float:
        return v - v == 0.0
    return False


def _is_plain(obj: Any) -> bool:
    """True for a scalar, or a small tree of dicts (str keys, not "$type") and lists over
    scalars, that the JSON encoder renders exactly as the walk would: the common shape of a
    command's result (a DSPy run's fields, usage and timings), answered without building a
    walker (bench/bridge.mjs and bench/dspy.mjs measure every call)."""
    t = type(obj)
    if t is dict or t is list:
        return _plain_tree_budget(obj, 64, 4) >= 0
    return _is_plain_scalar(obj)


def _plain_tree_budget(obj: Any, budget: int, depth: int) -> int:
    """What is left of `budget` (items still allowed) after checking `obj` is a plain tree no
    deeper than `depth`; negative when it is not one (or too big to be worth checking here)."""
    if depth == 0:
        return -1
    budget -= len(obj)
    if budget < 0:
        return -1
    if type(obj) is dict:
        for k in obj:
            if type(k) is not str or k == "$type":
                return -1
        values: Any = obj.values()
    else:
        values = obj
    for v in values:
        tv = type(v)
        if tv is dict or tv is list:
            budget = _plain_tree_budget(v, budget, depth - 1)
            if budget < 0:
                return -1
        elif not _is_plain_scalar(v):
            return -1
    return budget


def _prepare(obj: Any, path: str, long_strings: bool = False) -> tuple[Any, list[RawAttachment]]:
    if _is_plain(obj):
        return obj, []
    walker = _Walker(long_strings)
    try:
        return walker.walk(obj), walker.attachments
    except _Fail as f:
        f.segments.reverse()
        raise ValueEncodingError(format_path(path, f.segments), f.detail) from None
    except RecursionError:
        raise _diagnose_depth(obj, path) from None


def _to_json(prepared: Any, obj: Any, path: str) -> str:
    try:
        return _encode_json(prepared)
    except RecursionError:
        raise _diagnose_depth(obj, path) from None


def _is_flat_plain_dict(obj: dict[Any, Any]) -> bool:
    """True for a dict of at most eight str keys (not "$type") over plain scalars: what
    most commands return (``ping``'s ``{"ok": True}``, a status, a few numbers). Checked in
    one loop, without the budget and depth bookkeeping of _is_plain's general walk, because
    every result of the worker takes this path."""
    if len(obj) > 8:
        return False
    for k, v in obj.items():
        if type(k) is not str or k == "$type":
            return False
        # bool and None inline (flags and empty fields are the most common values)
        if v is not True and v is not False and v is not None and not _is_plain_scalar(v):
            return False
    return True


def encode_small_map_utf8(obj: Any) -> bytes | None:
    """The UTF-8 JSON of a small flat map of plain scalars (what most commands return), or
    None for anything else (then encode_value_raw, whose text this equals byte for byte).

    Built here, in one pass that checks as it goes, because this runs for nearly every
    result a worker sends, and for a map of a few entries the C encoder's set-up (its item
    list, writer and result tuple) plus a separate check cost about three times as much:
    the pieces are the ones the C encoder writes (its string escaper; int and float repr).
    """
    if type(obj) is not dict or len(obj) > 8:
        return None
    parts = []
    for k, v in obj.items():
        if type(k) is not str or k == "$type":
            return None
        if v is True:
            parts.append(_escape(k) + ":true")
            continue
        if v is False:
            parts.append(_escape(k) + ":false")
            continue
        if v is None:
            parts.append(_escape(k) + ":null")
            continue
        t = type(v)
        if t is str:
            if len(v) >= LONG_STRING_CHARS:
                return None
            parts.append(_escape(k) + ":" + _escape(v))
        elif t is int:
            if not -MAX_SAFE_INTEGER <= v <= MAX_SAFE_INTEGER:
                return None
            parts.append(_escape(k) + ":" + _int_repr(v))
        elif t is float and v - v == 0.0:
            parts.append(_escape(k) + ":" + _float_repr(v))
        else:
            return None
    try:
        return ("{" + ",".join(parts) + "}").encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: encode_value_raw escapes them
        return None


def encode_value_parts(obj: Any, path: str = "value") -> tuple[str, list[values_pb2.Attachment]]:
    """Encode ``obj`` to ``(json_text, attachments)``. ``path`` names the root in error messages."""
    if type(obj) is dict and _is_flat_plain_dict(obj):
        return _encode_json(obj), []
    prepared, attachments = _prepare(obj, path)
    return _to_json(prepared, obj, path), [raw_to_attachment(a) for a in attachments]


def encode_value_raw(obj: Any, path: str = "value") -> tuple[str, list[RawAttachment]]:
    """Encode ``obj`` for the worker connection: ``(json_text, raw attachments)``, long
    strings among the attachments, arrays as views of their memory where they are
    contiguous (the frame copies them once)."""
    if type(obj) is dict and _is_flat_plain_dict(obj):
        prepared: Any = obj
        attachments: list[RawAttachment] = []
        text = _encode_json(obj)
    else:
        prepared, attachments = _prepare(obj, path, True)
        text = _to_json(prepared, obj, path)
    if not text.isascii():  # O(1): CPython knows whether a str is ASCII
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: a proto string must be UTF-8
            text = _encode_json_ascii(prepared)
    return text, attachments


def encode_value(obj: Any, path: str = "value") -> values_pb2.Value:
    """Encode a Python value as a ``Value`` envelope.

    Raises ``ValueEncodingError`` (with ``.path``, e.g. ``args.items[3]``) for values the
    envelope cannot carry. ``path`` is the name used for the root in those messages.
    """
    prepared, attachments = _prepare(obj, path)
    text = _to_json(prepared, obj, path)
    msg = values_pb2.Value()
    try:
        msg.json = text
    except (UnicodeEncodeError, ValueError):
        # Lone surrogates are legal in a Python str and as JSON escapes, but a proto string
        # must be valid UTF-8: escape non-ASCII instead (the same JSON value).
        msg.json = _encode_json_ascii(prepared)
    if attachments:
        msg.attachments.extend(raw_to_attachment(a) for a in attachments)
    return msg
