"""DSPy's real LM clients over real HTTP, in the worker's code path: ``lm_from_spec`` builds
the ``dspy.LM`` from a host spec, and Predict / ChainOfThought run with ``acall`` under
``dspy.context(lm=...)``, against the OpenAI-compatible fixture server (conftest.py).

Both of DSPy 3.4's engines: its native client (the default for ``openai/...`` with an
``api_base``) and LiteLLM (``engine="litellm"``, passed through the spec's ``extra``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import dspy
import pytest
from conftest import API_KEY, API_KEY_ENV, OpenAIServer

from dspy_bridge.dspy._lm_specs import lm_from_spec

ENGINES = ["native", "litellm"]
# What each engine calls the token limit on the wire (DSPy 3.4.1): the native client speaks
# the current OpenAI API, LiteLLM the older name.
MAX_TOKENS_KEY = {"native": "max_completion_tokens", "litellm": "max_tokens"}


def spec(server: OpenAIServer, engine: str, **options: Any) -> dict[str, Any]:
    s: dict[str, Any] = {
        "model": "openai/fixture",
        "api_base": server.url,
        "api_key_env": API_KEY_ENV,
        "cache": False,
        **options,
    }
    if engine == "litellm":
        s["extra"] = {"engine": "litellm"}
    return s


def user_text(body: dict[str, Any]) -> str:
    content = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
    return content if isinstance(content, str) else "\n".join(p.get("text", "") for p in content)


@pytest.mark.parametrize("engine", ENGINES)
async def test_predict_sends_the_spec_and_parses_the_answer(server: OpenAIServer, engine: str) -> None:
    lm = lm_from_spec(spec(server, engine, temperature=0.3, max_tokens=77))
    with dspy.context(lm=lm):
        result = await dspy.Predict("question -> answer").acall(question="What is the capital of France?")
    assert result.answer == "answer: What is the capital of France?"

    [req] = server.chat_requests()
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["authorization"] == f"Bearer {API_KEY}", "the key named by api_key_env reaches the server"
    body = req["body"]
    assert body["model"] == "fixture", "the openai/ prefix is the provider, not part of the model"
    assert body["temperature"] == 0.3
    assert body[MAX_TOKENS_KEY[engine]] == 77
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert "`question` (str)" in body["messages"][0]["content"]
    assert "[[ ## question ## ]]\nWhat is the capital of France?" in user_text(body)
    assert not body.get("stream")


@pytest.mark.parametrize("engine", ENGINES)
async def test_chain_of_thought_typed_fields_and_usage(server: OpenAIServer, engine: str) -> None:
    lm = lm_from_spec(spec(server, engine))
    with dspy.context(lm=lm, track_usage=True):
        result = await dspy.ChainOfThought(
            "question -> answer: int, confidence: float, sure: bool, tags: list[str]"
        ).acall(question="How many legs has a spider?")
    assert result.reasoning == "reasoning: How many legs has a spider?"
    assert (result.answer, result.confidence, result.sure, result.tags) == (42, 0.5, True, ["a", "b"])
    usage = result.get_lm_usage()["openai/fixture"]
    assert usage["prompt_tokens"] > 50 and usage["completion_tokens"] > 5
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    [req] = server.chat_requests()
    assert "Respond with the corresponding output fields, starting with the field `[[ ## reasoning ## ]]`" in user_text(
        req["body"]
    )


@pytest.mark.parametrize("engine", ENGINES)
async def test_call_time_settings_override_the_spec(server: OpenAIServer, engine: str) -> None:
    """What a variable-aware module does: per-predictor LM settings reach the request body."""
    lm = lm_from_spec(spec(server, engine, temperature=0.3, max_tokens=77))
    with dspy.context(lm=lm):
        await dspy.Predict("question -> answer", temperature=0.9, max_tokens=20).acall(question="q1")
        await dspy.Predict("question -> answer").acall(question="q2")
    first, second = (r["body"] for r in server.chat_requests())
    assert (first["temperature"], first[MAX_TOKENS_KEY[engine]]) == (0.9, 20)
    assert (second["temperature"], second[MAX_TOKENS_KEY[engine]]) == (0.3, 77)


@pytest.mark.parametrize("engine", ENGINES)
async def test_json_adapter(server: OpenAIServer, engine: str) -> None:
    lm = lm_from_spec(spec(server, engine))
    with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
        result = await dspy.Predict("question -> answer: int, note").acall(question="x")
    assert (result.answer, result.note) == (42, "note: x")
    [req] = server.chat_requests()
    assert "Respond with a JSON object" in user_text(req["body"])


@pytest.mark.parametrize("engine", ENGINES)
async def test_concurrent_calls_share_the_client(server: OpenAIServer, engine: str) -> None:
    lm = lm_from_spec(spec(server, engine))
    await_one = dspy.Predict("question -> answer")
    with dspy.context(lm=lm):
        await await_one.acall(question="warm up")  # the first call imports and builds the client
        # Each answer takes long enough that calls made one at a time could never overlap:
        # the server's count of requests in flight at once says whether they ran concurrently
        # (a wall-clock bound would depend on the machine's load).
        server.latency(500)
        results = await asyncio.gather(*(await_one.acall(question=f"q{i}") for i in range(50)))
    assert [r.answer for r in results] == [f"answer: q{i}" for i in range(50)]
    stats = server.stats()
    assert stats["completed"] == 51
    assert stats["maxInFlight"] >= 10, f"the 50 calls did not overlap: at most {stats['maxInFlight']} in flight at once"
