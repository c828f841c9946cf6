"""DSPex's tool exceptions, in the bridge's error tree:
``ToolNotFoundError`` is a ``NotFoundError`` (so a ``KeyError``: code 5, reason ``not_found``);
``ToolExecutionError`` wraps what a tool raised (code 2, reason ``python_error``) with the
original as ``__cause__``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ..errors import BridgeError, NotFoundError

__all__ = ["ToolExecutionError", "ToolNotFoundError", "as_tool_not_found"]


class ToolNotFoundError(NotFoundError):
    """No tool of that name (``details["tool"]``)."""

    @property
    def tool(self) -> Any:
        return self.details.get("tool")


class ToolExecutionError(BridgeError):
    """A tool raised: ``"Error executing tool 'name': ..."``, the original chained as ``__cause__``
    and named in ``details["error_type"]``."""


@contextlib.contextmanager
def as_tool_not_found(name: str) -> Iterator[None]:
    """Re-raises the host's not-found answer for tool ``name`` as a ``ToolNotFoundError``."""
    try:
        yield
    except ToolNotFoundError:
        raise
    except NotFoundError as exc:
        if exc.details.get("tool") in (None, name) and "variable" not in exc.details:
            raise ToolNotFoundError(
                str(exc) or f"Tool '{name}' not found", details={**exc.details, "tool": name}
            ) from exc
        raise
