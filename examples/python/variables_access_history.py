"""Seed examples: permissions (set, check), history and rollback."""

import asyncio

from _common import session_name
from dspy_bridge import SessionContext


async def main() -> None:
    name = session_name("admin_demo")
    async with await SessionContext.connect(session_id=name) as session:
        await session.register_variable("api_key", "string", "sk-1")
        await session.set_variable_permissions(
            "api_key",
            [
                {"session_pattern": "any", "permissions": ["read"]},
                {"session_pattern": "admin_*", "permissions": ["read", "write", "optimize"]},
            ],
        )
        assert await session.check_variable_access("api_key", "read")
        assert await session.check_variable_access("api_key", "write")  # this session is admin_*
        guest = await SessionContext.connect(session_id=name, caller_session_id="guest_1")
        try:
            assert not await guest.check_variable_access("api_key", "write")
            try:
                await guest.set_variable("api_key", "stolen")
            except PermissionError as err:
                print("refused:", err)
        finally:
            await guest.close()

        await session.register_variable("temperature", "float", 0.5)
        for i, v in enumerate((0.6, 0.9, 1.4), start=1):
            await session.set_variable("temperature", v, metadata={"iteration": i}, source="optimizer_123")
        for entry in await session.get_variable_history("temperature", limit=10):
            print(entry["version"], entry["value"], entry["updated_by"], entry.get("metadata"))
        await session.rollback_variable("temperature", version=3, reason="optimization_diverged")
        assert await session.get_variable("temperature") == 0.9
    print("OK")


asyncio.run(main())
