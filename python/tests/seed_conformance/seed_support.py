"""The seed-conformance tests' handle on their host (seed_host.mjs): ``SeedHost.call`` asks the
TypeScript side to do what the seeds' Elixir side does. A module of its own (not conftest), so
the tests can import it whatever else pytest collects."""

from __future__ import annotations

import asyncio
import itertools
import json
import queue
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any


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

    async def execute(
        self, command: str, args: dict[str, Any] | None = None, session: str = "", timeout_ms: int = 0
    ) -> Any:
        """A worker command, as the adapter seed's host runs one (Snakepit.execute[_in_session])."""
        return (await self.acall("execute", session, command=command, args=args or {}, timeoutMs=timeout_ms))["result"]

    async def define(self, session: str, name: str, type: str, value: Any, **options: Any) -> int:  # noqa: A002
        return (await self.acall("define", session, name=name, type=type, value=value, options=options))["revision"]

    async def set(self, session: str, name: str, value: Any) -> int:
        return (await self.acall("set", session, name=name, value=value))["revision"]
