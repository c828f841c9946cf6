"""DSPex's ``VariableManager`` and ``SessionVariableScope``.

DSPex has a Python-side variable store that syncs to the host; here the host owns the
variables (types, constraints, versions: docs/variables.md), so these are synchronous facades
over a ``SyncSessionContext`` per session, with DSPex's method names::

    manager = VariableManager()                       # DSPY_BRIDGE_ADDRESS / DSPY_BRIDGE_TOKEN
    manager.register_type("probability", ProbabilityType)
    scope = manager.get_session_scope("session-1")
    scope.set("p", 0.3, type_hint="probability")      # created on first set (type inferred without a hint)
    scope.get("p")                                    # 0.3; VariableNotFoundError (a KeyError) when missing
    scope.list()                                      # [{"name", "value", "type", ...}]
    scope.delete("p")                                 # True
    manager.close()

User-defined types (``register_type``) go to the process's ``type_registry``: any
``SessionContext`` of the process then accepts them by name (``register_variable(name,
"probability", 0.3)``).
"""

from __future__ import annotations

import threading
from typing import Any

from ..errors import NotFoundError
from ..session import SyncSessionContext
from ..variable_types.checks import infer_type
from ..variable_types.custom import BaseType, TypeRegistry, type_registry

__all__ = ["SessionVariableScope", "VariableManager"]


class SessionVariableScope:
    """Variable operations of one session (blocking)."""

    def __init__(self, session_id: str, context: Any) -> None:
        self.session_id = session_id
        self.context = context  # a SyncSessionContext

    def set(
        self, name: str, value: Any, type_hint: str | None = None, constraints: dict[str, Any] | None = None
    ) -> None:
        """Sets ``name``, creating it (typed by ``type_hint``, else inferred from the value;
        with ``constraints``) when it does not exist yet."""
        try:
            self.context.set_variable(name, value)
        except NotFoundError:
            if type_hint is None:
                type_hint = infer_type(value)
            self.context.register_variable(name, type_hint, value, constraints=constraints or None)

    def get(self, name: str) -> Any:
        """The value; ``VariableNotFoundError`` (a ``KeyError`` and ``ValueError``) when missing."""
        # Imported here: dspy_bridge.dspy imports DSPy (seconds), which a manager that never
        # misses a variable does not need.
        from ..dspy.exceptions import VariableNotFoundError

        try:
            return self.context.get_variable(name)
        except NotFoundError as exc:
            raise VariableNotFoundError(
                name, f"Variable '{name}' not found in session '{self.session_id}'", session_id=self.session_id
            ) from exc

    def delete(self, name: str) -> bool:
        try:
            return bool(self.context.delete_variables([name]))
        except NotFoundError:
            return False

    def list(self) -> list[dict[str, Any]]:
        """Every readable variable: ``[{"name", "value", "type", "version", "constraints", "metadata", ...}]``."""
        values = self.context.list_variables()
        if not values:
            return []
        info = self.context.get_variables(list(values), include_metadata=True)
        return [{"name": name, **entry} for name, entry in info.items()]


class VariableManager:
    """DSPex's main interface for variable operations: ``get_session_scope(session_id)``
    and ``register_type``. ``address``/``token`` name the host (default: the environment)."""

    def __init__(
        self, address: str | None = None, token: str | None = None, *, types: TypeRegistry | None = None
    ) -> None:
        self._address = address
        self._token = token
        self.type_registry = types if types is not None else type_registry
        self._session_scopes: dict[str, SessionVariableScope] = {}
        self._lock = threading.Lock()
        self._config: dict[str, Any] = {}

    def initialize(self, config: dict[str, Any] | None = None) -> None:
        """DSPex's initialization: ``config`` may give ``address`` and ``token``; the default
        types are registered."""
        config = dict(config or {})
        self._config = config
        self._address = config.get("address", self._address)
        self._token = config.get("token", self._token)
        self.type_registry.register_default_types()

    def get_session_scope(self, session_id: str) -> SessionVariableScope:
        with self._lock:
            scope = self._session_scopes.get(session_id)
            if scope is None:
                scope = SessionVariableScope(session_id, SyncSessionContext(session_id, self._address, self._token))
                self._session_scopes[session_id] = scope
            return scope

    def register_type(self, type_name: str, type_class: type[BaseType]) -> None:
        """Registers a user-defined type (a ``BaseType`` subclass stored as its ``base_type``)."""
        self.type_registry.register(type_name, type_class)

    def close(self) -> None:
        with self._lock:
            scopes, self._session_scopes = list(self._session_scopes.values()), {}
        for scope in scopes:
            scope.context.close()

    def __enter__(self) -> VariableManager:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()
