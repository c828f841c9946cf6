"""The errors of the variable-aware DSPy modules, placed in the bridge's error tree
(``dspy_bridge.errors``) so they cross the wire with a fitting code and reason::

    BridgeError
    ├── NotFoundError (also KeyError)       → VariableNotFoundError (also ValueError)
    ├── FailedPreconditionError             → SessionError (also RuntimeError)
    └── InvalidArgumentError (also ValueError) → ValidationError

The builtin co-parents are DSPex's: binding a missing variable raises ``ValueError``
("Variable 'x' not found"), a module without a session raises ``RuntimeError``.
"""

from __future__ import annotations

from typing import Any

from ..errors import BridgeError, FailedPreconditionError, InvalidArgumentError, NotFoundError

__all__ = ["BridgeError", "SessionError", "ValidationError", "VariableNotFoundError"]


class VariableNotFoundError(NotFoundError, ValueError):
    """A bound (or to-be-bound) variable does not exist in the session.

    A ``NotFoundError`` (code 5, reason ``not_found``) and therefore a ``KeyError`` too, and a
    ``ValueError`` (DSPex's ``bind_to_variable`` raises ``ValueError("... not found ...")``).
    ``variable_name`` names it; ``session_id`` is the session when known.
    """

    def __init__(
        self, variable_name: str, message: str | None = None, *, session_id: str | None = None, **kwargs: Any
    ) -> None:
        details = dict(kwargs.pop("details", None) or {})
        details.setdefault("variable", variable_name)
        if session_id:
            details.setdefault("session_id", session_id)
        where = f" in session '{session_id}'" if session_id else ""
        super().__init__(message or f"Variable not found: '{variable_name}'{where}", details=details, **kwargs)
        self.variable_name = variable_name


class SessionError(FailedPreconditionError, RuntimeError):
    """The module cannot reach its session: none was given, it is closed, or the call
    cannot be made from here (e.g. a blocking read from the session's own event loop
    thread when the value is not cached). Code 9 ``failed_precondition``; also a
    ``RuntimeError`` (DSPex's "No session context available")."""


class ValidationError(InvalidArgumentError):
    """A binding or a bound value is invalid (e.g. a module-type variable names no known
    module, an attribute name is empty). Also a ``ValueError``."""
