"""DSPex's ``ToolBridge``: calling host tools from Python and Python tools
for the host, over one tool registry.

The host (TypeScript here, Elixir in DSPex) calls the Python tools of its **workers**: a
tool registered in a worker's ``default_tool_registry`` when the worker starts (``@tool`` in a
module the workers load) is listed and callable from TypeScript at once — that is what
``register_python_tool_for_elixir`` does there. In another Python process it registers the
tool locally (``handle_elixir_tool_call`` serves it); the host cannot reach into a client.

Calls follow DSPex's shapes: ``call_elixir_tool(session_id, name, params)`` returns the
tool's result (from a coroutine it returns an awaitable: ``await bridge.call_elixir_tool(...)``,
or use ``acall_elixir_tool``); ``handle_elixir_tool_call`` answers ``{"success": True,
"result": ...}`` or ``{"success": False, "error": "..."}``. Failures of ``call_elixir_tool``
are the typed errors of the host's answer (``ToolNotFoundError``, ``InvalidArgumentError``
naming the argument, the tool's own error), not one generic ``BridgeError``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from ._client import _call, call_tool
from ._errors import as_tool_not_found
from ._registry import ToolRegistry, _run_or_return, default_tool_registry

__all__ = ["ToolBridge"]

logger = logging.getLogger(__name__)


class ToolBridge:
    """``ToolBridge(grpc_client=None, registry=None)``: ``grpc_client`` is a ``HostClient``
    (``await dspy_bridge.core.host.connect(...)``), a ``SessionContext`` or None (the host of
    ``DSPY_BRIDGE_ADDRESS``/``DSPY_BRIDGE_TOKEN``, or the worker's own host); ``registry``
    defaults to ``default_tool_registry`` (the one a worker serves to the host)."""

    def __init__(self, grpc_client: Any = None, registry: ToolRegistry | None = None) -> None:
        self.grpc_client = grpc_client
        self.tool_registry = registry if registry is not None else default_tool_registry
        self.tool_registry.set_bridge(self)

    def register_python_tool_for_elixir(self, name: str, func: Callable[..., Any]) -> None:
        """Registers ``func`` as the Python tool ``name`` (in a worker: callable by the host)."""
        self.tool_registry.register_python_tool(name, func)
        logger.debug("Python tool %r registered for the host", name)

    async def acall_elixir_tool(self, session_id: str, tool_name: str, params: Mapping[str, Any] | None = None) -> Any:
        """Calls the host's tool ``tool_name`` (a TypeScript tool, global or ``session_id``'s,
        or a workers' Python ``@tool``) and returns its result."""
        client = self.grpc_client
        with as_tool_not_found(tool_name):
            if client is not None and hasattr(client, "tools") and hasattr(client, "session_id"):  # a SessionContext
                if session_id and session_id != client.session_id:
                    return await _call(client.host, tool_name, params, session_id, None)
                return await client.tools.call(tool_name, params)
            return await call_tool(tool_name, dict(params or {}), session_id=session_id, client=client)

    def call_elixir_tool(self, session_id: str, tool_name: str, params: Mapping[str, Any] | None = None) -> Any:
        """``acall_elixir_tool`` for synchronous code (from a coroutine: an awaitable)."""
        return _run_or_return(self.acall_elixir_tool(session_id, tool_name, params))

    def handle_elixir_tool_call(
        self, tool_name: str, params: Mapping[str, Any] | None = None, session_id: str | None = None
    ) -> Any:
        """Runs a tool of this bridge's registry for the host: ``{"success": True, "result": r}``
        or ``{"success": False, "error": "..."}`` (from a coroutine: an awaitable of that)."""

        async def run() -> dict[str, Any]:
            try:
                result = self.tool_registry.execute_tool(tool_name, params, session_id)
                if hasattr(result, "__await__"):
                    result = await result
                return {"success": True, "result": result}
            except Exception as exc:  # noqa: BLE001 - DSPex answers failures as data
                logger.error("Python tool %r failed: %s", tool_name, exc)
                return {"success": False, "error": str(exc)}

        return _run_or_return(run())
