"""dspy-bridge, Python side: the worker server, values and errors shared with the TypeScript host,
and ``SessionContext`` for a session's variables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["SessionContext", "SyncSessionContext", "VariableCache", "VariableUpdate"]

# Variable-aware DSPy modules (docs/dspy-modules.md), imported lazily from dspy_bridge.dspy.
_LAZY_DSPY = (
    "BridgeError",
    "ModuleSpec",
    "ModuleVariableResolver",
    "SessionError",
    "ValidationError",
    "VariableAwareBestOfN",
    "VariableAwareChainOfThought",
    "VariableAwareMixin",
    "VariableAwareMultiChainComparison",
    "VariableAwarePredict",
    "VariableAwareProgramOfThought",
    "VariableAwareReAct",
    "VariableAwareRefine",
    "VariableNotFoundError",
    "create_variable_aware_module",
    "make_variable_aware",
)
__all__ += list(_LAZY_DSPY)

if TYPE_CHECKING:
    from .session import SessionContext, SyncSessionContext, VariableCache, VariableUpdate
    from .dspy import (
        BridgeError,
        ModuleSpec,
        ModuleVariableResolver,
        SessionError,
        ValidationError,
        VariableAwareBestOfN,
        VariableAwareChainOfThought,
        VariableAwareMixin,
        VariableAwareMultiChainComparison,
        VariableAwarePredict,
        VariableAwareProgramOfThought,
        VariableAwareReAct,
        VariableAwareRefine,
        VariableNotFoundError,
        create_variable_aware_module,
        make_variable_aware,
    )

_LAZY = {"SessionContext", "SyncSessionContext", "VariableCache", "VariableUpdate"}


def __getattr__(name: str) -> Any:
    # Imported on first use, so `import dspy_bridge` (every worker) stays cheap.
    if name in _LAZY:
        from . import session

        return getattr(session, name)
    if name in _LAZY_DSPY:
        from . import dspy as _dspy

        return getattr(_dspy, name)
    raise AttributeError(f"module 'dspy_bridge' has no attribute {name!r}")
