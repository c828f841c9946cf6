"""dspy.stream's machinery over real HTTP on both of DSPy 3.4's engines (native lm15 client and
LiteLLM): the fixture answers `stream: true` with Server-Sent Events split into small pieces
(field markers cut across chunks), and each output field's chunks must come out clean."""

from __future__ import annotations

import time
from typing import Any

import pytest
from conftest import API_KEY_ENV, OpenAIServer

from dspy_bridge.dspy import _running as commands

ENGINES = ("native", "litellm")


def spec(server: OpenAIServer, engine: str, model: str = "fixture") -> dict[str, Any]:
    return {
        "model": f"openai/{model}",
        "api_base": server.url,
        "api_key_env": API_KEY_ENV,
        "cache": False,
        "engine": engine,
    }


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("module", "predictor", "fields"),
    [("Predict", "self", ["answer"]), ("ChainOfThought", "predict", ["reasoning", "answer"])],
)
async def test_fields_stream_over_http(
    server: OpenAIServer, engine: str, module: str, predictor: str, fields: list[str]
) -> None:
    program = commands.build_module(module, "question -> answer")
    items = [
        i
        async for i in commands.stream_module(
            program, module, {"question": "Why is the sky blue on a clear day?"}, spec(server, engine)
        )
    ]
    assert items[-1]["type"] == "prediction" and [i["type"] for i in items].count("prediction") == 1
    chunks = [i for i in items if i["type"] == "chunk"]
    assert {(c["predictor"], c["field"]) for c in chunks} == {(predictor, f) for f in fields}
    for f in fields:
        mine = [c for c in chunks if c["field"] == f]
        assert len(mine) >= 3
        assert all("[[" not in c["text"] and "]]" not in c["text"] for c in mine)
        assert "".join(c["text"] for c in mine).strip() == items[-1]["fields"][f]
    (request,) = server.chat_requests()
    assert request["body"]["stream"] is True
    assert items[-1]["usage"], "usage comes from the stream's usage chunk"


@pytest.mark.parametrize("engine", ENGINES)
async def test_closing_early_closes_the_http_request(server: OpenAIServer, engine: str) -> None:
    program = commands.build_module("ChainOfThought", "question -> answer")
    gen = commands.stream_module(
        program,
        "ChainOfThought",
        {"question": "Why is the sky blue on a clear day?"},
        spec(server, engine, "fixture-chunkdelay-30"),
    )
    async for item in gen:
        if item["type"] == "chunk":
            break
    await gen.aclose()  # at a yield, as the worker closes a stream its host left
    deadline = time.monotonic() + 5
    while server.stats()["inFlight"] and time.monotonic() < deadline:
        time.sleep(0.01)
    stats = server.stats()
    assert (stats["inFlight"], stats["abortedByClient"], stats["completed"]) == (0, 1, 0), stats
