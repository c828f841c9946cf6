"""A real TypeScript host for the tools tests (``tools_host.mjs``): TypeScript tools registered
through ``bridge.tools.register``, one worker with ``bridge_tools_testmod`` (Python tools,
some calling TypeScript tools back). ``ts.run(op, ...)`` drives ``bridge.tools`` from
TypeScript; Python clients use ``ts.address`` / ``ts.token``."""

from __future__ import annotations

import asyncio
import itertools
import json
import queue
import secrets
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from host_process import REPO, running_node, session_id_fixture, use_session_loop

from dspy_bridge.core.host import HostClient, connect

HERE = Path(__file__).parent
SCRIPT = HERE / "tools_host.mjs"


class TSHost:
    def __init__(
        self, proc: subprocess.Popen[str], ready: dict[str, Any], lines: queue.Queue[Any], stderr: list[str]
    ) -> None:
        self.proc = proc
        self.address: str = ready["address"]
        self.token: str = ready["secret"]
        self.stderr = stderr
        self._ids = itertools.count(1)
        self._pending: dict[int, Future[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._lines = lines
        threading.Thread(target=self._dispatch, daemon=True).start()

    def _dispatch(self) -> None:
        while True:
            msg = self._lines.get()
            if msg is None:
                break
            with self._lock:
                fut = self._pending.pop(msg.get("id"), None)
            if fut is not None:
                fut.set_result(msg)

    def send(self, op: str, **fields: Any) -> dict[str, Any]:
        """Runs ``op`` in the host; the reply line (``ok`` False with name/reason/error on failure)."""
        cmd_id = next(self._ids)
        fut: Future[dict[str, Any]] = Future()
        with self._lock:
            self._pending[cmd_id] = fut
        line = json.dumps({"id": cmd_id, "op": op, **fields}) + "\n"
        with self._lock:
            assert self.proc.stdin is not None
            self.proc.stdin.write(line)
            self.proc.stdin.flush()
        return fut.result(timeout=60)

    async def run(self, op: str, **fields: Any) -> dict[str, Any]:
        return await asyncio.to_thread(self.send, op, **fields)

    async def call(self, name: str, args: dict[str, Any] | None = None, **options: Any) -> dict[str, Any]:
        """``bridge.tools.call(name, args, options)`` from TypeScript."""
        return await self.run("call", name=name, args=args or {}, **options)


@pytest.fixture(scope="session")
def ts() -> Iterator[TSHost]:
    lines: queue.Queue[Any] = queue.Queue()
    with running_node(
        "dspy-bridge-tools-",
        lambda listen: [str(SCRIPT), str(REPO), listen, secrets.token_urlsafe(32), str(HERE)],
        built=REPO / "ts" / "dist" / "src" / "index.js",
        stdin=True,
        on_message=lines.put,
    ) as node:
        yield TSHost(node.proc, node.ready, lines, node.stderr)


session_id = session_id_fixture("t")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    use_session_loop(items, HERE)


@pytest_asyncio.fixture(loop_scope="session")
async def client(ts: TSHost) -> AsyncIterator[HostClient]:
    """An outside Python process's client of the host (this test process)."""
    async with await connect(ts.address, ts.token) as c:
        yield c
