"""Worker commands serving the Python tools of ``default_tool_registry`` to the host:
``tools.list``, ``tools.call``, ``tools.stream`` (imported by the fork server before workers
fork, like ``dspy_bridge.session.commands``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ..core.registry import CommandContext, command
from ._registry import default_tool_registry

__all__ = ["call_tool_command", "list_tools_command", "stream_tool_command"]


@command(name="tools.list")
def list_tools_command() -> list[dict[str, Any]]:
    """The worker's Python tools: ``{name, description, parameters, streaming, owner: "python"}`` each."""
    return default_tool_registry.specs()


@command(name="tools.call")
async def call_tool_command(name: str, args: dict[str, Any] | None = None, ctx: CommandContext | None = None) -> Any:
    """Validates ``args`` and runs the Python tool ``name`` in the call's session. Cancelling
    the call cancels the tool (async tools) or is answered once its thread ends (blocking ones)."""
    return await default_tool_registry.call(name, args, context=ctx)


@command(name="tools.stream")
async def stream_tool_command(
    name: str, args: dict[str, Any] | None = None, ctx: CommandContext | None = None
) -> AsyncIterator[Any]:
    """Yields the items of the streaming Python tool ``name``."""
    items = await default_tool_registry.stream(name, args, context=ctx)
    async for item in items:
        yield item
