"""Errors raised by the value envelope codec.

Both are invalid arguments (``InvalidArgumentError``, hence also ``ValueError``) whose ``path``
names where in the value the problem is (``value.items[3]``, ``args["odd key"]``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from ..errors import InvalidArgumentError

PathSegment = str | int

_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*\Z")


def format_path(root: str, segments: Sequence[PathSegment]) -> str:
    """``root`` followed by ``.key`` / ``["odd key"]`` / ``[3]`` for each segment (outermost first)."""
    parts = [root]
    for seg in segments:
        if isinstance(seg, int):
            parts.append(f"[{seg}]")
        elif len(seg) <= 100 and _IDENT.match(seg):
            parts.append(f".{seg}")
        else:
            # A key is echoed at most 100 characters long: a peer may send keys of any length.
            parts.append(f"[{json.dumps(seg if len(seg) <= 100 else seg[:99] + '…', ensure_ascii=False)}]")
    return "".join(parts)


class ValueEncodingError(InvalidArgumentError):
    """A Python value cannot be represented in the value envelope."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"cannot encode {path}: {detail}", details={"path": path})
        self.path = path
        self.detail = detail


class ValueDecodingError(InvalidArgumentError):
    """A ``Value`` message is malformed (bad JSON, unknown tag, bad attachment, ...)."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"cannot decode {path}: {detail}", details={"path": path})
        self.path = path
        self.detail = detail


class _Fail(Exception):
    """Internal: raised deep inside a walk; containers append their segment while it unwinds."""

    __slots__ = ("detail", "segments")

    def __init__(self, detail: str, segments: list[PathSegment] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.segments: list[PathSegment] = segments if segments is not None else []
