"""Worker commands over session variables: one ``SessionContext`` per session per worker,
kept fresh by its watch stream, so reads after the first need no round trip. What the
worker keeps per session lives in ``worker_state.worker_sessions``."""

from __future__ import annotations

from typing import Any

from ..core.registry import CommandContext, command
from ._context import SessionContext
from .worker_state import worker_sessions

__all__ = ["session_context"]


async def session_context(session_id: str) -> SessionContext:
    """This worker's SessionContext for `session_id` (connected on first use; address and
    secret come from the host that started the worker)."""
    return await worker_sessions.context(session_id)


@command(name="session.release")
async def release(ctx: CommandContext) -> bool:
    """Drops everything this worker keeps for the call's session (its SessionContext, its
    programs, jobs and runs): the host calls it when the session is deleted or expires."""
    return await worker_sessions.release(ctx.session_id)


@command(name="session.get_variable")
async def get_variable(name: str, ctx: CommandContext) -> dict[str, Any]:
    """Reads a variable of the call's session from this worker, through its cache."""
    session = await session_context(ctx.session_id)
    before = session.get_cache_info()
    value = await session.get_variable(name)
    after = session.get_cache_info()
    return {"value": value, "cache_hit": after.get("hits", 0) > before.get("hits", 0), "revision": session.revision}
