"""DSPex's ``SessionManager``, ``SessionInfo`` and ``BaseAdapter``.

Sessions belong to the host: it creates them, expires them after their TTL and deletes them
(docs/variables.md). ``SessionManager`` is DSPex's in-process bookkeeping over that: it
opens a blocking context per session (a ``SyncSessionContext``, whose ``get_variable``,
``set_variable`` and ``call_tool`` are DSPex's synchronous ``SessionContext`` methods) and
knows which of its sessions the host has since expired::

    manager = SessionManager()                    # the host of DSPY_BRIDGE_ADDRESS / DSPY_BRIDGE_TOKEN
    ctx = manager.create_session("user-42", ttl=3600)
    ctx.set_variable("temperature", 0.7, create_if_missing=True)
    manager.get_context("user-42").get_variable("temperature")
    manager.cleanup_expired_sessions()            # how many of its sessions the host expired
    manager.destroy_session("user-42")            # deleted on the host
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..errors import InvalidArgumentError
from ..session import SyncSessionContext
from ..tools import ToolRegistry
from ..variables import VariableManager

__all__ = ["BaseAdapter", "SessionInfo", "SessionManager"]


@dataclass
class SessionInfo:
    session_id: str
    created_at: datetime
    last_accessed: datetime
    ttl_seconds: int
    metadata: dict[str, Any] = field(default_factory=dict)


class SessionManager:
    """DSPex's session lifecycle, over the host's sessions (see the module docstring)."""

    def __init__(self, address: str | None = None, token: str | None = None, *, default_ttl: int = 3600) -> None:
        self._address = address
        self._token = token
        self._default_ttl = default_ttl
        self._sessions: dict[str, SessionInfo] = {}
        self._contexts: dict[str, Any] = {}
        self._lock = threading.Lock()

    def initialize(self, config: dict[str, Any] | None = None) -> None:
        config = dict(config or {})
        self._address = config.get("address", self._address)
        self._token = config.get("token", self._token)
        self._default_ttl = int(config.get("default_ttl", self._default_ttl))

    def create_session(self, session_id: str, ttl: int | None = None, metadata: dict[str, str] | None = None) -> Any:
        """Creates the session on the host (``ttl`` seconds of inactivity before the host
        expires it; default 3600) and returns its blocking context. ``ValueError`` if this
        manager already has it."""
        with self._lock:
            if session_id in self._sessions:
                raise InvalidArgumentError(f"Session {session_id} already exists", parameter="session_id")
        seconds = self._default_ttl if ttl is None else int(ttl)
        context = SyncSessionContext(
            session_id, self._address, self._token, create=True, ttl_ms=seconds * 1000, metadata=metadata
        )
        now = datetime.now(timezone.utc)
        with self._lock:
            self._sessions[session_id] = SessionInfo(session_id, now, now, seconds, dict(metadata or {}))
            self._contexts[session_id] = context
        return context

    def get_context(self, session_id: str) -> Any:
        """The session's context; ``ValueError`` if this manager has no such session."""
        with self._lock:
            info = self._sessions.get(session_id)
            if info is None:
                raise InvalidArgumentError(f"Session {session_id} not found", parameter="session_id")
            info.last_accessed = datetime.now(timezone.utc)
            return self._contexts[session_id]

    def session_info(self, session_id: str) -> SessionInfo:
        with self._lock:
            info = self._sessions.get(session_id)
        if info is None:
            raise InvalidArgumentError(f"Session {session_id} not found", parameter="session_id")
        return info

    def list_sessions(self) -> list[str]:
        with self._lock:
            return sorted(self._sessions)

    def _alive(self, context: Any) -> bool:
        try:
            return bool(context.aio.watch_alive)
        except Exception:  # noqa: BLE001 - a closed context
            return False

    def cleanup_expired_sessions(self) -> int:
        """Forgets (and closes the contexts of) this manager's sessions the host has expired or
        deleted; returns how many."""
        with self._lock:
            candidates = list(self._contexts.items())

        gone = []
        for session_id, context in candidates:
            if self._alive(context):
                continue
            try:  # the host's answer decides
                if not context.exists():
                    gone.append(session_id)
            except Exception:  # noqa: BLE001 - unreachable now: not known to be expired
                continue
        for session_id in gone:
            self._drop(session_id)
        return len(gone)

    def destroy_session(self, session_id: str) -> bool:
        """Deletes the session on the host and forgets it; False if this manager did not have it."""
        with self._lock:
            context = self._contexts.get(session_id)
        if context is None:
            return False

        try:
            context.delete()
        finally:
            self._drop(session_id)
        return True

    def _drop(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)
            context = self._contexts.pop(session_id, None)
        if context is not None:
            try:
                context.close()
            except Exception:  # noqa: BLE001
                pass

    def close(self) -> None:
        for session_id in self.list_sessions():
            self._drop(session_id)


class BaseAdapter(ABC):
    """DSPex's base of adapters: a ``SessionManager``, a ``VariableManager`` and a
    ``ToolRegistry``, ``initialize(config)``, and the commands a subclass handles."""

    def __init__(self) -> None:
        self.session_manager = SessionManager()
        self.variable_manager = VariableManager()
        self.tool_registry = ToolRegistry()
        self._initialized = False

    def initialize(self, config: dict[str, Any]) -> None:
        self.session_manager.initialize(config.get("session", {}))
        self.variable_manager.initialize(config.get("variables", {}))
        self._initialized = True

    @abstractmethod
    def get_supported_commands(self) -> list[str]:
        """The commands this adapter handles."""

    @abstractmethod
    def handle_command(self, command: str, args: dict[str, Any]) -> Any:
        """Handles one command."""

    def get_session_context(self, session_id: str) -> Any:
        return self.session_manager.get_context(session_id)
