"""Tools as ``dspy.Tool`` objects, for ``dspy.ReAct`` and other tool-using DSPy modules.

DSPy is imported inside these functions only, so ``dspy_bridge.tools`` works without it.
``dspy.Tool`` infers name, description and arguments from a function's signature unless they
are given: here they are always given, from the tool's JSON Schema.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ._client import ToolSpec, call_tool, list_tools, stream_tool
from ._registry import PythonTool, ToolRegistry, default_tool_registry
from ..errors import NotFoundError

if TYPE_CHECKING:
    import dspy  # here: the tools package serves workers and clients that never load DSPy

__all__ = ["dspy_tool", "python_tools_as_dspy", "typescript_tools"]


def _arg_descriptions(parameters: Mapping[str, Any]) -> dict[str, str]:
    props = parameters.get("properties") or {}
    return {k: str(v["description"]) for k, v in props.items() if isinstance(v, dict) and v.get("description")}


def _arg_types(parameters: Mapping[str, Any]) -> dict[str, Any]:
    # Any for every argument: the owning side validates and converts (DSPy would otherwise
    # try to parse values into the types it inferred from our **kwargs signature).
    return {k: Any for k in (parameters.get("properties") or {})}


def dspy_tool(
    spec: ToolSpec | Mapping[str, Any],
    *,
    session_id: str | None = None,
    client: Any = None,
    timeout: float | None = None,
) -> dspy.Tool:
    """A ``dspy.Tool`` calling the tool ``spec`` describes through the host (``call_tool``;
    a streaming tool's items are collected into a list). ``name``, ``desc`` and ``args`` (the
    schema's properties) come from the spec. Its function is async: use the module's
    ``acall`` (``await react.acall(...)``)."""
    import dspy  # here: the tools package serves workers and clients that never load DSPy

    if not isinstance(spec, ToolSpec):
        spec = ToolSpec.from_dict(spec)
    name = spec.name
    session = session_id if session_id is not None else (spec.session_id or None)
    streaming = spec.streaming

    async def run(**kwargs: Any) -> Any:
        if streaming:
            return [
                item async for item in stream_tool(name, kwargs, session_id=session, timeout=timeout, client=client)
            ]
        return await call_tool(name, kwargs, session_id=session, timeout=timeout, client=client)

    run.__name__ = name.replace(".", "_").replace("-", "_")
    run.__doc__ = spec.description
    properties = dict(spec.parameters.get("properties") or {})
    return dspy.Tool(
        run,
        name=name,
        desc=spec.description or name,
        args=properties,
        arg_types=_arg_types(spec.parameters),
        arg_desc=_arg_descriptions(spec.parameters),
    )


async def typescript_tools(
    session_id: str | None = None,
    *,
    client: Any = None,
    names: Iterable[str] | None = None,
    timeout: float | None = None,
) -> list[dspy.Tool]:
    """The host's TypeScript tools visible to ``session_id`` as ``dspy.Tool`` objects
    (``names``: only these, in this order)."""
    specs = [s for s in await list_tools(session_id, client=client) if s.owner != "python"]
    if names is not None:
        by_name = {s.name: s for s in specs}
        wanted = list(names)
        missing = [n for n in wanted if n not in by_name]
        if missing:
            raise NotFoundError(
                f"unknown tool(s) {', '.join(repr(n) for n in missing)} (available: {', '.join(sorted(by_name)) or 'none'})",
                details={"tools": missing},
            )
        specs = [by_name[n] for n in wanted]
    return [dspy_tool(s, session_id=session_id, client=client, timeout=timeout) for s in specs]


def _local_tool(found: PythonTool, registry: ToolRegistry) -> dspy.Tool:
    import dspy  # here: the tools package serves workers and clients that never load DSPy

    name = found.name
    if found.streaming:

        async def run(**kwargs: Any) -> Any:
            return [item async for item in await registry.stream(name, kwargs)]

    elif found.is_async or found.blocking:

        async def run(**kwargs: Any) -> Any:
            return await registry.call(name, kwargs)

    else:  # a plain function stays synchronous, so the module can be called without acall

        def run(**kwargs: Any) -> Any:  # type: ignore[misc]
            return registry.call_sync(name, kwargs)

    run.__name__ = name.replace(".", "_").replace("-", "_")
    run.__doc__ = found.description
    return dspy.Tool(
        run,
        name=name,
        desc=found.description or name,
        args=dict(found.parameters.get("properties") or {}),
        arg_types=_arg_types(found.parameters),
        arg_desc=_arg_descriptions(found.parameters),
    )


def python_tools_as_dspy(
    registry: ToolRegistry | None = None, *, names: Iterable[str] | None = None
) -> list[dspy.Tool]:
    """The local ``@tool`` functions (of ``registry``, default ``default_tool_registry``) as
    ``dspy.Tool`` objects, running in this process with the tools' own argument checks."""
    reg = default_tool_registry if registry is None else registry
    selected = [reg.get(n) for n in names] if names is not None else reg.list()
    return [_local_tool(t, reg) for t in selected]
