"""The engine memos (dspy_bridge/dspy/_engine_memos.py) change nothing a provider or a user
sees: the same calls, over real HTTP against the fixture server, with the memos and with
DSPy's own functions, send the same request bodies and give the same answers, usage, history
and errors, on both engines; and a change of the environment the engine choice reads
(`OPENAI_API_BASE`) is followed at once, as by DSPy's own `select_backend`."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import dspy
import pytest
from conftest import API_KEY_ENV, OpenAIServer

from dspy_bridge.dspy import _engine_memos
from dspy_bridge.dspy._lm_specs import lm_from_spec

_VOLATILE = ("uuid", "timestamp", "response")  # per call, or a provider object holding the same data


@pytest.fixture(autouse=True)
def _memos_back_on() -> Any:
    yield
    _engine_memos.install()


def _lm(server: OpenAIServer, engine: str, **extra: Any) -> Any:
    return lm_from_spec(
        {
            "model": "openai/fixture",
            "api_base": server.url,
            "api_key_env": API_KEY_ENV,
            "cache": False,
            "engine": engine,
            "num_retries": 0,
            **extra,
        }
    )


def _history(lm: Any) -> list[dict[str, Any]]:
    return [{k: v for k, v in entry.items() if k not in _VOLATILE} for entry in lm.history]


async def observe(server: OpenAIServer, engine: str) -> dict[str, Any]:
    server.reset()
    lm = _lm(server, engine)
    lm.history.clear()  # the spec's LM is the worker's cached one: the same object both times
    seen: dict[str, Any] = {}
    with dspy.context(lm=lm, track_usage=True):
        predict = await dspy.Predict("question -> answer").acall(question="What is the capital of France?")
        cot = await dspy.ChainOfThought("question -> answer: int").acall(question="2 + 2?")
        seen["answers"] = (predict.answer, cot.reasoning, cot.answer)
        seen["usage"] = (predict.get_lm_usage(), cot.get_lm_usage())
        # Call-time options reach the body (the engine choice is keyed by them too).
        seen["options"] = (
            await dspy.Predict("question -> answer", temperature=0.3, max_tokens=77).acall(question="x")
        ).answer
        errors = []
        for status in (500, 429, 401, 400):
            server.script([{"status": status}])
            with pytest.raises(Exception) as failure:
                await dspy.Predict("question -> answer").acall(question=f"fails {status}")
            errors.append((type(failure.value).__qualname__, str(failure.value)))
        seen["errors"] = errors
    # Many at once: the first calls of a key race to fill the memos.
    with dspy.context(lm=lm):
        many = [dspy.Predict("question -> answer").acall(question=f"q{i}") for i in range(20)]
        seen["many"] = sorted(p.answer for p in await asyncio.gather(*many))
    # The 20 concurrent calls end in any order: theirs are compared as sorted lists.
    history = _history(lm)
    seen["history"] = history[:3] + sorted(history[3:], key=repr)
    bodies = [{k: v for k, v in r["body"].items() if k != "stream_options"} for r in server.chat_requests()]
    seen["bodies"] = bodies[:7] + sorted(bodies[7:], key=repr)
    return seen


@pytest.mark.parametrize("engine", ["native", "litellm", "auto"])
async def test_results_are_the_same_with_and_without_the_memos(server: OpenAIServer, engine: str) -> None:
    assert _engine_memos.install(), "the memos apply (test_engine_memos.py says why not)"
    with_memos = await observe(server, engine)
    _engine_memos.uninstall()
    without = await observe(server, engine)
    assert with_memos == without
    assert len(without["bodies"]) == 3 + 4 + 20
    body = without["bodies"][2]
    assert body["temperature"] == 0.3 and 77 in (body.get("max_tokens"), body.get("max_completion_tokens"))
    assert len(without["history"]) == 3 + 20


async def test_a_changed_environment_changes_the_engine_at_once(
    server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`OPENAI_API_BASE` set sends an "auto" LM to LiteLLM (a gateway the native client must
    not take credentials to); unset, back to the native client. The memo follows both."""
    from dspy.clients import backend_selection

    assert _engine_memos.install()
    lm = _lm(server, "auto")
    with dspy.context(lm=lm):
        await dspy.Predict("question -> answer").acall(question="native first")
        assert backend_selection.select_backend(lm, {}).native
        monkeypatch.setenv("OPENAI_API_BASE", server.url)
        assert not backend_selection.select_backend(lm, {}).native
        await dspy.Predict("question -> answer").acall(question="through LiteLLM")
        monkeypatch.delenv("OPENAI_API_BASE")
        assert backend_selection.select_backend(lm, {}).native
        await dspy.Predict("question -> answer").acall(question="native again")
    assert "OPENAI_API_BASE" not in os.environ
    agents = [r["headers"].get("user-agent", "") for r in server.chat_requests()[-3:]]
    # The two engines' HTTP clients name themselves differently: the middle call took the other one.
    assert agents[0] == agents[2] != agents[1]


async def test_streaming_is_the_same_with_and_without_the_memos(server: OpenAIServer) -> None:
    async def chunks() -> list[str]:
        lm = _lm(server, "native")
        program = dspy.streamify(
            dspy.Predict("question -> answer"),
            stream_listeners=[dspy.streaming.StreamListener(signature_field_name="answer")],
        )
        out: list[str] = []
        with dspy.context(lm=lm):
            async for item in program(question="stream it"):
                if isinstance(item, dspy.streaming.StreamResponse):
                    out.append(item.chunk)
                elif isinstance(item, dspy.Prediction):
                    out.append(f"final:{item.answer}")
        return out

    assert _engine_memos.install()
    with_memos = await chunks()
    _engine_memos.uninstall()
    without = await chunks()
    assert with_memos == without and with_memos[-1].startswith("final:") and len(with_memos) > 2


async def test_timeouts_and_cancellation_are_the_same_with_and_without_the_memos(server: OpenAIServer) -> None:
    """The native transport's waits (bounded in the calling task with the memos): a provider
    that hangs past the LM's timeout fails the same way; a cancelled call closes its HTTP
    request and leaves the connection pool whole (the next call is answered)."""

    async def observe() -> list[Any]:
        server.reset()
        seen: list[Any] = []
        slow = lm_from_spec(
            {
                "model": "openai/fixture-hang",
                "api_base": server.url,
                "api_key_env": API_KEY_ENV,
                "cache": False,
                "engine": "native",
                "num_retries": 0,
                "timeout_ms": 500,
            }
        )
        with dspy.context(lm=slow):
            with pytest.raises(Exception) as failure:
                await dspy.Predict("question -> answer").acall(question="too slow")
        seen.append((type(failure.value).__qualname__, str(failure.value)))
        while server.stats()["inFlight"] > 0:  # lm15 closes a timed-out request's socket soon after
            await asyncio.sleep(0.01)
        hanging = _lm(server, "native", model="openai/fixture-hang")
        with dspy.context(lm=hanging):
            task = asyncio.ensure_future(dspy.Predict("question -> answer").acall(question="never answered"))
            while server.stats()["received"] < 2:
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        while server.stats()["abortedByClient"] < 2:
            await asyncio.sleep(0.01)
        seen.append((server.stats()["abortedByClient"], server.stats()["inFlight"]))
        with dspy.context(lm=_lm(server, "native")):
            seen.append((await dspy.Predict("question -> answer").acall(question="after")).answer)
        return seen

    assert _engine_memos.install()
    with_memos = await asyncio.wait_for(observe(), 30)
    _engine_memos.uninstall()
    without = await asyncio.wait_for(observe(), 30)
    assert with_memos == without
    assert with_memos[1] == (2, 0)
