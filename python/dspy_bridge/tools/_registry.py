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

from ..core.registry import Command, CommandContext, CommandRegistry, type_problem
from ..errors import AlreadyExistsError, BridgeError, InvalidArgumentError
from ..telemetry import _otel as _telemetry
from ._client import call_tool, close_tool_clients
from ._current import current_session, current_session_id
from ._errors import ToolExecutionError, ToolNotFoundError, as_tool_not_found
from ._schema import JSONSchema, function_schema, parse_docstring

__all__ = [
    "PythonTool",
    "ToolInfo",
    "ToolMetadata",
    "ToolRegistry",
    "current_session_id",
    "default_tool_registry",
    "tool",
]

F = TypeVar("F", bound=Callable[..., Any])

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$")


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
        choices = [
            o
            for o in options
            if typing.get_origin(o) is typing.Literal or (isinstance(o, type) and issubclass(o, enum.Enum))
        ]
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
    return type_problem(value, annotation) is None


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
        """The tool called ``name``; ToolNotFoundError (a NotFoundError) naming it and listing
        the available ones."""
        found = self._tools.get(name)
        if found is None:
            available = ", ".join(sorted(self._tools)) or "none"
            raise ToolNotFoundError(
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

    # -- DSPex's interface ---------------------------------------------------

    def set_bridge(self, bridge: Any) -> None:
        """The ``ToolBridge`` that host (TypeScript) tools registered here are called through."""
        self.__dict__["_bridge"] = bridge

    def register_python_tool(self, name: str, func: Callable[..., Any], metadata: ToolMetadata | None = None) -> None:
        """Registers ``func`` as the Python tool ``name`` (DSPex's form of ``register``);
        ``metadata.description`` overrides the docstring's."""
        metadata = metadata if metadata is not None else getattr(func, "_tool_metadata", None)
        registered = self.register(
            func, name=name, description=(metadata.description or None) if metadata else None, replace=True
        )
        extra = dict(metadata.extra) if metadata else {}
        self.__dict__.setdefault("_python_extra", {})[registered.name] = (
            extra,
            dict(metadata.returns) if metadata else {},
        )

    def register_elixir_tool(
        self, session_id: str, name: str, description: str = "", parameters: list[dict[str, Any]] | None = None
    ) -> None:
        """Makes the host's (TypeScript: DSPex's Elixir) tool ``name`` callable through this
        registry for ``session_id``; calls go through the bridge (``set_bridge``) or, without
        one, through the host's bridge service (``call_tool``)."""
        registry = self

        async def host_handler(**kwargs: Any) -> Any:
            bridge = registry.__dict__.get("_bridge")
            if bridge is not None:
                return await bridge.acall_elixir_tool(session_id, name, kwargs)
            with _not_found_as_tool(name):
                return await call_tool(name, kwargs, session_id=session_id)

        info = ToolInfo(
            name=name,
            description=description,
            parameters=list(parameters or []),
            returns={},
            language="typescript",
            handler=host_handler,
            metadata={},
        )
        self.__dict__.setdefault("_session_tools", {}).setdefault(session_id, {})[name] = info

    register_typescript_tool = register_elixir_tool

    def _info(self, found: PythonTool) -> ToolInfo:
        extra, returns = self.__dict__.get("_python_extra", {}).get(found.name, ({}, {}))
        return ToolInfo(
            name=found.name,
            description=found.description,
            parameters=_parameter_list(found.parameters),
            returns=returns,
            language="python",
            handler=found.fn,
            metadata=extra,
        )

    def get_tool(self, name: str, session_id: str | None = None) -> ToolInfo:
        """DSPex's lookup: the session's host tools first, then this registry's Python tools;
        ``ToolNotFoundError`` otherwise."""
        session_tools = self.__dict__.get("_session_tools", {})
        if session_id and name in session_tools.get(session_id, {}):
            return session_tools[session_id][name]
        return self._info(self.get(name))

    def list_tools(self, session_id: str | None = None) -> list[ToolInfo]:
        tools = [self._info(t) for t in self.list()]
        if session_id:
            tools.extend(self.__dict__.get("_session_tools", {}).get(session_id, {}).values())
        return tools

    def execute_tool(self, name: str, params: Mapping[str, Any] | None = None, session_id: str | None = None) -> Any:
        """DSPex's synchronous call: runs the tool with ``params`` and returns its result
        (called from a coroutine, it returns an awaitable instead: ``await
        registry.execute_tool(...)``). ``ToolNotFoundError`` for an unknown tool,
        ``InvalidArgumentError`` for bad parameters, ``ToolExecutionError`` (the tool's own
        error as ``__cause__``) when the tool raises."""
        info = self.get_tool(name, session_id)
        if info.language == "python":
            found = self.get(name)
            if found.streaming:
                raise InvalidArgumentError(
                    f"tool '{name}' is a streaming tool: iterate it with stream", parameter="name"
                )
            found.bind(params)  # bad parameters are the caller's error, not the tool's

            async def run_python() -> Any:
                try:
                    return await self.call(name, params, session_id=session_id)
                except Exception as exc:  # DSPex wraps every failure of the tool
                    raise _execution_error(name, exc) from exc

            if not found.is_async and not (found.blocking):
                try:
                    return self.call_sync(name, params, session_id=session_id)
                except Exception as exc:
                    raise _execution_error(name, exc) from exc
            return _run_or_return(run_python())

        async def run_host() -> Any:
            try:
                return await info.handler(**dict(params or {}))
            except ToolNotFoundError:
                raise
            except Exception as exc:
                raise _execution_error(name, exc) from exc

        return _run_or_return(run_host())

    # -- running -------------------------------------------------------------------------

    def _kwargs(
        self, found: PythonTool, args: Mapping[str, Any] | None, context: CommandContext | None, session_id: str
    ) -> dict[str, Any]:
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
        session = session_id if session_id is not None else (context.session_id if context else current_session.get())
        kwargs = self._kwargs(found, args, context, session)
        if _telemetry._tracer is not None:
            with _telemetry.tool_span(name, session):
                return await self._run(found, kwargs, session)
        return await self._run(found, kwargs, session)

    async def _run(self, found: Any, kwargs: dict[str, Any], session: str | None) -> Any:
        token = current_session.set(session)
        try:
            if found.blocking and not found.is_async:
                return await _in_thread(found.fn, kwargs)
            result = found.fn(**kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result
        finally:
            current_session.reset(token)

    def call_sync(self, name: str, args: Mapping[str, Any] | None = None, *, session_id: str | None = None) -> Any:
        """``call`` for a plain (non-async, non-streaming) tool, from synchronous code."""
        found = self.get(name)
        if found.streaming or found.is_async:
            raise InvalidArgumentError(f"tool '{name}' is async or streaming: use await call/stream", parameter="name")
        session = session_id if session_id is not None else current_session.get()
        kwargs = self._kwargs(found, args, None, session)
        token = current_session.set(session)
        try:
            return found.fn(**kwargs)
        finally:
            current_session.reset(token)

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
        session = session_id if session_id is not None else (context.session_id if context else current_session.get())
        kwargs = self._kwargs(found, args, context, session)
        return _iterate(found, kwargs, session)


def _execution_error(name: str, exc: BaseException) -> ToolExecutionError:
    details: dict[str, Any] = {"tool": name, "error_type": type(exc).__name__}
    if isinstance(exc, BridgeError):
        details["reason"] = exc.reason
    return ToolExecutionError(f"Error executing tool '{name}': {exc}", details=details)


def _not_found_as_tool(name: str) -> Any:
    return as_tool_not_found(name)


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
    token = current_session.set(session)
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
            current_session.reset(token)
        except ValueError:  # finished in another context (closed by the garbage collector)
            pass


def _next_or_done(gen: Any) -> Any:
    return next(gen, _DONE)


default_tool_registry = ToolRegistry()


@dataclass
class ToolMetadata:
    """DSPex's tool metadata (``register_python_tool(name, func, metadata)``)."""

    description: str = ""
    parameters: list[dict[str, Any]] = field(default_factory=list)
    returns: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ToolInfo:
    """DSPex's view of a tool: ``language`` is ``"python"`` (a tool of this
    registry) or ``"typescript"`` (a host tool; DSPex's ``"elixir"``), ``handler`` calls it."""

    name: str
    description: str
    parameters: list[dict[str, Any]]
    returns: dict[str, Any]
    language: str
    handler: Callable[..., Any]
    metadata: dict[str, Any]


def _parameter_list(schema: Mapping[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required") or ())
    return [
        {"name": n, "type": p.get("type", "any"), "required": n in required, "description": p.get("description", "")}
        for n, p in (schema.get("properties") or {}).items()
    ]


def _run_or_return(awaitable: Any) -> Any:
    """DSPex's tool calls are synchronous: from synchronous code run ``awaitable`` to its
    result here; from a coroutine (a running loop in this thread) return it to be awaited."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:

        async def run() -> Any:
            try:
                return await awaitable
            finally:
                await close_tool_clients()  # this loop ends here: its channels go with it

        return asyncio.run(run())
    return awaitable


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
