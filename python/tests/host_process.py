"""A real TypeScript host as a Node subprocess, for the test directories that talk to one
(session/, dspy_modules/): start it, wait for its JSON ready line, drain its output, stop it.

Each directory's conftest keeps what is its own (the command line, the handle it gives its
tests); what they share is here:

- ``start_node(args, built=...)`` runs ``node *args`` from the repository root and returns once
  the process printed a JSON line ``{"event": "ready", ...}`` on stdout; its stderr is collected
  by a thread (``NodeProcess.stderr``), other stdout JSON lines go to ``on_message``.
- ``stop_node(proc)``: SIGTERM, then SIGKILL if it does not exit.
- ``socket_dir(prefix)``: a short temporary directory for a Unix socket (removed afterwards).
- ``running_node(prefix, args_for, ...)``: all three, as a context manager; ``args_for`` gets
  the ``unix:`` address to listen on.
- ``session_id_fixture(prefix)``: a per-test ``session_id`` fixture.
- ``use_session_loop(items, directory)``: runs that directory's async tests in one event loop.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

# The repository (its built host, ts/bin). DSPY_BRIDGE_TEST_REPO names it when the tests run
# from a copy elsewhere (the mutation runs of scripts/mutation.mjs).
REPO = Path(os.environ.get("DSPY_BRIDGE_TEST_REPO") or Path(__file__).resolve().parents[2])
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


@dataclass
class NodeProcess:
    proc: subprocess.Popen[str]
    ready: dict[str, Any]
    """The ready line."""
    stderr: list[str]
    """Every line the process wrote to stderr so far."""


def start_node(
    args: Sequence[str],
    *,
    built: Path,
    event: str = "ready",
    stdin: bool = False,
    env: dict[str, str] | None = None,
    on_message: Callable[[dict[str, Any] | None], None] | None = None,
    timeout: float = READY_TIMEOUT,
    cwd: str | None = None,
) -> NodeProcess:
    """Runs ``node *args`` (skips the test if node is missing, fails it if ``built`` does not
    exist) and waits for the first stdout JSON line whose ``event`` is ``event``.

    Every other stdout JSON line is passed to ``on_message`` (then ``None`` at end of output);
    without it they are read and dropped. ``stdin=True`` gives the process a pipe on stdin.
    ``cwd``: where it runs (the repository root unless given).
    """
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    if not built.exists():
        pytest.fail("the TypeScript host is not built: run `node_modules/.bin/tsc -b ts` (npm test does)")
    proc = subprocess.Popen(
        [node, *args],
        stdin=subprocess.PIPE if stdin else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd or str(REPO),
    )
    stderr: list[str] = []
    ready: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def drain_err() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            stderr.append(line)

    def read_out() -> None:
        assert proc.stdout is not None
        announced = False
        for line in proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if not isinstance(msg, dict):
                continue
            if not announced and msg.get("event") == event:
                announced = True
                ready.put(msg)
            elif on_message is not None:
                on_message(msg)
        ready.put(None)  # end of output: a start still waiting fails now
        if on_message is not None:
            on_message(None)

    threading.Thread(target=drain_err, daemon=True).start()
    threading.Thread(target=read_out, daemon=True).start()
    try:
        msg = ready.get(timeout=timeout)
    except queue.Empty:
        msg = None
    if msg is None:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"the host did not become ready: exit={proc.poll()} stderr={''.join(stderr)[-2000:]}")
    return NodeProcess(proc, msg, stderr)


def stop_node(proc: subprocess.Popen[str], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within ``timeout`` seconds."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def socket_dir(prefix: str) -> Iterator[str]:
    """A temporary directory with a short path (AF_UNIX paths are limited to ~107 bytes)."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def session_id_fixture(prefix: str) -> Any:
    """A ``session_id`` fixture: a session id of the requesting test alone, ``<prefix>_<test>_<random>``."""

    @pytest.fixture(name="session_id")
    def session_id(request: pytest.FixtureRequest) -> str:
        """A session id of this test alone."""
        return f"{prefix}_{request.node.name[:40]}_{uuid.uuid4().hex[:8]}".replace("[", "_").replace("]", "_")

    return session_id


def use_session_loop(items: list[pytest.Item], directory: Path) -> None:
    """Marks the async tests of ``directory`` to run in the session's event loop (call it from
    that directory's ``pytest_collection_modifyitems``): grpc.aio keeps per-loop state, and a
    loop per test makes its poller call into closed loops."""
    for item in items:
        if pytest_asyncio.is_async_test(item) and Path(str(item.fspath)).parent == directory:
            item.add_marker(pytest.mark.asyncio(loop_scope="session"), append=False)


@contextmanager
def running_node(prefix: str, args_for: Callable[[str], Sequence[str]], **options: Any) -> Iterator[NodeProcess]:
    """``start_node(args_for("unix:<tmp>/bridge.sock"), **options)`` in a ``socket_dir(prefix)``;
    stopped (``stop_node``) and the directory removed on exit."""
    with socket_dir(prefix) as tmp:
        node = start_node(args_for(f"unix:{tmp}/bridge.sock"), **options)
        try:
            yield node
        finally:
            stop_node(node.proc)


CLI = REPO / "ts" / "bin" / "dspy-bridge.js"


@contextmanager
def running_serve(prefix: str, token: str, *extra_args: str) -> Iterator[NodeProcess]:
    """``dspy-bridge serve`` on a Unix socket with one worker, nothing preloaded, ``token`` as
    its DSPY_BRIDGE_TOKEN and ``extra_args`` after (``--modules``, ``--python-path``,
    ``--store``): the host the Python suites talk to, through ``running_node``."""
    with running_node(
        prefix,
        lambda listen: [str(CLI), "serve", "--listen", listen, "--workers", "1", "--preload", "", *extra_args],
        built=REPO / "ts" / "dist" / "src" / "cli" / "main.js",
        env=dict(os.environ, DSPY_BRIDGE_TOKEN=token),
    ) as node:
        yield node
