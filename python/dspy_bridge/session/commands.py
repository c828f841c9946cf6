"""Worker commands over session variables: one ``SessionContext`` per session per worker,
kept fresh by its watch stream, so reads after the first need no round trip."""

from __future__ import annotations

import asyncio
from typing import Any

from ..core.registry import CommandContext, command
from ..errors import InvalidArgumentError
from ._context import SessionContext

__all__ = ["session_context"]

_contexts: dict[str, SessionContext] = {}
_opening: dict[str, asyncio.Future[SessionContext]] = {}


async def session_context(session_id: str) -> SessionContext:
    """This worker's SessionContext for `session_id` (connected on first use; address and
    secret come from the host that started the worker)."""
    if not session_id:
        raise InvalidArgumentError("this command needs a session: call it with { session }", parameter="session")
    ctx = _contexts.get(session_id)
    if ctx is not None:
        return ctx
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


@command(name="session.get_variable")
async def get_variable(name: str, ctx: CommandContext) -> dict[str, Any]:
    """Reads a variable of the call's session from this worker, through its cache."""
    session = await session_context(ctx.session_id)
    before = session.get_cache_info()
    value = await session.get_variable(name)
    after = session.get_cache_info()
    return {"value": value, "cache_hit": after.get("hits", 0) > before.get("hits", 0), "revision": session.revision}
