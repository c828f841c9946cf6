"""CommandRegistry, the @command decorator and Command.bind() argument checking."""

# No `from __future__ import annotations`: the signatures below carry real annotation
# objects, so both evaluated and (further down) string annotations are exercised.

import asyncio
import inspect
from typing import Any, Optional, Union
from collections.abc import AsyncIterator, Iterator

import pytest

from dspy_bridge.core import Command, CommandContext, CommandRegistry, Parameter, command, default_registry
from dspy_bridge.errors import InvalidArgumentError, UnknownCommandError


@pytest.fixture
def reg() -> CommandRegistry:
    return CommandRegistry()


def _bind_error(cmd: Command, args: dict[str, Any]) -> InvalidArgumentError:
    with pytest.raises(InvalidArgumentError) as info:
        cmd.bind(args)
    return info.value


# ---- registration -----------------------------------------------------------------------------


def test_decorator_registers_into_given_registry_only(reg: CommandRegistry) -> None:
    before = default_registry.names()

    @command(registry=reg)
    def add(a: int, b: int = 2) -> int:
        """Adds two numbers."""
        return a + b

    assert add(1) == 3, "the decorator returns the function itself"
    assert reg.names() == ["add"]
    assert "add" in reg
    assert "missing" not in reg
    assert default_registry.names() == before, "the default registry is untouched"
    cmd = reg.get("add")
    assert cmd.fn is add
    assert cmd.name == "add"
    assert cmd.description == "Adds two numbers."
    assert cmd.parameters == {
        "a": Parameter("a", int, inspect.Parameter.empty, True),
        "b": Parameter("b", int, 2, False),
    }
    assert cmd.parameters["a"].required and not cmd.parameters["b"].required


def test_decorator_name_and_description_override(reg: CommandRegistry) -> None:
    @command("custom.name", description="explicit", registry=reg)
    def whatever() -> None:
        """docstring loses"""

    assert reg.names() == ["custom.name"]
    assert reg.get("custom.name").description == "explicit"
    with pytest.raises(UnknownCommandError):
        reg.get("whatever")


def test_names_are_sorted(reg: CommandRegistry) -> None:
    for name in ["zeta", "alpha", "mid"]:
        reg.register(lambda: None, name=name)
    assert reg.names() == ["alpha", "mid", "zeta"]


def test_duplicate_names_are_refused(reg: CommandRegistry) -> None:
    @command(registry=reg)
    def dup() -> int:
        return 1

    with pytest.raises(ValueError, match="already registered"):

        @command("dup", registry=reg)
        def other() -> int:
            return 2

    assert reg.get("dup").fn is dup, "the first registration stays"
    replaced = reg.register(lambda: 3, name="dup", replace=True)
    assert reg.get("dup") is replaced


def test_a_yielding_command_gives_way_to_a_users_own(reg: CommandRegistry) -> None:
    """DSPex's generic adapter commands (generate, configure_lm, ...) must not stop a user
    module that defines a command of the same name from loading."""

    @command("generate", registry=reg, yields=True)
    def seed_generate() -> str:
        return "seed"

    @command("generate", registry=reg)
    def users_generate() -> str:
        return "mine"

    assert reg.get("generate").fn is users_generate
    with pytest.raises(ValueError, match="already registered"):  # now a user's: a second one is a clash again
        reg.register(lambda: "again", name="generate")
    with pytest.raises(ValueError, match="already registered"):  # a yielding one never replaces
        reg.register(lambda: "seed again", name="generate", yields=True)


def test_positional_only_and_var_positional_are_refused(reg: CommandRegistry) -> None:
    def pos_only(a: int, /) -> None: ...

    def var_pos(*items: int) -> None: ...

    with pytest.raises(TypeError, match="'a'"):
        reg.register(pos_only)
    with pytest.raises(TypeError, match="'items'"):
        reg.register(var_pos)
    assert reg.names() == []


def test_unknown_command(reg: CommandRegistry) -> None:
    with pytest.raises(UnknownCommandError) as info:
        reg.get("nope")
    err = info.value
    assert err.reason == "unknown_command"
    assert err.details == {"command": "nope"}
    assert "nope" in str(err)


# ---- flags ------------------------------------------------------------------------------------


def test_kind_flags_are_detected(reg: CommandRegistry) -> None:
    def plain() -> int:
        return 1

    async def coro() -> int:
        return 1

    def gen() -> Iterator[int]:
        yield 1

    async def agen() -> AsyncIterator[int]:
        yield 1

    def heavy() -> int:
        return 1

    flags = {}
    for fn in (plain, coro, gen, agen):
        cmd = reg.register(fn)
        flags[fn.__name__] = (cmd.is_async, cmd.is_stream, cmd.blocking)
    heavy_cmd = reg.register(heavy, blocking=True)
    assert flags == {
        "plain": (False, False, False),
        "coro": (True, False, False),
        "gen": (False, True, False),
        "agen": (True, True, False),
    }
    assert (heavy_cmd.is_async, heavy_cmd.is_stream, heavy_cmd.blocking) == (False, False, True)


def test_blocking_via_decorator(reg: CommandRegistry) -> None:
    @command(blocking=True, registry=reg)
    def crunch() -> int:
        return 0

    assert reg.get("crunch").blocking is True


# ---- context injection ------------------------------------------------------------------------


def test_context_parameter_is_not_an_argument(reg: CommandRegistry) -> None:
    def with_ctx(x: int, ctx: CommandContext) -> int:
        return x

    cmd = reg.register(with_ctx)
    assert cmd.context_parameter == "ctx"
    assert list(cmd.parameters) == ["x"]
    assert cmd.bind({"x": 1}) == {"x": 1}, "the context is not required from the caller"
    err = _bind_error(cmd, {"x": 1, "ctx": {}})
    assert err.parameter == "ctx", "the caller cannot pass the context itself"
    assert [p["name"] for p in cmd.describe()["parameters"]] == ["x"]


@pytest.mark.parametrize(
    "annotation",
    [Optional[CommandContext], Union[CommandContext, None], CommandContext | None, "CommandContext | None"],
    ids=["Optional", "Union", "pipe", "string"],
)
def test_optional_context_parameter_is_injected(reg: CommandRegistry, annotation: Any) -> None:
    # builtins.sleep declares `ctx: CommandContext | None = None`; it must be injected too.
    def fn(x: int, context=None) -> int:  # type: ignore[no-untyped-def]
        return x

    fn.__annotations__["context"] = annotation
    cmd = reg.register(fn)
    assert cmd.context_parameter == "context"
    assert list(cmd.parameters) == ["x"]


def test_builtin_sleep_receives_its_context() -> None:
    from dspy_bridge.core import builtins  # noqa: F401

    cmd = default_registry.get("sleep")
    assert cmd.context_parameter == "ctx"
    assert "ctx" not in cmd.parameters


def test_context_dataclass_defaults() -> None:
    ctx = CommandContext(command="c", call_id=7, session_id="s", worker_id="w", timeout_ms=0)
    other = CommandContext(command="c", call_id=8, session_id="s", worker_id="w", timeout_ms=0)
    ctx.extras["k"] = 1
    assert other.extras == {}, "extras is per-instance"


# ---- bind() -----------------------------------------------------------------------------------


def test_bind_accepts_good_arguments_and_returns_them(reg: CommandRegistry) -> None:
    def f(a: int, b: str = "x", c: Any = None) -> None: ...

    cmd = reg.register(f)
    args = {"a": 1, "c": object()}
    assert cmd.bind(args) is args


def test_bind_unknown_parameter(reg: CommandRegistry) -> None:
    def f(a: int) -> None: ...

    err = _bind_error(reg.register(f), {"a": 1, "bogus": 2})
    assert err.parameter == "bogus"
    assert err.reason == "invalid_argument"
    assert "bogus" in str(err) and "a" in str(err)


def test_bind_unknown_parameter_on_command_without_parameters(reg: CommandRegistry) -> None:
    def f() -> None: ...

    err = _bind_error(reg.register(f), {"x": 1})
    assert err.parameter == "x"
    assert "none" in str(err)


def test_bind_missing_required(reg: CommandRegistry) -> None:
    def f(a: int, needed: str, opt: int = 3) -> None: ...

    err = _bind_error(reg.register(f), {"a": 1})
    assert err.parameter == "needed"
    assert "missing" in str(err)


def test_var_kwargs_accept_extra_names(reg: CommandRegistry) -> None:
    def f(a: int, **rest: Any) -> None: ...

    cmd = reg.register(f)
    assert cmd.accepts_var_kwargs
    assert list(cmd.parameters) == ["a"], "**rest is not a parameter itself"
    assert cmd.bind({"a": 1, "anything": "x", "more": [1]}) == {"a": 1, "anything": "x", "more": [1]}
    # declared parameters are still checked
    assert _bind_error(cmd, {"a": "one", "anything": 1}).parameter == "a"
    assert _bind_error(cmd, {"anything": 1}).parameter == "a"


def _single(annotation: Any) -> Command:
    reg = CommandRegistry()

    def f(p=None) -> None:  # type: ignore[no-untyped-def]
        ...

    f.__annotations__["p"] = annotation
    return reg.register(f)


TYPE_CASES: list[tuple[str, Any, list[Any], list[Any]]] = [
    # (id, annotation, accepted values, rejected values)
    ("int", int, [0, -5, 2**70], [True, False, 1.0, "1", None, [1]]),
    ("bool", bool, [True, False], [0, 1, "true", None]),
    ("float", float, [1.5, 0, -3, 2**60], [True, "1.5", None, [1.0]]),
    ("str", str, ["", "héllo"], [1, b"x", None, ["a"]]),
    ("bytes", bytes, [b"", b"\x00\xff"], ["abc", bytearray(b"x"), [1], None]),
    ("list", list, [[], [1, "a"], (1, 2)], [{"a": 1}, "abc", None, 1]),
    ("list[int]", list[int], [[1, 2], []], [{"a": 1}, "ab"]),
    ("typing.List", list[str], [["a"]], ["a"]),
    ("tuple", tuple, [(1,), [1]], ["x"]),
    ("dict", dict, [{}, {"a": [1]}], [[("a", 1)], "a", None]),
    ("dict[str,int]", dict[str, int], [{"a": 1}], [[1]]),
    ("typing.Dict", dict[str, Any], [{"a": 1}], [[1]]),
    ("Optional[int]", Optional[int], [None, 3], ["3", True, 1.5]),
    ("int|None", int | None, [None, 3], ["3", True]),
    ("None|str", None | str, [None, "x"], [1]),
    ("Union[int,str]", Union[int, str], [1, "a"], [1.5, None, True, [1]]),
    ("int|float", int | float, [1, 1.5], ["1", True]),
    ("list|dict|None", list | dict | None, [[1], {"a": 1}, None], ["x", 1]),
    ("Any", Any, [None, 1, "x", object()], []),
    ("unannotated", inspect.Parameter.empty, [None, 1, object()], []),
]


@pytest.mark.parametrize("annotation,accepted,rejected", [c[1:] for c in TYPE_CASES], ids=[c[0] for c in TYPE_CASES])
def test_bind_type_checks(annotation: Any, accepted: list[Any], rejected: list[Any]) -> None:
    cmd = _single(annotation)
    for value in accepted:
        assert cmd.bind({"p": value}) == {"p": value}, f"{value!r} should fit {annotation!r}"
    for value in rejected:
        err = _bind_error(cmd, {"p": value})
        assert err.parameter == "p", value
        assert err.details == {"parameter": "p"}
        assert type(value).__name__ in str(err), str(err)


def test_bind_type_error_message_names_expected_type() -> None:
    err = _bind_error(_single(int), {"p": True})
    assert "expected int, got bool" in str(err)
    err = _bind_error(_single(Union[int, str]), {"p": 1.5})
    assert "expected int or str, got float" in str(err)
    err = _bind_error(_single(int | None), {"p": "x"})
    assert "NoneType" in str(err) and "int" in str(err)


def test_bind_checks_custom_class_instances(reg: CommandRegistry) -> None:
    class Point:
        pass

    cmd = _single(Point)
    p = Point()
    assert cmd.bind({"p": p}) == {"p": p}
    assert _bind_error(cmd, {"p": {"x": 1}}).parameter == "p"


def test_bind_reports_first_bad_parameter_by_name(reg: CommandRegistry) -> None:
    def f(n: int, flag: bool, ratio: float, name: str, items: list, opts: dict, data: bytes) -> None: ...

    cmd = reg.register(f)
    good = {"n": 1, "flag": True, "ratio": 1, "name": "x", "items": [], "opts": {}, "data": b""}
    assert cmd.bind(dict(good)) == good
    for key, bad in [
        ("n", "1"),
        ("flag", 1),
        ("ratio", "1.0"),
        ("name", 5),
        ("items", {}),
        ("opts", []),
        ("data", "x"),
    ]:
        err = _bind_error(cmd, {**good, key: bad})
        assert err.parameter == key, key


def test_string_annotations_resolve(reg: CommandRegistry) -> None:
    def f(a: "int", b: "Optional[str]" = None) -> None: ...

    cmd = reg.register(f)
    assert cmd.parameters["a"].annotation is int
    assert _bind_error(cmd, {"a": "x"}).parameter == "a"
    assert _bind_error(cmd, {"a": 1, "b": 2}).parameter == "b"


def test_unresolvable_string_annotation_does_not_break_registration(reg: CommandRegistry) -> None:
    def f(a: "NoSuchType") -> None: ...  # type: ignore[name-defined]  # noqa: F821

    cmd = reg.register(f)
    assert cmd.bind({"a": 1}) == {"a": 1}, "unknown annotations are accepted as is"
    assert _bind_error(cmd, {}).parameter == "a"


# ---- describe() -------------------------------------------------------------------------------


def test_describe(reg: CommandRegistry) -> None:
    @command(registry=reg)
    async def summarize(text: str, max_words: int = 50, style: Any = None, ctx: CommandContext = None) -> str:  # type: ignore[assignment]
        """Summarizes text."""
        return text

    @command(registry=reg)
    async def tokens(text: str) -> AsyncIterator[str]:
        yield text

    assert reg.get("summarize").describe() == {
        "name": "summarize",
        "stream": False,
        "description": "Summarizes text.",
        "parameters": [
            {"name": "text", "type": "str", "required": True},
            {"name": "max_words", "type": "int", "required": False},
            {"name": "style", "type": "any", "required": False},
        ],
    }
    described = reg.get("tokens").describe()
    assert described["stream"] is True
    assert described["description"] == ""
    assert described["parameters"] == [{"name": "text", "type": "str", "required": True}]


def test_registered_async_command_still_runs(reg: CommandRegistry) -> None:
    @command(registry=reg)
    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return 2 * x

    cmd = reg.get("double")
    assert asyncio.run(cmd.fn(**cmd.bind({"x": 21}))) == 42


@pytest.mark.parametrize("annotation", [c[1] for c in TYPE_CASES], ids=[c[0] for c in TYPE_CASES])
def test_quick_type_check_agrees_with_the_full_check(annotation: Any) -> None:
    """bind() accepts a value by one set lookup of its exact type; that set must hold exactly
    the boundary types the full check accepts."""
    from dspy_bridge.core.registry import type_problem

    param = _single(annotation).parameters["p"]
    samples = {
        str: "x",
        bool: True,
        int: 7,
        float: 2.5,
        bytes: b"x",
        list: [1],
        tuple: (1,),
        dict: {"a": 1},
        type(None): None,
    }
    for t, sample in samples.items():
        assert (t in param.fits) == (type_problem(sample, annotation) is None), (annotation, t)
