"""Shared fixtures for the worker-side tests: a real WorkerProtocol on one end of a real
Unix socket pair, and a small raw-frame client (wire_helpers.Wire) for the other end."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from wire_helpers import MAX_MESSAGE_BYTES, READ_TIMEOUT, TOKEN, WORKER_ID, Wire, WorkerHarness

from dspy_bridge.core import CommandContext, CommandRegistry, command, default_registry
from dspy_bridge.core import builtins as _builtins  # noqa: F401 - registers ping, echo, sleep, ...
from dspy_bridge.core.server import WorkerProtocol


def _test_commands(reg: CommandRegistry) -> None:
    @command(registry=reg)
    def whoami(ctx: CommandContext) -> dict[str, Any]:
        return {
            "worker_id": ctx.worker_id,
            "call_id": ctx.call_id,
            "session_id": ctx.session_id,
            "command": ctx.command,
        }

    @command(blocking=True, registry=reg)
    def blocking_add(a: int, b: int) -> int:
        import threading

        assert threading.current_thread() is not threading.main_thread(), "blocking=True must run in a thread"
        return a + b

    @command(registry=reg)
    def letters(word: str) -> Iterator[str]:
        yield from word

    @command(registry=reg)
    async def stream_then_fail(n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i
        raise RuntimeError("stream broke")


@pytest.fixture
def registry() -> CommandRegistry:
    """A fresh registry holding the built-in commands plus a few test-only ones (the
    default registry is never modified)."""
    reg = CommandRegistry()
    for name in default_registry.names():
        cmd = default_registry.get(name)
        reg.register(cmd.fn, name=name, blocking=cmd.blocking, description=cmd.description)
    _test_commands(reg)
    return reg


@pytest.fixture
async def make_worker(registry: CommandRegistry) -> AsyncIterator[Callable[..., Any]]:
    created: list[WorkerHarness] = []

    async def make(max_message_bytes: int = MAX_MESSAGE_BYTES, busy_poll_us: int = 0) -> WorkerHarness:
        loop = asyncio.get_running_loop()
        server_sock, client_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        closed: asyncio.Future[None] = loop.create_future()

        def on_closed() -> None:
            if not closed.done():
                closed.set_result(None)

        protocol_holder: list[WorkerProtocol] = []

        def factory() -> WorkerProtocol:
            proto = WorkerProtocol(
                worker_id=WORKER_ID,
                token=TOKEN,
                registry=registry,
                max_message_bytes=max_message_bytes,
                on_closed=on_closed,
                busy_poll_us=busy_poll_us,
            )
            protocol_holder.append(proto)
            return proto

        await loop.connect_accepted_socket(factory, sock=server_sock)
        reader, writer = await asyncio.open_connection(sock=client_sock)
        harness = WorkerHarness(Wire(reader, writer), protocol_holder[0], closed)
        created.append(harness)
        return harness

    yield make

    # Closing the host end must make the worker notice and close too (on_closed fires).
    for h in created:
        h.wire.writer.close()
    for h in created:
        await asyncio.wait_for(h.closed, READ_TIMEOUT)


@pytest.fixture
async def worker(make_worker: Callable[..., Any]) -> WorkerHarness:
    """A connected worker whose Hello frame has already been read (and checked for kind)."""
    h = await make_worker()
    hello = await h.wire.read_frame()
    assert hello.WhichOneof("kind") == "hello"
    return h


# The loop-sensitive tests (busy polling, host calls, task semantics, reading large frames)
# run on asyncio's own loop and on uvloop, which the workers use; the rest on asyncio's.
_BOTH_LOOPS = ("test_busy_poll.py", "test_host_calls.py", "test_task_semantics.py", "test_out_of_band.py")


def pytest_asyncio_loop_factories(config: Any, item: Any) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    if item.path.name in _BOTH_LOOPS:
        import uvloop

        return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
    return {"asyncio": asyncio.new_event_loop}
