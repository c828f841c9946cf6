"""dspy.stream's items, offline: DSPy's streamify with a StreamListener on every output field,
driven by the ScriptedLM (which streams its completion a word at a time). The same path over
real HTTP on both DSPy engines: ts/test/lm-stream.test.ts and python/tests/lm_http/test_lm_stream.py."""

from __future__ import annotations

from typing import Any

import dspy
import pytest

from dspy_bridge.dspy import _running as commands
from dspy_bridge.dspy.variable_aware import VariableAwareChainOfThought, VariableAwarePredict
from dspy_bridge.testing import ScriptedLM

SCRIPTED = {"model": "scripted"}


async def _items(
    program: Any, module: str, inputs: dict[str, Any], lm: Any = SCRIPTED, **kw: Any
) -> list[dict[str, Any]]:
    return [item async for item in commands.stream_module(program, module, inputs, lm, **kw)]


def _by_field(items: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    for item in items:
        if item["type"] == "chunk":
            key = (item["predictor"], item["field"])
            out[key] = out.get(key, "") + item["text"]
    return out


def _check_shape(items: list[dict[str, Any]]) -> dict[str, Any]:
    assert items[0] == {"type": "status", "message": items[0]["message"]}
    assert {i["type"] for i in items} <= {"status", "chunk", "prediction"}
    assert [i["type"] for i in items].count("prediction") == 1
    assert items[-1]["type"] == "prediction"
    for item in items:
        if item["type"] == "chunk":
            assert set(item) == {"type", "field", "text", "predictor", "last"}
            assert isinstance(item["text"], str) and "[[ ##" not in item["text"]
    return items[-1]


@pytest.mark.parametrize(
    ("module", "predictor", "fields"),
    [("Predict", "self", ["answer"]), ("ChainOfThought", "predict", ["reasoning", "answer"])],
)
async def test_predict_and_chain_of_thought_stream_every_output_field(
    module: str, predictor: str, fields: list[str]
) -> None:
    items = await _items(
        commands.build_module(module, "question -> answer"), module, {"question": "why is the sky blue?"}
    )
    prediction = _check_shape(items)
    streamed = _by_field(items)
    assert list(streamed) == [(predictor, f) for f in fields]  # in the order the LM writes them
    for f in fields:
        chunks = [i for i in items if i["type"] == "chunk" and i["field"] == f]
        assert len([c for c in chunks if c["text"]]) >= 3, chunks
        assert [c["last"] for c in chunks].count(True) == 1 and chunks[-1]["last"]
        assert streamed[(predictor, f)].strip() == prediction["fields"][f]
    assert prediction["lm"] == "scripted" and prediction["latency_ms"] > 0 and prediction["usage"]


async def test_variable_aware_modules_stream_like_their_base() -> None:
    for cls, fields in ((VariableAwarePredict, ["answer"]), (VariableAwareChainOfThought, ["reasoning", "answer"])):
        program = cls("question -> answer")
        items = await _items(program, cls.__name__.removeprefix("VariableAware"), {"question": "q?"}, lm_calls=True)
        prediction = _check_shape(items)
        assert [f for _, f in _by_field(items)] == fields
        assert prediction["lm_calls"] and prediction["lm_calls"][0]["model"] == "scripted"


async def test_typed_fields_stream_their_text() -> None:
    items = await _items(
        commands.build_module("Predict", "question -> answer: int"),
        "Predict",
        {"question": "2+2?"},
        lm={"model": "scripted", "responses": [{"answer": 4}]},
    )
    prediction = _check_shape(items)
    assert prediction["fields"]["answer"] == 4
    assert _by_field(items)[("self", "answer")].strip() == "4"


@pytest.mark.filterwarnings("ignore:ProgramOfThought is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:The 'prefix' argument:DeprecationWarning")  # DSPy's own MultiChainComparison
@pytest.mark.parametrize(
    ("module", "expected"),
    [
        # ReAct's loop and its extract step; listeners are reusable, each call streams again.
        (
            "ReAct",
            {
                ("react", "next_thought"),
                ("react", "next_tool_name"),
                ("react", "next_tool_args"),
                ("extract.predict", "reasoning"),
                ("extract.predict", "answer"),
            },
        ),
        # No async path in DSPy: runs in an AnyIO worker thread and still streams.
        (
            "ProgramOfThought",
            {
                ("code_generate.predict", "reasoning"),
                ("code_generate.predict", "generated_code"),
                ("generate_output.predict", "reasoning"),
                ("generate_output.predict", "answer"),
            },
        ),
        # Its M attempts are a fresh ChainOfThought (not listened to); the comparison streams.
        ("MultiChainComparison", {("predict", "rationale"), ("predict", "answer")}),
        # Attempts run on deep copies of the module, which DSPy's listeners never see.
        ("BestOfN", set()),
        ("Refine", set()),
    ],
)
async def test_composite_modules(module: str, expected: set[tuple[str, str]]) -> None:
    items = await _items(commands.build_module(module, "question -> answer"), module, {"question": "how many?"})
    prediction = _check_shape(items)
    assert set(_by_field(items)) == expected
    assert "answer" in prediction["fields"]


class _NoisyLM(ScriptedLM):
    """Sends objects of its own into DSPy's stream (streamify passes unknown items through)."""

    async def aforward(self, prompt: Any = None, messages: Any = None, **kwargs: Any) -> Any:
        stream = dspy.settings.send_stream
        if stream is not None:
            await stream.send({"id": None, "model": "custom", "choices": []})
            await stream.send("ModelResponseStream(id='x')")
        return await super().aforward(prompt, messages, **kwargs)


async def test_items_dspy_does_not_know_are_dropped_never_sent_as_text() -> None:
    lm = _NoisyLM(stream_delay_ms=0.1)  # a delay: the call takes DSPy's async path
    with dspy.context(lm=lm):
        items = await _items(
            commands.build_module("Predict", "question -> answer"), "Predict", {"question": "q"}, lm=None
        )
    _check_shape(items)
    assert all(
        "ModelResponseStream" not in str(i.get("text", "")) and "custom" not in str(i.get("text", "")) for i in items
    )
    assert _by_field(items)[("self", "answer")].strip() == items[-1]["fields"]["answer"]


async def test_no_lm_is_a_clear_error() -> None:
    with pytest.raises(commands.LMError, match="no LM configured"):
        await _items(commands.build_module("Predict", "question -> answer"), "Predict", {"question": "q"}, lm=None)


async def test_closing_the_stream_midway_cancels_the_run() -> None:
    lm = {"model": "scripted", "latency_ms": 1}
    gen = commands.stream_module(
        commands.build_module("ChainOfThought", "question -> answer"), "ChainOfThought", {"question": "a long one"}, lm
    )
    seen = []
    async for item in gen:
        seen.append(item)
        if item["type"] == "chunk":
            break
    await gen.aclose()
    assert seen[-1]["type"] == "chunk"
    # the worker can stream again at once
    assert (await _items(commands.build_module("Predict", "question -> answer"), "Predict", {"question": "q"}))[-1][
        "type"
    ] == "prediction"


def _lookup(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


async def test_react_tool_calls_arrive_as_status_messages() -> None:
    program = dspy.ReAct("question -> answer", tools=[_lookup], max_iters=3)
    items = await _items(program, "ReAct", {"question": "Paris?"})
    prediction = _check_shape(items)
    assert [i["message"] for i in items if i["type"] == "status"] == [
        "running ReAct",
        "Calling tool _lookup...",
        "Tool calling finished! Querying the LLM with tool calling results...",
    ]
    assert prediction["fields"]["trajectory"]["tool_name_0"] == "_lookup"
    # the loop's predictor streamed on both steps (reusable listeners)
    assert [i["text"] for i in items if i["type"] == "chunk" and i["field"] == "next_tool_name" and i["text"]] == [
        "_lookup",
        "finish",
    ]
