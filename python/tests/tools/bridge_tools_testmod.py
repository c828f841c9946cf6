"""Python tools loaded into the workers of tools_host.mjs (``modules: ["bridge_tools_testmod"]``).

Some call TypeScript tools back through ``dspy_bridge.tools.call_tool`` from inside the
worker (address and secret come from the host that started it).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

from dspy_bridge.core import CommandContext
from dspy_bridge.errors import BridgeError, NotFoundError
from dspy_bridge.tools import call_tool, current_session_id, stream_tool, tool

_cancelled: list[str] = []


@tool
def py_add(a: int, b: int) -> int:
    """Adds two integers in Python.

    Args:
        a: The first addend.
        b: The second addend.
    """
    return a + b


@tool(description="Greets someone")
def py_greet(name: str, punctuation: Literal["!", "?", "."] = "!") -> str:
    return f"hello {name}{punctuation}"


@tool
def py_whoami(ctx: CommandContext) -> dict[str, Any]:
    """The session and worker serving this call."""
    return {"session": ctx.session_id, "current": current_session_id(), "pid": os.getpid()}


@tool
def py_fail(kind: str = "value") -> None:
    """Raises: 'value' a ValueError, 'not_found' a NotFoundError."""
    if kind == "not_found":
        raise NotFoundError("no such thing: widget", details={"thing": "widget"})
    raise ValueError(f"python tool failed on purpose ({kind})")


@tool
async def py_slow(seconds: float, tag: str) -> str:
    """Sleeps; records its cancellation under ``tag``."""
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        _cancelled.append(tag)
        raise
    return "done"


@tool
def py_cancelled() -> list[str]:
    """Tags of py_slow calls that were cancelled in this worker."""
    return list(_cancelled)


@tool
async def py_count(n: int, delay: float = 0.0) -> AsyncIterator[int]:
    """Streams 0..n-1."""
    for i in range(n):
        if delay:
            await asyncio.sleep(delay)
        yield i


@tool
def py_words(text: str) -> Iterator[str]:
    """Streams the words of ``text`` (a sync generator)."""
    yield from text.split()


@tool
async def py_calls_ts(a: float, b: float) -> dict[str, Any]:
    """Calls the TypeScript tool 'add' from inside the worker."""
    return {"sum": await call_tool("add", {"a": a, "b": b}), "pid": os.getpid()}


@tool
async def py_nested(x: int) -> Any:
    """Python -> TypeScript 'ts_calls_python' -> Python 'py_add' (same worker)."""
    return await call_tool("ts_calls_python", {"x": x})


@tool
async def py_session_secret() -> Any:
    """Calls the per-session TypeScript tool 'session_secret' in the current session."""
    return await call_tool("session_secret", {})


@tool
async def py_ts_error(kind: str) -> dict[str, Any]:
    """Calls the TypeScript tool 'fail' and reports the typed error it got."""
    try:
        await call_tool("fail", {"kind": kind})
    except BridgeError as err:
        return {"type": type(err).__name__, "reason": err.reason, "message": err.message, "details": err.details}
    return {"type": None}


@tool
async def py_ts_bad_args() -> dict[str, Any]:
    """Calls the TypeScript tool 'add' with a string where a number belongs."""
    try:
        await call_tool("add", {"a": "one", "b": 2})
    except BridgeError as err:
        return {"type": type(err).__name__, "parameter": err.details.get("parameter"), "message": err.message}
    return {"type": None}


@tool
async def py_cancel_ts(tag: str, after: float = 0.3) -> str:
    """Starts the slow TypeScript tool, cancels the task after ``after`` seconds."""
    task = asyncio.ensure_future(call_tool("slow", {"ms": 30000, "tag": tag}))
    await asyncio.sleep(after)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        return "cancelled"
    return "finished"


@tool
async def py_relay_stream(n: int) -> AsyncIterator[Any]:
    """Streams the TypeScript streaming tool 'count', doubling each item."""
    async for item in stream_tool("count", {"n": n}):
        yield item * 2
