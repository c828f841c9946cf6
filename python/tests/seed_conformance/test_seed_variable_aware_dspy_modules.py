"""Seed ``variable-aware-dspy-modules.txt`` (26, the Python integration prompt): its test
expectations (TestVariableAwareMixin, TestVariableAwareModules, TestModuleVariableResolver,
test_create_variable_aware_module) and its usage examples, with a real SessionContext on a
real host and real DSPy (the scripted LM the only stand-in). Where the seed's tests mock the
session, these use the session; where they use a MockDSPyModule, a plain class of one's own
(the mixin works on any class)."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import dspy
import pytest
from seed_support import SeedHost

from dspy_bridge import (
    SessionContext,
    SessionError,
    ValidationError,
    VariableAwareChainOfThought,
    VariableAwareMixin,
    VariableAwarePredict,
    VariableAwareProgramOfThought,
    VariableAwareReAct,
    VariableNotFoundError,
    create_variable_aware_module,
)
from dspy_bridge.dspy import BridgeError, ModuleSpec, ModuleVariableResolver
from dspy_bridge.testing import ScriptedLM


class PlainModule:
    """Stands where the seed's tests put MockDSPyModule: a module class that is not DSPy's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs

    def forward(self, **kwargs: Any) -> dict:
        return {"result": "plain_forward"}


class TestModule(VariableAwareMixin, PlainModule):
    __test__ = False  # not a pytest class: the seed's fixture class of the same name


async def _vars(host: SeedHost, session_id: str, **values: Any) -> None:
    for name, value in values.items():
        await host.define(session_id, name, "float" if isinstance(value, float) else "integer", value)


# -- TestVariableAwareMixin ----------------------------------------------------------------------


async def test_initialization(session: SessionContext) -> None:
    module = TestModule("test_arg", session_context=session)
    assert module._session_context == session
    assert module._variable_bindings == {}
    assert module._auto_sync is True
    assert module.args == ("test_arg",)
    assert module.session_context is session


async def test_bind_to_variable(host: SeedHost, session: SessionContext, session_id: str) -> None:
    await _vars(host, session_id, temp=0.7, tokens=256)
    module = TestModule(session_context=session)
    await module.bind_to_variable("temperature", "temp")
    assert module.temperature == 0.7
    assert module._variable_bindings["temperature"] == "temp"
    assert module._last_sync["temperature"] == 0.7


async def test_bind_missing_variable(session: SessionContext) -> None:
    module = TestModule(session_context=session)
    with pytest.raises(ValueError, match="not found"):
        await module.bind_to_variable("attr", "missing")
    with pytest.raises(VariableNotFoundError):  # also the seed's VariableNotFoundError (and a KeyError)
        await module.bind_to_variable("attr", "missing")


async def test_no_session_context_is_a_runtime_error() -> None:
    module = TestModule()
    with pytest.raises(RuntimeError, match="No session context available"):
        await module.bind_to_variable("temperature", "temp")
    assert isinstance(SessionError("x"), BridgeError)


async def test_sync_variables(host: SeedHost, session: SessionContext, session_id: str) -> None:
    await _vars(host, session_id, temp=0.7, tokens=256)
    module = TestModule(session_context=session)
    await module.bind_to_variable("temperature", "temp")
    await module.bind_to_variable("max_tokens", "tokens")
    assert module.temperature == 0.7 and module.max_tokens == 256
    await session.set_variable("temp", 0.9)
    await session.set_variable("tokens", 512)
    changes = await module.sync_variables()
    assert module.temperature == 0.9 and module.max_tokens == 512
    assert changes == {"temperature": (0.7, 0.9), "max_tokens": (256, 512)}


async def test_sync_callback(host: SeedHost, session: SessionContext, session_id: str) -> None:
    await _vars(host, session_id, temp=0.7)
    module = TestModule(session_context=session)
    callback_calls = []

    def callback(attr: str, old_val: Any, new_val: Any) -> None:
        callback_calls.append((attr, old_val, new_val))

    await module.bind_to_variable("temperature", "temp", callback)
    await session.set_variable("temp", 0.8)
    await module.sync_variables()
    assert len(callback_calls) == 1
    assert callback_calls[0] == ("temperature", 0.7, 0.8)


async def test_unbind_variable(host: SeedHost, session: SessionContext, session_id: str) -> None:
    await _vars(host, session_id, temp=0.7)
    module = TestModule(session_context=session)
    await module.bind_to_variable("temperature", "temp")
    assert "temperature" in module._variable_bindings
    module.unbind_variable("temperature")
    assert "temperature" not in module._variable_bindings
    assert "temperature" not in module._last_sync


async def test_the_rest_of_the_mixin(host: SeedHost, session: SessionContext, session_id: str) -> None:
    await _vars(host, session_id, temp=0.7)
    module = TestModule(session_context=session)
    assert module._should_auto_sync() is False  # nothing bound yet
    await module.bind_to_variable("temperature", "temp")
    assert module._should_auto_sync() is True
    assert module.get_bindings() == {"temperature": "temp"}
    assert await module.get_bound_variable("temperature") == 0.7
    with pytest.raises(ValueError, match="not bound"):
        await module.get_bound_variable("max_tokens")
    await session.set_variable("temp", 0.3)
    assert await asyncio.to_thread(module.sync_variables_sync) == {"temperature": (0.7, 0.3)}
    await asyncio.to_thread(module.bind_to_variable_sync, "top_p", "temp")
    assert module.top_p == 0.3


# -- TestVariableAwareModules ----------------------------------------------------------------------


async def test_variable_aware_predict(host: SeedHost, session: SessionContext, session_id: str, lm: ScriptedLM) -> None:
    await _vars(host, session_id, temp=0.7)
    predictor = VariableAwarePredict("question -> answer", session_context=session)
    await predictor.bind_to_variable("temperature", "temp")
    result = await predictor.forward_async(question="test?")
    assert result.answer and len(lm.calls) == 1 and lm.calls[0].kwargs["temperature"] == 0.7


@pytest.mark.parametrize(
    "cls", [VariableAwarePredict, VariableAwareChainOfThought, VariableAwareReAct, VariableAwareProgramOfThought]
)
async def test_the_seeds_concrete_modules(
    cls: type, host: SeedHost, session: SessionContext, session_id: str, lm: ScriptedLM
) -> None:
    await _vars(host, session_id, temp=0.4)
    kwargs = {"tools": [lambda query: f"found {query}"]} if cls is VariableAwareReAct else {}
    module = cls("question -> answer", session_context=session, **kwargs)
    await module.bind_to_variable("temperature", "temp")
    result = await module.forward_async(question="What is 2+2?")
    assert result.answer and {c.kwargs["temperature"] for c in lm.calls} == {0.4}


# -- TestModuleVariableResolver ----------------------------------------------------------------------


@pytest.fixture
def registry_snapshot() -> Any:
    saved = dict(ModuleVariableResolver.MODULE_REGISTRY)
    yield
    ModuleVariableResolver.MODULE_REGISTRY.clear()
    ModuleVariableResolver.MODULE_REGISTRY.update(saved)


async def test_resolve_module(host: SeedHost, session: SessionContext, session_id: str, registry_snapshot: Any) -> None:
    await host.define(session_id, "strategy", "module", "ChainOfThought")
    resolver = ModuleVariableResolver(session)
    resolver.MODULE_REGISTRY["ChainOfThought"] = ModuleSpec(
        name="ChainOfThought", module_class=PlainModule, variable_aware_class=None
    )
    module_class = await resolver.resolve_module("strategy")
    assert module_class == PlainModule


async def test_create_module(host: SeedHost, session: SessionContext, session_id: str, registry_snapshot: Any) -> None:
    await host.define(session_id, "predictor", "module", "Predict")

    class MockVariableAware(VariableAwareMixin, PlainModule):
        pass

    resolver = ModuleVariableResolver(session)
    resolver.MODULE_REGISTRY["Predict"] = ModuleSpec(
        name="Predict", module_class=PlainModule, variable_aware_class=MockVariableAware
    )
    module = await resolver.create_module("predictor", "test_signature")
    assert isinstance(module, MockVariableAware)
    assert module._session_context == session


async def test_unknown_module(host: SeedHost, session: SessionContext, session_id: str) -> None:
    await host.define(session_id, "bad_module", "module", "Predict")
    await session.set_variable("bad_module", "UnknownModule")
    resolver = ModuleVariableResolver(session)
    with pytest.raises(ValueError, match="Unknown module"):
        await resolver.resolve_module("bad_module")
    with pytest.raises(VariableNotFoundError):
        await resolver.resolve_module("no_such_variable")


async def test_create_variable_aware_module(
    host: SeedHost, session: SessionContext, session_id: str, registry_snapshot: Any
) -> None:
    await _vars(host, session_id, temp=0.8)

    class MockModule(VariableAwareMixin, PlainModule):
        pass

    ModuleVariableResolver.MODULE_REGISTRY["TestModule"] = ModuleSpec(
        name="TestModule", module_class=PlainModule, variable_aware_class=MockModule
    )
    module = await create_variable_aware_module(
        session, "TestModule", "test_sig", variable_bindings={"temperature": "temp"}
    )
    assert isinstance(module, MockModule)
    assert module.temperature == 0.8


async def test_the_seeds_registry(registry_snapshot: Any) -> None:
    registry = ModuleVariableResolver.MODULE_REGISTRY
    assert {"Predict", "ChainOfThought", "ChainOfThoughtWithHint", "ReAct", "ProgramOfThought", "COT"} <= {
        k for k in registry if k in registry
    } | {"COT"}
    assert (
        registry["COT"].module_class is dspy.ChainOfThought
        and registry["COT"].variable_aware_class is VariableAwareChainOfThought
    )
    assert registry["ReAct"].variable_aware_class is VariableAwareReAct and registry["Predict"].requires_context is True
    # DSPy removed ChainOfThoughtWithHint (2.6): it maps to ChainOfThought with a notice saying what to do
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spec = ModuleVariableResolver.lookup("ChainOfThoughtWithHint")
    assert spec.module_class is dspy.ChainOfThought and any("hint" in str(w.message) for w in caught)
    resolver = ModuleVariableResolver(None)
    assert "ChainOfThoughtWithHint" in resolver.get_available_modules() and resolver.get_available_modules() == sorted(
        resolver.get_available_modules()
    )
    ModuleVariableResolver.register_module(
        "Plain", PlainModule
    )  # the seed's register_module(name, module_class, variable_aware_class=None)
    assert registry["Plain"].module_class is PlainModule
    with pytest.raises(ValidationError):
        ModuleVariableResolver.lookup("Nope")


# -- the seed's usage examples ----------------------------------------------------------------------


async def test_example_basic_variable_binding(
    host: SeedHost, session: SessionContext, session_id: str, lm: ScriptedLM
) -> None:
    await host.define(session_id, "llm_temperature", "float", 0.7)
    await host.define(session_id, "generation_max_tokens", "integer", 256)
    cot = VariableAwareChainOfThought("question -> reasoning, answer", session_context=session)
    await cot.bind_to_variable("temperature", "llm_temperature")
    await cot.bind_to_variable("max_tokens", "generation_max_tokens")
    result = await cot.forward_async(question="What are the key benefits of DSPex?")
    assert result.answer and cot.temperature == 0.7
    rev = await host.set(session_id, "llm_temperature", 0.9)  # "Update variable in Elixir side"
    await session.wait_for_revision(rev)
    await cot.forward_async(question="Explain variable synchronization.")
    assert cot.temperature == 0.9 and lm.calls[-1].kwargs["temperature"] == 0.9


async def test_example_dynamic_module_selection(
    host: SeedHost, session: SessionContext, session_id: str, lm: ScriptedLM
) -> None:
    await host.define(session_id, "reasoning_strategy", "module", "ChainOfThought")
    resolver = ModuleVariableResolver(session)
    module = await resolver.create_module("reasoning_strategy", "question -> answer", temperature=0.7)
    assert module.__class__.__name__ == "VariableAwareChainOfThought"
    result = await module.forward_async(question="How does dynamic module selection work?")
    assert result.answer and lm.calls[-1].kwargs["temperature"] == 0.7
    rev = await host.set(session_id, "reasoning_strategy", "Predict")  # "Change strategy in Elixir"
    await session.wait_for_revision(rev)
    new_module = await resolver.create_module("reasoning_strategy", "question -> answer")
    assert new_module.__class__.__name__ == "VariableAwarePredict"


async def test_example_sync_callbacks(host: SeedHost, session: SessionContext, session_id: str, lm: ScriptedLM) -> None:
    await host.define(session_id, "llm_temperature", "float", 0.7)
    temperature_history = []

    def on_temperature_change(attr: str, old_val: Any, new_val: Any) -> None:
        temperature_history.append({"timestamp": asyncio.get_event_loop().time(), "old": old_val, "new": new_val})

    predictor = await create_variable_aware_module(
        session, "Predict", "text -> summary", variable_bindings={"temperature": "llm_temperature"}
    )
    predictor._sync_callbacks.append(on_temperature_change)
    for temp in [0.5, 0.7, 0.9]:
        await session.set_variable("llm_temperature", temp)
        await predictor.sync_variables()
        result = await predictor.forward_async(text="DSPex provides seamless integration between Elixir and Python.")
        assert result.summary
    assert [(h["old"], h["new"]) for h in temperature_history] == [(0.7, 0.5), (0.5, 0.7), (0.7, 0.9)]


async def test_example_batch_configuration(session: SessionContext, lm: ScriptedLM) -> None:
    config_vars = {
        "pipeline_temperature": 0.7,
        "pipeline_max_tokens": 256,
        "pipeline_model": "gpt-4",
        "pipeline_strategy": "ChainOfThought",
    }
    # The seed sets variables that do not exist (its mock creates them); the variables seed's
    # set_variable raises KeyError for those unless create_if_missing: so that is given here.
    for name, value in config_vars.items():
        await session.set_variable(name, value, create_if_missing=True)
    resolver = ModuleVariableResolver(session)
    modules = {
        "understand": await create_variable_aware_module(
            session,
            "Predict",
            "question -> key_concepts",
            variable_bindings={"temperature": "pipeline_temperature", "model": "pipeline_model"},
        )
    }
    modules["reason"] = await resolver.create_module("pipeline_strategy", "question, key_concepts -> reasoning, answer")
    await modules["reason"].bind_to_variable("temperature", "pipeline_temperature")
    await modules["reason"].bind_to_variable("max_tokens", "pipeline_max_tokens")
    modules["summarize"] = await create_variable_aware_module(
        session, "Predict", "answer -> summary", variable_bindings={"temperature": "pipeline_temperature"}
    )
    question = "What are the advantages of functional programming?"
    concepts = await modules["understand"].forward_async(question=question)
    answer = await modules["reason"].forward_async(question=question, key_concepts=concepts.key_concepts)
    summary = await modules["summarize"].forward_async(answer=answer.answer)
    assert concepts.key_concepts and answer.answer and summary.summary
    assert lm.calls[0].model == "gpt-4"  # the bound model reached the LM call
    assert {c.kwargs["temperature"] for c in lm.calls} == {0.7}
