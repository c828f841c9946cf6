"""DSPex's end-to-end configuration example across both languages: a ReAct configuration
space defined and registered in Python, applied from Python and from TypeScript (the real TS
API, ``session.configurations.get(name).apply``), and a variable-aware ReAct in Python picks up
every applied configuration on its next call, also one the host sampled from the space (what
DSPex's host-side optimizer does)."""

from __future__ import annotations

import asyncio

import dspy
import pytest

from dspy_bridge import VariableAwareReAct
from dspy_bridge.errors import ConstraintViolationError
from dspy_bridge.session import SessionContext
from dspy_bridge.testing import ScriptedLM


def search(query: str) -> str:
    """Search the web."""
    return f"results for {query}"


async def test_a_python_space_applied_from_both_languages_reaches_a_react_module(
    ts, ctx: SessionContext, session_id: str
) -> None:
    config = (
        ctx.configuration_space("react_agent_config")
        .add_variable(name="temperature", type="float", default=0.7, constraints={"min": 0.0, "max": 1.5})
        .add_variable(name="max_iters", type="integer", default=5, constraints={"min": 3, "max": 10})
        .add_variable(name="max_tokens", type="integer", default=1024, constraints={"min": 64, "max": 4096})
        .add_constraint(
            {
                "op": "<=",
                "left": {"var": "max_tokens"},
                "right": {"op": "*", "args": [{"var": "max_iters"}, {"const": 512}]},
            },
            "tokens_per_step",
        )
    )
    await config.register()
    agent = VariableAwareReAct("question -> answer", session_context=ctx, tools=[search])
    for attr in ("temperature", "max_iters", "max_tokens"):
        await agent.bind_to_variable(attr, attr)
    lm = ScriptedLM(when_exhausted="default")

    async def run() -> tuple[float, int, int]:
        with dspy.context(lm=lm):
            await agent.acall(question="q")
        return lm.calls[-1].kwargs["temperature"], agent.max_iters, lm.calls[-1].kwargs["max_tokens"]

    assert await run() == (0.7, 5, 1024)

    assert await config.apply({"temperature": 0.2, "max_iters": 4}) == 2  # from Python
    assert await run() == (0.2, 4, 1024)

    reply = await asyncio.to_thread(
        ts.call,
        "apply_configuration",
        session_id,
        name="react_agent_config",
        values={"temperature": 1.1, "max_iters": 8, "max_tokens": 4000},
        metadata={"by": "ts"},
    )
    assert reply["version"] == 3
    await ctx.wait_for_revision(reply["revision"], timeout=5)
    assert await run() == (1.1, 8, 4000)
    assert await config.get_current_values() == {"temperature": 1.1, "max_iters": 8, "max_tokens": 4000}

    # as DSPex's host-side optimizer would: sample the space in TypeScript and apply the sample
    for seed in (1, 2, 3):
        reply = await asyncio.to_thread(ts.call, "sample_and_apply", session_id, name="react_agent_config", seed=seed)
        sampled = reply["values"]
        assert sampled["max_tokens"] <= sampled["max_iters"] * 512, "the sample respects the Python constraint"
        await ctx.wait_for_revision(reply["revision"], timeout=5)
        assert await run() == (sampled["temperature"], sampled["max_iters"], sampled["max_tokens"])
    await config.apply({"temperature": 1.1, "max_iters": 8, "max_tokens": 4000})

    # the Python constraint holds for TypeScript's apply too, and nothing changes when it is refused
    with pytest.raises(RuntimeError, match="ConstraintViolationError.*tokens_per_step"):
        await asyncio.to_thread(
            ts.call,
            "apply_configuration",
            session_id,
            name="react_agent_config",
            values={"max_iters": 3, "max_tokens": 4000},
        )
    assert (await asyncio.to_thread(ts.call, "configuration_values", session_id, name="react_agent_config"))[
        "values"
    ] == {"temperature": 1.1, "max_iters": 8, "max_tokens": 4000}
    with pytest.raises(ConstraintViolationError, match="tokens_per_step"):
        await config.apply({"max_iters": 3})
    assert await run() == (1.1, 8, 4000)
