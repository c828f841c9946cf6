"""VariableWatch inside a worker, where it travels on the worker's own connection to the host
instead of gRPC: values whose arrays and long strings come out of band reach the decoder (in
the snapshot, in changes, and in the re-read after a compacted resume), a refusal ends the
watch with its typed error, and a store outage (the host answering UNAVAILABLE) is retried
until the store is back. Each case runs the same watch in this process over gRPC too, and
both must see the same updates.

The host (worker_watch_host.mjs) runs its workers on a Python that imports the same
dspy_bridge as this test: in a mutation run (scripts/mutation.mjs) that is mutmut's mutated
copy, and the worker inherits the environment variable that selects the mutant, so the
worker's watch runs the mutant under test."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import queue
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from host_process import REPO, running_node, socket_dir
from session_watch_helpers import take
from watch_worker_commands import described

import dspy_bridge
from dspy_bridge.errors import NotFoundError, StoreUnavailableError
from dspy_bridge.session import SessionContext, VariableWatch
from dspy_bridge.values import LONG_STRING_CHARS

SCRIPT = Path(__file__).with_name("worker_watch_host.mjs")
INDEX = REPO / "ts" / "dist" / "src" / "index.js"


class WorkerHost:
    """The Node host: `address`/`token` for this process's clients, and `execute(command,
    session, **args)` to run one of watch_worker_commands' commands in its worker."""

    def __init__(self, proc: subprocess.Popen[str], ready: dict[str, Any], replies: queue.Queue[Any]) -> None:
        self.proc = proc
        self.address: str = ready["address"]
        self.token: str = ready["token"]
        self._replies = replies
        self._ids = itertools.count(1)

    def _execute(self, command: str, session: str, args: dict[str, Any]) -> Any:
        call_id = next(self._ids)
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"id": call_id, "command": command, "args": args, "session": session}) + "\n")
        self.proc.stdin.flush()
        reply = self._replies.get(timeout=40)
        assert reply is not None and reply["id"] == call_id, reply
        if not reply["ok"]:
            raise AssertionError(f"{command} failed in the worker: {reply['error']}")
        return reply["result"]

    async def execute(self, command: str, session: str, **args: Any) -> Any:
        return await asyncio.to_thread(self._execute, command, session, args)


@contextmanager
def worker_host(store: str) -> Iterator[WorkerHost]:
    """A host with `store` ("memory": its event log keeps three commits; or a Redis URL) whose
    workers import this process's dspy_bridge first: a small script runs the interpreter with
    that package's directory ahead of the host's own PYTHONPATH."""
    package_dir = Path(dspy_bridge.__file__).resolve().parent.parent
    replies: queue.Queue[Any] = queue.Queue()
    with socket_dir("dspy-bridge-worker-python-") as tmp:
        python = Path(tmp) / "python"
        python.write_text(
            f'#!/bin/sh\nPYTHONPATH="{package_dir}${{PYTHONPATH:+:$PYTHONPATH}}" exec "{sys.executable}" "$@"\n'
        )
        python.chmod(python.stat().st_mode | stat.S_IXUSR)
        with running_node(
            "dspy-bridge-worker-watch-",
            lambda listen: [str(SCRIPT), INDEX.as_uri(), listen, str(SCRIPT.parent), str(python), store],
            built=INDEX,
            stdin=True,
            on_message=replies.put,
            # Where this test runs: a mutation run's workers then find mutmut's configuration as its tests do.
            cwd=os.getcwd(),
        ) as node:
            yield WorkerHost(node.proc, node.ready, replies)


@pytest.fixture(scope="module")
def memory_host() -> Iterator[WorkerHost]:
    with worker_host("memory") as host:
        yield host


WEIGHTS = np.arange(6, dtype=np.float32).reshape(2, 3)
NOTE = "n" + "o" * LONG_STRING_CHARS + "te"  # long enough to travel as an attachment


def weights_summary(scale: float) -> dict[str, Any]:
    return {"dtype": "float32", "shape": [2, 3], "values": (WEIGHTS.ravel() * scale).tolist()}


NOTE_SUMMARY = {"chars": len(NOTE), "ends": "nooote"}


async def test_out_of_band_values_reach_a_workers_watch_in_its_snapshot_and_changes(
    memory_host: WorkerHost, session_id: str
) -> None:
    async with await SessionContext.connect(memory_host.address, session_id, token=memory_host.token) as ctx:
        await ctx.register_variables(
            [
                {"name": "weights", "type": "tensor", "initial_value": WEIGHTS},
                {"name": "note", "type": "string", "initial_value": NOTE},
            ]
        )
        here = ctx.watch_variables(["weights", "note"])  # the same watch, over gRPC
        first = await take(here, 2)
        start = first[0].revision
        out = await memory_host.execute(
            "watch_and_write",
            session_id,
            names=["weights", "note"],
            writes=[["weights", [[2, 3], 2.0]], ["note", "short"]],
        )
        assert out["on_connection"] is True and out["reconnects"] == 0
        expected = [
            ["weights", True, start, weights_summary(1.0)],
            ["note", True, start, NOTE_SUMMARY],
            ["weights", False, start + 1, weights_summary(2.0)],
            ["note", False, start + 2, "short"],
        ]
        assert sorted(out["updates"][:2]) == sorted(expected[:2]) and out["updates"][2:] == expected[2:]
        got = first + await take(here, 2)
        assert sorted(described(u) for u in got[:2]) == sorted(expected[:2])
        assert [described(u) for u in got[2:]] == expected[2:]
        await here.aclose()


async def test_a_workers_watch_from_before_the_kept_log_rereads_out_of_band_values(
    memory_host: WorkerHost, session_id: str
) -> None:
    async with await SessionContext.connect(memory_host.address, session_id, token=memory_host.token) as ctx:
        await ctx.register_variable("weights", "tensor", WEIGHTS)
        await ctx.register_variable("note", "string", "short")
        for scale in (2.0, 3.0, 4.0):  # the log keeps the last three commits
            await ctx.set_variable("weights", WEIGHTS * scale)
        await ctx.set_variable("note", NOTE)
        here = ctx.watch_variables(["weights", "note"], include_initial=False, start_revision=1)
        got = await take(here, 2)
        now = got[0].revision
        expected = sorted([["weights", True, now, weights_summary(4.0)], ["note", True, now, NOTE_SUMMARY]])
        assert sorted(described(u) for u in got) == expected, "compacted: the variables read again, as snapshots"
        await here.aclose()
        named = await memory_host.execute(
            "watch_from", session_id, names=["weights", "note"], start_revision=1, count=2
        )
        assert sorted(named["updates"]) == expected and named["revision"] == now
        every = await memory_host.execute("watch_from", session_id, names=[], start_revision=1, count=2)
        assert sorted(every["updates"]) == expected and every["revision"] == now


async def test_a_workers_watch_of_a_missing_variable_ends_with_the_hosts_refusal(
    memory_host: WorkerHost, session_id: str
) -> None:
    async with await SessionContext.connect(memory_host.address, session_id, token=memory_host.token) as ctx:
        here = ctx.watch_variable("missing")
        with pytest.raises(NotFoundError) as refused_here:
            await asyncio.wait_for(here.ready(), 10)
        out = await memory_host.execute("watch_refused", session_id, name="missing")
        assert out == {"error": "NotFoundError", "code": str(refused_here.value.code), "closed": True, "reconnects": 0}


# ------------------------------------------------------------------------------------------
# A store outage: a host on a private Redis that the test stops and starts again.


class PrivateRedis:
    """A redis-server on a free port whose data survives a restart (append-only, fsynced)."""

    def __init__(self, directory: str) -> None:
        server = shutil.which("redis-server")
        if server is None:
            # Never skipped, as the TypeScript Redis tests: npm test installs it (scripts/redis.mjs).
            pytest.fail("redis-server is not installed: `node scripts/redis.mjs --print` installs it (npm test does)")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._argv = [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--dir", directory]
        self._argv += ["--appendonly", "yes", "--appendfsync", "always"]
        self._proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._proc = subprocess.Popen(self._argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as conn:
                    conn.sendall(b"*1\r\n$4\r\nPING\r\n")
                    if conn.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.02)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait()
            self._proc = None


async def retries_seen(watch: VariableWatch, retries: int) -> list[int]:
    """The watch's reconnect count at each change until it reached `retries` (it must not end)."""
    seen: list[int] = []
    while len(seen) < retries:
        assert not watch.closed, "the watch ended instead of retrying"
        if watch.reconnects > (seen[-1] if seen else 0):
            seen.append(watch.reconnects)
        await asyncio.sleep(0.005)
    return seen


@pytest.fixture(scope="module")
def redis_worker_host() -> Iterator[tuple[WorkerHost, PrivateRedis]]:
    with socket_dir("dspy-bridge-worker-redis-") as tmp:
        redis = PrivateRedis(tmp)
        try:
            with worker_host(redis.url) as host:
                yield host, redis
        finally:
            redis.stop()


async def test_a_workers_watch_retries_while_the_store_is_away_and_goes_on_after(
    redis_worker_host: tuple[WorkerHost, PrivateRedis], session_id: str
) -> None:
    host, redis = redis_worker_host
    async with await SessionContext.connect(host.address, session_id, token=host.token) as ctx:
        await ctx.register_variable("n", "integer", 0)
        assert await host.execute("connect", session_id) is True
        redis.stop()
        try:
            here = ctx.watch_variable("n", include_initial=False)
            # Opened while the store is away: the host answers UNAVAILABLE, and both watches
            # retry, each retry counted once.
            in_worker, in_here = await asyncio.gather(
                host.execute("open_watch_until_retried", session_id, name="n", retries=2),
                asyncio.wait_for(retries_seen(here, 2), 10),
            )
            assert (in_worker, in_here) == ([1, 2], [1, 2])
        finally:
            redis.start()
        reconnects = await host.execute("open_watch_ready", session_id)
        assert reconnects >= 2
        await asyncio.wait_for(here.ready(), 10)
        assert here.reconnects >= 1
        deadline = time.monotonic() + 10
        while True:  # the host may refuse a write while it reconnects to the store
            try:
                await ctx.set_variable("n", 5)
                break
            except StoreUnavailableError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)
        out = await host.execute("take_from_open_watch", session_id, count=1)
        [u] = await take(here, 1)
        assert [row[:2] + row[3:] for row in out["updates"]] == [["n", False, 5]]
        assert out["updates"][0][2] == u.revision and u.value == 5 and out["reconnects"] == reconnects
        await here.aclose()
