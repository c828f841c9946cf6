"""The model-metadata memos (dspy_bridge/dspy/_lookup_cache.py) change no result a user sees:
the same calls, over real HTTP against the fixture server, with the memos and with DSPy's and
LiteLLM's own lookups, give the same answers, usage, cost figures, capability hints and errors, on both
engines, for a model DSPy has prices for and for one it does not know."""

from __future__ import annotations

from typing import Any

import dspy
import pytest
from dspy.clients._litellm import get_litellm
from conftest import API_KEY_ENV, OpenAIServer

from dspy_bridge.dspy import _lookup_cache
from dspy_bridge.dspy._lm_specs import lm_from_spec

ENGINES = ["native", "litellm"]
MODELS = ["openai/fixture", "openai/gpt-4o-mini"]


@pytest.fixture(autouse=True)
def _memo_back_on() -> Any:
    yield
    _lookup_cache.install()


def spec(server: OpenAIServer, engine: str, model: str) -> dict[str, Any]:
    return {
        "model": model,
        "api_base": server.url,
        "api_key_env": API_KEY_ENV,
        "cache": False,
        "engine": engine,
        "num_retries": 0,
    }


async def observe(server: OpenAIServer, engine: str, model: str) -> dict[str, Any]:
    """What a user can see of a few calls: answers, usage, history (cost and its details),
    the LM's capability hints, and a provider error."""
    lm = lm_from_spec(spec(server, engine, model))
    seen: dict[str, Any] = {}
    with dspy.context(lm=lm, track_usage=True):
        predict = await dspy.Predict("question -> answer").acall(question="What is the capital of France?")
        cot = await dspy.ChainOfThought("question -> answer: int, sure: bool").acall(question="How many legs?")
        seen["answers"] = (predict.answer, cot.reasoning, cot.answer, cot.sure)
        seen["usage"] = (predict.get_lm_usage(), cot.get_lm_usage())
        server.script([{"status": 500}])
        with pytest.raises(Exception) as failure:
            await dspy.Predict("question -> answer").acall(question="fails")
        seen["error"] = (type(failure.value).__module__, type(failure.value).__qualname__, str(failure.value))
    seen["history"] = [
        {k: entry.get(k) for k in ("outputs", "usage", "cost", "cost_details", "response_model", "model")}
        for entry in lm.history[-2:]
    ]
    seen["capabilities"] = (
        lm.supports_function_calling,
        lm.supports_reasoning,
        lm.supports_response_schema,
        lm.supported_params,
    )
    return seen


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("engine", ENGINES)
async def test_results_are_the_same_with_and_without_the_memo(server: OpenAIServer, engine: str, model: str) -> None:
    get_litellm(feature="dspy.LM")  # imported, so that LiteLLM's lookups are memoized too
    assert _lookup_cache.install() and _lookup_cache.litellm_installed(), (
        "the memos apply (test_lookup_cache.py says why not)"
    )
    with_memo = await observe(server, engine, model)
    with_memo_again = await observe(server, engine, model)  # now every lookup is a memo hit
    _lookup_cache.uninstall()
    without = await observe(server, engine, model)
    assert with_memo == without
    assert with_memo_again == without
    if engine == "native":
        # Both cases are covered: a priced model gets a figure, an unknown one a reason.
        costs = [h["cost"] for h in without["history"]]
        if model == "openai/gpt-4o-mini":
            assert all(c is not None and c > 0 for c in costs)
        else:
            assert costs == [None, None] and all(h["cost_details"]["kind"] == "unknown" for h in without["history"])
