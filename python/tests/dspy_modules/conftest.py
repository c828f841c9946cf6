"""A real TypeScript host for the variable-aware module tests, and a real DSPy with the
scripted LM (the only stand-in: no LM provider is reachable).

``ts_host.mjs`` starts ``Bridge`` (the TS API) with its bridge service on a Unix socket and
changes session variables through ``session.variables`` when a test asks (``ts.set(...)``):
a change "from TypeScript" is exactly that. Python reaches the same session with
``SessionContext.connect(address, session_id, token)``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import queue
import secrets
import subprocess
import threading
import time
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

SCRIPT = Path(__file__).with_name("ts_host.mjs")


class TSHost:
    """The Node process: ``address``/``token`` for Python clients, and ``call(op, ...)`` to
    change variables through the TypeScript API."""

    def __init__(
        self, proc: subprocess.Popen[str], address: str, token: str, lines: queue.Queue[dict[str, Any]]
    ) -> None:
        self.proc = proc
        self.address = address
        self.token = token
        self._ids = itertools.count(1)
        self._pending: dict[int, Future[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._lines = lines
        threading.Thread(target=self._dispatch, daemon=True).start()

    def _dispatch(self) -> None:
        while True:
            msg = self._lines.get()
            if msg is None:  # type: ignore[comparison-overlap]
                break
            with self._lock:
                fut = self._pending.pop(msg.get("id"), None)
            if fut is not None:
                fut.set_result(msg)

    def call(self, op: str, session: str, **fields: Any) -> dict[str, Any]:
        cmd_id = next(self._ids)
        fut: Future[dict[str, Any]] = Future()
        with self._lock:
            self._pending[cmd_id] = fut
        line = json.dumps({"id": cmd_id, "op": op, "session": session, **fields}) + "\n"
        with self._write_lock:
            assert self.proc.stdin is not None
            self.proc.stdin.write(line)
            self.proc.stdin.flush()
        reply = fut.result(timeout=30)
        if not reply.get("ok"):
            raise RuntimeError(f"TS {op} failed: {reply.get('name')}: {reply.get('error')}")
        return reply

    # Blocking helpers (a few ms each); the async ones do not hold the test's event loop.
    def define(self, session: str, name: str, type: str, value: Any, **options: Any) -> int:  # noqa: A002
        return self.call("define", session, name=name, type=type, value=value, options=options)["revision"]

    def set(self, session: str, name: str, value: Any) -> int:
        return self.call("set", session, name=name, value=value)["revision"]

    def update(self, session: str, values: dict[str, Any]) -> int:
        return self.call("update", session, values=values)["revision"]

    def stats(self, session: str, name: str) -> dict[str, Any]:
        return self.call("stats", session, name=name)["stats"]

    async def aset(self, session: str, name: str, value: Any) -> int:
        return await asyncio.to_thread(self.set, session, name, value)

    async def adefine(self, session: str, name: str, type: str, value: Any, **options: Any) -> int:  # noqa: A002
        return await asyncio.to_thread(self.define, session, name, type, value, **options)

    async def aupdate(self, session: str, values: dict[str, Any]) -> int:
        return await asyncio.to_thread(self.update, session, values)


@pytest.fixture(scope="session")
def ts() -> Iterator[TSHost]:
    lines: queue.Queue[Any] = queue.Queue()
    with running_node(
        "dspy-bridge-modules-",
        lambda listen: [str(SCRIPT), str(REPO), listen, secrets.token_urlsafe(32)],
        built=REPO / "ts" / "dist" / "src" / "index.js",
        stdin=True,
        on_message=lines.put,
    ) as node:
        yield TSHost(node.proc, node.ready["address"], node.ready["token"], lines)


session_id = session_id_fixture("m")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    use_session_loop(items, Path(__file__).parent)


@pytest_asyncio.fixture(loop_scope="session")
async def ctx(ts: TSHost, session_id: str) -> AsyncIterator[SessionContext]:
    """The module's SessionContext (the session exists once TS defines a variable in it)."""
    await asyncio.to_thread(ts.call, "open", session_id)  # opens (creates) the session in TS
    async with await SessionContext.connect(ts.address, session_id, token=ts.token) as context:
        yield context


@pytest.fixture
def lm() -> Iterator[ScriptedLM]:
    """The scripted LM as dspy's configured LM; ``lm.calls`` records each call's effective kwargs."""
    scripted = ScriptedLM(when_exhausted="default")
    dspy.configure(lm=scripted)
    try:
        yield scripted
    finally:
        dspy.configure(lm=None)


class CallCounter:
    """Counts every unary call a SessionContext makes to the host (GetVariables included)."""

    def __init__(self, context: SessionContext) -> None:
        self.calls: list[str] = []
        original = context._call

        async def counted(method: str, request: Any, *rest: Any, **options: Any) -> Any:
            self.calls.append(method)
            return await original(method, request, *rest, **options)  # attachments, when a call has them

        context._call = counted  # type: ignore[method-assign]

    @property
    def reads(self) -> int:
        return sum(1 for m in self.calls if m in ("GetVariables", "GetVariable", "ListVariables"))


@pytest.fixture
def count_calls() -> Any:
    """``count_calls(ctx)`` -> a ``CallCounter`` wrapping that context's calls."""
    return CallCounter


async def until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)
