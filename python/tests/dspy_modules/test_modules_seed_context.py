"""A DSPex-style session context: any object with an async ``get_variable`` (what DSPex's
tests hand the modules) binds the right values. Here it is a user's own class over a real
SessionContext that exposes only ``get_variable``/``set_variable``/``session_id`` — so the
modules and the resolver must read through ``get_variable``, not through SessionContext's
batch reads, revision or cache."""

from __future__ import annotations

from typing import Any

import dspy
import pytest

from dspy_bridge import (
    ModuleVariableResolver,
    SessionContext,
    VariableAwareChainOfThought,
    VariableAwareMixin,
    VariableAwarePredict,
    create_variable_aware_module,
)
from dspy_bridge.testing import ScriptedLM


class SeedStyleContext:
    """Only what DSPex's tests give a module: session_id and async get/set_variable."""

    def __init__(self, real: SessionContext) -> None:
        self.session_id = real.session_id
        self._real = real
        self.reads: list[str] = []

    async def get_variable(self, name: str) -> Any:
        self.reads.append(name)
        return await self._real.get_variable(name)  # KeyError (VariableNotFoundError style) when missing

    async def set_variable(self, name: str, value: Any) -> None:
        await self._real.set_variable(name, value)


class PlainModule:
    """A module that is not a dspy.Module (DSPex's tests use one)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs

    def forward(self, **kwargs: Any) -> dict:
        return {"result": "forward", **kwargs}


async def test_bind_sync_and_calls_read_through_get_variable(ts, ctx, session_id, lm: ScriptedLM) -> None:
    await ts.adefine(session_id, "temp", "float", 0.7)
    await ts.adefine(session_id, "tokens", "integer", 256)
    seed = SeedStyleContext(ctx)
    cot = VariableAwareChainOfThought("question -> answer", session_context=seed)
    await cot.bind_to_variable("temperature", "temp")
    await cot.bind_to_variable("max_tokens", "tokens")
    assert (cot.temperature, cot.max_tokens) == (0.7, 256) and seed.reads == ["temp", "tokens"]

    await cot.forward_async(question="q1")
    assert lm.calls[-1].kwargs["temperature"] == 0.7 and lm.calls[-1].kwargs["max_tokens"] == 256

    rev = await ts.aset(session_id, "temp", 0.2)  # a change from TypeScript
    await ctx.wait_for_revision(rev)
    await cot.forward_async(question="q2")  # auto-sync: no revision to compare, so it reads
    assert lm.calls[-1].kwargs["temperature"] == 0.2 and cot.temperature == 0.2

    await seed.set_variable("tokens", 512)
    assert await cot.sync_variables() == {"max_tokens": (256, 512)}
    assert cot(question="q3").answer and lm.calls[-1].kwargs["max_tokens"] == 512
    with pytest.raises(ValueError, match="not found"):
        await cot.bind_to_variable("top_p", "missing")


async def test_resolver_and_factory_read_through_get_variable(ts, ctx, session_id, lm: ScriptedLM) -> None:
    await ts.adefine(session_id, "strategy", "module", "ChainOfThought")
    await ts.adefine(session_id, "temp", "float", 0.4)
    seed = SeedStyleContext(ctx)
    resolver = ModuleVariableResolver(seed)
    assert await resolver.resolve_module("strategy") is dspy.ChainOfThought
    module = await resolver.create_module("strategy", "question -> answer", variable_bindings={"temperature": "temp"})
    assert isinstance(module, VariableAwareChainOfThought) and module.temperature == 0.4
    rev = await ts.aset(session_id, "strategy", "Predict")
    await ctx.wait_for_revision(rev)
    assert await resolver.resolve_module("strategy") is dspy.Predict  # never a stale class
    factory = await create_variable_aware_module(
        seed, "Predict", "question -> answer", variable_bindings={"temperature": "temp"}
    )
    assert isinstance(factory, VariableAwarePredict) and factory.temperature == 0.4


async def test_the_mixin_on_a_plain_class(ts, ctx, session_id) -> None:
    await ts.adefine(session_id, "temp", "float", 0.7)

    class TestModule(VariableAwareMixin, PlainModule):
        pass

    seed = SeedStyleContext(ctx)
    module = TestModule("test_arg", session_context=seed)
    assert module._session_context is seed and module._variable_bindings == {} and module._auto_sync is True
    assert module.args == ("test_arg",)
    await module.bind_to_variable("temperature", "temp")
    assert module.temperature == 0.7 and module._last_sync == {"temperature": 0.7}
    assert await module.forward_async(x=1) == {"result": "forward", "x": 1}
    assert module(x=2) == {"result": "forward", "x": 2}


async def test_forward_called_directly_syncs_and_may_be_awaited(ts, ctx, session_id, lm: ScriptedLM) -> None:
    """DSPex code writes ``await module.forward(question=...)`` (DSPy's forward is synchronous)."""
    await ts.adefine(session_id, "temp", "float", 0.7)
    cot = VariableAwareChainOfThought("question -> answer", session_context=ctx)
    await cot.bind_to_variable("temperature", "temp")
    rev = await ts.aset(session_id, "temp", 0.1)
    await ctx.wait_for_revision(rev)
    result = await cot.forward(question="q")  # auto-synced like module(...), and awaitable
    assert isinstance(result, dspy.Prediction) and result.answer and lm.calls[-1].kwargs["temperature"] == 0.1
    plain = cot.forward(question="q2")  # not awaited: the Prediction itself
    assert isinstance(plain, dspy.Prediction) and plain.answer

    class QA(VariableAwareMixin, dspy.Module):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.predict = dspy.Predict("question -> answer")

        def forward(self, question: str) -> Any:
            return self.predict(question=question)

    class LoudQA(QA):
        def forward(self, question: str) -> Any:
            return super().forward(question=question.upper())  # a super() chain stays DSPy's

    qa = LoudQA(session_context=ctx)
    await qa.bind_to_variable("temperature", "temp")
    assert (await qa.forward(question="hi")).answer and lm.calls[-1].kwargs["temperature"] == 0.1
    assert qa(question="hi").answer
