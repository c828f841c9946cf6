"""Worker commands over session variables: one ``SessionContext`` per session per worker,
kept fresh by its watch stream, so reads after the first need no round trip."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from ..core.registry import CommandContext, command
from ..errors import InvalidArgumentError
from ._context import SessionContext

__all__ = ["on_session_release", "session_context"]

_contexts: dict[str, SessionContext] = {}
_opening: dict[str, asyncio.Future[SessionContext]] = {}
# Called with a session id when the host releases the session (deleted or expired), so other
# parts of the worker (DSPy programs) can drop what they keep for it.
_release_hooks: list[Callable[[str], None]] = []


def on_session_release(hook: Callable[[str], None]) -> None:
    _release_hooks.append(hook)


async def session_context(session_id: str) -> SessionContext:
    """This worker's SessionContext for `session_id` (connected on first use; address and
    secret come from the host that started the worker)."""
    if not session_id:
        raise InvalidArgumentError("this command needs a session: call it with { session }", parameter="session")
    ctx = _contexts.get(session_id)
    if ctx is not None and ctx.watch_alive:
        return ctx
    if ctx is not None:  # its watch ended: the session was deleted or expired; start afresh
        _contexts.pop(session_id, None)
        await ctx.close()
    pending = _opening.get(session_id)
    if pending is None:
        pending = asyncio.ensure_future(SessionContext.connect(session_id=session_id, create=False))
        _opening[session_id] = pending
    try:
        ctx = await asyncio.shield(pending)
    finally:
        _opening.pop(session_id, None)
    _contexts[session_id] = ctx
    return ctx


@command(name="session.release")
async def release(ctx: CommandContext) -> bool:
    """Drops everything this worker keeps for the call's session (its SessionContext, its
    programs): the host calls it when the session is deleted or expires."""
    for hook in _release_hooks:
        hook(ctx.session_id)
    session = _contexts.pop(ctx.session_id, None)
    if session is not None:
        await session.close()
    return session is not None


@command(name="session.get_variable")
async def get_variable(name: str, ctx: CommandContext) -> dict[str, Any]:
    """Reads a variable of the call's session from this worker, through its cache."""
    session = await session_context(ctx.session_id)
    before = session.get_cache_info()
    value = await session.get_variable(name)
    after = session.get_cache_info()
    return {"value": value, "cache_hit": after.get("hits", 0) > before.get("hits", 0), "revision": session.revision}
