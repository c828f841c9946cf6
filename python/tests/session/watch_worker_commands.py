"""Commands a worker runs for test_watch_in_worker.py (``modules: ["watch_worker_commands"]``):
each opens a ``VariableWatch`` on the worker's own loop, where it travels on the worker's
connection to the host (not gRPC), and answers what the watch delivered as plain JSON."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from dspy_bridge.core import CommandContext, command
from dspy_bridge.errors import BridgeError
from dspy_bridge.session import VariableUpdate, VariableWatch
from dspy_bridge.session.commands import session_context

WAIT = 10.0
"""Seconds a command waits for what it expects before it fails (a broken watch ends the test in seconds)."""

_open: dict[str, VariableWatch] = {}
"""The watch a command left open for the next one, by session (one worker serves the test)."""


def summary(value: Any) -> Any:
    """A value as JSON: an array's dtype, shape and elements; a long string's length and ends."""
    if isinstance(value, np.ndarray):
        return {"dtype": str(value.dtype), "shape": list(value.shape), "values": value.ravel().tolist()}
    if isinstance(value, str) and len(value) > 40:
        return {"chars": len(value), "ends": value[:3] + value[-3:]}
    return value


def described(u: VariableUpdate) -> list[Any]:
    return [u.name, u.initial, u.revision, summary(u.value)]


async def _take(watch: VariableWatch, count: int) -> list[list[Any]]:
    out: list[list[Any]] = []

    async def run() -> None:
        async for u in watch:
            out.append(described(u))
            if len(out) == count:
                return

    await asyncio.wait_for(run(), WAIT)
    return out


@command()
async def watch_and_write(names: list[str], writes: list[list[Any]], ctx: CommandContext) -> dict[str, Any]:
    """Watches `names` (their current values first), then sets each `[name, value]` of
    `writes` from this worker (a tensor from a `[shape, scale]` spec, anything else as given)
    and answers every update the watch delivered."""
    session = await session_context(ctx.session_id)
    watch = session.watch_variables(names)
    try:
        got = await _take(watch, len(names))
        for name, spec in writes:
            value = (
                np.arange(np.prod(spec[0]), dtype=np.float32).reshape(spec[0]) * spec[1] if name == "weights" else spec
            )
            await session.set_variable(name, value)
        got += await _take(watch, len(writes))
        return {"on_connection": session.worker_route() is not None, "updates": got, "reconnects": watch.reconnects}
    finally:
        await watch.aclose()


@command()
async def watch_from(names: list[str], start_revision: int, count: int, ctx: CommandContext) -> dict[str, Any]:
    """Watches `names` (every variable if empty) from `start_revision` and answers its first `count` updates."""
    session = await session_context(ctx.session_id)
    watch = session.watch_variables(names, include_initial=False, start_revision=start_revision)
    try:
        return {"updates": await _take(watch, count), "revision": watch.revision}
    finally:
        await watch.aclose()


@command()
async def watch_refused(name: str, ctx: CommandContext) -> dict[str, Any]:
    """Watches `name`, which the host refuses: the error the watch ends with."""
    session = await session_context(ctx.session_id)
    watch = session.watch_variable(name)
    try:
        await asyncio.wait_for(watch.ready(), WAIT)
        return {"error": None}
    except BridgeError as err:
        return {
            "error": type(err).__name__,
            "code": str(err.code),
            "closed": watch.closed,
            "reconnects": watch.reconnects,
        }
    finally:
        await watch.aclose()


@command()
async def connect(ctx: CommandContext) -> bool:
    """Connects this worker's context of the session (before the store goes away)."""
    session = await session_context(ctx.session_id)
    return session.worker_route() is not None


@command()
async def open_watch_until_retried(name: str, retries: int, ctx: CommandContext) -> list[int]:
    """Opens a watch on `name` (left open for `take_from_open_watch`) and waits until it has
    retried `retries` times: the reconnect count seen at each step, as it first changes."""
    session = await session_context(ctx.session_id)
    watch = session.watch_variable(name, include_initial=False)
    _open[ctx.session_id] = watch
    seen: list[int] = []

    async def count() -> None:
        while len(seen) < retries:
            if watch.closed:
                raise AssertionError("the watch ended instead of retrying")
            if watch.reconnects > (seen[-1] if seen else 0):
                seen.append(watch.reconnects)
            await asyncio.sleep(0.005)

    await asyncio.wait_for(count(), WAIT)
    return seen


@command()
async def open_watch_ready(ctx: CommandContext) -> int:
    """Waits until the open watch is registered again; its reconnect count."""
    watch = _open[ctx.session_id]
    await asyncio.wait_for(watch.ready(), WAIT)
    return watch.reconnects


@command()
async def take_from_open_watch(count: int, ctx: CommandContext) -> dict[str, Any]:
    """The open watch's next `count` updates; the watch is closed."""
    watch = _open.pop(ctx.session_id)
    try:
        return {"updates": await _take(watch, count), "reconnects": watch.reconnects}
    finally:
        await watch.aclose()
