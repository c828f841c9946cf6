"""ScriptedLM against real DSPy 3.4 modules: every module below is DSPy's own, configured with
the ScriptedLM through ``dspy.context`` / ``dspy.configure``; nothing in DSPy is mocked."""

from __future__ import annotations

import asyncio
import enum
import time
from typing import Any, Literal

import dspy
import pydantic
import pytest

from dspy_bridge.testing import (
    DEFAULT_MODEL,
    ScriptedCall,
    ScriptedLM,
    ScriptedRequest,
    ScriptError,
    ScriptExhaustedError,
)


class Typed(dspy.Signature):
    """Answer the question with every kind of field."""

    question: str = dspy.InputField()
    answer: str = dspy.OutputField()
    count: int = dspy.OutputField()
    score: float = dspy.OutputField()
    ok: bool = dspy.OutputField()
    tags: list[str] = dspy.OutputField()
    numbers: list[int] = dspy.OutputField()
    kind: Literal["fact", "opinion"] = dspy.OutputField()
    extra: dict[str, int] = dspy.OutputField()


ADAPTERS = [dspy.ChatAdapter, dspy.JSONAdapter, dspy.XMLAdapter]


# -- every field type, every adapter ----------------------------------------------------------


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda a: a.__name__)
def test_predict_fills_every_field_type(adapter: type) -> None:
    lm = ScriptedLM()
    with dspy.context(lm=lm, adapter=adapter()):
        pred = dspy.Predict(Typed)(question="What is 2 + 2?")

    assert pred.answer == "4"  # arithmetic in the inputs is evaluated
    assert pred.count == 4 and type(pred.count) is int
    assert pred.score == 4.0 and type(pred.score) is float
    assert pred.ok is True
    assert pred.tags and all(isinstance(t, str) for t in pred.tags)
    assert pred.numbers and all(type(n) is int for n in pred.numbers)
    assert pred.kind in ("fact", "opinion")
    assert isinstance(pred.extra, dict) and all(type(v) is int for v in pred.extra.values())
    # One call (no fallback to JSONAdapter after a parse error); the LM saw what the adapter asked for.
    assert len(lm.calls) == 1
    assert lm.calls[-1].requests[0].output_names == list(Typed.output_fields)
    assert (
        lm.calls[-1].requests[0].adapter
        == {"ChatAdapter": "chat", "JSONAdapter": "json", "XMLAdapter": "xml"}[adapter.__name__]
    )


def test_text_answers_are_derived_from_the_inputs_and_deterministic() -> None:
    first, second = ScriptedLM(), ScriptedLM()
    with dspy.context(lm=first):
        a = dspy.Predict("question -> answer")(question="Why is the sky blue?")
    with dspy.context(lm=second):
        b = dspy.Predict("question -> answer")(question="Why is the sky blue?")
        c = dspy.Predict("question -> answer")(question="Why is grass green?")
    assert a.answer == b.answer
    assert "Why is the sky blue?" in a.answer
    assert c.answer != a.answer


class Person(pydantic.BaseModel):
    name: str
    age: int
    emails: list[str]


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Structured(dspy.Signature):
    text: str = dspy.InputField()
    person: Person = dspy.OutputField()
    people: list[Person] = dspy.OutputField()
    color: Color = dspy.OutputField()
    maybe: int | None = dspy.OutputField()


def test_pydantic_and_enum_outputs_come_from_the_adapters_schema_note() -> None:
    for adapter in (dspy.ChatAdapter(), dspy.JSONAdapter()):
        lm = ScriptedLM()
        with dspy.context(lm=lm, adapter=adapter):
            pred = dspy.Predict(Structured)(text="Alice is 30")
        assert isinstance(pred.person, Person)
        assert all(isinstance(p, Person) for p in pred.people) and pred.people
        assert isinstance(pred.color, Color)
        assert isinstance(pred.maybe, int)
        assert len(lm.calls) == 1  # parsed at the first attempt


def test_chain_of_thought_gets_reasoning_and_a_typed_answer() -> None:
    lm = ScriptedLM()
    dspy.configure(lm=lm)
    pred = dspy.ChainOfThought("question -> answer: int")(question="What is 17 * 3?")
    assert pred.answer == 51
    assert isinstance(pred.reasoning, str) and "17 * 3" in pred.reasoning
    assert lm.calls[-1].requests[0].output_names == ["reasoning", "answer"]


# -- ReAct with a real tool -------------------------------------------------------------------


def _weather_tool() -> tuple[Any, list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []

    def get_weather(city: str, days: int = 1) -> str:
        """Get the weather forecast for a city."""
        seen.append({"city": city, "days": days})
        return f"It is sunny in {city}."

    return get_weather, seen


def test_react_calls_the_real_tool_once_then_finishes() -> None:
    get_weather, seen = _weather_tool()
    lm = ScriptedLM()
    with dspy.context(lm=lm):
        pred = dspy.ReAct("question -> answer", tools=[get_weather])(question="Paris")

    assert seen == [{"city": "Paris", "days": 1}]  # the tool really ran, with args from its signature
    traj = pred.trajectory
    assert traj["tool_name_0"] == "get_weather" and traj["tool_args_0"] == {"city": "Paris"}
    assert traj["observation_0"] == "It is sunny in Paris."
    assert traj["tool_name_1"] == "finish"
    assert isinstance(pred.answer, str) and pred.answer
    # react step, react step (finish), extract (ChainOfThought over the trajectory)
    assert [c.requests[0].output_names for c in lm.calls] == [
        ["next_thought", "next_tool_name", "next_tool_args"],
        ["next_thought", "next_tool_name", "next_tool_args"],
        ["reasoning", "answer"],
    ]
    assert [t.name for t in lm.calls[0].requests[0].tools] == ["get_weather", "finish"]
    assert "It is sunny in Paris." in lm.calls[-1].requests[0].raw_inputs["trajectory"]


async def test_react_async_calls_the_tool() -> None:
    get_weather, seen = _weather_tool()
    with dspy.context(lm=ScriptedLM()):
        pred = await dspy.ReAct("question -> answer", tools=[get_weather]).acall(question="Oslo")
    assert seen == [{"city": "Oslo", "days": 1}]
    assert pred.trajectory["tool_name_1"] == "finish"


def test_react_follows_a_script() -> None:
    get_weather, seen = _weather_tool()
    lm = ScriptedLM(
        [
            {
                "next_thought": "Check Rome.",
                "next_tool_name": "get_weather",
                "next_tool_args": {"city": "Rome", "days": 3},
            },
            {"next_tool_name": "finish", "next_tool_args": {}},
            {"answer": "Sunny in Rome"},
        ]
    )
    with dspy.context(lm=lm):
        pred = dspy.ReAct("question -> answer", tools=[get_weather])(question="Weather in Rome?")
    assert seen == [{"city": "Rome", "days": 3}]
    assert pred.answer == "Sunny in Rome"
    assert lm.remaining_responses == 0


# -- several completions: n, MultiChainComparison, BestOfN, Refine ---------------------------


def test_n_choices_and_multi_chain_comparison() -> None:
    lm = ScriptedLM()
    dspy.configure(lm=lm)
    cot = dspy.ChainOfThought("question -> answer", n=3)
    pred = cot(question="Why is the sky blue?")

    assert len(pred.completions) == 3
    assert len(set(pred.completions.answer)) == 3  # each choice is a distinct variant
    call = lm.calls[-1]
    assert call.n == 3 and len(call.completions) == 3 and len(call.response.choices) == 3
    assert call.kwargs["n"] == 3 and call.kwargs["temperature"] == 0.7  # DSPy raises temperature when n > 1

    mcc = dspy.MultiChainComparison("question -> answer", M=3)
    final = mcc(pred.completions, question="Why is the sky blue?")
    assert isinstance(final.rationale, str) and isinstance(final.answer, str)
    request = lm.calls[-1].requests[0]
    assert request.output_names == ["rationale", "answer"]
    assert all(f"reasoning_attempt_{i}" in request.inputs for i in (1, 2, 3))


def test_best_of_n_sees_a_different_answer_per_rollout() -> None:
    lm = ScriptedLM()
    dspy.configure(lm=lm)
    best = dspy.BestOfN(
        dspy.Predict("question -> answer"),
        N=3,
        reward_fn=lambda args, pred: 1.0 if "variant 3" in pred.answer else 0.0,
        threshold=1.0,
    )
    pred = best(question="Name a color")
    assert "variant 3" in pred.answer
    assert [c.kwargs["rollout_id"] for c in lm.calls] == [0, 1, 2]  # BestOfN's lm.copy()s share the log
    assert {c.kwargs["temperature"] for c in lm.calls} == {1.0}


def test_refine_runs_feedback_then_retries() -> None:
    lm = ScriptedLM()
    dspy.configure(lm=lm)
    rewards: list[str] = []

    def reward(args: dict, pred: dspy.Prediction) -> float:
        rewards.append(pred.answer)
        return 1.0 if len(rewards) == 2 else 0.0

    pred = dspy.Refine(dspy.ChainOfThought("question -> answer"), N=3, reward_fn=reward, threshold=1.0)(
        question="Name a color"
    )
    assert len(rewards) == 2 and pred.answer == rewards[1]
    outputs = [c.requests[0].output_names for c in lm.calls]
    assert outputs == [["reasoning", "answer"], ["discussion", "advice"], ["reasoning", "answer"]]
    assert "hint_" in lm.calls[-1].requests[0].raw_inputs  # the advice reached the retry


# -- scripts ----------------------------------------------------------------------------------


def test_responses_are_consumed_in_order_and_missing_fields_are_filled() -> None:
    lm = ScriptedLM([{"answer": "4"}, {"answer": "five", "reasoning": "counted"}, "[[ ## answer ## ]]\nsix"])
    dspy.configure(lm=lm)
    assert dspy.Predict("question -> answer")(question="2+2?").answer == "4"
    cot = dspy.ChainOfThought("question -> answer")(question="2+3?")
    assert (cot.reasoning, cot.answer) == ("counted", "five")
    assert dspy.Predict("question -> answer")(question="?").answer == "six"  # raw text, verbatim
    assert lm.calls[-1].completions == ["[[ ## answer ## ]]\nsix"] and lm.calls[-1].outputs == [None]

    with pytest.raises(ScriptExhaustedError, match="ran out of scripted responses: all 3"):
        dspy.Predict("question -> answer")(question="more?")


def test_partial_script_entries_get_default_values_for_the_rest() -> None:
    lm = ScriptedLM([{"answer": "Paris"}])
    with dspy.context(lm=lm):
        pred = dspy.ChainOfThought("question -> answer, confidence: float")(question="Capital of France?")
    assert pred.answer == "Paris" and isinstance(pred.reasoning, str) and isinstance(pred.confidence, float)


def test_when_exhausted_cycle_and_default() -> None:
    cycling = ScriptedLM([{"answer": "a"}, {"answer": "b"}], when_exhausted="cycle")
    with dspy.context(lm=cycling):
        answers = [dspy.Predict("q -> answer")(q=str(i)).answer for i in range(5)]
    assert answers == ["a", "b", "a", "b", "a"]

    falling_back = ScriptedLM([{"answer": "a"}], when_exhausted="default")
    with dspy.context(lm=falling_back):
        answers = [dspy.Predict("q -> answer")(q="1 + 1").answer for _ in range(2)]
    assert answers == ["a", "2"]


def test_a_scripted_field_the_call_does_not_ask_for_is_an_error() -> None:
    lm = ScriptedLM([{"anwser": "typo"}])
    with dspy.context(lm=lm), pytest.raises(ScriptError, match=r"\['anwser'\].*asks for \['answer'\]"):
        dspy.Predict("question -> answer")(question="q")


def test_respond_callable_sees_inputs_fields_and_kwargs() -> None:
    seen: list[ScriptedRequest] = []

    def respond(request: ScriptedRequest) -> dict[str, Any] | None:
        seen.append(request)
        if "total" in request.output_fields:
            return {"total": sum(request.inputs["values"]) * 10}
        return None  # default policy

    lm = ScriptedLM(respond=respond)

    class Sum(dspy.Signature):
        values: list[int] = dspy.InputField()
        label: str = dspy.InputField()
        total: int = dspy.OutputField()

    with dspy.context(lm=lm):
        pred = dspy.Predict(Sum, max_tokens=50)(values=[1, 2, 3], label="six")
        other = dspy.Predict("question -> answer")(question="Anything")
    assert pred.total == 60
    assert other.answer.startswith("Scripted answer")
    request = seen[0]
    assert request.inputs == {"values": [1, 2, 3], "label": "six"}
    assert request.output_names == ["total"] and request.output_fields["total"].type_name == "int"
    assert request.kwargs["max_tokens"] == 50 and request.kwargs["model"] == DEFAULT_MODEL
    assert "Given the fields `values`, `label`" in request.instructions


async def test_async_respond_callable() -> None:
    async def respond(request: ScriptedRequest) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"answer": request.inputs["question"].upper()}

    with dspy.context(lm=ScriptedLM(respond=respond)):
        pred = await dspy.Predict("question -> answer").acall(question="shout")
    assert pred.answer == "SHOUT"


# -- what DSPy passes to the LM ---------------------------------------------------------------


def test_temperature_reaches_the_lm_call_through_each_supported_route() -> None:
    lm = ScriptedLM(temperature=0.1, max_tokens=100)
    dspy.configure(lm=lm)
    sig = "question -> answer"

    dspy.Predict(sig)(question="q")
    assert (lm.calls[-1].temperature, lm.calls[-1].max_tokens) == (0.1, 100)  # the LM's own defaults

    dspy.Predict(sig, temperature=0.3)(question="q")  # Predict(**config)
    assert lm.calls[-1].kwargs["temperature"] == 0.3

    dspy.Predict(sig)(question="q", config={"temperature": 0.4, "max_tokens": 7})  # per-call config=
    assert (lm.calls[-1].temperature, lm.calls[-1].max_tokens) == (0.4, 7)

    dspy.ChainOfThought(sig, temperature=0.5)(question="q")  # ChainOfThought forwards **config to Predict
    assert lm.calls[-1].temperature == 0.5

    with dspy.context(lm=lm.copy(temperature=0.6, rollout_id=9)):  # an LM copy with other defaults
        dspy.Predict(sig)(question="q")
    assert (lm.calls[-1].temperature, lm.calls[-1].kwargs["rollout_id"]) == (0.6, 9)
    assert lm.kwargs["temperature"] == 0.1  # the original is unchanged

    predict = dspy.Predict(sig)
    predict.set_lm(lm.copy(temperature=0.7))  # a per-predictor LM
    predict(question="q")
    assert lm.calls[-1].temperature == 0.7

    with dspy.context(temperature=0.9):  # NOT a route: DSPy never reads a settings-level temperature
        dspy.Predict(sig)(question="q")
    assert lm.calls[-1].temperature == 0.1


def test_calls_record_messages_outputs_and_timestamps() -> None:
    lm = ScriptedLM(model="scripted/custom")
    before = time.time()
    with dspy.context(lm=lm):
        dspy.Predict("question -> answer")(question="Hello?")
    call = lm.calls[-1]
    assert isinstance(call, ScriptedCall) and call.index == 0
    assert before <= call.timestamp <= time.time()
    assert call.model == "scripted/custom" == call.kwargs["model"] == call.response.model
    assert [m["role"] for m in call.messages] == ["system", "user"]
    assert "[[ ## question ## ]]\nHello?" in call.messages[-1]["content"]
    assert call.output == {"answer": "Scripted answer for: Hello?"}
    assert call.completions[0].startswith("[[ ## answer ## ]]")
    assert call.asynchronous is False
    # DSPy's own history has the same call
    assert lm.history[-1]["outputs"] == call.completions


def test_usage_tracking_counts_words() -> None:
    lm = ScriptedLM()
    dspy.configure(lm=lm, track_usage=True)
    pred = dspy.Predict("question -> answer")(question="How many words?")
    usage = pred.get_lm_usage()[DEFAULT_MODEL]
    call = lm.calls[-1]
    assert usage["prompt_tokens"] == sum(len(m["content"].split()) for m in call.messages) > 0
    assert usage["completion_tokens"] == len(call.completions[0].split()) > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] == call.usage["total_tokens"]


def test_direct_prompt_call_and_state_round_trip() -> None:
    lm = ScriptedLM(temperature=0.2)
    assert lm("hello there") == ["Scripted response to: hello there"]
    assert ScriptedLM(["fixed"])("anything") == ["fixed"]

    predict = dspy.Predict("question -> answer")
    predict.set_lm(lm)
    state = predict.dump_state()
    assert state["lm"]["_dspy_lm_class"] == "dspy_bridge.testing.scripted_lm.ScriptedLM"
    restored = dspy.Predict("question -> answer").load_state(state, allow_unsafe_lm_state=True)
    assert isinstance(restored.lm, ScriptedLM) and restored.lm.kwargs["temperature"] == 0.2


def test_copies_share_the_log_and_the_script() -> None:
    lm = ScriptedLM([{"answer": "one"}, {"answer": "two"}])
    clone = lm.copy(temperature=1.0)
    with dspy.context(lm=lm):
        assert dspy.Predict("q -> answer")(q="x").answer == "one"
    with dspy.context(lm=clone):
        assert dspy.Predict("q -> answer")(q="x").answer == "two"
    assert len(lm.calls) == 2 and lm.calls is clone.calls
    lm.reset()
    assert lm.calls == [] and lm.remaining_responses == 2


# -- latency and concurrency ------------------------------------------------------------------


def test_sync_latency_is_simulated() -> None:
    lm = ScriptedLM(latency_ms=lambda request: 50 if request.output_names == ["answer"] else 0)
    start = time.perf_counter()
    with dspy.context(lm=lm):
        dspy.Predict("question -> answer")(question="slow?")
    assert time.perf_counter() - start >= 0.05
    assert lm.calls[-1].latency_ms == 50


async def test_one_hundred_concurrent_async_calls_overlap() -> None:
    lm = ScriptedLM(latency_ms=100)
    program = dspy.ChainOfThought("question -> answer")
    start = time.perf_counter()
    with dspy.context(lm=lm):
        results = await asyncio.gather(*(program.acall(question=f"question {i}") for i in range(100)))
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, f"100 x 100 ms took {elapsed:.2f} s: the calls did not overlap"
    assert len(lm.calls) == 100 and all(c.asynchronous for c in lm.calls)
    assert {r.answer for r in results} == {f"Scripted answer for: question {i}" for i in range(100)}


async def test_streamify_streams_the_answer_word_by_word() -> None:
    lm = ScriptedLM([{"answer": "The sky is blue because of Rayleigh scattering."}])
    program = dspy.Predict("question -> answer")
    listener = dspy.streaming.StreamListener(signature_field_name="answer")
    with dspy.context(lm=lm):
        stream = dspy.streamify(program, stream_listeners=[listener])
        chunks, final = [], None
        async for item in stream(question="Why is the sky blue?"):
            if isinstance(item, dspy.streaming.StreamResponse):
                chunks.append(item.chunk)
            elif isinstance(item, dspy.Prediction):
                final = item
    assert final is not None and final.answer == "The sky is blue because of Rayleigh scattering."
    assert len([c for c in chunks if c]) > 3  # more than one piece: it really streamed
    assert "".join(chunks).strip() == final.answer


def test_parallel_threads_overlap_with_sync_latency() -> None:
    lm = ScriptedLM(latency_ms=100)
    program = dspy.Predict("question -> answer")
    examples = [dspy.Example(question=f"q{i}").with_inputs("question") for i in range(20)]
    start = time.perf_counter()
    with dspy.context(lm=lm):
        results = dspy.Parallel(num_threads=20, disable_progress_bar=True)([(program, ex) for ex in examples])
    assert time.perf_counter() - start < 1.5  # 20 x 100 ms in threads, not 2 s in series
    assert sorted(r.answer for r in results) == sorted(f"Scripted answer for: q{i}" for i in range(20))
    assert len(lm.calls) == 20 and len({c.index for c in lm.calls}) == 20


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda a: a.__name__)
def test_react_with_every_adapter_calls_a_typed_tool_once(adapter: type) -> None:
    seen: list[tuple[str, int]] = []

    def lookup(term: str, limit: int) -> str:
        """Look a term up."""
        seen.append((term, limit))
        return f"{limit} results for {term}"

    lm = ScriptedLM()
    with dspy.context(lm=lm, adapter=adapter()):
        pred = dspy.ReAct("question -> answer: int", tools=[lookup])(question="What is 6 * 7?")
    assert seen == [("What is 6 * 7?", 42)]  # int argument arrives as an int
    assert pred.answer == 42
    assert len(lm.calls) == 3  # tool step, finish step, extract: no parse-failure retries


# -- the inline async path (no waits: no thread hand-offs) ---------------------------------------


class _LMEvents(dspy.utils.callback.BaseCallback):
    def __init__(self) -> None:
        self.events: list[str] = []

    def on_lm_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        self.events.append("start")

    def on_lm_end(self, call_id: str, outputs: Any, exception: Exception | None = None) -> None:
        self.events.append("end" if exception is None else "error")


async def _loop_ran_during(awaitable: Any) -> tuple[Any, bool]:
    """Runs `awaitable`; says whether the event loop got to run anything else meanwhile."""
    ran = []
    asyncio.get_running_loop().call_soon(ran.append, True)
    result = await awaitable
    return result, bool(ran)


async def test_zero_latency_acall_answers_inline_with_dspys_callbacks_history_and_usage() -> None:
    lm = ScriptedLM()
    events = _LMEvents()
    program = dspy.Predict("question -> answer")
    with dspy.context(lm=lm, callbacks=[events], track_usage=True):
        prediction, yielded = await _loop_ran_during(program.acall(question="inline?"))
    assert not yielded, "a call with nothing to wait for suspended (a thread hand-off)"
    assert prediction.answer == "Scripted answer for: inline?"
    assert events.events == ["start", "end"]
    assert lm.calls[-1].asynchronous is True
    assert lm.history[-1]["outputs"] == lm.calls[-1].completions
    assert prediction.get_lm_usage()[DEFAULT_MODEL]["total_tokens"] == lm.calls[-1].usage["total_tokens"]


async def test_acall_that_must_wait_takes_dspys_async_path() -> None:
    async def respond(request: ScriptedRequest) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"answer": "awaited"}

    for lm in (ScriptedLM(latency_ms=1), ScriptedLM(latency_ms=lambda r: 0), ScriptedLM(respond=respond)):
        with dspy.context(lm=lm):
            prediction, yielded = await _loop_ran_during(dspy.Predict("question -> answer").acall(question="q"))
        assert yielded, f"{lm!r} answered without suspending"
        assert prediction.answer in ("awaited", "Scripted answer for: q")
        assert lm.calls[-1].asynchronous is True


async def test_inline_acall_errors_reach_the_caller_and_the_callbacks() -> None:
    lm = ScriptedLM([], when_exhausted="raise")
    events = _LMEvents()
    with dspy.context(lm=lm, callbacks=[events]):
        with pytest.raises(ScriptExhaustedError):
            await dspy.Predict("question -> answer").acall(question="q")
    assert events.events == ["start", "error"]


def test_recorded_calls_are_bounded_by_max_calls() -> None:
    lm = ScriptedLM(max_calls=3)
    with dspy.context(lm=lm):
        for i in range(5):
            dspy.Predict("question -> answer")(question=f"q{i}")
    assert [c.index for c in lm.calls] == [2, 3, 4]
    assert lm.copy(temperature=0.5).calls is lm.calls
    with pytest.raises(ValueError, match="max_calls"):
        ScriptedLM(max_calls=0)
