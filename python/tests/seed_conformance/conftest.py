"""The seeds' examples and test expectations, run against a real host (no mock of the bridge,
the session or DSPy; the scripted LM is the only stand-in: no LM provider is reachable).

``seed_host.mjs`` starts ``Bridge`` (the TS API) with its bridge service on a Unix socket, one
worker with DSPy preloaded and ``seed_tools`` (the optimization objectives) loaded. Python
reaches it with ``SessionContext.connect(address, session_id, token)`` (or the seed's
``SessionContext(session_id, channel)``); ``host.call(...)`` asks the TypeScript side to do what
the seeds' Elixir side does (define/set a variable, execute a worker command).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import queue
import secrets
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import dspy
import pytest
import pytest_asyncio
from host_process import REPO, running_node, session_id_fixture, use_session_loop

from dspy_bridge.session import SessionContext
from dspy_bridge.testing import ScriptedLM

HERE = Path(__file__).parent
SCRIPT = HERE / "seed_host.mjs"


class HostError(Exception):
    """A command the TypeScript side ran failed: ``name`` is the TS error class."""

    def __init__(self, reply: dict[str, Any]) -> None:
        super().__init__(f"{reply.get('name')}: {reply.get('error')}")
        self.name = reply.get("name")
        self.reason = reply.get("reason")
        self.parameter = reply.get("parameter")
        self.python_type = reply.get("pythonType")
        self.message = reply.get("error")


class SeedHost:
    def __init__(self, proc: subprocess.Popen[str], address: str, token: str, lines: queue.Queue[Any]) -> None:
        self.proc = proc
        self.address = address
        self.token = token
        self._ids = itertools.count(1)
        self._pending: dict[int, Future[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._lines = lines
        threading.Thread(target=self._dispatch, daemon=True).start()

    def __iter__(self) -> Iterator[str]:  # (address, token) unpacking
        return iter((self.address, self.token))

    def _dispatch(self) -> None:
        while True:
            msg = self._lines.get()
            if msg is None:
                break
            with self._lock:
                fut = self._pending.pop(msg.get("id"), None)
            if fut is not None:
                fut.set_result(msg)

    def call(self, op: str, session: str = "", **fields: Any) -> dict[str, Any]:
        cmd_id = next(self._ids)
        fut: Future[dict[str, Any]] = Future()
        with self._lock:
            self._pending[cmd_id] = fut
        assert self.proc.stdin is not None
        with self._lock:
            self.proc.stdin.write(json.dumps({"id": cmd_id, "op": op, "session": session, **fields}) + "\n")
            self.proc.stdin.flush()
        reply = fut.result(timeout=120)
        if not reply.get("ok"):
            raise HostError(reply)
        return reply

    async def acall(self, op: str, session: str = "", **fields: Any) -> dict[str, Any]:
        return await asyncio.to_thread(self.call, op, session, **fields)

    async def execute(self, command: str, args: dict[str, Any] | None = None, session: str = "", timeout_ms: int = 0) -> Any:
        """A worker command, as the adapter seed's host runs one (Snakepit.execute[_in_session])."""
        return (await self.acall("execute", session, command=command, args=args or {}, timeoutMs=timeout_ms))["result"]

    async def define(self, session: str, name: str, type: str, value: Any, **options: Any) -> int:  # noqa: A002
        return (await self.acall("define", session, name=name, type=type, value=value, options=options))["revision"]

    async def set(self, session: str, name: str, value: Any) -> int:
        return (await self.acall("set", session, name=name, value=value))["revision"]


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
