"""Errors raised by the value envelope codec.

Both classes are self-contained (they subclass ``ValueError`` directly) so the shared error
hierarchy in ``dspy_bridge.errors`` can re-parent them later without changing callers:
``reason`` is the wire-level error reason and ``path`` names where in the value the problem is
(``value.items[3]``, ``args["odd key"]``).
"""

from __future__ import annotations

import json
import re
from typing import Sequence, Union

PathSegment = Union[str, int]

_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*\Z")


def format_path(root: str, segments: Sequence[PathSegment]) -> str:
    """``root`` followed by ``.key`` / ``["odd key"]`` / ``[3]`` for each segment (outermost first)."""
    parts = [root]
    for seg in segments:
        if isinstance(seg, int):
            parts.append(f"[{seg}]")
        elif _IDENT.match(seg):
            parts.append(f".{seg}")
        else:
            parts.append(f"[{json.dumps(seg, ensure_ascii=False)}]")
    return "".join(parts)


class ValueEncodingError(ValueError):
    """A Python value cannot be represented in the value envelope."""

    reason: str = "invalid_argument"

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"cannot encode {path}: {detail}")
        self.path = path
        self.detail = detail


class ValueDecodingError(ValueError):
    """A ``Value`` message is malformed (bad JSON, unknown tag, bad attachment, ...)."""

    reason: str = "invalid_argument"

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"cannot decode {path}: {detail}")
        self.path = path
        self.detail = detail


class _Fail(Exception):
    """Internal: raised deep inside a walk; containers append their segment while it unwinds."""

    __slots__ = ("detail", "segments")

    def __init__(self, detail: str, segments: list[PathSegment] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.segments: list[PathSegment] = segments if segments is not None else []
