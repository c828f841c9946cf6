"""dspy-bridge, Python side: the worker server, values and errors shared with the TypeScript host,
and ``SessionContext`` for a session's variables.

Names and forms the code calls DSPex's (``VariableManager``, ``ToolBridge``, the adapter
commands, the value forms it accepts, ...) are kept so that Python code written for DSPex, the
Elixir DSPy bridge whose Python API this package carries on, runs here unchanged, even where
the rest of the API would say it differently; docs/seed-conformance.md lists each with its test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._gen.constants import VERSION as __version__

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

# Tools in both directions (docs/tools-python.md), imported lazily from dspy_bridge.tools.
_LAZY_TOOLS = (
    "SessionTools",
    "ToolRegistry",
    "call_tool",
    "default_tool_registry",
    "dspy_tool",
    "list_tools",
    "python_tools_as_dspy",
    "stream_tool",
    "tool",
    "typescript_tools",
)
__all__ += list(_LAZY_TOOLS)

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
    from .tools import (
        SessionTools,
        ToolRegistry,
        call_tool,
        default_tool_registry,
        dspy_tool,
        list_tools,
        python_tools_as_dspy,
        stream_tool,
        tool,
        typescript_tools,
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
    if name in _LAZY_TOOLS:
        from . import tools as _tools

        return getattr(_tools, name)
    raise AttributeError(f"module 'dspy_bridge' has no attribute {name!r}")
