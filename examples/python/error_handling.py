"""Seed usage example "Error Handling Patterns", for real."""

import asyncio
import logging

import grpc

from _common import session_name
from dspy_bridge import SessionContext

logger = logging.getLogger("example")


async def robust_variable_operations(session: SessionContext):
    try:
        for attempt in range(3):
            try:
                value = await session.get_variable("critical_config")
                break
            except grpc.RpcError as e:  # transport errors (the bridge's own are typed errors)
                if e.code() == grpc.StatusCode.UNAVAILABLE and attempt < 2:
                    await asyncio.sleep(0.5 * (attempt + 1))
                    continue
                raise
    except KeyError:
        await session.register_variable("critical_config", "dict", {"default": True})
        value = {"default": True}
    except ValueError as e:
        logger.error(f"Variable type mismatch: {e}")
        await session.rollback_variable("critical_config", version=1)
    except PermissionError:
        logger.warning("Insufficient permissions for critical_config")
        value = await session.get_variable("critical_config_public")
    return value


async def main() -> None:
    async with await SessionContext.connect(session_id=session_name("errors")) as session:
        assert await robust_variable_operations(session) == {"default": True}  # created
        await session.set_variable("critical_config", {"default": False})
        assert await robust_variable_operations(session) == {"default": False}  # read
        try:
            await session.start_optimization("critical_config", "bayesian")
        except ValueError as err:  # no objective given, and a dict variable has no domain to search
            print("cannot optimize:", err)
    print("OK")


asyncio.run(main())
