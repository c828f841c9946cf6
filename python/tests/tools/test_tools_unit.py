"""Python tools without a host: schema derivation, @tool, ToolRegistry, argument checks,
running (sync, async, blocking, streaming, cancellation), the tools.* commands and the
dspy.Tool adapters."""

from __future__ import annotations

import asyncio
import enum
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal, Optional, TypedDict, Union

import pytest

from dspy_bridge.core import CommandContext, default_registry
from dspy_bridge.errors import AlreadyExistsError, InvalidArgumentError, NotFoundError
from dspy_bridge.tools import (
    PythonTool,
    ToolRegistry,
    ToolSpec,
    current_session_id,
    default_tool_registry,
    dspy_tool,
    function_schema,
    json_schema_for,
    parse_docstring,
    python_tools_as_dspy,
    tool,
)


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Point(TypedDict):
    x: int
    y: int


# -- schema derivation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotation", "schema"),
    [
        (str, {"type": "string"}),
        (int, {"type": "integer"}),
        (float, {"type": "number"}),
        (bool, {"type": "boolean"}),
        (Any, {}),
        (list[int], {"type": "array", "items": {"type": "integer"}}),
        (list, {"type": "array"}),
        (tuple[str, ...], {"type": "array", "items": {"type": "string"}}),
        (
            tuple[str, int],
            {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "minItems": 2, "maxItems": 2},
        ),
        (dict, {"type": "object"}),
        (dict[str, float], {"type": "object", "additionalProperties": {"type": "number"}}),
        (Optional[int], {"type": ["integer", "null"]}),
        (int | None, {"type": ["integer", "null"]}),
        (list[str] | None, {"type": ["array", "null"], "items": {"type": "string"}}),
        (Union[int, str], {"anyOf": [{"type": "integer"}, {"type": "string"}]}),
        (Optional[Union[int, str]], {"anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}]}),
        (Literal["a", "b"], {"type": "string", "enum": ["a", "b"]}),
        (Literal[1, "x"], {"enum": [1, "x"]}),
        (Optional[Literal["a"]], {"anyOf": [{"type": "string", "enum": ["a"]}, {"type": "null"}]}),
        (Color, {"type": "string", "enum": ["red", "blue"]}),
        (list[dict[str, Any]], {"type": "array", "items": {"type": "object"}}),
        (
            Point,
            {
                "type": "object",
                "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
                "required": ["x", "y"],
            },
        ),
    ],
)
def test_json_schema_for(annotation: Any, schema: dict[str, Any]) -> None:
    assert json_schema_for(annotation) == schema


def test_pydantic_models_use_their_own_schema() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Item(pydantic.BaseModel):
        name: str
        qty: int = 1

    schema = json_schema_for(Item)
    assert schema["type"] == "object" and set(schema["properties"]) == {"name", "qty"}


def test_a_none_default_does_not_make_a_parameter_nullable() -> None:
    # Python 3.10's typing.get_type_hints makes `limit: int = None` Optional[int]; 3.11+ do
    # not. The schema (and the command registry's type check) follow 3.11 on every version.
    def f(limit: int = None, since: Optional[str] = None) -> None:  # type: ignore[assignment]
        pass

    props = function_schema(f)["properties"]
    assert props["limit"] == {"type": "integer", "default": None}
    assert props["since"] == {"type": ["string", "null"], "default": None}


def test_function_schema_required_defaults_docs_and_context() -> None:
    def search(
        query: str,
        ctx: CommandContext,
        limit: int = 5,
        mode: Literal["fast", "deep"] = "fast",
        since: Optional[str] = None,
        tags: tuple[str, ...] = ("a",),
        when: object = object(),
    ) -> list[str]:
        """Search the docs.

        Longer explanation that is not part of the summary.

        Args:
            query: What to look for;
                may span lines.
            limit (int): At most this many results.
            mode: How hard to look.

        Returns:
            Matching titles.
        """
        return []

    schema = function_schema(search)
    assert schema["type"] == "object"
    assert schema["required"] == ["query"]
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert list(props) == ["query", "limit", "mode", "since", "tags", "when"]  # the context is not an argument
    assert props["query"] == {"type": "string", "description": "What to look for; may span lines."}
    assert props["limit"] == {"type": "integer", "description": "At most this many results.", "default": 5}
    assert props["mode"] == {
        "type": "string",
        "enum": ["fast", "deep"],
        "description": "How hard to look.",
        "default": "fast",
    }
    assert props["since"] == {"type": ["string", "null"], "default": None}
    assert props["tags"] == {"type": "array", "items": {"type": "string"}, "default": ["a"]}
    assert props["when"] == {}  # a default that is not JSON data is not recorded


def test_var_kwargs_allow_additional_properties() -> None:
    def f(a: int, **rest: Any) -> None: ...

    schema = function_schema(f)
    assert "additionalProperties" not in schema and schema["required"] == ["a"]


def test_parse_docstring() -> None:
    assert parse_docstring(None) == ("", {})
    assert parse_docstring("One line.") == ("One line.", {})
    summary, params = parse_docstring(
        """First line
        continues here.

        Arguments:
            x: the x.
            y (list[int]): the y,
                continued.
        Raises:
            ValueError: never.
        """
    )
    assert summary == "First line continues here."
    assert params == {"x": "the x.", "y": "the y, continued."}


# -- the decorator and the registry --------------------------------------------------------


def test_decorator_forms() -> None:
    reg = ToolRegistry()

    @tool(registry=reg)
    def plain(a: int) -> int:
        """Doubles a.

        Details.
        """
        return a * 2

    @tool("renamed", description="Explicit description", registry=reg)
    def other(text: str) -> str:
        """Docstring not used."""
        return text

    assert plain(3) == 6  # the function is returned unchanged
    assert isinstance(plain.__dspy_bridge_tool__, PythonTool)  # type: ignore[attr-defined]
    assert reg.names() == ["plain", "renamed"]
    assert reg.get("plain").description == "Doubles a."
    assert reg.get("renamed").description == "Explicit description"
    assert reg.get("renamed").fn is other
    assert reg.get("plain").spec() == {
        "name": "plain",
        "description": "Doubles a.",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}},
            "required": ["a"],
            "additionalProperties": False,
        },
        "streaming": False,
        "owner": "python",
    }


def test_bare_decorator_uses_the_default_registry() -> None:
    @tool
    def _unit_bare_tool(x: str) -> str:
        return x

    try:
        assert "_unit_bare_tool" in default_tool_registry
    finally:
        default_tool_registry.unregister("_unit_bare_tool")


def test_duplicate_and_invalid_names() -> None:
    reg = ToolRegistry()
    reg.register(lambda: 1, name="one")
    with pytest.raises(AlreadyExistsError):
        reg.register(lambda: 2, name="one")
    reg.register(lambda: 3, name="one", replace=True)
    with pytest.raises(InvalidArgumentError) as info:
        reg.register(lambda: 1, name="bad name!")
    assert info.value.parameter == "name"


def test_streaming_detection() -> None:
    reg = ToolRegistry()

    @tool(registry=reg)
    def gen(n: int) -> Iterator[int]:
        yield from range(n)

    @tool(registry=reg)
    async def agen(n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i

    @tool(registry=reg)
    async def coro() -> int:
        return 1

    assert [reg.get(n).streaming for n in ("gen", "agen", "coro")] == [True, True, False]


def test_unknown_tool_names_it_and_lists_the_available_ones() -> None:
    reg = ToolRegistry()
    reg.register(lambda: 1, name="alpha")
    reg.register(lambda: 1, name="beta")
    with pytest.raises(NotFoundError) as info:
        reg.get("gamma")
    assert "'gamma'" in str(info.value) and "alpha, beta" in str(info.value)
    assert info.value.details == {"tool": "gamma", "available": ["alpha", "beta"]}


# -- argument checks -----------------------------------------------------------------------


@pytest.fixture
def reg() -> ToolRegistry:
    registry = ToolRegistry()

    @tool(registry=registry)
    def typed(
        name: str,
        count: int,
        ratio: float = 1.0,
        flag: bool = False,
        items: Optional[list[str]] = None,
        mode: Literal["a", "b"] = "a",
        color: Color = Color.RED,
    ) -> dict[str, Any]:
        return {
            "name": name,
            "count": count,
            "ratio": ratio,
            "flag": flag,
            "items": items,
            "mode": mode,
            "color": color,
        }

    return registry


@pytest.mark.parametrize(
    ("args", "parameter", "fragment"),
    [
        ({"count": 1}, "name", "missing required parameter 'name'"),
        ({"name": "x", "count": "1"}, "count", "expected int, got str"),
        ({"name": "x", "count": True}, "count", "expected int, got bool"),
        ({"name": "x", "count": 1, "ratio": "high"}, "ratio", "parameter 'ratio'"),
        ({"name": "x", "count": 1, "items": "a"}, "items", "parameter 'items'"),
        ({"name": "x", "count": 1, "mode": "c"}, "mode", "expected one of ['a', 'b'], got 'c'"),
        ({"name": "x", "count": 1, "color": "green"}, "color", "expected one of ['red', 'blue']"),
        ({"name": "x", "count": 1, "extra": 1}, "extra", "has no parameter 'extra'"),
    ],
)
async def test_bad_arguments_name_the_argument(
    reg: ToolRegistry, args: dict[str, Any], parameter: str, fragment: str
) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        await reg.call("typed", args)
    assert info.value.parameter == parameter
    assert fragment in str(info.value)
    assert str(info.value).startswith("tool 'typed'")


async def test_good_arguments_and_enum_conversion(reg: ToolRegistry) -> None:
    result = await reg.call("typed", {"name": "x", "count": 2, "ratio": 3, "items": None, "mode": "b", "color": "blue"})
    assert result == {
        "name": "x",
        "count": 2,
        "ratio": 3,
        "flag": False,
        "items": None,
        "mode": "b",
        "color": Color.BLUE,
    }


async def test_arguments_must_be_a_mapping(reg: ToolRegistry) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        await reg.call("typed", [1, 2])  # type: ignore[arg-type]
    assert info.value.parameter == "args"


# -- running -------------------------------------------------------------------------------


async def test_sync_async_and_blocking_tools() -> None:
    reg = ToolRegistry()
    threads: dict[str, Any] = {}

    @tool(registry=reg)
    def inline() -> str:
        threads["inline"] = threading.current_thread()
        return "inline"

    @tool(registry=reg, blocking=True)
    def blocking() -> str:
        threads["blocking"] = threading.current_thread()
        time.sleep(0.01)
        return current_session_id()

    @tool(registry=reg)
    async def awaited(x: int) -> int:
        await asyncio.sleep(0)
        return x + 1

    assert await reg.call("inline") == "inline"
    assert await reg.call("blocking", session_id="s1") == "s1"  # the session reaches the thread
    assert await reg.call("awaited", {"x": 1}) == 2
    assert threads["inline"] is threading.main_thread()
    assert threads["blocking"] is not threading.main_thread()
    assert reg.call_sync("inline") == "inline"
    with pytest.raises(InvalidArgumentError):
        reg.call_sync("awaited", {"x": 1})


async def test_context_parameter_and_current_session() -> None:
    reg = ToolRegistry()

    @tool(registry=reg)
    async def who(ctx: CommandContext) -> tuple[str, str]:
        return ctx.session_id, current_session_id()

    assert await reg.call("who", session_id="abc") == ("abc", "abc")
    ctx = CommandContext(command="tools.call", call_id=7, session_id="s9", worker_id="w1", timeout_ms=0)
    assert await reg.call("who", context=ctx) == ("s9", "s9")
    assert current_session_id() == ""  # restored afterwards


async def test_streaming_tools() -> None:
    reg = ToolRegistry()

    @tool(registry=reg)
    def words(text: str) -> Iterator[str]:
        yield from text.split()

    @tool(registry=reg, blocking=True)
    def slow_words(text: str) -> Iterator[str]:
        for w in text.split():
            time.sleep(0.001)
            yield w

    @tool(registry=reg)
    async def count(n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i

    assert [w async for w in await reg.stream("words", {"text": "a b c"})] == ["a", "b", "c"]
    assert [w async for w in await reg.stream("slow_words", {"text": "x y"})] == ["x", "y"]
    assert [i async for i in await reg.stream("count", {"n": 3})] == [0, 1, 2]
    with pytest.raises(InvalidArgumentError) as info:
        await reg.stream("count", {"n": "3"})  # checked before the first item is asked for
    assert info.value.parameter == "n"
    with pytest.raises(InvalidArgumentError):
        await reg.call("count", {"n": 1})
    with pytest.raises(InvalidArgumentError):

        @tool(registry=reg)
        def not_streaming() -> int:
            return 1

        await reg.stream("not_streaming")


async def test_cancelling_the_caller_cancels_an_async_tool() -> None:
    reg = ToolRegistry()
    events: list[str] = []

    @tool(registry=reg)
    async def wait() -> None:
        events.append("started")
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    task = asyncio.ensure_future(reg.call("wait"))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert events == ["started", "cancelled"]


async def test_cancelling_a_blocking_tool_waits_for_its_thread() -> None:
    reg = ToolRegistry()
    finished: list[float] = []

    @tool(registry=reg, blocking=True)
    def busy() -> None:
        time.sleep(0.2)
        finished.append(time.monotonic())

    task = asyncio.ensure_future(reg.call("busy"))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert finished  # the cancellation is reported only once the thread is done


# -- the worker commands -------------------------------------------------------------------


async def test_tools_commands_are_registered_and_serve_the_default_registry() -> None:
    import dspy_bridge.tools.commands  # noqa: F401 - what the fork server imports

    for name in ("tools.list", "tools.call", "tools.stream"):
        assert name in default_registry
    assert default_registry.get("tools.stream").is_stream

    @tool("_unit_cmd_tool")
    async def cmd_tool(x: int, ctx: CommandContext) -> dict[str, Any]:
        """A test tool."""
        return {"x": x, "session": ctx.session_id}

    try:
        listed = default_registry.get("tools.list").fn()
        mine = [t for t in listed if t["name"] == "_unit_cmd_tool"]
        assert mine == [
            {
                "name": "_unit_cmd_tool",
                "description": "A test tool.",
                "parameters": {
                    "type": "object",
                    "properties": {"x": {"type": "integer"}},
                    "required": ["x"],
                    "additionalProperties": False,
                },
                "streaming": False,
                "owner": "python",
            }
        ]
        call = default_registry.get("tools.call")
        call.bind({"name": "_unit_cmd_tool", "args": {"x": 1}})
        ctx = CommandContext(command="tools.call", call_id=1, session_id="sess", worker_id="w", timeout_ms=0)
        assert await call.fn(name="_unit_cmd_tool", args={"x": 1}, ctx=ctx) == {"x": 1, "session": "sess"}
        with pytest.raises(NotFoundError) as info:
            await call.fn(name="_unit_missing", args={}, ctx=ctx)
        assert "_unit_cmd_tool" in str(info.value)
        with pytest.raises(InvalidArgumentError) as bad:
            await call.fn(name="_unit_cmd_tool", args={"x": "1"}, ctx=ctx)
        assert bad.value.parameter == "x"
    finally:
        default_tool_registry.unregister("_unit_cmd_tool")


# -- dspy.Tool adapters --------------------------------------------------------------------


def test_importing_tools_does_not_import_dspy() -> None:
    import subprocess

    code = "import sys, dspy_bridge.tools, dspy_bridge.tools.commands; print('dspy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


async def test_python_tools_as_dspy() -> None:
    import dspy

    reg = ToolRegistry()

    @tool(registry=reg)
    def add(a: int, b: int = 1) -> int:
        """Adds.

        Args:
            a: first.
        """
        return a + b

    @tool(registry=reg)
    async def shout(text: str) -> str:
        """Shouts."""
        return text.upper()

    @tool(registry=reg)
    async def count(n: int) -> AsyncIterator[int]:
        """Counts."""
        for i in range(n):
            yield i

    tools = {t.name: t for t in python_tools_as_dspy(reg)}
    assert all(isinstance(t, dspy.Tool) for t in tools.values())
    assert tools["add"].desc == "Adds."
    assert tools["add"].args == {
        "a": {"type": "integer", "description": "first."},
        "b": {"type": "integer", "default": 1},
    }
    assert tools["add"](a=2) == 3  # a plain tool stays synchronous
    assert await tools["shout"].acall(text="hi") == "HI"
    assert await tools["count"].acall(n=3) == [0, 1, 2]
    with pytest.raises(ValueError):  # DSPy's own schema check, then ours
        tools["add"](a="x")
    assert [t.name for t in python_tools_as_dspy(reg, names=["shout"])] == ["shout"]


async def test_dspy_tool_from_a_spec() -> None:
    import dspy

    seen: list[Any] = []

    class FakeCall:
        def __init__(self, request: Any) -> None:
            self.request = request

        def __await__(self) -> Any:
            from dspy_bridge._gen.dspy_bridge.v1 import tools_pb2
            from dspy_bridge.values import decode_value, encode_value

            seen.append((self.request.name, decode_value(self.request.args), self.request.session_id))
            if False:
                yield
            return tools_pb2.CallToolResponse(result=encode_value({"ok": True}))

        def cancel(self) -> None: ...

    class FakeStub:
        def CallTool(self, request: Any, timeout: Any = None) -> FakeCall:  # noqa: N802
            return FakeCall(request)

    class FakeClient:
        stub = FakeStub()

    spec = {
        "name": "lookup",
        "description": "Look a word up",
        "parameters": {
            "type": "object",
            "properties": {"word": {"type": "string", "description": "the word"}},
            "required": ["word"],
        },
    }
    t = dspy_tool(spec, session_id="s1", client=FakeClient())
    assert isinstance(t, dspy.Tool)
    assert (t.name, t.desc) == ("lookup", "Look a word up")
    assert t.args == {"word": {"type": "string", "description": "the word"}}
    assert t.arg_desc == {"word": "the word"}
    assert await t.acall(word="cat") == {"ok": True}
    assert seen == [("lookup", {"word": "cat"}, "s1")]
    assert "lookup, whose description is <desc>Look a word up</desc>" in str(t)
    assert ToolSpec.from_dict(spec).parameters["required"] == ["word"]
