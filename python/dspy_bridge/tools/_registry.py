"""Python tools: ``@tool``, ``PythonTool`` and ``ToolRegistry``.

A tool is a function with a name, a description and a JSON Schema of its arguments, that
TypeScript (``bridge.tools.call``), DSPy agents and other Python code can call. Argument
checks are the command registry's own: every tool is also registered in a private
``CommandRegistry`` and each call goes through ``Command.bind``, so a bad call gets an
``InvalidArgumentError`` naming the argument.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import functools
import inspect
import re
import types
import typing
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from ..core.registry import Command, CommandContext, CommandRegistry
from ..errors import AlreadyExistsError, InvalidArgumentError, NotFoundError
from ._schema import JSONSchema, function_schema, parse_docstring

__all__ = ["PythonTool", "ToolRegistry", "current_session_id", "default_tool_registry", "tool"]

F = TypeVar("F", bound=Callable[..., Any])

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$")
_current_session: contextvars.ContextVar[str] = contextvars.ContextVar("dspy_bridge_tool_session", default="")


def current_session_id() -> str:
    """The session of the tool call being served ("" outside a tool call, or for a call made
    without a session). ``call_tool`` uses it when no ``session_id`` is given, so a Python tool
    called from a session reaches that session's TypeScript tools."""
    return _current_session.get()


@dataclass(frozen=True)
class PythonTool:
    """A registered Python tool."""

    name: str
    description: str
    parameters: JSONSchema
    """The JSON Schema (an object schema) of the arguments."""
    streaming: bool
    """A generator or async generator function: called with ``stream``, yields items."""
    blocking: bool
    """A sync function run in a thread (``blocking=True``) instead of inline on the loop."""
    fn: Callable[..., Any]
    command: Command = field(repr=False, compare=False)

    @property
    def is_async(self) -> bool:
        return self.command.is_async

    def spec(self) -> dict[str, Any]:
        """What ``tools.list`` reports: name, description, parameters, streaming, owner."""
        return {
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
            "streaming": self.streaming,
            "owner": "python",
        }

    def bind(self, args: Mapping[str, Any] | None) -> dict[str, Any]:
        """Checks ``args`` against the signature (the command registry's rules, plus Literal
        and Enum values); raises InvalidArgumentError naming the argument."""
        if args is None:
            args = {}
        if not isinstance(args, Mapping):
            raise InvalidArgumentError(
                f"arguments of tool '{self.name}' must be an object of argument names to values, got {type(args).__name__}",
                parameter="args",
            )
        values = dict(args)
        for name, value in values.items():  # Enum arguments arrive as their values
            param = self.command.parameters.get(name)
            members = _enum_of(param.annotation) if param is not None else None
            if members is not None and value is not None and not isinstance(value, members):
                try:
                    values[name] = members(value)
                except (ValueError, TypeError):
                    raise InvalidArgumentError(
                        f"tool '{self.name}', parameter '{name}': expected one of {[m.value for m in members]!r}, got {value!r}",
                        parameter=name,
                    ) from None
        try:
            self.command.bind(values)
        except InvalidArgumentError as err:
            message = str(err).replace(f"command '{self.name}'", f"tool '{self.name}'", 1)
            raise InvalidArgumentError(message, parameter=err.parameter) from None
        for name, value in values.items():
            param = self.command.parameters.get(name)
            if param is not None:
                problem = _choice_problem(value, param.annotation)
                if problem is not None:
                    raise InvalidArgumentError(f"tool '{self.name}', parameter '{name}': {problem}", parameter=name)
        return values


def _choice_problem(value: Any, annotation: Any) -> str | None:
    """Literal / Enum checks the command registry leaves out (None when the value fits)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _choice_problem(value, typing.get_args(annotation)[0])
    if origin is typing.Literal:
        choices = typing.get_args(annotation)
        if any(value == c and type(value) is type(c) for c in choices):
            return None
        return f"expected one of {list(choices)!r}, got {value!r}"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        if isinstance(value, annotation) or value in {m.value for m in annotation}:
            return None
        return f"expected one of {[m.value for m in annotation]!r}, got {value!r}"
    if origin is typing.Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        options = typing.get_args(annotation)
        if any(_choice_problem(value, o) is None and _fits(value, o) for o in options):
            return None
        choices = [o for o in options if typing.get_origin(o) is typing.Literal or (isinstance(o, type) and issubclass(o, enum.Enum))]
        if choices:
            return _choice_problem(value, choices[0]) if len(choices) == 1 else f"{value!r} is not an allowed value"
    return None


def _enum_of(annotation: Any) -> type[enum.Enum] | None:
    """The Enum class of ``E``, ``Optional[E]`` / ``E | None`` annotations."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = options[0] if len(options) == 1 else None
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return annotation
    return None


def _fits(value: Any, annotation: Any) -> bool:
    from ..core.registry import _type_problem

    return _type_problem(value, annotation) is None


class ToolRegistry:
    """Python tools by name. ``default_tool_registry`` is the one the worker serves
    (``tools.list`` / ``tools.call`` / ``tools.stream``)."""

    def __init__(self) -> None:
        self._tools: dict[str, PythonTool] = {}
        self._commands = CommandRegistry()

    def register(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        blocking: bool = False,
        replace: bool = False,
    ) -> PythonTool:
        """Registers ``fn`` as a tool; raises AlreadyExistsError for a taken name (unless ``replace``)."""
        tool_name = name or getattr(fn, "__name__", "")
        if not isinstance(tool_name, str) or not _NAME.match(tool_name):
            raise InvalidArgumentError(
                f"invalid tool name {tool_name!r}: letters, digits, '_', '.', '-' (starting with a letter or '_')",
                parameter="name",
            )
        if tool_name in self._tools and not replace:
            raise AlreadyExistsError(f"tool '{tool_name}' is already registered", details={"tool": tool_name})
        summary, param_docs = parse_docstring(inspect.getdoc(fn))
        command = self._commands.register(fn, name=tool_name, blocking=blocking, description=summary, replace=True)
        registered = PythonTool(
            name=tool_name,
            description=description if description is not None else summary,
            parameters=function_schema(fn, param_docs=param_docs),
            streaming=command.is_stream,
            blocking=blocking,
            fn=fn,
            command=command,
        )
        self._tools[tool_name] = registered
        return registered

    def unregister(self, name: str) -> None:
        self._tools.pop(name, None)

    def get(self, name: str) -> PythonTool:
        """The tool called ``name``; NotFoundError naming it and listing the available ones."""
        found = self._tools.get(name)
        if found is None:
            available = ", ".join(sorted(self._tools)) or "none"
            raise NotFoundError(
                f"unknown Python tool '{name}' (available: {available})",
                details={"tool": name, "available": sorted(self._tools)},
            )
        return found

    def list(self) -> list[PythonTool]:
        return [self._tools[n] for n in sorted(self._tools)]

    def names(self) -> list[str]:
        return sorted(self._tools)

    def specs(self) -> list[dict[str, Any]]:
        """``tool.spec()`` of every tool, by name."""
        return [t.spec() for t in self.list()]

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    # -- running -------------------------------------------------------------------------

    def _kwargs(self, found: PythonTool, args: Mapping[str, Any] | None, context: CommandContext | None, session_id: str) -> dict[str, Any]:
        kwargs = found.bind(args)
        if found.command.context_parameter is not None:
            kwargs[found.command.context_parameter] = context or CommandContext(
                command="tools.call", call_id=0, session_id=session_id, worker_id="", timeout_ms=0
            )
        return kwargs

    async def call(
        self,
        name: str,
        args: Mapping[str, Any] | None = None,
        *,
        session_id: str | None = None,
        context: CommandContext | None = None,
    ) -> Any:
        """Validates ``args`` and runs the tool: async tools are awaited (cancelling the caller
        cancels them), sync tools run inline, or in a thread when declared ``blocking=True``.
        ``session_id`` (default: the context's, else the current one) is what
        ``current_session_id()`` returns while the tool runs."""
        found = self.get(name)
        if found.streaming:
            raise InvalidArgumentError(f"tool '{name}' is a streaming tool: call it with stream", parameter="name")
        session = session_id if session_id is not None else (context.session_id if context else _current_session.get())
        kwargs = self._kwargs(found, args, context, session)
        token = _current_session.set(session)
        try:
            if found.blocking and not found.is_async:
                return await _in_thread(found.fn, kwargs)
            result = found.fn(**kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result
        finally:
            _current_session.reset(token)

    def call_sync(self, name: str, args: Mapping[str, Any] | None = None, *, session_id: str | None = None) -> Any:
        """``call`` for a plain (non-async, non-streaming) tool, from synchronous code."""
        found = self.get(name)
        if found.streaming or found.is_async:
            raise InvalidArgumentError(f"tool '{name}' is async or streaming: use await call/stream", parameter="name")
        session = session_id if session_id is not None else _current_session.get()
        kwargs = self._kwargs(found, args, None, session)
        token = _current_session.set(session)
        try:
            return found.fn(**kwargs)
        finally:
            _current_session.reset(token)

    async def stream(
        self,
        name: str,
        args: Mapping[str, Any] | None = None,
        *,
        session_id: str | None = None,
        context: CommandContext | None = None,
    ) -> AsyncIterator[Any]:
        """Validates ``args`` (before the first item is asked for) and iterates a streaming tool."""
        found = self.get(name)
        if not found.streaming:
            raise InvalidArgumentError(f"tool '{name}' is not a streaming tool: call it with call", parameter="name")
        session = session_id if session_id is not None else (context.session_id if context else _current_session.get())
        kwargs = self._kwargs(found, args, context, session)
        return _iterate(found, kwargs, session)


async def _in_thread(fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """A thread cannot be interrupted: on cancellation wait for it to finish, then re-raise."""
    ctx = contextvars.copy_context()
    future = asyncio.get_running_loop().run_in_executor(None, functools.partial(ctx.run, fn, **kwargs))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        try:
            await future
        except BaseException:  # noqa: BLE001 - cancelled whatever the thread did
            pass
        raise


_DONE = object()


async def _iterate(found: PythonTool, kwargs: dict[str, Any], session: str) -> AsyncIterator[Any]:
    token = _current_session.set(session)
    try:
        gen = found.fn(**kwargs)
        if found.is_async:
            try:
                async for item in gen:
                    yield item
            finally:
                await gen.aclose()
        else:
            try:
                if found.blocking:
                    while True:
                        item = await _in_thread(_next_or_done, {"gen": gen})
                        if item is _DONE:
                            break
                        yield item
                else:
                    for item in gen:
                        yield item
                        await asyncio.sleep(0)  # let cancellation through between items
            finally:
                gen.close()
    finally:
        try:
            _current_session.reset(token)
        except ValueError:  # finished in another context (closed by the garbage collector)
            pass


def _next_or_done(gen: Any) -> Any:
    return next(gen, _DONE)


default_tool_registry = ToolRegistry()


@overload
def tool(name: F) -> F: ...


@overload
def tool(
    name: str | None = None,
    *,
    description: str | None = None,
    blocking: bool = False,
    registry: ToolRegistry | None = None,
    replace: bool = False,
) -> Callable[[F], F]: ...


def tool(
    name: Any = None,
    *,
    description: str | None = None,
    blocking: bool = False,
    registry: ToolRegistry | None = None,
    replace: bool = False,
) -> Any:
    """Registers a function as a Python tool (in ``default_tool_registry`` unless ``registry``)::

        @tool
        def add(a: float, b: float) -> float:
            '''Adds two numbers.'''
            return a + b

        @tool("search", description="Search the docs")
        async def search_docs(query: str, limit: int = 5) -> list[str]: ...

    The description defaults to the docstring's first paragraph, the JSON Schema comes from
    the signature (``docs/tools-python.md``). Generator / async generator functions are
    streaming tools. A parameter annotated ``CommandContext`` receives the call's context and
    is not an argument. Returns the function unchanged, with the ``PythonTool`` as its
    ``__dspy_bridge_tool__`` attribute.
    """

    def decorate(fn: F, tool_name: str | None = None) -> F:
        registered = (default_tool_registry if registry is None else registry).register(
            fn, name=tool_name, description=description, blocking=blocking, replace=replace
        )
        try:
            fn.__dspy_bridge_tool__ = registered  # type: ignore[attr-defined]
        except (AttributeError, TypeError):  # builtins, bound methods
            pass
        return fn

    if callable(name):  # bare @tool
        return decorate(name)
    return lambda fn: decorate(fn, name)
