"""The per-call memos (dspy_bridge/dspy/_call_memos.py) change nothing a provider or a user
sees: the same calls, over real HTTP against the fixture server, with the memos and with
DSPy's own functions, send the same request bodies and give the same answers and errors, on
both engines, with input values of many types (they all go through serialize_for_json)."""

from __future__ import annotations

from typing import Any

import dspy
import pydantic
import pytest
from conftest import API_KEY_ENV, OpenAIServer

from dspy_bridge.dspy import _call_memos
from dspy_bridge.dspy._lm_specs import lm_from_spec


class Item(pydantic.BaseModel):
    name: str
    qty: int


class Order(dspy.Signature):
    """Summarise the order."""

    customer: str = dspy.InputField()
    items: list[Item] = dspy.InputField()
    notes: dict[str, Any] = dspy.InputField()
    rush: bool = dspy.InputField()
    budget: float = dspy.InputField()
    tags: list[str] = dspy.InputField()
    summary: str = dspy.OutputField()
    total: int = dspy.OutputField()


@pytest.fixture(autouse=True)
def _memos_back_on() -> Any:
    yield
    _call_memos.install()


async def observe(server: OpenAIServer, engine: str) -> dict[str, Any]:
    server.reset()
    lm = lm_from_spec(
        {
            "model": "openai/fixture",
            "api_base": server.url,
            "api_key_env": API_KEY_ENV,
            "cache": False,
            "engine": engine,
            "num_retries": 0,
        }
    )
    seen: dict[str, Any] = {}
    with dspy.context(lm=lm):
        predict = await dspy.Predict("question -> answer").acall(question="What is the capital of France?")
        order = await dspy.ChainOfThought(Order).acall(
            customer="Ada",
            items=[Item(name="tea", qty=2), Item(name="cake", qty=1)],
            notes={"door": 3, "ring": True, "when": None, "nested": {"a": [1.5, "x"]}},
            rush=False,
            budget=12.5,
            tags=["a", "b"],
        )
        seen["answers"] = (predict.answer, order.reasoning, order.summary, order.total)
        server.script([{"status": 500}])
        with pytest.raises(Exception) as failure:
            await dspy.Predict("question -> answer").acall(question="fails")
        seen["error"] = (type(failure.value).__qualname__, str(failure.value))
    seen["bodies"] = [
        {k: v for k, v in r["body"].items() if k not in ("stream_options",)} for r in server.chat_requests()
    ]
    return seen


@pytest.mark.parametrize("engine", ["native", "litellm"])
async def test_results_are_the_same_with_and_without_the_memos(server: OpenAIServer, engine: str) -> None:
    assert _call_memos.install(), "the memos apply (test_call_memos.py says why not)"
    with_memos = await observe(server, engine)
    _call_memos.uninstall()
    without = await observe(server, engine)
    assert with_memos == without
    assert len(without["bodies"]) == 3
    # The typed inputs really went through the serializer into the prompt.
    prompt = without["bodies"][1]["messages"][-1]["content"]
    assert '{"name": "tea", "qty": 2}' in prompt and '"nested": {"a": [1.5, "x"]}' in prompt
