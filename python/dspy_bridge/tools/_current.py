"""The session of the tool call being served, apart from the registry that sets it and the
client that reads it (so neither has to import the other for it)."""

from __future__ import annotations

import contextvars

__all__ = ["current_session", "current_session_id"]

current_session: contextvars.ContextVar[str] = contextvars.ContextVar("dspy_bridge_tool_session", default="")


def current_session_id() -> str:
    """The session of the tool call being served ("" outside a tool call, or for a call made
    without a session). ``call_tool`` uses it when no ``session_id`` is given, so a Python tool
    called from a session reaches that session's TypeScript tools."""
    return current_session.get()
