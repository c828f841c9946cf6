"""Provider failures over real HTTP become the bridge's typed errors, on both engines, in the
worker's code path: DSPy raises its own classes (python/dspy_bridge/core/_lm_errors.py maps
them), ``lm_errors()`` raises the typed error in Python, and ``error_to_detail`` (the worker's
boundary) sends the same reason, details and ``retryable`` to the host."""

from __future__ import annotations

from typing import Any

import dspy
import pytest
from conftest import API_KEY, API_KEY_ENV, OpenAIServer

from dspy_bridge.core._lm_errors import lm_errors
from dspy_bridge.dspy._lm_specs import lm_from_spec
from dspy_bridge.errors import (
    AuthenticationError,
    BridgeError,
    BridgeTimeoutError,
    LMError,
    RateLimitError,
    error_from_detail,
    error_to_detail,
)

ENGINES = ["native", "litellm"]


def spec(server: OpenAIServer, engine: str, model: str, **extra: Any) -> dict[str, Any]:
    if engine == "litellm":
        extra["engine"] = "litellm"
    return {
        "model": f"openai/{model}",
        "api_base": server.url,
        "api_key_env": API_KEY_ENV,
        "cache": False,
        "num_retries": 0,
        **({"extra": extra} if extra else {}),
    }


async def failure(lm_spec: dict[str, Any]) -> BridgeError:
    """The typed error a Predict call raises, checked to survive the wire unchanged and to
    hold no key."""
    with pytest.raises(BridgeError) as caught:
        with lm_errors(), dspy.context(lm=lm_from_spec(lm_spec)):
            await dspy.Predict("question -> answer").acall(question="Why?")
    err = caught.value
    sent = error_from_detail(error_to_detail(err))
    assert (type(sent), sent.reason, sent.details, sent.retryable) == (
        type(err),
        err.reason,
        err.details,
        err.retryable,
    )
    assert sent.python_type and sent.python_type.startswith("dspy.utils.exceptions.")
    for text in (err.message, repr(err.details), *(f.line for f in sent.python_traceback)):
        assert API_KEY not in text
    return err


@pytest.mark.parametrize("engine", ENGINES)
async def test_rate_limit_with_retry_after(server: OpenAIServer, engine: str) -> None:
    err = await failure(spec(server, engine, "fixture-status-429-retry-2"))
    assert isinstance(err, RateLimitError)
    assert (err.retry_after_ms, err.status, err.retryable) == (2000, 429, True)


@pytest.mark.parametrize("engine", ENGINES)
async def test_refused_credentials_are_authentication_errors_and_the_key_is_redacted(
    server: OpenAIServer, engine: str
) -> None:
    server.script([{"status": 401, "message": f"Incorrect API key provided: {API_KEY}."}])
    err = await failure(spec(server, engine, "fixture"))
    assert isinstance(err, AuthenticationError) and (err.status, err.retryable) == (401, False)
    assert "[redacted]" in err.message
    err = await failure(spec(server, engine, "fixture-status-403"))
    assert isinstance(err, AuthenticationError) and err.status == 403


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("status", "retryable"), [(500, True), (503, True), (400, False)])
async def test_provider_failures_are_lm_errors_with_status(
    server: OpenAIServer, engine: str, status: int, retryable: bool
) -> None:
    err = await failure(spec(server, engine, f"fixture-status-{status}"))
    assert type(err) is LMError
    assert (err.status, err.retryable) == (status, retryable)


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_dropped_connection_is_a_retryable_lm_error_without_status(server: OpenAIServer, engine: str) -> None:
    err = await failure(spec(server, engine, "fixture-drop"))
    assert type(err) is LMError and err.status is None and err.retryable


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_provider_that_hangs_times_out(server: OpenAIServer, engine: str) -> None:
    err = await failure(spec(server, engine, "fixture-hang", timeout=0.5))
    assert isinstance(err, BridgeTimeoutError) and isinstance(err, TimeoutError) and err.retryable
