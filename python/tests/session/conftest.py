"""A real host for the session tests: `dspy-bridge serve` on a Unix socket, one worker.

The host is the built TypeScript (`tsc -b ts`, which `npm test` runs first); the fixture
starts it once per test session, waits for its `{"event":"ready"}` line and stops it with
SIGTERM at the end. Every test uses its own session id (`session_id` fixture).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from dspy_bridge.session import SessionContext

REPO = Path(__file__).resolve().parents[3]
CLI = REPO / "ts" / "bin" / "dspy-bridge.js"
READY_TIMEOUT = 60.0


class Host:
    def __init__(self, address: str, token: str, proc: subprocess.Popen[str], stderr: list[str]) -> None:
        self.address = address
        self.token = token
        self.proc = proc
        self.stderr = stderr

    def __iter__(self) -> Iterator[str]:  # (address, token) unpacking
        return iter((self.address, self.token))


def _start_host() -> tuple[Host, str]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    if not (REPO / "ts" / "dist" / "src" / "cli" / "main.js").exists():
        pytest.fail("the TypeScript host is not built: run `node_modules/.bin/tsc -b ts` (npm test does)")
    tmp = tempfile.mkdtemp(prefix="dspy-bridge-session-tests-")
    token = secrets.token_urlsafe(32)
    env = dict(os.environ, DSPY_BRIDGE_TOKEN=token)
    proc = subprocess.Popen(
        [node, str(CLI), "serve", "--listen", f"unix:{tmp}/bridge.sock", "--workers", "1", "--preload", ""],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=str(REPO),
    )
    stderr: list[str] = []

    def drain() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            stderr.append(line)

    threading.Thread(target=drain, daemon=True).start()
    ready: dict[str, str] = {}

    def read_ready() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if msg.get("event") == "ready":
                ready.update(msg)
                break
        for _ in proc.stdout:  # keep draining
            pass

    reader = threading.Thread(target=read_ready, daemon=True)
    reader.start()
    import time

    deadline = time.monotonic() + READY_TIMEOUT
    while not ready and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    if not ready:
        proc.kill()
        raise RuntimeError(f"the host did not become ready: exit={proc.poll()} stderr={''.join(stderr)[-2000:]}")
    return Host(ready["address"], token, proc, stderr), tmp


@pytest.fixture(scope="session")
def host() -> Iterator[Host]:
    """(address, token) of a real host; stopped with SIGTERM after the last test."""
    h, tmp = _start_host()
    os.environ["DSPY_BRIDGE_ADDRESS"] = h.address
    os.environ["DSPY_BRIDGE_TOKEN"] = h.token
    try:
        yield h
    finally:
        h.proc.send_signal(signal.SIGTERM)
        try:
            h.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            h.proc.kill()
            h.proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def session_id(request: pytest.FixtureRequest) -> str:
    """A session id of this test alone."""
    return f"t_{request.node.name[:40]}_{uuid.uuid4().hex[:8]}".replace("[", "_").replace("]", "_")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # One event loop for the whole directory: grpc.aio keeps per-loop state, and a loop per
    # test makes its poller call into closed loops.
    here = Path(__file__).parent
    for item in items:
        if pytest_asyncio.is_async_test(item) and Path(str(item.fspath)).parent == here:
            item.add_marker(pytest.mark.asyncio(loop_scope="session"), append=False)


@pytest_asyncio.fixture(loop_scope="session")
async def session(host: Host, session_id: str) -> AsyncIterator[SessionContext]:
    ctx = await SessionContext.connect(host.address, session_id, token=host.token)
    try:
        yield ctx
    finally:
        await ctx.close()


@pytest_asyncio.fixture(loop_scope="session")
async def other(host: Host, session_id: str) -> AsyncIterator[SessionContext]:
    """A second client of the same session (its own channel, cache and watch)."""
    ctx = await SessionContext.connect(host.address, session_id, token=host.token)
    try:
        yield ctx
    finally:
        await ctx.close()
