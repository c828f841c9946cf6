"""The seeds' examples and test expectations, run against a real host (no mock of the bridge,
the session or DSPy; the scripted LM is the only stand-in: no LM provider is reachable).

``seed_host.mjs`` starts ``Bridge`` (the TS API) with its bridge service on a Unix socket, one
worker with DSPy preloaded and ``seed_tools`` (the optimization objectives) loaded. Python
reaches it with ``SessionContext.connect(address, session_id, token)`` (or the seed's
``SessionContext(session_id, channel)``); ``host.call(...)`` asks the TypeScript side to do what
the seeds' Elixir side does (define/set a variable, execute a worker command).
"""

from __future__ import annotations

import os
import queue
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import dspy
import pytest
import pytest_asyncio
from host_process import REPO, running_node, session_id_fixture, use_session_loop

from seed_support import HostError, SeedHost  # noqa: F401 - HostError re-exported for the tests

from dspy_bridge.session import SessionContext
from dspy_bridge.testing import ScriptedLM

HERE = Path(__file__).parent
SCRIPT = HERE / "seed_host.mjs"


@pytest.fixture(scope="session")
def host() -> Iterator[SeedHost]:
    lines: queue.Queue[Any] = queue.Queue()
    with running_node(
        "dspy-bridge-seeds-",
        lambda listen: [str(SCRIPT), str(REPO), listen, secrets.token_urlsafe(32), str(HERE)],
        built=REPO / "ts" / "dist" / "src" / "index.js",
        stdin=True,
        on_message=lines.put,
        timeout=120,
        # a key for the LM specs the tests build (never used: nothing is sent to a provider)
        env=dict(os.environ, DSPY_BRIDGE_SEED_TEST_KEY="not-a-real-key"),
    ) as node:
        h = SeedHost(node.proc, node.ready["address"], node.ready["token"], lines)
        # The seeds' examples reach the host from the environment (and the seed's
        # SessionContext(session_id, channel) takes the token from it).
        os.environ["DSPY_BRIDGE_ADDRESS"], os.environ["DSPY_BRIDGE_TOKEN"] = h.address, h.token
        yield h


session_id = session_id_fixture("seed")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    use_session_loop(items, HERE)


@pytest_asyncio.fixture(loop_scope="session")
async def session(host: SeedHost, session_id: str) -> AsyncIterator[SessionContext]:
    async with await SessionContext.connect(host.address, session_id, token=host.token) as ctx:
        yield ctx


@pytest.fixture
def lm() -> Iterator[ScriptedLM]:
    """The scripted LM as DSPy's LM in this process; ``lm.calls`` records each call's kwargs."""
    scripted = ScriptedLM(when_exhausted="default")
    dspy.configure(lm=scripted)
    try:
        yield scripted
    finally:
        dspy.configure(lm=None)
