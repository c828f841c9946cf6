"""dspy-bridge, Python side: the worker server, values and errors shared with the TypeScript host,
and ``SessionContext`` for a session's variables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["SessionContext", "SyncSessionContext", "VariableCache", "VariableUpdate"]

if TYPE_CHECKING:
    from .session import SessionContext, SyncSessionContext, VariableCache, VariableUpdate

_LAZY = {"SessionContext", "SyncSessionContext", "VariableCache", "VariableUpdate"}


def __getattr__(name: str) -> Any:
    # Imported on first use, so `import dspy_bridge` (every worker) stays cheap.
    if name in _LAZY:
        from . import session

        return getattr(session, name)
    raise AttributeError(f"module 'dspy_bridge' has no attribute {name!r}")
