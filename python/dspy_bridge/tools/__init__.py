"""Tools in both directions (``docs/tools-python.md``).

- Python tools: ``@tool`` functions in a ``ToolRegistry`` (``default_tool_registry`` is the one
  workers serve to TypeScript through the ``tools.*`` commands), with a JSON Schema derived
  from the signature and argument checks from the command registry.
- TypeScript tools from Python: ``call_tool``, ``stream_tool``, ``list_tools`` over the host's
  bridge service; ``SessionTools(session_context)`` for a session's own tools.
- DSPy: ``typescript_tools()``, ``dspy_tool(spec)``, ``python_tools_as_dspy()`` give
  ``dspy.Tool`` objects (DSPy is imported only by these).
- DSPex's interface: ``ToolRegistry.register_python_tool`` /
  ``register_elixir_tool`` / ``get_tool`` / ``list_tools`` / ``execute_tool`` with
  ``ToolInfo``, ``ToolBridge``, ``ToolNotFoundError`` and ``ToolExecutionError``.
"""

from ._bridge import ToolBridge
from ._client import SessionTools, ToolSpec, call_tool, close_tool_clients, list_tools, stream_tool, tool_client
from ._dspy import dspy_tool, python_tools_as_dspy, typescript_tools
from ._errors import ToolExecutionError, ToolNotFoundError
from ._registry import PythonTool, ToolInfo, ToolMetadata, ToolRegistry, current_session_id, default_tool_registry, tool
from ._schema import function_schema, json_schema_for, parse_docstring

__all__ = [
    "PythonTool",
    "SessionTools",
    "ToolBridge",
    "ToolExecutionError",
    "ToolInfo",
    "ToolMetadata",
    "ToolNotFoundError",
    "ToolRegistry",
    "ToolSpec",
    "call_tool",
    "close_tool_clients",
    "current_session_id",
    "default_tool_registry",
    "dspy_tool",
    "function_schema",
    "json_schema_for",
    "list_tools",
    "parse_docstring",
    "python_tools_as_dspy",
    "stream_tool",
    "tool",
    "tool_client",
    "typescript_tools",
]
