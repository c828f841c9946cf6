"""LM spec options: engine, num_retries, timeout_ms (docs/dspy.md), their validation, and
that they reach DSPy: a tiny local HTTP server (below) counts the attempts a failing call
makes and holds a request to make it time out, on both engines."""

from __future__ import annotations

import asyncio
import math
import os
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import dspy
import pytest

from dspy_bridge.core._lm_errors import translate_lm_error
from dspy_bridge.dspy._lm_specs import lm_from_spec
from dspy_bridge.errors import BridgeTimeoutError, InvalidArgumentError, LMError

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no provider is reachable from the tests

KEY_ENV = "DSPY_BRIDGE_TEST_SPEC_KEY"
KEY = "sk-test-spec-secret-0123456789"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)


def base(**options: Any) -> dict[str, Any]:
    return {
        "model": "openai/fixture",
        "api_base": "http://127.0.0.1:9/v1",
        "api_key_env": KEY_ENV,
        "cache": False,
        **options,
    }


# ---- engine ----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "dspy_name"), [("auto", "auto"), ("native", "lm15"), ("litellm", "litellm")])
def test_engine_names_map_to_dspy(name: str, dspy_name: str) -> None:
    assert lm_from_spec(base(engine=name)).engine == dspy_name


def test_engine_defaults_to_dspy_auto() -> None:
    assert lm_from_spec(base()).engine == "auto"


@pytest.mark.parametrize("bad", ["nativ", "lm15", "LiteLLM", "", 1, None, ["auto"]])
def test_a_bad_engine_is_refused_with_the_choices(bad: Any) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        lm_from_spec(base(engine=bad))
    assert info.value.details["parameter"] == "lm.engine"
    assert "'auto', 'native', 'litellm'" in str(info.value)


def test_a_bad_engine_is_refused_for_the_scripted_lm_too() -> None:
    with pytest.raises(InvalidArgumentError, match="unknown lm.engine 'nativ'"):
        lm_from_spec({"model": "scripted", "engine": "nativ"})


def test_native_refuses_a_model_it_cannot_serve_when_built_not_on_the_first_call() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        lm_from_spec(base(model="together_ai/some-model", engine="native"))
    assert info.value.details["parameter"] == "lm.engine"
    assert "native" in str(info.value) and "'auto' or 'litellm'" in str(info.value)
    assert KEY not in str(info.value)


def test_native_refuses_client_settings_only_litellm_carries() -> None:
    with pytest.raises(InvalidArgumentError, match="cannot serve") as info:
        lm_from_spec(base(engine="native", extra={"headers": {"x-team": "a"}}))
    assert KEY not in str(info.value)
    # "auto" takes LiteLLM for them instead.
    assert lm_from_spec(base(engine="auto", extra={"headers": {"x-team": "a"}})).engine == "auto"


def test_the_spec_engine_wins_over_extra() -> None:
    assert lm_from_spec(base(engine="native", extra={"engine": "litellm"})).engine == "lm15"
    assert lm_from_spec(base(extra={"engine": "litellm"})).engine == "litellm"  # extra alone still works


# ---- num_retries -----------------------------------------------------------------------


def test_num_retries_defaults_to_dspy_three_and_is_passed() -> None:
    assert lm_from_spec(base()).num_retries == 3
    assert lm_from_spec(base(num_retries=0)).num_retries == 0
    assert lm_from_spec(base(num_retries=7)).num_retries == 7


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2", None])
def test_a_bad_num_retries_is_refused(bad: Any) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        lm_from_spec(base(num_retries=bad))
    assert info.value.details["parameter"] == "lm.num_retries"


# ---- timeout_ms ------------------------------------------------------------------------


def test_timeout_ms_reaches_dspy_in_seconds() -> None:
    assert lm_from_spec(base(timeout_ms=1500)).kwargs["timeout"] == 1.5
    assert lm_from_spec(base(timeout_ms=250.5)).kwargs["timeout"] == pytest.approx(0.2505)
    assert "timeout" not in lm_from_spec(base()).kwargs  # the engine's own default


def test_timeout_ms_keeps_the_native_engine() -> None:
    from dspy.clients.backend_selection import select_backend

    assert select_backend(lm_from_spec(base(timeout_ms=2000))).native is True
    assert lm_from_spec(base(engine="native", timeout_ms=2000)).engine == "lm15"


@pytest.mark.parametrize("bad", [0, -5, math.inf, math.nan, "1000", True, None])
def test_a_bad_timeout_ms_is_refused(bad: Any) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        lm_from_spec(base(timeout_ms=bad))
    assert info.value.details["parameter"] == "lm.timeout_ms"


# ---- unknown options, DSPy's own refusals, keys ----------------------------------------


@pytest.mark.parametrize("name", ["timeout", "numRetries", "timeoutMs", "engines", "api_key"])
def test_unknown_options_stay_refused(name: str) -> None:
    with pytest.raises(InvalidArgumentError, match=f"unknown LM option\\(s\\): {name}") as info:
        lm_from_spec(base(**{name: 1}))
    assert info.value.details["parameter"] == "lm"


def test_dspy_refusing_the_options_is_an_invalid_argument_without_the_key() -> None:
    with pytest.raises(InvalidArgumentError, match="reasoning models") as info:
        lm_from_spec(base(model="openai/gpt-5", temperature=0.3, max_tokens=100))
    assert KEY not in str(info.value) and KEY not in repr(info.value.details)


def test_the_same_spec_reuses_one_lm_so_its_connections_too() -> None:
    spec = base(engine="native", timeout_ms=1000, num_retries=1)
    assert lm_from_spec(spec) is lm_from_spec(dict(spec))
    assert lm_from_spec(spec) is not lm_from_spec(base(engine="native", timeout_ms=1001, num_retries=1))


# ---- the options take effect: a local server ---------------------------------------------


class _Server:
    """Answers every request with 503 (`mode="fail"`) or never (`mode="hang"`); counts them."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.requests = 0
        self.url = ""
        self._server: asyncio.base_events.Server | None = None

    async def __aenter__(self) -> _Server:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/v1"
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                await reader.readexactly(length)
                self.requests += 1
                if self.mode == "hang":
                    await asyncio.sleep(3600)
                body = b'{"error": {"message": "overloaded", "type": "server_error"}}'
                writer.write(
                    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 0\r\n"
                    + f"content-length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def failing() -> AsyncIterator[_Server]:
    async with _Server("fail") as server:
        yield server


@pytest.fixture
async def hanging() -> AsyncIterator[_Server]:
    async with _Server("hang") as server:
        yield server


async def _predict(lm: Any) -> Any:
    with dspy.context(lm=lm):
        return await dspy.Predict("question -> answer").acall(question="q")


@pytest.mark.parametrize("engine", ["native", "litellm"])
@pytest.mark.parametrize("retries", [0, 2])
async def test_num_retries_is_how_many_more_attempts_a_failing_call_makes(
    failing: _Server, engine: str, retries: int
) -> None:
    lm = lm_from_spec(base(api_base=failing.url, engine=engine, num_retries=retries))
    with pytest.raises(Exception) as info:
        await _predict(lm)
    assert failing.requests == retries + 1
    translated = translate_lm_error(info.value)
    assert isinstance(translated, LMError) and translated.details.get("status") == 503, translated
    assert KEY not in str(translated)


@pytest.mark.parametrize("engine", ["native", "litellm"])
async def test_timeout_ms_bounds_a_request_the_server_never_answers(hanging: _Server, engine: str) -> None:
    lm = lm_from_spec(base(api_base=hanging.url, engine=engine, timeout_ms=400, num_retries=0))
    t0 = time.monotonic()
    with pytest.raises(Exception) as info:
        await _predict(lm)
    elapsed = time.monotonic() - t0
    assert hanging.requests == 1
    assert 0.35 <= elapsed < 5, elapsed
    assert isinstance(translate_lm_error(info.value), BridgeTimeoutError), repr(info.value)


# ---- a worker that will import LiteLLM itself says so, once ------------------------------


@pytest.mark.parametrize(
    ("options", "hinted"),
    [
        ({"engine": "litellm"}, True),
        ({"model": "together_ai/some-model"}, True),  # "auto" takes LiteLLM for it
        ({"engine": "native"}, False),
        ({}, False),  # "auto" takes the native client for openai/
    ],
)
def test_an_lm_going_through_a_litellm_that_was_not_preloaded_is_pointed_out_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], options: dict[str, Any], hinted: bool
) -> None:
    from dspy_bridge.dspy import _lm_specs

    monkeypatch.delitem(sys.modules, "litellm", raising=False)  # as in a worker forked without it
    monkeypatch.setattr(_lm_specs, "_hinted", False)
    lm_from_spec(base(temperature=0.123, **options))
    err = capsys.readouterr().err
    assert ('preload: ["dspy", "litellm"]' in err) is hinted, err
    if hinted:
        lm_from_spec(base(temperature=0.456, **options))
        assert capsys.readouterr().err == ""
