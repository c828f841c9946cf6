"""Seed usage example "Real-Time Adaptive System", as written (the scripted LM stands in for a
real one: no provider is reachable offline).

The seed passes `channel` without making one: here it is a channel to the host of
DSPY_BRIDGE_ADDRESS (the token comes from DSPY_BRIDGE_TOKEN). `qa_module.forward(...)` is
DSPy's synchronous forward; a variable-aware module's may also be awaited, as the seed does.
"""

import asyncio
import os

import dspy
import grpc

from _common import session_name
from dspy_bridge import ModuleVariableResolver, SessionContext
from dspy_bridge.testing import ScriptedLM

channel = None


async def adaptive_reasoning_system():
    session = SessionContext(session_name("adaptive_session"), channel)
    await session.initialize()

    # Register module-type variable for strategy selection
    await session.register_variable(
        "reasoning_strategy",
        "module",
        "ChainOfThought",
        constraints={"choices": ["Predict", "ChainOfThought", "ReAct", "ProgramOfThought"]},
    )

    # Register performance threshold
    await session.register_variable("complexity_threshold", "float", 0.5, constraints={"min": 0.0, "max": 1.0})

    # Module resolver
    resolver = ModuleVariableResolver(session)

    # Watch for strategy changes
    changes = []

    async def strategy_watcher():
        async for update in session.watch_variable("reasoning_strategy"):
            print(f"Strategy changed to: {update.value}")
            changes.append(update.value)
            # Recreate module with new strategy

    watcher_task = asyncio.create_task(strategy_watcher())

    # Adaptive question answering
    async def answer_question(question: str):
        # Assess complexity
        complexity = len(question.split()) / 20.0  # Simple heuristic

        # Auto-adjust strategy based on complexity
        threshold = await session.get_variable("complexity_threshold")
        if complexity > threshold:
            await session.set_variable("reasoning_strategy", "ChainOfThought")
        else:
            await session.set_variable("reasoning_strategy", "Predict")

        # Create module based on current strategy
        qa_module = await resolver.create_module("reasoning_strategy", "question -> answer")

        # Answer with automatic strategy
        return await qa_module.forward(question=question)

    # Test with questions of varying complexity
    simple_q = "What is 2+2?"
    complex_q = "Explain the philosophical implications of consciousness in artificial intelligence systems"

    simple_ans = await answer_question(simple_q)
    complex_ans = await answer_question(complex_q)
    # The seed's "complex" question has 10 words: complexity 0.5, not above the 0.5 threshold,
    # so both are answered by Predict. A longer one gets ChainOfThought (and its reasoning).
    assert simple_ans.answer and complex_ans.answer and "reasoning" not in complex_ans
    longer_ans = await answer_question(complex_q + " today and tomorrow")
    assert longer_ans.reasoning

    # Get performance stats
    stats = await session.get_variable_stats()
    print(f"Total variable updates: {stats['write_count']}")
    print(f"Cache hit rate: {stats['cache_hit_rate']:.2%}")

    # Cleanup
    for _ in range(100):
        if len(changes) >= 2 and changes[-1:] == ["ChainOfThought"]:
            break
        await asyncio.sleep(0.02)
    watcher_task.cancel()
    assert changes[-1] == "ChainOfThought" and "Predict" in changes, (
        changes
    )  # (the initial value first, when the watch opened in time)
    await session.close()


async def main() -> None:
    global channel
    dspy.configure(lm=ScriptedLM())
    channel = grpc.aio.insecure_channel(os.environ["DSPY_BRIDGE_ADDRESS"])
    await adaptive_reasoning_system()
    await channel.close()
    print("OK")


asyncio.run(main())
