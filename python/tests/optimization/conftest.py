"""A real host whose workers load the objective tools of this directory."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from host_process import running_serve, session_id_fixture, use_session_loop

from dspy_bridge.session import SessionContext

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def address_and_token() -> Iterator[tuple[str, str]]:
    token = secrets.token_urlsafe(32)
    with running_serve(
        "dspy-bridge-optimization-tests-", token, "--modules", "opt_tools,opt_optimizers", "--python-path", str(HERE)
    ) as node:
        yield node.ready["address"], token


session_id = session_id_fixture("o")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    use_session_loop(items, HERE)


@pytest_asyncio.fixture(loop_scope="session")
async def session(address_and_token: tuple[str, str], session_id: str) -> AsyncIterator[SessionContext]:
    address, token = address_and_token
    async with await SessionContext.connect(address, session_id, token=token) as ctx:
        yield ctx
