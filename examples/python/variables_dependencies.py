"""Seed examples: dependencies (add, get, transitive, cycle refused)."""

import asyncio

from _common import session_name
from dspy_bridge import SessionContext


async def main() -> None:
    async with await SessionContext.connect(session_id=session_name("deps")) as session:
        await session.register_variables(
            [
                {"name": "base_temperature", "type": "float", "initial_value": 0.7},
                {"name": "style", "type": "float", "initial_value": 1.0},
                {"name": "effective_temperature", "type": "float", "initial_value": 0.7},
            ]
        )
        await session.add_dependency("effective_temperature", "base_temperature", dependency_type="data")
        await session.add_dependency("effective_temperature", "style", dependency_type="constraint")
        deps = await session.get_dependencies("effective_temperature")
        print("depends on:", deps)
        assert {(d["name"], d["type"]) for d in deps} == {("base_temperature", "data"), ("style", "constraint")}
        print("dependents of base:", await session.get_dependents("base_temperature", include_transitive=True))
        try:
            await session.add_dependency("base_temperature", "effective_temperature")
        except ValueError as err:
            print("refused:", err)
        else:
            raise AssertionError("a cycle must be refused")
        await session.remove_dependency("effective_temperature", "style")
        assert [d["name"] for d in await session.get_dependencies("effective_temperature")] == ["base_temperature"]
    print("OK")


asyncio.run(main())
