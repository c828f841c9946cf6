"""A variable changed from TypeScript changes what the LM call receives on the next forward:
for Predict, ChainOfThought (its inner predictor), ReAct (both predictors, a real tool), a
user module of three predictors, and ``model``."""

from __future__ import annotations


import dspy
import pytest

from dspy_bridge import (
    VariableAwareChainOfThought,
    VariableAwareMixin,
    VariableAwarePredict,
    VariableAwareReAct,
    make_variable_aware,
)
from dspy_bridge.testing import ScriptedLM


async def test_predict_temperature_follows_typescript(ts, ctx, session_id, lm: ScriptedLM) -> None:
    await ts.adefine(session_id, "llm_temperature", "float", 0.3, constraints={"min": 0, "max": 2})
    predictor = VariableAwarePredict("question -> answer", session_context=ctx)
    await predictor.bind_to_variable("temperature", "llm_temperature")

    await predictor.forward_async(question="q1")
    assert lm.calls[-1].kwargs["temperature"] == 0.3

    rev = await ts.aset(session_id, "llm_temperature", 1.1)
    await ctx.wait_for_revision(rev, timeout=5)
    await predictor.forward_async(question="q2")
    assert lm.calls[-1].kwargs["temperature"] == 1.1
    assert predictor.temperature == 1.1  # readable as an attribute
    assert predictor.config["temperature"] == 1.1  # what Predict passes to the LM

    # The synchronous call path syncs too.
    rev = await ts.aset(session_id, "llm_temperature", 0.0)
    await ctx.wait_for_revision(rev, timeout=5)
    predictor(question="q3")
    assert lm.calls[-1].kwargs["temperature"] == 0.0
    # And DSPy's native async path.
    rev = await ts.aset(session_id, "llm_temperature", 0.5)
    await ctx.wait_for_revision(rev, timeout=5)
    await predictor.acall(question="q4")
    assert lm.calls[-1].kwargs["temperature"] == 0.5


async def test_chain_of_thought_inner_predictor(ts, ctx, session_id, lm: ScriptedLM) -> None:
    await ts.adefine(session_id, "temp", "float", 0.2)
    await ts.adefine(session_id, "tokens", "integer", 128)
    cot = VariableAwareChainOfThought("question -> answer", session_context=ctx)
    await cot.bind_to_variable("temperature", "temp")
    await cot.bind_to_variable("max_tokens", "tokens")
    assert cot.predict.config == {"temperature": 0.2, "max_tokens": 128}

    result = await cot.forward_async(question="why?")
    assert result.reasoning and result.answer
    call = lm.calls[-1]
    assert (call.kwargs["temperature"], call.kwargs["max_tokens"]) == (0.2, 128)

    rev = await ts.aupdate(session_id, {"temp": 0.9, "tokens": 512})
    await ctx.wait_for_revision(rev, timeout=5)
    cot(question="again")
    call = lm.calls[-1]
    assert (call.kwargs["temperature"], call.kwargs["max_tokens"]) == (0.9, 512)


def lookup(term: str) -> str:
    """Looks a term up in a tiny encyclopedia."""
    lookup.seen.append(term)  # type: ignore[attr-defined]
    return {"dspy": "a framework for programming language models"}.get(term.lower(), "unknown")


def _react_script(request):
    # First step: call the real tool; then finish; the extract step uses the default policy.
    if "next_tool_name" in request.output_fields:
        if "observation_0" in (request.raw_inputs.get("trajectory") or ""):
            return {"next_thought": "done", "next_tool_name": "finish", "next_tool_args": {}}
        return {"next_thought": "look it up", "next_tool_name": "lookup", "next_tool_args": {"term": "dspy"}}
    return None


async def test_react_both_predictors_and_a_real_tool(ts, ctx, session_id) -> None:
    lookup.seen = []  # type: ignore[attr-defined]
    lm = ScriptedLM(respond=_react_script)
    await ts.adefine(session_id, "agent_temp", "float", 0.4)
    await ts.adefine(session_id, "agent_iters", "integer", 5)
    agent = VariableAwareReAct("question -> answer", tools=[lookup], session_context=ctx)
    await agent.bind_to_variables({"temperature": "agent_temp", "max_iters": "agent_iters"})
    assert agent.max_iters == 5  # a plain attribute ReAct.forward reads

    with dspy.context(lm=lm):
        await agent.forward_async(question="What is DSPy?")
    assert lookup.seen == ["dspy"]  # type: ignore[attr-defined]
    signatures = [tuple(c.requests[0].output_fields) for c in lm.calls]
    assert any("next_tool_name" in s for s in signatures) and any("answer" in s for s in signatures)
    assert [c.kwargs["temperature"] for c in lm.calls] == [0.4] * len(lm.calls)  # react AND extract

    rev = await ts.aset(session_id, "agent_temp", 1.3)
    await ctx.wait_for_revision(rev, timeout=5)
    lm.reset()
    with dspy.context(lm=lm):
        await agent.forward_async(question="What is DSPy?")
    assert len(lm.calls) == 3  # react (tool), react (finish), extract
    assert [c.kwargs["temperature"] for c in lm.calls] == [1.3, 1.3, 1.3]


class ThreeStep(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.understand = dspy.Predict("question -> key_concepts")
        self.reason = dspy.ChainOfThought("question, key_concepts -> answer")
        self.summarize = dspy.Predict("answer -> summary")

    def forward(self, question: str) -> dspy.Prediction:
        concepts = self.understand(question=question).key_concepts
        answer = self.reason(question=question, key_concepts=concepts).answer
        return self.summarize(answer=answer)


class AwareThreeStep(VariableAwareMixin, ThreeStep):
    pass


@pytest.mark.parametrize("how", ["make_variable_aware(instance)", "mixin subclass", "make_variable_aware(class)"])
async def test_composite_module_of_three_predictors(ts, ctx, session_id, lm: ScriptedLM, how: str) -> None:
    await ts.adefine(session_id, "pipeline_temperature", "float", 0.6)
    await ts.adefine(session_id, "pipeline_max_tokens", "integer", 300)
    if how == "make_variable_aware(instance)":
        program = make_variable_aware(ThreeStep(), ctx)
        assert isinstance(program, ThreeStep) and isinstance(program, VariableAwareMixin)
    elif how == "mixin subclass":
        program = AwareThreeStep(session_context=ctx)
    else:
        program = make_variable_aware(ThreeStep)(session_context=ctx)
    await program.bind_to_variables({"temperature": "pipeline_temperature", "max_tokens": "pipeline_max_tokens"})
    assert len(program.named_predictors()) == 3

    program(question="What is functional programming?")
    assert [(c.kwargs["temperature"], c.kwargs["max_tokens"]) for c in lm.calls] == [(0.6, 300)] * 3

    rev = await ts.aupdate(session_id, {"pipeline_temperature": 1.5, "pipeline_max_tokens": 64})
    await ctx.wait_for_revision(rev, timeout=5)
    lm.reset()
    await program.forward_async(question="What is functional programming?")
    assert [(c.kwargs["temperature"], c.kwargs["max_tokens"]) for c in lm.calls] == [(1.5, 64)] * 3

    program.unbind_variable("max_tokens")
    lm.reset()
    program(question="again")
    assert all("max_tokens" not in p.config for p in program.predictors())
    assert [c.kwargs["temperature"] for c in lm.calls] == [1.5] * 3
    assert [c.kwargs.get("max_tokens") for c in lm.calls] == [None] * 3  # the LM's default again


async def test_model_binding_switches_the_model_the_lm_sees(ts, ctx, session_id, lm: ScriptedLM) -> None:
    await ts.adefine(session_id, "pipeline_model", "string", "scripted/alpha")
    program = make_variable_aware(ThreeStep(), ctx)
    await program.bind_to_variable("model", "pipeline_model")
    program(question="q")
    assert [c.model for c in lm.calls] == ["scripted/alpha"] * 3
    assert [c.kwargs["model"] for c in lm.calls] == ["scripted/alpha"] * 3

    rev = await ts.aset(session_id, "pipeline_model", "scripted/beta")
    await ctx.wait_for_revision(rev, timeout=5)
    lm.reset()
    await program.forward_async(question="q")
    assert [c.model for c in lm.calls] == ["scripted/beta"] * 3
    assert lm.model == "scripted/deterministic"  # the configured LM itself is untouched

    # A predictor with an LM of its own follows the binding too.
    own = ScriptedLM(model="scripted/own")
    program.summarize.lm = own
    lm.reset()
    program(question="q")
    assert [c.model for c in lm.calls] == ["scripted/beta"] * 2
    assert [c.model for c in own.calls] == ["scripted/beta"]

    program.unbind_variable("model")
    assert program.summarize.lm is own
    lm.reset()
    program(question="q")
    assert [c.model for c in lm.calls] == ["scripted/deterministic"] * 2


async def test_copies_keep_bindings_and_session(ts, ctx, session_id, lm: ScriptedLM) -> None:
    """Optimizers deep-copy programs (module.deepcopy(), reset_copy()): the copy keeps its
    bindings, shares the session, and follows changes on its own."""
    import copy

    await ts.adefine(session_id, "t", "float", 0.45)
    program = make_variable_aware(ThreeStep(), ctx)
    await program.bind_to_variable("temperature", "t")
    clone = program.deepcopy()
    again = copy.deepcopy(program)
    reset = program.reset_copy()
    for c in (clone, again, reset):
        assert c.session_context is ctx and c.get_bindings() == {"temperature": "t"}
        assert c.understand is not program.understand
        assert [p.config["temperature"] for p in c.predictors()] == [0.45] * 3

    rev = await ts.aset(session_id, "t", 0.95)
    await ctx.wait_for_revision(rev, timeout=5)
    clone(question="q")
    assert [c.kwargs["temperature"] for c in lm.calls] == [0.95] * 3

    # A converted module can be the module of dspy.Refine (which reads its class's source).
    refine = dspy.Refine(
        module=make_variable_aware(dspy.ChainOfThought("question -> answer"), ctx),
        N=1,
        reward_fn=lambda a, p: 1.0,
        threshold=0.5,
    )
    assert "class VariableAwareChainOfThought" in refine.module_code
    refine = dspy.Refine(module=make_variable_aware(ThreeStep(), ctx), N=1, reward_fn=lambda a, p: 1.0, threshold=0.5)
    assert "class ThreeStep" in refine.module_code  # a generated class reports its base's source
