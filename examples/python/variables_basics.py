"""Seed examples: retrieval, creation and updates (get_variable(s), register_variable(s),
set_variable, update_variables)."""

import asyncio

import numpy as np

from _common import session_name
from dspy_bridge import SessionContext
from dspy_bridge.errors import ConstraintViolationError


async def main() -> None:
    session = await SessionContext.connect(session_id=session_name("basics"))
    async with session:
        # Creation
        temp_id = await session.register_variable("temperature", "float", 0.7, constraints={"min": 0.0, "max": 2.0})
        try:  # the seed's np.zeros(768) cannot be normalized: the host says so
            await session.register_variable(
                "context_embedding", "embedding", np.zeros(768), constraints={"dimensions": 768, "normalize": True}
            )
        except ConstraintViolationError as err:
            print("refused:", err)
        embed_id = await session.register_variable(
            "context_embedding", "embedding", np.ones(768), constraints={"dimensions": 768, "normalize": True}
        )
        style_id = await session.register_variable("style", "float", 1.0)
        derived_id = await session.register_variable(
            "effective_temperature", "float", 0.7, dependencies=[temp_id, style_id]
        )
        var_ids = await session.register_variables(
            [
                {"name": "max_tokens", "type": "integer", "initial_value": 256},
                {
                    "name": "model",
                    "type": "choice",
                    "initial_value": "gpt-4",
                    "constraints": {"choices": ["gpt-4", "claude-3", "gemini"]},
                },
            ]
        )
        print("ids:", temp_id, embed_id, derived_id, var_ids)

        # Retrieval
        temperature = await session.get_variable("temperature")
        max_tokens = await session.get_variable("max_tokens", default=256)
        current_temp = await session.get_variable("temperature", bypass_cache=True)
        model_name = await session.get_variable("model")
        embedding = await session.get_variable("context_embedding")
        assert isinstance(temperature, float) and temperature == current_temp == 0.7
        assert isinstance(model_name, str) and max_tokens == 256
        assert isinstance(embedding, np.ndarray) and abs(float(np.linalg.norm(embedding)) - 1.0) < 1e-9
        vars_ = await session.get_variables(["temperature", "max_tokens", "model"])
        print("vars:", vars_)
        with_defaults = await session.get_variables(["temp", "tokens"], defaults={"temp": 0.7, "tokens": 256})
        assert with_defaults == {"temp": 0.7, "tokens": 256}
        info = await session.get_variables(["temperature", "model"], include_metadata=True, include_stats=True)
        print("temperature stats:", info["temperature"]["stats"])

        # Updates
        await session.set_variable("temperature", 0.9)
        await session.set_variable("temperature", 0.9, metadata={"reason": "user_preference", "source": "ui"})
        await session.set_variable("new_config", {"key": "value"}, create_if_missing=True, type_hint="dict")
        results = await session.update_variables({"temperature": 0.8, "max_tokens": 512, "model": "gpt-4"}, atomic=True)
        for var, result in results.items():
            if result is not True:
                print(f"Failed to update {var}: {result}")
        assert all(r is True for r in results.values())
        assert await session.get_variables(["temperature", "max_tokens", "new_config"]) == {
            "temperature": 0.8,
            "max_tokens": 512,
            "new_config": {"key": "value"},
        }
    print("OK")


asyncio.run(main())
