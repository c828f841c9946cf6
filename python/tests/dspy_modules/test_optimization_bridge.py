"""DSPex's DSPyOptimizationBridge against a real TypeScript host and real DSPy optimizers
(the scripted LM the only stand-in): optimizer settings read from session variables at each
compile, results written back, runs recorded; module parameters turned into variables."""

from __future__ import annotations

import dspy
import pytest
from dspy.teleprompt import BootstrapFewShot, LabeledFewShot

from dspy_bridge.dspy import DSPyOptimizationBridge, VariableAwareOptimizer
from dspy_bridge.errors import InvalidArgumentError, NotFoundError
from dspy_bridge.testing import ScriptedLM

SUMS = [
    dspy.Example(question=f"What is {a} + {b}?", answer=str(a + b)).with_inputs("question")
    for a, b in [(1, 2), (3, 4), (5, 6), (7, 8), (2, 9)]
]


def accuracy_metric(example, pred, trace=None):
    return example.answer == pred.answer


async def test_the_seed_example_reads_variables_at_each_compile(ts, ctx, session_id, lm: ScriptedLM) -> None:
    await ts.adefine(session_id, "temperature", "float", 0.3)
    await ts.adefine(session_id, "max_demos", "integer", 3)
    bridge = DSPyOptimizationBridge(ctx)
    optimizer = await bridge.create_variable_aware_optimizer(
        BootstrapFewShot,
        variable_mappings={"teacher_temperature": "temperature", "max_bootstrapped_demos": "max_demos"},
        metric=accuracy_metric,
        max_labeled_demos=0,
    )
    assert isinstance(optimizer, VariableAwareOptimizer)

    compiled = await optimizer.compile(dspy.Predict("question -> answer"), trainset=SUMS)
    assert len(compiled.demos) == 3
    assert optimizer.last_parameters == {"teacher_temperature": 0.3, "max_bootstrapped_demos": 3}
    assert {c.temperature for c in lm.calls} == {0.3}, "the teacher's LM calls got the variable's temperature"

    rev = await ts.aset(session_id, "max_demos", 1)
    await ts.aset(session_id, "temperature", 0.9)
    await ctx.wait_for_revision(rev + 1, timeout=5)
    lm.reset()
    compiled = await optimizer.compile(dspy.Predict("question -> answer"), trainset=SUMS)
    assert len(compiled.demos) == 1, "the changed variable was read by the next compile"
    assert {c.temperature for c in lm.calls} == {0.9}

    history = await ctx.get_variable("dspy_optimization_history", bypass_cache=True)
    runs = history["runs"]
    assert [r["parameters"]["max_bootstrapped_demos"] for r in runs] == [3, 1]
    assert [r["demos"] for r in runs] == [{"self": 3}, {"self": 1}]
    assert all(r["optimizer"] == "BootstrapFewShot" for r in runs)


async def test_outputs_are_written_to_their_variables(ts, ctx, session_id, lm: ScriptedLM) -> None:
    await ts.adefine(session_id, "k", "integer", 2)
    await ts.adefine(session_id, "demo_count", "integer", 0)
    await ts.adefine(session_id, "prompt", "string", "")
    bridge = DSPyOptimizationBridge(ctx)
    optimizer = await bridge.create_variable_aware_optimizer(
        "LabeledFewShot", {"k": "k", "num_demos": "demo_count", "instructions": "prompt"}, history_variable=None
    )
    compiled = await optimizer.compile(dspy.Predict("question -> answer"), trainset=SUMS)
    assert len(compiled.demos) == 2
    assert await ctx.get_variable("demo_count", bypass_cache=True) == 2
    assert await ctx.get_variable("prompt", bypass_cache=True) == compiled.signature.instructions
    with pytest.raises(NotFoundError):
        await ctx.get_variable("dspy_optimization_history", bypass_cache=True)


async def test_bad_mappings_are_refused_naming_what_is_wrong(ts, ctx, session_id, lm: ScriptedLM) -> None:
    await ts.adefine(session_id, "some_var", "integer", 1)
    bridge = DSPyOptimizationBridge(ctx)
    with pytest.raises(NotFoundError, match="missing_var"):
        await bridge.create_variable_aware_optimizer(
            BootstrapFewShot, {"max_rounds": "missing_var"}, metric=accuracy_metric
        )
    with pytest.raises(InvalidArgumentError, match="no parameter 'max_rockets'") as err:
        await bridge.create_variable_aware_optimizer(BootstrapFewShot, {"max_rockets": "some_var"})
    assert err.value.parameter == "max_rockets"
    with pytest.raises(InvalidArgumentError, match="no teacher_settings"):
        await bridge.create_variable_aware_optimizer(LabeledFewShot, {"teacher_temperature": "some_var"})
    with pytest.raises(InvalidArgumentError, match="unknown optimizer 'Nope'"):
        await bridge.create_variable_aware_optimizer("Nope", {})

    class MyOptimizer:
        def __init__(self, rounds: int = 1) -> None:
            self.rounds = rounds

        def compile(self, student, *, trainset):
            student = student.deepcopy()
            student.demos = trainset[: self.rounds]
            return student

    bridge.register_optimizer("mine", MyOptimizer)
    optimizer = await bridge.create_variable_aware_optimizer("mine", {"rounds": "some_var"}, history_variable=None)
    compiled = await optimizer.compile(dspy.Predict("question -> answer"), trainset=SUMS)
    assert len(compiled.demos) == 1


async def test_sync_dspy_parameters_creates_and_binds_variables(ts, ctx, session_id, lm: ScriptedLM) -> None:
    bridge = DSPyOptimizationBridge(ctx)
    cot = dspy.ChainOfThought("question -> answer", temperature=0.4)
    mappings = await bridge.sync_dspy_parameters(cot, variable_prefix="cot_")
    assert mappings == {"temperature": "cot_temperature", "max_tokens": "cot_max_tokens"}
    assert await ctx.get_variable("cot_temperature", bypass_cache=True) == 0.4
    assert await ctx.get_variable("cot_max_tokens", bypass_cache=True) == 1000
    assert cot.get_bindings() == mappings

    rev = await ts.aset(session_id, "cot_temperature", 1.1)
    await ctx.wait_for_revision(rev, timeout=5)
    await cot.acall(question="Why?")
    assert lm.calls[-1].temperature == 1.1, "the module follows the new variable"
    assert lm.calls[-1].max_tokens == 1000

    react = dspy.ReAct("question -> answer", tools=[], max_iters=4)
    again = await bridge.sync_dspy_parameters(react, variable_prefix="cot_")
    assert again["max_iters"] == "cot_max_iters"
    assert await ctx.get_variable("cot_temperature", bypass_cache=True) == 1.1, (
        "an existing variable is reused, not reset"
    )
    assert await ctx.get_variable("cot_max_iters", bypass_cache=True) == 4
    with pytest.raises(InvalidArgumentError):
        await bridge.sync_dspy_parameters(object())


async def test_cancelling_a_compile_stops_it_and_records_nothing(ts, ctx, session_id) -> None:
    import asyncio

    await ts.adefine(session_id, "rounds", "integer", 1)
    slow = ScriptedLM(latency_ms=30, when_exhausted="default")
    dspy.configure(lm=slow)
    bridge = DSPyOptimizationBridge(ctx)
    optimizer = await bridge.create_variable_aware_optimizer(
        "BootstrapFewShotWithRandomSearch",
        {"max_rounds": "rounds"},
        metric=accuracy_metric,
        num_candidate_programs=10,
        num_threads=1,
    )
    task = asyncio.create_task(optimizer.compile(dspy.Predict("question -> answer"), trainset=SUMS))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.1)  # the compile's next LM call raises
    calls = len(slow.calls)
    await asyncio.sleep(0.3)
    assert len(slow.calls) == calls, "the compile stopped"
    assert 0 < calls < 10 * len(SUMS)
    assert optimizer.history == []
    with pytest.raises(NotFoundError):
        await ctx.get_variable("dspy_optimization_history", bypass_cache=True)


async def test_concurrent_compiles_each_record_their_run(ts, ctx, session_id, lm: ScriptedLM) -> None:
    import asyncio

    await ts.adefine(session_id, "k", "integer", 1)
    bridge = DSPyOptimizationBridge(ctx)
    optimizers = [await bridge.create_variable_aware_optimizer("LabeledFewShot", {"k": "k"}) for _ in range(4)]
    # Every compile finishes at about the same time, so their records race for the history variable.
    await asyncio.gather(*(o.compile(dspy.Predict("question -> answer"), trainset=SUMS) for o in optimizers))
    history = await ctx.get_variable("dspy_optimization_history", bypass_cache=True)
    assert len(history["runs"]) == 4, "no record was lost (and no compile failed creating the variable)"
