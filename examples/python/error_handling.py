"""Seed usage example "Error Handling Patterns", for real.

A transport failure is a ``grpc.RpcError`` with ``code()`` (every error of code 14
UNAVAILABLE is, docs/errors.md), so the seed's retry branch runs: shown below against an
address where no host listens.
"""

import asyncio
import logging
import tempfile

import grpc

from _common import session_name
from dspy_bridge import SessionContext
from dspy_bridge.errors import UnavailableError

logger = logging.getLogger("example")
retries: list[int] = []


async def robust_variable_operations(session: SessionContext):
    try:
        for attempt in range(3):
            try:
                value = await session.get_variable("critical_config")
                break
            except grpc.RpcError as e:  # transport failures: the host unreachable, the connection lost
                if e.code() == grpc.StatusCode.UNAVAILABLE and attempt < 2:
                    retries.append(attempt)
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

    # The retry branch, for real: a context on a channel to a socket nobody listens on.
    with tempfile.TemporaryDirectory() as tmp:
        unreachable = SessionContext("nobody_home", grpc.aio.insecure_channel(f"unix:{tmp}/no-host.sock"), timeout=5)
        try:
            await robust_variable_operations(unreachable)
        except grpc.RpcError as e:  # after two retries the seed re-raises
            assert isinstance(e, UnavailableError) and e.code() == grpc.StatusCode.UNAVAILABLE
            print("host unreachable after", len(retries), "retries:", e.details())
        finally:
            await unreachable.close()
    assert retries == [0, 1]
    print("OK")


asyncio.run(main())
