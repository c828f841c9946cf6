"""What a worker keeps for each session it serves, in one object, dropped in one place.

Session affinity sends every call of a session to one worker, which may then hold for it: a
``SessionContext`` (its cache and background watch), DSPy programs and the optimizer jobs
compiling them, the adapter commands' LM and programs, open optimization runs. Each lives in
the session's ``SessionState``: the context itself, everything else as a *part* another
package of the worker keeps there (``state.part(key, make)``). When the host releases the
session (deleted or expired: the ``session.release`` command), ``WorkerSessions.release``
drops the whole state, first letting every part stop what it runs (its ``release()``).

The session package knows nothing of the parts but that protocol, so it imports none of the
packages that keep them.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from ..errors import InvalidArgumentError
from ._context import SessionContext

__all__ = ["SessionState", "WorkerSessions", "worker_sessions"]

T = TypeVar("T")


class SessionState:
    """Everything this worker keeps for one session."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.context: SessionContext | None = None
        self._opening: asyncio.Future[SessionContext] | None = None
        self._parts: dict[str, Any] = {}

    def part(self, key: str, make: Callable[[], T]) -> T:
        """The part ``key`` of this session (made by ``make`` on first use). A part with a
        ``release()`` method (plain or async) has it called when the session is released."""
        found = self._parts.get(key)
        if found is None:
            found = self._parts[key] = make()
        return found  # type: ignore[no-any-return]

    def find_part(self, key: str) -> Any:
        """The part ``key`` if it was made, else None."""
        return self._parts.get(key)

    async def _release(self) -> None:
        parts, self._parts = self._parts, {}
        for part in parts.values():
            release = getattr(part, "release", None)
            if release is not None:
                outcome = release()
                if inspect.isawaitable(outcome):
                    await outcome
        context, self.context = self.context, None
        if context is not None:
            await context.close()


class WorkerSessions:
    """The ``SessionState`` of every session this worker serves."""

    def __init__(self) -> None:
        self._states: dict[str, SessionState] = {}

    def state(self, session_id: str) -> SessionState:
        """The state of ``session_id`` (made empty on first use)."""
        if not session_id:
            raise InvalidArgumentError("this command needs a session: call it with { session }", parameter="session")
        found = self._states.get(session_id)
        if found is None:
            found = self._states[session_id] = SessionState(session_id)
        return found

    def find(self, session_id: str) -> SessionState | None:
        return self._states.get(session_id)

    def __iter__(self) -> Iterator[SessionState]:
        return iter(list(self._states.values()))

    async def context(self, session_id: str) -> SessionContext:
        """This worker's SessionContext for ``session_id`` (connected on first use; address and
        secret come from the host that started the worker). A context whose watch ended (the
        session was deleted or expired) is replaced by a fresh one."""
        state = self.state(session_id)
        ctx = state.context
        if ctx is not None and ctx.watch_alive:
            return ctx
        if ctx is not None:
            state.context = None
            await ctx.close()
        pending = state._opening
        if pending is None:
            pending = state._opening = asyncio.ensure_future(
                SessionContext.connect(session_id=session_id, create=False)
            )
        try:
            ctx = await asyncio.shield(pending)
        finally:
            state._opening = None
        state.context = ctx
        return ctx

    async def release(self, session_id: str) -> bool:
        """Drops everything kept for ``session_id``: its parts stop what they run, then the
        context closes. True if the session had a context here."""
        state = self._states.pop(session_id, None)
        if state is None:
            return False
        had_context = state.context is not None
        await state._release()
        return had_context


worker_sessions = WorkerSessions()
"""This worker's sessions (one per process: a worker serves its sessions from one event loop)."""
