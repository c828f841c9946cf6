"""Hostile values against a real host (the hardening issue's items C, I, J, P): values nested
past what every client can decode are refused by the host, a change this process cannot
decode is a typed error that does not end a watch, patterns are RE2 on both sides."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from dspy_bridge.errors import ConstraintViolationError, InvalidArgumentError
from dspy_bridge.session import SessionContext, VariableUpdate, VariableWatch
from dspy_bridge.session import _convert
from dspy_bridge.values import ValueDecodingError, decode_value
from dspy_bridge._gen.dspy_bridge.v1 import values_pb2


def nested(depth: int) -> object:
    v: object = 1
    for _ in range(depth):
        v = [v]
    return v


async def test_value_nested_past_the_limit_is_refused_by_the_host(session: SessionContext) -> None:
    await session.register_variable("ok", "list", nested(100))
    assert await session.get_variable("ok", bypass_cache=True) == nested(100)
    with pytest.raises(InvalidArgumentError, match="more than 100 levels deep"):
        await session.register_variable("deep", "list", nested(150))
    with pytest.raises(InvalidArgumentError):
        await session.set_variable("ok", nested(1_500))
    assert await session.get_variable("ok", bypass_cache=True) == nested(100)


def test_decoder_refuses_json_nested_past_the_interpreter_with_a_typed_error() -> None:
    text = "[" * 100_000 + "]" * 100_000
    with pytest.raises(ValueDecodingError, match="nested too deeply"):
        decode_value(values_pb2.Value(json=text))


async def take(w: VariableWatch, n: int) -> list[object]:
    """The next n outcomes of the watch: updates, or the errors iteration raised (the watch goes on)."""
    out: list[object] = []
    while len(out) < n:
        try:
            out.append(await asyncio.wait_for(w.__anext__(), 10))
        except ValueDecodingError as err:
            out.append(err)
    return out


@pytest.mark.parametrize("throttled", [False, True])
async def test_an_undecodable_change_is_a_typed_error_and_the_watch_goes_on(
    session: SessionContext, monkeypatch: pytest.MonkeyPatch, throttled: bool
) -> None:
    real = _convert.decode_value

    def decode(msg: values_pb2.Value, path: str = "value") -> object:
        if msg.json == '"poison"':
            raise ValueDecodingError(path, "value is nested too deeply")
        return real(msg, path)

    monkeypatch.setattr(_convert, "decode_value", decode)
    await session.register_variable("v", "string", "start")
    w = session.watch_variable("v", include_initial=False, throttle_ms=1 if throttled else 0)
    await w.ready()
    await session.set_variable("v", "poison")
    await session.set_variable("v", "fine")
    await session.set_variable("v", "fine too")
    first, second, third = await take(w, 3)
    assert isinstance(first, ValueDecodingError) and first.path == "v"
    assert isinstance(second, ValueDecodingError) and second.path == "v (old value)"
    assert isinstance(third, VariableUpdate) and third.value == "fine too" and third.old_value == "fine"
    assert not w.closed
    w.cancel()


async def test_names_shaped_like_ids_are_refused(session: SessionContext) -> None:
    vid = await session.register_variable("f", "integer", 1)
    with pytest.raises(InvalidArgumentError, match="shape of a variable id"):
        await session.register_variable(vid, "integer", 2)
    assert await session.get_variable(vid, bypass_cache=True) == 1


async def test_patterns_are_re2_and_linear_on_the_host(session: SessionContext) -> None:
    await session.register_variable("p", "string", "aaa", constraints={"pattern": "^(a+)+$"})
    start = time.perf_counter()
    with pytest.raises(ConstraintViolationError):
        await session.set_variable("p", "a" * 10_000 + "!")
    assert time.perf_counter() - start < 2.0
    with pytest.raises(InvalidArgumentError, match="not a valid RE2 regular expression"):
        await session.register_variable("q", "string", "a", constraints={"pattern": "^(?=a)a$"})


async def test_a_long_name_is_a_typed_error_not_resource_exhausted(session: SessionContext) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        await session.register_variable("n" * 100_000, "integer", 1)
    assert len(str(info.value)) < 1_000
    assert len(json.dumps(info.value.details)) < 1_000
