"""A real host for the session tests: `dspy-bridge serve` on a Unix socket, one worker.

The host is the built TypeScript (`tsc -b ts`, which `npm test` runs first); the fixture
starts it once per test session, waits for its `{"event":"ready"}` line and stops it with
SIGTERM at the end (host_process.py). Every test uses its own session id (`session_id` fixture).
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from host_process import running_serve, session_id_fixture, use_session_loop

from dspy_bridge.session import SessionContext


class Host:
    def __init__(self, address: str, token: str, proc: subprocess.Popen[str] | None, stderr: list[str]) -> None:
        self.address = address
        self.token = token
        self.proc = proc
        self.stderr = stderr

    def __iter__(self) -> Iterator[str]:  # (address, token) unpacking
        return iter((self.address, self.token))


@pytest.fixture(scope="session")
def host() -> Iterator[Host]:
    """(address, token) of a real host; stopped with SIGTERM after the last test.

    DSPY_BRIDGE_TEST_HOST_ADDRESS (with DSPY_BRIDGE_TEST_HOST_TOKEN) names a host that is
    already running instead: the mutation runs (scripts/mutation.mjs) start one host for
    every mutant's test run rather than one each."""
    running = os.environ.get("DSPY_BRIDGE_TEST_HOST_ADDRESS")
    if running:
        token = os.environ.get("DSPY_BRIDGE_TEST_HOST_TOKEN", "")
        os.environ["DSPY_BRIDGE_ADDRESS"] = running
        os.environ["DSPY_BRIDGE_TOKEN"] = token
        yield Host(running, token, None, [])
        return
    token = secrets.token_urlsafe(32)
    # DSPY_BRIDGE_TEST_STORE (e.g. sqlite:/tmp/x.db, redis://127.0.0.1:6379/0?prefix=t:) runs these tests on that store.
    store = os.environ.get("DSPY_BRIDGE_TEST_STORE")
    with running_serve("dspy-bridge-session-tests-", token, *(["--store", store] if store else [])) as node:
        os.environ["DSPY_BRIDGE_ADDRESS"] = node.ready["address"]
        os.environ["DSPY_BRIDGE_TOKEN"] = token
        yield Host(node.ready["address"], token, node.proc, node.stderr)


session_id = session_id_fixture("t")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    use_session_loop(items, Path(__file__).parent)


@pytest_asyncio.fixture(loop_scope="session")
async def session(host: Host, session_id: str) -> AsyncIterator[SessionContext]:
    async with await SessionContext.connect(host.address, session_id, token=host.token) as ctx:
        yield ctx


@pytest_asyncio.fixture(loop_scope="session")
async def other(host: Host, session_id: str) -> AsyncIterator[SessionContext]:
    """A second client of the same session (its own channel, cache and watch)."""
    async with await SessionContext.connect(host.address, session_id, token=host.token) as ctx:
        yield ctx
