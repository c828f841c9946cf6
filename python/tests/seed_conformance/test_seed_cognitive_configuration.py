"""Seed ``cognitive-configuration.txt`` (the Cognitive Configuration Layer): the Python
``ConfigurationSpace`` and ``SessionContext.configuration_space``, the seed's private
``_register_configuration`` & co., its end-to-end example with a ``VariableAwareReAct``, and
what the seed's Elixir ``CognitiveConfiguration`` does (validate, sample, apply atomically,
current values), here done by the TypeScript host, all on a real host."""

from __future__ import annotations


import pytest
from seed_support import SeedHost

from dspy_bridge import SessionContext, VariableAwareReAct
from dspy_bridge.config import ConfigurationSpace
from dspy_bridge.errors import ConstraintViolationError
from dspy_bridge.testing import ScriptedLM


def search_tool(query: str) -> str:
    """Searches the documentation."""
    return f"DSPy programs language models ({query})"


def _react_space(session: SessionContext) -> ConfigurationSpace:
    react_config = session.configuration_space("react_agent_config")
    returned = (
        react_config.add_variable(name="temperature", type="float", default=0.7, constraints={"min": 0.0, "max": 1.5})
        .add_variable(name="max_iters", type="integer", default=5, constraints={"min": 3, "max": 10})
        .add_variable(
            name="reasoning_model",
            type="choice",
            default="gpt-4-turbo",
            constraints={"choices": ["gpt-4-turbo", "claude-3-opus", "gemini-1.5-pro"]},
        )
        .add_variable(
            name="tool_model",
            type="choice",
            default="gpt-3.5-turbo",
            constraints={"choices": ["gpt-3.5-turbo", "claude-3-sonnet"]},
        )
    )
    assert returned is react_config  # add_variable returns self for chaining
    return react_config


async def test_the_seeds_end_to_end_example(session: SessionContext, lm: ScriptedLM) -> None:
    react_config = _react_space(session)
    assert isinstance(react_config, ConfigurationSpace) and react_config.name == "react_agent_config"
    await react_config.register()
    react_agent = VariableAwareReAct("question -> answer", session_context=session, tools=[search_tool])
    await react_agent.bind_to_variable("temperature", "temperature")
    await react_agent.bind_to_variable("max_iters", "max_iters")
    assert await session.get_variable("temperature") == 0.7
    await react_config.apply({"temperature": 0.0, "max_iters": 4})
    assert await session.get_variable("temperature") == 0.0
    # "The next call to react_agent will use temperature=0.0 and max_iters=4"
    result = await react_agent.forward(question="What is DSPy?")
    assert result.answer and react_agent.max_iters == 4
    assert {c.kwargs["temperature"] for c in lm.calls} == {0.0}


async def test_space_methods(session: SessionContext) -> None:
    react_config = _react_space(session)
    await react_config.register()
    assert await react_config.get_current_values() == {
        "temperature": 0.7,
        "max_iters": 5,
        "reasoning_model": "gpt-4-turbo",
        "tool_model": "gpt-3.5-turbo",
    }
    sample = await react_config.sample()
    assert (
        0.0 <= sample["temperature"] <= 1.5
        and 3 <= sample["max_iters"] <= 10
        and sample["tool_model"] in ("gpt-3.5-turbo", "claude-3-sonnet")
    )
    version = await react_config.apply({"max_iters": 7})
    assert version >= 1 and (await react_config.get_current_values())["max_iters"] == 7
    with pytest.raises(ConstraintViolationError):  # atomic: nothing of a bad apply is written
        await react_config.apply({"temperature": 0.1, "max_iters": 99})
    assert (await react_config.get_current_values())["temperature"] == 0.7


async def test_cross_variable_constraints_are_declarative(session: SessionContext) -> None:
    space = session.configuration_space("limits")
    space.add_variable("model", "choice", "small", constraints={"choices": ["small", "large"]})
    space.add_variable("max_tokens", "integer", 1024, constraints={"min": 1, "max": 8192})
    # The seed's add_constraint(constraint_fn, error_message): a function cannot be evaluated by
    # the host; the refusal shows the declarative form.
    with pytest.raises(ValueError, match='declarative documents, not functions.*"op"'):
        space.add_constraint(lambda cfg: cfg["max_tokens"] < 4096, "if model is small, max_tokens must be < 4096")
    space.add_constraint(
        {
            "if": {"op": "==", "left": {"var": "model"}, "right": {"const": "small"}},
            "then": {"op": "<", "left": {"var": "max_tokens"}, "right": {"const": 4096}},
        },
        "if model is small, max_tokens must be < 4096",
    )
    await space.register()
    with pytest.raises(ConstraintViolationError, match="max_tokens must be < 4096"):
        await space.apply({"max_tokens": 5000})
    await space.apply({"model": "large", "max_tokens": 5000})
    for _ in range(20):  # every sample satisfies the cross-variable constraint
        s = await space.sample()
        assert s["model"] == "large" or s["max_tokens"] < 4096


async def test_the_seeds_private_session_calls(session: SessionContext) -> None:
    """ConfigurationSpace's methods call session._register_configuration & co. in the seed."""
    await session._register_configuration(
        "seed_defined",
        {
            "variables": {
                "temperature": {
                    "type": "float",
                    "default": 0.7,
                    "constraints": {"min": 0.0, "max": 1.0},
                    "description": "LM temperature",
                },
                "strategy": {
                    "type": "module",
                    "default": "Predict",
                    "constraints": {"choices": ["Predict", "ChainOfThought"]},
                },
            },
            "constraints": [],
        },
    )
    assert await session._get_configuration_values("seed_defined") == {"temperature": 0.7, "strategy": "Predict"}
    await session._apply_configuration("seed_defined", {"strategy": "ChainOfThought"}, {"source": "test"})
    assert (await session._sample_configuration("seed_defined"))["strategy"] in ("Predict", "ChainOfThought")
    with pytest.raises(ValueError, match="is code, which the host cannot evaluate"):
        await session._register_configuration(
            "with_code",
            {
                "variables": {"x": {"type": "float", "default": 0.5, "constraints": {"min": 0, "max": 1}}},
                "constraints": [{"logic": "<lambda>", "error": "x small"}],
            },
        )


async def test_the_host_side_reflects_apply_in_python(host: SeedHost, session: SessionContext, session_id: str) -> None:
    """The seed's flow: defined in Python, an optimizer on the host side applies values, the
    Python side (its cache, its bound modules) sees them."""
    react_config = _react_space(session)
    await react_config.register()
    rev = await host.set(session_id, "max_iters", 6)  # what an Elixir-side (TypeScript-side) apply writes
    await session.wait_for_revision(rev)
    assert await session.get_variable("max_iters") == 6
