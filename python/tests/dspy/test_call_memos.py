"""The per-call memos (dspy_bridge/dspy/_call_memos.py): applied only to the DSPy they were
verified against, every binding DSPy calls replaced and put back, the same serialized values
as DSPy's own function for every kind of value, and proxies that follow the environment.
Whole calls with and without them, over real HTTP: tests/lm_http/test_call_memos_http.py."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import math
import sys
import urllib.request
from collections.abc import Iterator
from typing import Any

import dspy
import pydantic
import pytest
from dspy._vendor.lm15.transports import _proxy
from dspy.adapters import base, json_adapter, utils, xml_adapter

from dspy_bridge.dspy import _call_memos


@pytest.fixture
def memos() -> Iterator[None]:
    assert _call_memos.install()
    yield
    _call_memos.install()


def test_the_installed_dspy_is_the_verified_one() -> None:
    """Fails on a DSPy upgrade, on purpose: the memos are then off (DSPy's own functions run)
    until someone re-reads adapters.utils.serialize_for_json and the lm15 transport's
    proxy_route_for and records the new version's digest in VERIFIED, after checking that
    the first still builds a TypeAdapter of the value's type and dumps it in JSON mode with
    fallback=str, and the second still asks `getproxies` for the environment's proxies."""
    version = dspy.__version__
    assert version in _call_memos.VERIFIED, (
        f"DSPy {version} is not verified for the call memos: re-verify _call_memos.py"
    )
    assert _call_memos.source_digest() == _call_memos.VERIFIED[version], (
        f"DSPy {version}'s serialize_for_json or proxy_route_for changed: re-verify _call_memos.py"
    )


def test_every_binding_dspy_calls_is_replaced_and_put_back(memos: None) -> None:
    assert _call_memos.installed()
    memo = utils.serialize_for_json
    original = memo.__wrapped__  # type: ignore[attr-defined]
    assert memo is not original
    for module in (base, json_adapter, xml_adapter, sys.modules["dspy.primitives.repl_types"]):
        assert module.serialize_for_json is memo
    assert _proxy.getproxies.__wrapped__ is urllib.request.getproxies_environment  # type: ignore[attr-defined]
    _call_memos.uninstall()
    assert not _call_memos.installed()
    for module in (utils, base, json_adapter, xml_adapter, sys.modules["dspy.primitives.repl_types"]):
        assert module.serialize_for_json is original
    assert _proxy.getproxies is urllib.request.getproxies_environment


def test_switched_off_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    _call_memos.uninstall()
    monkeypatch.setenv(_call_memos.ENV, "0")
    try:
        assert not _call_memos.install()
        assert not hasattr(utils.serialize_for_json, "__wrapped__")
    finally:
        monkeypatch.delenv(_call_memos.ENV)
        assert _call_memos.install()


class Colour(enum.Enum):
    RED = "red"


class Point(pydantic.BaseModel):
    x: int
    y: float


@dataclasses.dataclass
class Pair:
    a: int
    b: str


class MyStr(str):
    pass


class Opaque:
    def __str__(self) -> str:
        return "opaque!"


VALUES: list[Any] = [
    "plain text",
    "",
    "ünïcødé ✓",
    0,
    -7,
    2**70,
    1.5,
    math.nan,
    math.inf,
    -math.inf,
    True,
    False,
    None,
    [],
    [1, "two", 3.0, None, [4, {"five": 5}]],
    [Point(x=1, y=2.5), Colour.RED, datetime.date(2024, 1, 2), b"raw", Opaque(), math.nan],
    {},
    {"k": [1, 2], "nested": {"a": None}, 3: "int key", "p": Point(x=0, y=0)},
    {"when": datetime.datetime(2024, 1, 2, 3, 4, 5), "set": {1, 2}, "obj": Opaque()},
    (1, "a", None),
    (Pair(1, "x"),),
    Point(x=3, y=4.0),
    Pair(2, "y"),
    Colour.RED,
    MyStr("a str subclass"),
    b"bytes",
    {1, 2, 3},
    datetime.date(2020, 2, 29),
    Opaque(),
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_the_same_serialized_value_as_dspy(memos: None, value: Any) -> None:
    original = utils.serialize_for_json.__wrapped__  # type: ignore[attr-defined]
    ours = utils.serialize_for_json(value)
    theirs = original(value)
    assert type(ours) is type(theirs)
    assert repr(ours) == repr(theirs)  # nan == nan is False; their reprs match
    # And what the adapter writes into the prompt from it.
    field = dspy.InputField()
    field.annotation = type(value)  # type: ignore[attr-defined]
    assert utils.format_field_value(field, value) == _without_memo(lambda: utils.format_field_value(field, value))


def _without_memo(fn: Any) -> Any:
    _call_memos.uninstall()
    try:
        return fn()
    finally:
        assert _call_memos.install()


def test_proxies_follow_the_environment(memos: None, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)
    target = _proxy.parse_url("http://127.0.0.1:9/v1/chat/completions")
    route = lambda: _proxy.proxy_route_for(target, proxy=None, trust_env=True)  # noqa: E731
    assert route() is None
    assert route() is None  # remembered
    monkeypatch.setenv("HTTP_PROXY", "http://user:pw@proxy.invalid:3128")
    assert route() == _proxy.ProxyRoute(host="proxy.invalid", port=3128, basic_auth=route().basic_auth)
    assert route().basic_auth is not None
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    assert route() is None
    monkeypatch.delenv("no_proxy")
    monkeypatch.setenv("Http_Proxy", "http://other.invalid:8080")  # any casing counts, as in urllib
    assert _proxy.getproxies() == urllib.request.getproxies_environment()
    monkeypatch.delenv("Http_Proxy")
    monkeypatch.delenv("HTTP_PROXY")
    assert route() is None
    # Each caller gets its own dict: changing one changes no later answer.
    got = _proxy.getproxies()
    got["http"] = "http://injected.invalid:1"
    assert _proxy.getproxies() == urllib.request.getproxies_environment()
