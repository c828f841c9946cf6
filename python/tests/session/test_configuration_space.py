"""DSPex's configuration-space example, against a real host: define a ReAct configuration
space in Python, register it, apply it, and a variable-aware ReAct picks the values up."""

from __future__ import annotations

import dspy
import pytest

from dspy_bridge import VariableAwareReAct
from dspy_bridge.errors import ConstraintViolationError, InvalidArgumentError
from dspy_bridge.session import SessionContext
from dspy_bridge.testing import ScriptedLM


def define(session: SessionContext):
    return (
        session.configuration_space("react_agent_config")
        .add_variable(name="temperature", type="float", default=0.7, constraints={"min": 0.0, "max": 1.5})
        .add_variable(name="max_iters", type="integer", default=5, constraints={"min": 3, "max": 10})
        .add_variable(
            name="reasoning_model",
            type="choice",
            default="gpt-4-turbo",
            constraints={"choices": ["gpt-4-turbo", "claude-3-opus", "gemini-1.5-pro"]},
        )
        .add_variable(name="max_tokens", type="integer", default=1024, constraints={"min": 64, "max": 8192})
        .add_constraint(
            {
                "op": "<=",
                "left": {"var": "max_tokens"},
                "right": {"lookup": {"var": "reasoning_model"}, "table": {"gpt-4-turbo": 4096}, "default": 8192},
            },
            "token_budget",
        )
    )


async def test_register_apply_and_a_bound_react_picks_it_up(session: SessionContext) -> None:
    config = define(session)
    await config.register()
    assert config.version == 1
    assert await config.get_current_values() == {
        "temperature": 0.7,
        "max_iters": 5,
        "reasoning_model": "gpt-4-turbo",
        "max_tokens": 1024,
    }

    def search(query: str) -> str:
        """Search the web."""
        return f"results for {query}"

    agent = VariableAwareReAct("question -> answer", session_context=session, tools=[search])
    await agent.bind_to_variable("temperature", "temperature")
    await agent.bind_to_variable("max_iters", "max_iters")
    lm = ScriptedLM(when_exhausted="default")
    with dspy.context(lm=lm):
        await agent.acall(question="q1")
        assert lm.calls[-1].kwargs["temperature"] == 0.7
        assert agent.max_iters == 5

        assert await config.apply({"temperature": 0.0, "max_iters": 4}) == 2
        assert await session.get_variable("temperature") == 0.0
        await agent.acall(question="q2")
        assert lm.calls[-1].kwargs["temperature"] == 0.0
        assert agent.max_iters == 4


async def test_apply_is_validated_as_a_whole_and_changes_nothing_when_refused(session: SessionContext) -> None:
    config = define(session)
    await config.register()
    with pytest.raises(ConstraintViolationError) as info:
        await config.apply({"max_tokens": 6000})  # over gpt-4-turbo's budget
    assert "token_budget" in str(info.value.details)
    assert await session.get_variable("max_tokens", bypass_cache=True) == 1024
    assert await config.apply({"reasoning_model": "claude-3-opus", "max_tokens": 6000}) == 2
    with pytest.raises(ValueError):
        await config.apply({"temperature": 9.0})
    result = await config.validate({"max_tokens": 9000})
    assert result["ok"] is False and result["violations"]


async def test_sample_and_definition_errors(session: SessionContext) -> None:
    config = define(session)
    await config.register()
    sample = await config.sample(seed=7)
    assert (await config.validate(sample))["ok"]
    assert sample == await config.sample(seed=7)
    with pytest.raises(InvalidArgumentError):
        session.configuration_space("bad").add_constraint(lambda values: True)
    with pytest.raises(InvalidArgumentError):
        session.configuration_space("bad").add_variable("x", "float", 0.5)  # no min/max
