"""The seed's DSPyOptimizationBridge against a running host, offline (the scripted LM).

Start a host (see variable_aware_modules.py), then, with DSPY_BRIDGE_ADDRESS and
DSPY_BRIDGE_TOKEN set::

    .venv/bin/python examples/python/dspy_optimization_bridge.py

A BootstrapFewShot whose teacher temperature and demo budget are session variables: change
them (here from Python; from TypeScript with ``session.variables.set``) and the next compile
uses them. The run is recorded in the ``dspy_optimization_history`` variable.
"""

from __future__ import annotations

import asyncio
import os

import dspy
from _common import session_name
from dspy.teleprompt import BootstrapFewShot

from dspy_bridge import SessionContext
from dspy_bridge.dspy import DSPyOptimizationBridge
from dspy_bridge.testing import ScriptedLM

TRAIN = [
    dspy.Example(question=f"What is {a} + {b}?", answer=str(a + b)).with_inputs("question")
    for a, b in [(1, 2), (3, 4), (5, 6), (7, 8)]
]


def accuracy_metric(example: dspy.Example, pred: dspy.Prediction, trace: object = None) -> bool:
    return example.answer == pred.answer


async def main() -> None:
    lm = ScriptedLM(when_exhausted="default")
    dspy.configure(lm=lm)
    ctx = await SessionContext.connect(os.environ["DSPY_BRIDGE_ADDRESS"], session_name("optimization_bridge"))
    try:
        await ctx.register_variables(
            [
                {"name": "temperature", "type": "float", "initial_value": 0.7, "constraints": {"min": 0, "max": 2}},
                {"name": "max_demos", "type": "integer", "initial_value": 2, "constraints": {"min": 0, "max": 8}},
                {"name": "demo_count", "type": "integer", "initial_value": 0},
            ]
        )
        bridge = DSPyOptimizationBridge(ctx)

        print("=== create_variable_aware_optimizer ===")
        optimizer = await bridge.create_variable_aware_optimizer(
            BootstrapFewShot,
            variable_mappings={
                "teacher_temperature": "temperature",
                "max_bootstrapped_demos": "max_demos",
                "num_demos": "demo_count",
            },
            metric=accuracy_metric,
            max_labeled_demos=0,
        )
        student = dspy.Predict("question -> answer")
        optimized = await optimizer.compile(student, trainset=TRAIN)
        print(
            f"demos: {len(optimized.demos)}; teacher temperature: {lm.last_call.temperature}; demo_count = {await ctx.get_variable('demo_count')}"
        )
        assert len(optimized.demos) == 2

        await ctx.set_variable("max_demos", 3)
        await ctx.set_variable("temperature", 0.2)
        optimized = await optimizer.compile(student, trainset=TRAIN)
        print(f"after the change: demos: {len(optimized.demos)}; teacher temperature: {lm.last_call.temperature}")
        assert len(optimized.demos) == 3 and lm.last_call.temperature == 0.2
        history = await ctx.get_variable("dspy_optimization_history", bypass_cache=True)
        print(f"history: {[run['parameters'] for run in history['runs']]}")

        print("\n=== sync_dspy_parameters ===")
        cot = dspy.ChainOfThought("question -> answer")
        mappings = await bridge.sync_dspy_parameters(cot, variable_prefix="cot_")
        print(f"mappings: {mappings}")
        await ctx.set_variable("cot_temperature", 0.9)
        await cot.acall(question="Why is the sky blue?")
        print(f"the LM received temperature={lm.last_call.temperature}")
        assert lm.last_call.temperature == 0.9
    finally:
        await ctx.close()
    print("OK")


if __name__ == "__main__":
    asyncio.run(main())
