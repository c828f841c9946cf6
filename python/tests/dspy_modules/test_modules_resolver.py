"""ModuleVariableResolver (aliases, unknown names, register_module, caching), DSPex's
dynamic-selection and batch-configuration examples against the real host, and the other
variable-aware modules (MultiChainComparison, BestOfN, Refine, ProgramOfThought)."""

from __future__ import annotations

import dspy
import pytest

from dspy_bridge import (
    ModuleVariableResolver,
    ValidationError,
    VariableAwareBestOfN,
    VariableAwareChainOfThought,
    VariableAwareMixin,
    VariableAwareMultiChainComparison,
    VariableAwarePredict,
    VariableAwareProgramOfThought,
    VariableAwareReAct,
    VariableAwareRefine,
    create_variable_aware_module,
)
from dspy_bridge.dspy import SubprocessInterpreter, variable_aware_class


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ChainOfThought", dspy.ChainOfThought),
        ("COT", dspy.ChainOfThought),
        ("CoT", dspy.ChainOfThought),
        ("cot", dspy.ChainOfThought),
        ("chain_of_thought", dspy.ChainOfThought),
        ("dspy.ChainOfThought", dspy.ChainOfThought),
        ("Predict", dspy.Predict),
        ("predict", dspy.Predict),
        ("ReAct", dspy.ReAct),
        ("react", dspy.ReAct),
        ("PoT", dspy.ProgramOfThought),
        ("ProgramOfThought", dspy.ProgramOfThought),
        ("MCC", dspy.MultiChainComparison),
        ("BestOfN", dspy.BestOfN),
        ("refine", dspy.Refine),
    ],
)
async def test_aliases_and_case_insensitive_lookup(ts, ctx, session_id, name, expected) -> None:
    await ts.adefine(session_id, "strategy", "module", name)
    resolver = ModuleVariableResolver(ctx)
    assert await resolver.resolve_module("strategy") is expected


async def test_unknown_module_lists_the_available_ones(ts, ctx, session_id) -> None:
    await ts.adefine(session_id, "bad_module", "module", "UnknownModule")
    resolver = ModuleVariableResolver(ctx)
    with pytest.raises(ValueError, match="Unknown module type") as info:
        await resolver.resolve_module("bad_module")
    assert isinstance(info.value, ValidationError)
    for name in ("ChainOfThought", "Predict", "ReAct", "ProgramOfThought", "MultiChainComparison", "BestOfN", "Refine"):
        assert name in str(info.value)
    assert "COT" in str(info.value)  # the aliases too
    assert info.value.details["available"] == resolver.get_available_modules()
    with pytest.raises(KeyError):
        await resolver.resolve_module("no_such_variable")


async def test_register_module(ts, ctx, session_id, lm) -> None:
    class Summarizer(dspy.Module):
        def __init__(self, style: str = "short") -> None:
            super().__init__()
            self.style = style
            self.summarize = dspy.Predict("text -> summary")

        def forward(self, text: str) -> dspy.Prediction:
            return self.summarize(text=text)

    ModuleVariableResolver.register_module("Summarizer", Summarizer, aliases=("summ",))
    try:
        assert "Summarizer" in ModuleVariableResolver.get_available_modules()
        await ts.adefine(session_id, "which", "module", "SUMM")
        await ts.adefine(session_id, "t", "float", 0.35)
        resolver = ModuleVariableResolver(ctx)
        assert await resolver.resolve_module("which") is Summarizer
        module = await resolver.create_module("which", style="long", variable_bindings={"temperature": "t"})
        assert isinstance(module, Summarizer) and isinstance(module, VariableAwareMixin)
        assert module.style == "long" and module.session_context is ctx
        module(text="abc")
        assert lm.calls[-1].kwargs["temperature"] == 0.35
        with pytest.raises(ValueError):
            ModuleVariableResolver.register_module("Bad", object())  # type: ignore[arg-type]  # not a class (any class is accepted, as in DSPex)
    finally:
        ModuleVariableResolver.unregister_module("Summarizer")
    assert "Summarizer" not in ModuleVariableResolver.get_available_modules()


async def test_resolution_is_cached_and_never_stale(ts, ctx, session_id, count_calls) -> None:
    await ts.adefine(session_id, "strategy", "module", "ChainOfThought")
    resolver = ModuleVariableResolver(ctx)
    assert await resolver.resolve_module("strategy") is dspy.ChainOfThought
    counter = count_calls(ctx)
    for _ in range(5):
        assert await resolver.resolve_module("strategy") is dspy.ChainOfThought
    assert counter.calls == []  # value from the watch-fed cache, class from the resolver's cache
    assert resolver._module_cache["strategy"][0] == "ChainOfThought"

    rev = await ts.aset(session_id, "strategy", "Predict")
    await ctx.wait_for_revision(rev, timeout=5)
    assert await resolver.resolve_module("strategy") is dspy.Predict
    assert counter.calls == []


async def test_dynamic_module_selection(ts, ctx, session_id, lm) -> None:
    """DSPex's dynamic-module-selection example."""
    await ts.adefine(session_id, "reasoning_strategy", "module", "ChainOfThought")
    resolver = ModuleVariableResolver(ctx)
    module = await resolver.create_module("reasoning_strategy", "question -> answer", temperature=0.7)
    assert type(module) is VariableAwareChainOfThought
    result = await module.forward_async(question="How does dynamic module selection work?")
    assert result.answer and lm.calls[-1].kwargs["temperature"] == 0.7

    rev = await ts.aset(session_id, "reasoning_strategy", "ReAct")  # changed from TypeScript
    await ctx.wait_for_revision(rev, timeout=5)
    new_module = await resolver.create_module("reasoning_strategy", "question -> answer", tools=[len], temperature=0.2)
    assert type(new_module) is VariableAwareReAct
    assert [p.config for p in new_module.predictors()] == [{"temperature": 0.2}] * 2  # ReAct has no **config

    plain = await resolver.create_module(
        "reasoning_strategy", "question -> answer", tools=[len], use_variable_aware=False
    )
    assert type(plain) is dspy.ReAct


async def test_batch_configuration(ts, ctx, session_id, lm) -> None:
    """DSPex's batch-configuration example: a pipeline of three modules on shared variables."""
    for name, vtype, value in [
        ("pipeline_temperature", "float", 0.7),
        ("pipeline_max_tokens", "integer", 256),
        ("pipeline_model", "string", "scripted/gpt-4"),
        ("pipeline_strategy", "module", "ChainOfThought"),
    ]:
        await ts.adefine(session_id, name, vtype, value)
    resolver = ModuleVariableResolver(ctx)
    understand = await create_variable_aware_module(
        ctx,
        "Predict",
        "question -> key_concepts",
        variable_bindings={"temperature": "pipeline_temperature", "model": "pipeline_model"},
    )
    reason = await resolver.create_module("pipeline_strategy", "question, key_concepts -> reasoning_steps, answer")
    await reason.bind_to_variable("temperature", "pipeline_temperature")
    await reason.bind_to_variable("max_tokens", "pipeline_max_tokens")
    summarize = await create_variable_aware_module(
        ctx, "Predict", "answer -> summary", variable_bindings={"temperature": "pipeline_temperature"}
    )

    question = "What are the advantages of functional programming?"
    concepts = await understand.forward_async(question=question)
    answer = await reason.forward_async(question=question, key_concepts=concepts.key_concepts)
    summary = await summarize.forward_async(answer=answer.answer)
    assert summary.summary
    calls = lm.calls[-3:]
    assert [c.model for c in calls] == ["scripted/gpt-4", "scripted/deterministic", "scripted/deterministic"]
    assert [c.kwargs["temperature"] for c in calls] == [0.7, 0.7, 0.7]
    assert [c.kwargs.get("max_tokens") for c in calls] == [None, 256, None]

    # One commit from TypeScript reconfigures the whole pipeline.
    rev = await ts.aupdate(session_id, {"pipeline_temperature": 0.1, "pipeline_model": "scripted/small"})
    await ctx.wait_for_revision(rev, timeout=5)
    lm.reset()
    concepts = await understand.forward_async(question=question)
    answer = await reason.forward_async(question=question, key_concepts=concepts.key_concepts)
    await summarize.forward_async(answer=answer.answer)
    assert [c.kwargs["temperature"] for c in lm.calls] == [0.1] * 3
    assert lm.calls[0].model == "scripted/small"


async def test_create_variable_aware_module_forms(ctx, ts, session_id) -> None:
    await ts.adefine(session_id, "t", "float", 0.8)
    by_name = await create_variable_aware_module(ctx, "cot", "q -> a", variable_bindings={"temperature": "t"})
    assert type(by_name) is VariableAwareChainOfThought and by_name.temperature == 0.8
    by_class = await create_variable_aware_module(ctx, dspy.Predict, "q -> a", variable_bindings={"temperature": "t"})
    assert type(by_class) is VariableAwarePredict and by_class.config["temperature"] == 0.8
    instance = dspy.ChainOfThought("q -> a")
    converted = await create_variable_aware_module(ctx, instance, variable_bindings={"temperature": "t"})
    assert converted is instance and instance.predict.config["temperature"] == 0.8
    assert variable_aware_class(dspy.ReAct) is VariableAwareReAct


async def test_multi_chain_comparison(ts, ctx, session_id, lm) -> None:
    await ts.adefine(session_id, "t", "float", 0.15)
    mcc = VariableAwareMultiChainComparison("question -> answer", M=2, session_context=ctx)
    assert mcc.predict.config["temperature"] == 0.7  # MultiChainComparison's own default
    await mcc.bind_to_variable("temperature", "t")
    completions = [dspy.Prediction(reasoning="r1", answer="a1"), dspy.Prediction(reasoning="r2", answer="a2")]
    await mcc.forward_async(completions, question="q")
    assert lm.calls[-1].kwargs["temperature"] == 0.15
    mcc.unbind_variable("temperature")
    assert mcc.predict.config["temperature"] == 0.7


@pytest.mark.parametrize("cls", [VariableAwareBestOfN, VariableAwareRefine])
async def test_best_of_n_and_refine_reach_the_wrapped_module(ts, ctx, session_id, lm, cls) -> None:
    await ts.adefine(session_id, "t", "float", 0.33)
    await ts.adefine(session_id, "n_attempts", "integer", 2)
    await ts.adefine(session_id, "m", "string", "scripted/judge")
    inner = dspy.ChainOfThought("question -> answer")
    module = cls(module=inner, N=3, reward_fn=lambda args, pred: 0.0, threshold=1.0, session_context=ctx)
    await module.bind_to_variables({"temperature": "t", "N": "n_attempts", "model": "m"})
    await module.forward_async(question="q")
    attempts = [c for c in lm.calls if "answer" in c.requests[0].output_fields]
    assert len(attempts) == 2  # N bound to 2
    # Each attempt runs on an lm.copy(rollout_id=i, temperature=1.0) of the model-switched LM;
    # the bound temperature (predictor config) wins over BestOfN's 1.0.
    assert [c.kwargs["temperature"] for c in attempts] == [0.33, 0.33]
    assert {c.model for c in attempts} == {"scripted/judge"}
    assert sorted(c.kwargs.get("rollout_id") for c in attempts) == [0, 1]


async def test_program_of_thought(ts, ctx, session_id, lm) -> None:
    await ts.adefine(session_id, "t", "float", 0.05)
    pot = VariableAwareProgramOfThought(
        "question -> answer", interpreter_factory=SubprocessInterpreter, max_iters=1, session_context=ctx
    )
    await pot.bind_to_variable("temperature", "t")
    assert len(pot.predictors()) == 3 and all(p.config["temperature"] == 0.05 for p in pot.predictors())
    try:
        await pot.forward_async(question="What is 6 * 7?")
    except Exception:  # noqa: BLE001 - the scripted code may not run; what matters is what the LM got
        pass
    assert lm.calls and all(c.kwargs["temperature"] == 0.05 for c in lm.calls)
