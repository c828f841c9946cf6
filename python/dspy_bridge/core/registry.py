"""The command registry: Python functions the TypeScript host can call by name.

    from dspy_bridge.core import command

    @command()
    async def summarize(text: str, max_words: int = 50) -> str: ...

Commands declare their parameters through their signature. The registry checks the
arguments of every call against it, so a bad call gets an InvalidArgumentError naming the
parameter instead of a TypeError from deep inside the function.
"""

from __future__ import annotations

import inspect
import sys
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Union
from collections.abc import Callable, Mapping

from ..errors import InvalidArgumentError, UnknownCommandError

__all__ = ["Parameter", "Command", "CommandContext", "CommandRegistry", "command", "default_registry"]

_MISSING: Any = inspect.Parameter.empty


def _type_hints(fn: Callable[..., Any], *, include_extras: bool = False) -> dict[str, Any]:
    """``typing.get_type_hints(fn)`` as Python 3.11+ resolves it. Python 3.10's also makes
    a parameter whose default is None Optional (``p: int = None`` -> ``Optional[int]``); here
    the annotations are resolved without the defaults, so every version agrees. Raises as
    get_type_hints does (unresolvable forward references)."""
    if sys.version_info >= (3, 11):
        return typing.get_type_hints(fn, include_extras=include_extras)
    annotations = getattr(fn, "__annotations__", None)
    if not (inspect.isfunction(fn) or inspect.ismethod(fn)) or not isinstance(annotations, Mapping):
        return typing.get_type_hints(fn, include_extras=include_extras)
    # Something with annotations and globals but no __code__ (where the defaults are read).
    shim = types.SimpleNamespace(__annotations__=dict(annotations))
    return typing.get_type_hints(shim, getattr(inspect.unwrap(fn), "__globals__", {}), include_extras=include_extras)


@dataclass(frozen=True)
class Parameter:
    name: str
    annotation: Any
    default: Any
    required: bool
    # The exact value types that certainly fit the annotation (e.g. {dict, NoneType} for
    # `dict | None`): a call's arguments are checked by one set lookup each, and only a
    # value of another type (a subclass, or a wrong one) takes the full walk below.
    fits: frozenset[type] = field(default=frozenset(), compare=False)


@dataclass
class CommandContext:
    """What a running command may know about its call. Declare a parameter annotated
    ``CommandContext`` to receive it; it is not part of the command's arguments."""

    command: str
    call_id: int
    session_id: str
    worker_id: str
    timeout_ms: int
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class Command:
    name: str
    fn: Callable[..., Any]
    parameters: dict[str, Parameter]
    context_parameter: str | None
    is_async: bool
    is_stream: bool
    blocking: bool
    accepts_var_kwargs: bool
    description: str
    # A plain `def` command run on the event loop (not async, not a stream, not blocking):
    # the worker's most common call, dispatched on this one flag.
    plain_sync: bool = field(init=False)

    def __post_init__(self) -> None:
        self.plain_sync = not (self.is_async or self.is_stream or self.blocking)

    def bind(self, args: dict[str, Any]) -> dict[str, Any]:
        """Check `args` against the signature; raise InvalidArgumentError naming the parameter."""
        for name in args:
            if name not in self.parameters and not self.accepts_var_kwargs:
                raise InvalidArgumentError(
                    f"command '{self.name}' has no parameter '{name}'"
                    f" (parameters: {', '.join(self.parameters) or 'none'})",
                    parameter=name,
                )
        for param in self.parameters.values():
            if param.name not in args:
                if param.required:
                    raise InvalidArgumentError(
                        f"command '{self.name}' is missing required parameter '{param.name}'",
                        parameter=param.name,
                    )
                continue
            value = args[param.name]
            if type(value) in param.fits:
                continue
            problem = type_problem(value, param.annotation)
            if problem is not None:
                raise InvalidArgumentError(
                    f"command '{self.name}', parameter '{param.name}': {problem}",
                    parameter=param.name,
                )
        return args

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "stream": self.is_stream,
            "description": self.description,
            "parameters": [
                {"name": p.name, "type": _type_name(p.annotation), "required": p.required}
                for p in self.parameters.values()
            ],
        }


def _is_context_annotation(annotation: Any) -> bool:
    """``CommandContext``, or ``CommandContext | None`` / ``Optional[CommandContext]``."""
    if annotation is CommandContext:
        return True
    origin = typing.get_origin(annotation)
    if origin is Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return options == [CommandContext]
    return False


def _type_name(annotation: Any) -> str:
    if annotation is _MISSING or annotation is Any:
        return "any"
    return getattr(annotation, "__name__", None) or str(annotation)


# The types of values that cross the boundary, each with a sample value.
_BOUNDARY_SAMPLES: dict[type, Any] = {
    str: "",
    bool: False,
    int: 0,
    float: 0.0,
    bytes: b"",
    list: [],
    tuple: (),
    dict: {},
    type(None): None,
}


def _fitting_types(annotation: Any) -> frozenset[type]:
    """The boundary types whose values always fit `annotation` (asked of type_problem itself
    with a sample of each, so the two cannot disagree)."""
    return frozenset(t for t, sample in _BOUNDARY_SAMPLES.items() if type_problem(sample, annotation) is None)


def type_problem(value: Any, annotation: Any) -> str | None:
    """None when `value` fits `annotation`; otherwise a sentence saying why not.

    Only the shapes that cross the boundary are checked (scalars, lists, dicts, bytes,
    unions, Optional); anything else is accepted as is.
    """
    if annotation is _MISSING or annotation is Any:
        return None
    origin = typing.get_origin(annotation)
    if origin is Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        options = typing.get_args(annotation)
        if any(type_problem(value, opt) is None for opt in options):
            return None
        return f"expected {' or '.join(_type_name(o) for o in options)}, got {type(value).__name__}"
    if annotation is type(None):
        return None if value is None else f"expected null, got {type(value).__name__}"
    base = origin or annotation
    if base is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif base is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif base in (str, bool, bytes):
        ok = isinstance(value, base)
    elif base in (list, tuple, list, typing.Sequence):
        ok = isinstance(value, (list, tuple))
    elif base in (dict, dict, typing.Mapping):
        ok = isinstance(value, dict)
    elif isinstance(base, type):
        ok = isinstance(value, base)
    else:
        return None
    return None if ok else f"expected {_type_name(base)}, got {type(value).__name__}"


class CommandRegistry:
    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}
        # Names registered with yields=True (DSPex's generic adapter commands such as
        # `generate`): a user's own command of that name replaces them instead of failing.
        self._yielding: set[str] = set()

    def register(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        blocking: bool = False,
        description: str | None = None,
        replace: bool = False,
        yields: bool = False,
    ) -> Command:
        cmd_name = name or fn.__name__
        if cmd_name in self._commands and not replace:
            if cmd_name not in self._yielding or yields:
                raise ValueError(f"command '{cmd_name}' is already registered")
        if yields:
            self._yielding.add(cmd_name)
        else:
            self._yielding.discard(cmd_name)
        sig = inspect.signature(fn)
        try:
            hints = _type_hints(fn)
        except Exception:  # noqa: BLE001 - unresolvable forward references: fall back to raw annotations
            hints = {}
        params: dict[str, Parameter] = {}
        context_param: str | None = None
        var_kwargs = False
        for p in sig.parameters.values():
            annotation = hints.get(p.name, p.annotation)
            if p.kind is inspect.Parameter.VAR_KEYWORD:
                var_kwargs = True
                continue
            if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.POSITIONAL_ONLY):
                raise TypeError(f"command '{cmd_name}': parameter '{p.name}' must be passable by name")
            if _is_context_annotation(annotation):
                context_param = p.name
                continue
            params[p.name] = Parameter(p.name, annotation, p.default, p.default is _MISSING, _fitting_types(annotation))
        is_stream = inspect.isasyncgenfunction(fn) or inspect.isgeneratorfunction(fn)
        cmd = Command(
            name=cmd_name,
            fn=fn,
            parameters=params,
            context_parameter=context_param,
            is_async=inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn),
            is_stream=is_stream,
            blocking=blocking,
            accepts_var_kwargs=var_kwargs,
            description=description if description is not None else (inspect.getdoc(fn) or ""),
        )
        self._commands[cmd_name] = cmd
        return cmd

    def get(self, name: str) -> Command:
        try:
            return self._commands[name]
        except KeyError:
            raise UnknownCommandError(f"unknown command '{name}'", details={"command": name}) from None

    def commands_view(self) -> Mapping[str, Command]:
        """A live read-only view of the commands by name (the worker's hot-path lookup)."""
        return types.MappingProxyType(self._commands)

    def names(self) -> list[str]:
        return sorted(self._commands)

    def __contains__(self, name: object) -> bool:
        return name in self._commands


default_registry = CommandRegistry()


def command(
    name: str | None = None,
    *,
    blocking: bool = False,
    description: str | None = None,
    registry: CommandRegistry | None = None,
    yields: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a function as a command callable from TypeScript.

    - ``async def`` commands run as asyncio tasks: many at once per worker, cancellable.
    - plain ``def`` commands run on the worker's event loop (fast for trivial work);
      pass ``blocking=True`` for CPU- or IO-heavy sync work so it runs in a thread.
    - generator / async generator functions are streaming commands.

    Every call runs in an asyncio Task of its own, named after the command (a blocking
    command's thread gets a copy of its context): ``asyncio.current_task()``,
    ``asyncio.timeout`` and context variables behave as in any asyncio program.
    - ``yields=True``: a later command of the same name (yours) replaces this one instead of
      failing (the bridge's generic DSPex commands such as ``generate`` use it).
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        (registry or default_registry).register(
            fn, name=name, blocking=blocking, description=description, yields=yields
        )
        return fn

    return decorate
