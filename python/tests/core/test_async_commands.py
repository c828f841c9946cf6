"""Async commands start at once (their Task's first step runs while the frame is read, an
eager start) and go on as scheduled tasks only if they suspend: the answers, errors, context
isolation and cancellation must be what a task scheduled from the start would give
(test_task_semantics.py checks the Task itself)."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

from wire_helpers import WorkerFrame, WorkerHarness, execute_frame

from dspy_bridge._gen.dspy_bridge.v1 import worker_pb2
from dspy_bridge.core import CommandRegistry, command
from dspy_bridge.errors import Code

_current: contextvars.ContextVar[str] = contextvars.ContextVar("current", default="")
_events: list[str] = []


def _register(registry: CommandRegistry) -> None:
    @command(registry=registry)
    async def at_once(x: int) -> int:
        return x * 2

    @command(registry=registry)
    async def fails_at_once(message: str) -> None:
        raise ValueError(message)

    @command(registry=registry)
    async def tagged(tag: str, pause: float = 0.0) -> dict[str, str]:
        seen_before = _current.get()
        _current.set(tag)
        await asyncio.sleep(pause)
        return {"before": seen_before, "after": _current.get()}

    @command(registry=registry)
    async def works_then_waits(key: str) -> str:
        _events.append(f"{key}:started")
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            _events.append(f"{key}:cancelled")
            raise
        return "finished"


async def test_an_async_command_that_never_waits_answers_and_its_errors_are_typed(
    worker: WorkerHarness, registry: CommandRegistry
) -> None:
    _register(registry)
    assert await worker.wire.call_value("at_once", {"x": 21}) == 42
    res = await worker.wire.call("fails_at_once", {"message": "boom"})
    assert res.WhichOneof("outcome") == "error"
    assert (res.error.python_type, res.error.message) == ("ValueError", "boom")
    assert any(frame.name == "fails_at_once" for frame in res.error.traceback)


async def test_each_call_has_its_own_context_whether_it_waits_or_not(
    worker: WorkerHarness, registry: CommandRegistry
) -> None:
    _register(registry)
    worker.wire.send(
        execute_frame(1, "tagged", {"tag": "a", "pause": 0.05}),
        execute_frame(2, "tagged", {"tag": "b"}),
        execute_frame(3, "tagged", {"tag": "c", "pause": 0.01}),
    )
    answers: dict[int, Any] = {}
    for _ in range(3):
        frame = await worker.wire.read_frame()
        answers[frame.result.call_id] = frame.result
    from dspy_bridge.values import decode_value

    values = {cid: decode_value(r.result) for cid, r in answers.items()}
    assert values == {1: {"before": "", "after": "a"}, 2: {"before": "", "after": "b"}, 3: {"before": "", "after": "c"}}
    assert await worker.wire.call_value("tagged", {"tag": "d"}) == {"before": "", "after": "d"}, (
        "no value leaked into the worker"
    )


async def test_a_suspended_async_command_is_cancelled_like_a_task(
    worker: WorkerHarness, registry: CommandRegistry
) -> None:
    _register(registry)
    _events.clear()
    # Started and cancelled in one write: the first step has run by the time the cancel is read.
    worker.wire.send(
        execute_frame(7, "works_then_waits", {"key": "k"}), WorkerFrame(cancel=worker_pb2.CancelRequest(call_id=7))
    )
    frame = await worker.wire.read_frame()
    assert frame.result.call_id == 7
    assert (frame.result.error.reason, frame.result.error.code) == ("cancelled", Code.CANCELLED)
    assert _events == ["k:started", "k:cancelled"]
    assert await worker.wire.call_value("ping") == {"ok": True}
