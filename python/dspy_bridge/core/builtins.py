"""Built-in commands: ping, echo, sleep, count and produce (for tests and benchmarks), and a few fault
injectors the test suite uses to prove the supervisor (crash, hang, cancellation probes)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any
from collections.abc import AsyncIterator
import subprocess
import sys

from .registry import CommandContext, command
from .host import connect

__all__: list[str] = []

# Calls that saw their cancellation, by probe key, so a test can ask afterwards.
_cancellation_log: dict[str, str] = {}


@command()
def ping() -> dict[str, Any]:
    """Answers at once: the cheapest possible round trip."""
    return {"ok": True}


@command()
def echo(value: Any = None) -> Any:
    """Returns its argument unchanged (exercises the value encoding both ways)."""
    return value


@command()
async def sleep(seconds: float, probe: str = "", ctx: CommandContext | None = None) -> dict[str, Any]:
    """Sleeps without blocking the worker. With `probe`, records whether it was cancelled."""
    if probe:
        _cancellation_log[probe] = "running"
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        if probe:
            _cancellation_log[probe] = "cancelled"
        raise
    if probe:
        _cancellation_log[probe] = "completed"
    return {"slept": seconds, "worker_id": ctx.worker_id if ctx else "", "pid": os.getpid()}


@command()
def cancellation_probe(probe: str) -> str:
    """What happened to the `sleep` call that carried this probe key ('' if unknown)."""
    return _cancellation_log.get(probe, "")


@command()
async def count(n: int, delay_ms: float = 0) -> AsyncIterator[int]:
    """Streams 0..n-1."""
    for i in range(n):
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        yield i


# Streams of `produce`, by probe key: items produced so far and how the stream ended.
_produce_log: dict[str, dict[str, Any]] = {}
_PRODUCE_LOG_LIMIT = 1_000


@command()
async def produce(n: int, probe: str, delay_ms: float = 0) -> AsyncIterator[dict[str, int]]:
    """Streams {"i": i, "produced": i + 1} for i in 0..n-1 (flow-control tests). Records under
    `probe` how many items the generator has produced and its state: "running", then
    "completed", "closed" (stopped at a yield: consumer gone, cancel while waiting for
    credit) or "cancelled" (cancelled inside its own wait). Read it with `produce_probe`."""
    if len(_produce_log) >= _PRODUCE_LOG_LIMIT and probe not in _produce_log:
        _produce_log.pop(next(iter(_produce_log)))  # the oldest probe: a worker's life is long
    state = _produce_log[probe] = {"produced": 0, "state": "running"}
    try:
        for i in range(n):
            if delay_ms:
                await asyncio.sleep(delay_ms / 1000)
            state["produced"] = i + 1
            yield {"i": i, "produced": i + 1}
    except GeneratorExit:
        state["state"] = "closed"
        raise
    except asyncio.CancelledError:
        state["state"] = "cancelled"
        raise
    state["state"] = "completed"


@command()
def produce_probe(probe: str) -> dict[str, Any]:
    """What the `produce` stream with this probe key has done so far ({} if unknown)."""
    return dict(_produce_log.get(probe, {}))


@command()
def worker_info(ctx: CommandContext) -> dict[str, Any]:
    """Which worker answered: for affinity checks."""
    return {"worker_id": ctx.worker_id, "pid": os.getpid(), "pgid": os.getpgid(0), "session_id": ctx.session_id}


@command()
def make_bytes(size: int) -> bytes:
    """Returns `size` bytes (oversized-answer tests)."""
    return b"\x5a" * size


@command()
def crash(delay_ms: float = 0) -> None:
    """Kills the worker process abruptly (SIGKILL to itself)."""
    if delay_ms:
        time.sleep(delay_ms / 1000)
    os.kill(os.getpid(), signal.SIGKILL)


@command()
async def ignore_cancel(seconds: float) -> str:
    """Swallows cancellation: the supervisor must kill the worker past the hard deadline."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            await asyncio.sleep(deadline - time.monotonic())
        except asyncio.CancelledError:
            continue
    return "finished"


@command()
def spawn_grandchild(seconds: float = 60) -> int:
    """Starts a child process of the worker (process-group tests); returns its pid."""
    proc = subprocess.Popen(["sleep", str(seconds)])
    return proc.pid


@command()
def dspy_version() -> str:
    """The DSPy version this worker runs ('' if DSPy is not imported)."""
    dspy = sys.modules.get("dspy")
    return str(getattr(dspy, "__version__", "")) if dspy else ""


def _raise_nested(kind: str, message: str) -> None:
    exc_type = {
        "ValueError": ValueError,
        "KeyError": KeyError,
        "RuntimeError": RuntimeError,
        "ZeroDivisionError": ZeroDivisionError,
    }[kind]
    raise exc_type(message)


@command()
def fail(message: str, kind: str = "ValueError", repeat: int = 1) -> None:
    """Raises a Python exception from a nested call (error-path tests); `repeat` makes the
    message that many times longer (oversized-error tests)."""
    _raise_nested(kind, message * repeat)


@command(blocking=True)
def block_in_thread(seconds: float) -> str:
    """Sleeps in a worker thread (a blocking=True command): cancellation tests."""
    time.sleep(seconds)
    return "done"


@command()
async def host_ping(message: str = "") -> dict[str, Any]:
    """Calls back into the host's bridge service from this worker (tests the reverse path)."""
    async with await connect() as client:
        reply = await client.ping(message)
    return {"message": reply.message, "host_version": reply.host_version, "workers_ready": reply.workers_ready}


@command()
def event_loop_info() -> str:
    """The running event loop's class (uvloop when installed)."""
    loop = asyncio.get_running_loop()
    return f"{type(loop).__module__}.{type(loop).__qualname__}"


@command()
def block(seconds: float) -> str:
    """Blocks the worker's event loop (a badly written sync command): health-probe tests."""
    time.sleep(seconds)
    return "unblocked"


@command()
def print_line(text: str, stderr: bool = False) -> None:
    """Prints one line from the worker (log forwarding tests)."""
    print(text, file=sys.stderr if stderr else sys.stdout, flush=True)
