"""Variable-aware DSPy modules against a running host, offline (the scripted LM).

Start a host first, e.g.::

    DSPY_BRIDGE_TOKEN=$(python -c 'import secrets; print(secrets.token_urlsafe(32))') \
      node ts/bin/dspy-bridge.js serve --listen unix:/tmp/bridge/bridge.sock --workers 1 --preload ""

then, with the same DSPY_BRIDGE_TOKEN and DSPY_BRIDGE_ADDRESS=unix:/tmp/bridge/bridge.sock::

    .venv/bin/python examples/python/variable_aware_modules.py

Variables are defined here from Python; a TypeScript program holding the same session
(``bridge.sessions.open(id)`` then ``session.variables.set("llm_temperature", 0.9)``) changes
them the same way, and the modules pick the change up before their next call.
"""

from __future__ import annotations

import asyncio
import os
import uuid

import dspy

from dspy_bridge import (
    ModuleVariableResolver,
    SessionContext,
    VariableAwareChainOfThought,
    create_variable_aware_module,
)
from dspy_bridge.testing import ScriptedLM


async def basic_variable_binding(ctx: SessionContext, lm: ScriptedLM) -> None:
    print("\n=== Basic variable binding ===")
    cot = VariableAwareChainOfThought("question -> answer", session_context=ctx)
    await cot.bind_to_variable("temperature", "llm_temperature")
    await cot.bind_to_variable("max_tokens", "generation_max_tokens")
    result = await cot.forward_async(question="What are the key benefits of dspy-bridge?")
    print(
        f"answer: {result.answer!r}; the LM received temperature={lm.last_call.temperature}, "
        f"max_tokens={lm.last_call.max_tokens}"
    )

    await ctx.set_variable("llm_temperature", 0.9)  # TypeScript would do session.variables.set(...)
    await cot.forward_async(question="Explain variable synchronization.")
    print(f"after the change: cot.temperature={cot.temperature}, LM received {lm.last_call.temperature}")
    assert lm.last_call.temperature == 0.9


async def dynamic_module_selection(ctx: SessionContext) -> None:
    print("\n=== Dynamic module selection ===")
    resolver = ModuleVariableResolver(ctx)
    module = await resolver.create_module("reasoning_strategy", "question -> answer", temperature=0.7)
    print(f"created {type(module).__name__}")
    result = await module.forward_async(question="How does dynamic module selection work?")
    print(f"answer: {result.answer!r}")
    await ctx.set_variable("reasoning_strategy", "Predict")
    print(f"new module: {type(await resolver.create_module('reasoning_strategy', 'question -> answer')).__name__}")


async def sync_callbacks(ctx: SessionContext) -> None:
    print("\n=== Sync callbacks ===")
    history: list[tuple[object, object]] = []

    def on_change(attr: str, old: object, new: object) -> None:
        history.append((old, new))
        print(f"{attr} changed: {old} -> {new}")

    predictor = await create_variable_aware_module(
        ctx, "Predict", "text -> summary", variable_bindings={"temperature": "llm_temperature"}
    )
    predictor.add_sync_callback(on_change)
    for temp in (0.5, 0.7, 0.9):
        await ctx.set_variable("llm_temperature", temp)
        await predictor.forward_async(text="dspy-bridge connects TypeScript and Python.")
    print(f"history: {history}")


async def batch_configuration(ctx: SessionContext, lm: ScriptedLM) -> None:
    print("\n=== Batch configuration ===")
    resolver = ModuleVariableResolver(ctx)
    understand = await create_variable_aware_module(
        ctx,
        "Predict",
        "question -> key_concepts",
        variable_bindings={"temperature": "pipeline_temperature", "model": "pipeline_model"},
    )
    reason = await resolver.create_module("pipeline_strategy", "question, key_concepts -> answer")
    await reason.bind_to_variables({"temperature": "pipeline_temperature", "max_tokens": "pipeline_max_tokens"})
    summarize = await create_variable_aware_module(
        ctx, "Predict", "answer -> summary", variable_bindings={"temperature": "pipeline_temperature"}
    )
    question = "What are the advantages of functional programming?"
    concepts = await understand.forward_async(question=question)
    answer = await reason.forward_async(question=question, key_concepts=concepts.key_concepts)
    summary = await summarize.forward_async(answer=answer.answer)
    print(f"summary: {summary.summary!r}")
    for call in lm.calls[-3:]:
        print(f"  LM call: model={call.model} temperature={call.temperature} max_tokens={call.max_tokens}")
    assert [c.model for c in lm.calls[-3:]] == ["scripted/gpt-4", lm.model, lm.model]


async def main() -> None:
    address = os.environ.get("DSPY_BRIDGE_ADDRESS")
    if not address:
        raise SystemExit("set DSPY_BRIDGE_ADDRESS and DSPY_BRIDGE_TOKEN (see the module docstring)")
    lm = ScriptedLM(when_exhausted="default")
    dspy.configure(lm=lm)
    ctx = await SessionContext.connect(address, f"example-{uuid.uuid4().hex[:8]}")
    try:
        await ctx.register_variables(
            [
                {"name": "llm_temperature", "type": "float", "initial_value": 0.7, "constraints": {"min": 0, "max": 2}},
                {"name": "generation_max_tokens", "type": "integer", "initial_value": 256},
                {"name": "reasoning_strategy", "type": "module", "initial_value": "ChainOfThought"},
                {"name": "pipeline_temperature", "type": "float", "initial_value": 0.7},
                {"name": "pipeline_max_tokens", "type": "integer", "initial_value": 256},
                {"name": "pipeline_model", "type": "string", "initial_value": "scripted/gpt-4"},
                {"name": "pipeline_strategy", "type": "module", "initial_value": "COT"},
            ]
        )
        await basic_variable_binding(ctx, lm)
        await dynamic_module_selection(ctx)
        await sync_callbacks(ctx)
        await batch_configuration(ctx, lm)
    finally:
        await ctx.close()
    print("OK")


if __name__ == "__main__":
    asyncio.run(main())
