"""``ConfigurationSpace``: DSPex's Python handle on a configuration space registered in a
session. Define variables and constraints (chaining), ``register()`` them with the host
(variables created in one commit), then ``apply`` (validated as a whole, one commit, a version
bump), ``get_current_values``, ``sample`` and ``validate``.

Constraints are declarative documents (``docs/configuration.md``), not lambdas: they travel
as JSON and the host evaluates them with the same rules as this package.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from collections.abc import Mapping

from .._gen.dspy_bridge.v1 import configuration_pb2
from ..errors import InvalidArgumentError
from ..spaces import compile_space
from ..values import decode_value, encode_value

if TYPE_CHECKING:  # pragma: no cover - the context imports this module to make its handles
    from ._context import SessionContext

__all__ = ["ConfigurationSpace"]

# DSPex's variable types -> space document types (docs/configuration.md); "module" is a choice of names.
_TYPE_ALIASES = {
    "float": "float",
    "integer": "integer",
    "int": "integer",
    "choice": "choice",
    "module": "choice",
    "boolean": "boolean",
    "bool": "boolean",
}


class ConfigurationSpace:
    """A declarative definition of related variables, registered in a session."""

    def __init__(self, name: str, session_context: SessionContext) -> None:
        self.name = name
        self._session_context = session_context
        self._variables: list[dict[str, Any]] = []
        self._constraints: list[dict[str, Any]] = []
        self.version: int = 0

    def add_variable(
        self,
        name: str,
        type: str,  # noqa: A002 - DSPex's name
        default: Any,
        constraints: Mapping[str, Any] | None = None,
        description: str | None = None,
        *,
        active_when: Mapping[str, Any] | None = None,
        log: bool = False,
    ) -> ConfigurationSpace:
        """Adds a variable; returns self for chaining. ``constraints`` as in DSPex:
        ``{"min", "max"}`` for numbers, ``{"choices": [...]}`` for choice and module."""
        kind = _TYPE_ALIASES.get(type)
        if kind is None:
            raise InvalidArgumentError(
                f"variable {name!r}: type {type!r} is not one of {sorted(_TYPE_ALIASES)}", parameter="type"
            )
        c = dict(constraints or {})
        doc: dict[str, Any] = {"name": name, "type": kind, "default": default}
        if kind in ("float", "integer"):
            for key in ("min", "max"):
                if key not in c:
                    raise InvalidArgumentError(
                        f"variable {name!r}: a {type} needs constraints[{key!r}]", parameter=f"constraints.{key}"
                    )
                doc[key] = c[key]
            if log:
                doc["log"] = True
        elif kind == "choice":
            choices = c.get("choices")
            if not choices:
                raise InvalidArgumentError(
                    f"variable {name!r}: a {type} needs constraints['choices']", parameter="constraints.choices"
                )
            doc["values"] = list(choices)
        if description:
            doc["description"] = description
        if active_when is not None:
            doc["active_when"] = dict(active_when)
        self._variables.append(doc)
        return self

    def add_constraint(self, constraint: Mapping[str, Any], error_message: str | None = None) -> ConfigurationSpace:
        """Adds a cross-variable constraint: a declarative condition (docs/configuration.md).
        ``error_message`` becomes the clause's name, which violations report."""
        if callable(constraint):
            raise InvalidArgumentError(
                "constraints are declarative documents, not functions: e.g. "
                '{"op": "<=", "left": {"var": "max_tokens"}, "right": {"const": 4096}}',
                parameter="constraint",
            )
        doc = dict(constraint)
        if error_message and "name" not in doc:
            doc["name"] = error_message
        self._constraints.append(doc)
        return self

    def definition(self) -> dict[str, Any]:
        """The space document this object describes (checked locally on register)."""
        return {"name": self.name, "variables": list(self._variables), "constraints": list(self._constraints)}

    async def register(self) -> None:
        """Registers the space with the host: its variables are created in the session with
        their defaults, all in one commit."""
        definition = self.definition()
        compile_space(definition)  # the same checks the host makes, with the same error paths
        ctx = self._session_context
        info = await ctx._call(
            "RegisterConfiguration",
            configuration_pb2.RegisterConfigurationRequest(
                session_id=ctx.session_id,
                name=self.name,
                definition_json=json.dumps(definition),
                caller_session_id=ctx.caller_session_id,
            ),
        )
        self.version = int(info.version)

    async def apply(self, new_values: Mapping[str, Any], metadata: Mapping[str, str] | None = None) -> int:
        """Validates the configuration these values produce (the current ones overlaid) and
        writes them in one commit; returns the new version. ConstraintViolationError (a
        ValueError) names the violated clause; nothing is written then."""
        ctx = self._session_context
        reply = await ctx._call(
            "ApplyConfiguration",
            configuration_pb2.ApplyConfigurationRequest(
                session_id=ctx.session_id,
                name=self.name,
                values=encode_value(dict(new_values), "values"),
                metadata={str(k): str(v) for k, v in (metadata or {}).items()},
                caller_session_id=ctx.caller_session_id,
            ),
        )
        self.version = int(reply.version)
        return self.version

    async def get_current_values(self) -> dict[str, Any]:
        """The current values of the space's variables."""
        ctx = self._session_context
        info = await ctx._call(
            "GetConfiguration", configuration_pb2.GetConfigurationRequest(session_id=ctx.session_id, name=self.name)
        )
        self.version = int(info.version)
        return await ctx.get_variables(list(info.variables))

    async def sample(self, seed: int | None = None) -> dict[str, Any]:
        """A random valid configuration (reproducible for a seed)."""
        ctx = self._session_context
        reply = await ctx._call(
            "SampleConfiguration",
            configuration_pb2.SampleConfigurationRequest(
                session_id=ctx.session_id, name=self.name, seed=seed or 0, count=1
            ),
        )
        samples = decode_value(reply.samples)
        return dict(samples[0])

    async def validate(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """``{"ok": bool, "violations": [...]}`` for the configuration these values would produce."""
        ctx = self._session_context
        reply = await ctx._call(
            "ValidateConfiguration",
            configuration_pb2.ValidateConfigurationRequest(
                session_id=ctx.session_id, name=self.name, values=encode_value(dict(values), "values")
            ),
        )
        return {"ok": reply.ok, "violations": json.loads(reply.violations_json or "[]")}
