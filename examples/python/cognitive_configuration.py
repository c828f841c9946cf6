"""Seed "Cognitive Configuration" (61_gemini_reviewVariablesUseCase): its end-to-end example,
as written, against a running host (the scripted LM stands in for a real one).

The seed leaves `channel` and `search_tool` undefined: here they are a channel to the host of
DSPY_BRIDGE_ADDRESS (token from DSPY_BRIDGE_TOKEN) and a small Python function. Its
`await react_agent.forward(...)` works: a variable-aware module's forward may be awaited.
"""

import asyncio
import os

import dspy
import grpc

from _common import session_name
from dspy_bridge import SessionContext, VariableAwareReAct
from dspy_bridge.testing import ScriptedLM

channel = None


def search_tool(query: str) -> str:
    """Searches the documentation."""
    return f"DSPy is a framework for programming language models ({query})"


async def main_example():
    # 1. Initialize session context (gRPC foundation)
    session = SessionContext(session_name("session-123"), channel)
    await session.initialize()

    # 2. Get a handle to a new configuration space (New Higher-Level API)
    react_config = session.configuration_space("react_agent_config")

    # 3. Define the entire tunable configuration for a ReAct agent
    react_config.add_variable(
        name="temperature", type="float", default=0.7, constraints={"min": 0.0, "max": 1.5}
    ).add_variable(name="max_iters", type="integer", default=5, constraints={"min": 3, "max": 10}).add_variable(
        name="reasoning_model",
        type="choice",
        default="gpt-4-turbo",
        constraints={"choices": ["gpt-4-turbo", "claude-3-opus", "gemini-1.5-pro"]},
    ).add_variable(
        name="tool_model",
        type="choice",
        default="gpt-3.5-turbo",
        constraints={"choices": ["gpt-3.5-turbo", "claude-3-sonnet"]},
    )

    # 4. Register the configuration space with the Elixir backend
    await react_config.register()
    print("ReAct agent configuration space registered.")

    # 5. Create a Variable-Aware DSPy module
    react_agent = VariableAwareReAct("question -> answer", session_context=session, tools=[search_tool])

    # 6. Bind module parameters to the variables in our configuration space
    await react_agent.bind_to_variable("temperature", "temperature")
    await react_agent.bind_to_variable("max_iters", "max_iters")

    # 7. Example of a manual update from Python
    print(f"Current temperature: {await session.get_variable('temperature')}")

    await react_config.apply({"temperature": 0.0, "max_iters": 4})

    print(f"New temperature after apply: {await session.get_variable('temperature')}")

    # The next call to react_agent will use temperature=0.0 and max_iters=4
    result = await react_agent.forward(question="What is DSPy?")
    assert result.answer and react_agent.max_iters == 4 and react_agent.temperature == 0.0
    assert dspy.settings.lm.calls[-1].kwargs["temperature"] == 0.0

    # The seed's other calls on the space: current values, a sample, validation
    assert (await react_config.get_current_values())["max_iters"] == 4
    sample = await react_config.sample()
    assert 3 <= sample["max_iters"] <= 10
    await session.close()


async def main() -> None:
    global channel
    dspy.configure(lm=ScriptedLM())
    channel = grpc.aio.insecure_channel(os.environ["DSPY_BRIDGE_ADDRESS"])
    await main_example()
    await channel.close()
    print("OK")


asyncio.run(main())
