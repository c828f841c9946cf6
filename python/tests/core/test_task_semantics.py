"""Every kind of command runs in a real asyncio Task of its own, on every supported Python
(3.10-3.13) and on both event loops the workers use (asyncio's and uvloop): inside it
`asyncio.current_task()` is that task, `asyncio.timeout` (3.11+), `asyncio.wait_for` and
`asyncio.shield` work from the very first step, and context variables behave as in any
asyncio program (a value set around the call is seen, one set by the call does not leak).

The worker starts each call's Task eagerly (its first step runs while the frame is read):
these tests also check that this leaves no trace a command could notice."""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
from pathlib import Path
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from test_fork_server import TOKEN, Conn, _listen, _start_fork_server, _stop
from test_fork_server import sock_dir  # noqa: F401 - a fixture, used by the fork server test below
from wire_helpers import WorkerFrame, WorkerHarness, execute_frame

from dspy_bridge._gen.dspy_bridge.v1 import worker_pb2
from dspy_bridge.core import CommandRegistry, command
from dspy_bridge.core.server import WorkerProtocol
from dspy_bridge.errors import Code
from dspy_bridge.values import decode_value

HAS_TIMEOUT = sys.version_info >= (3, 11)
needs_timeout = pytest.mark.skipif(not HAS_TIMEOUT, reason="asyncio.timeout is new in Python 3.11")

# Set around the calls (before the connection is made, so the worker's callbacks copy it).
_around: contextvars.ContextVar[str] = contextvars.ContextVar("around", default="unset")
# Set by the commands themselves: must never be seen by another call.
_mine: contextvars.ContextVar[str] = contextvars.ContextVar("mine", default="")

# What the commands saw, for checks the answer cannot carry (task identity).
_seen: dict[str, Any] = {}
# The worker's event loop, for the blocking command (a thread has no running loop).
_worker_loop: list[asyncio.AbstractEventLoop] = []


def _task_facts() -> dict[str, Any]:
    task = asyncio.current_task()
    return {
        "is_task": isinstance(task, asyncio.Task),
        "name": task.get_name() if task is not None else None,
        "not_done": task is not None and not task.done(),
        "around": _around.get(),
        "mine_before": _mine.get(),
    }


async def _time_limits() -> dict[str, Any]:
    """What a command's own deadline code does: asyncio.timeout (3.11+), wait_for, shield."""
    out: dict[str, Any] = {}
    if HAS_TIMEOUT:
        try:
            async with asyncio.timeout(0.02):
                await asyncio.sleep(5)
            out["timeout"] = "no timeout"
        except TimeoutError:
            out["timeout"] = "TimeoutError"
        async with asyncio.timeout(5):
            await asyncio.sleep(0)
        out["timeout_not_reached"] = True
    try:
        await asyncio.wait_for(asyncio.sleep(5), 0.02)
        out["wait_for"] = "no timeout"
    except asyncio.TimeoutError:
        out["wait_for"] = "TimeoutError"
    out["wait_for_result"] = await asyncio.wait_for(asyncio.sleep(0, result=7), 5)
    out["shield"] = await asyncio.shield(asyncio.sleep(0, result="shielded"))
    # A cancelled child task does not cancel the command's own task.
    child = asyncio.ensure_future(asyncio.sleep(5))
    await asyncio.sleep(0)
    child.cancel()
    out["child_cancelled"] = (await asyncio.gather(child, return_exceptions=True))[0].__class__.__name__
    return out


def _register(registry: CommandRegistry) -> None:
    @command(registry=registry)
    def sync_probe(tag: str) -> dict[str, Any]:
        facts = _task_facts()
        _seen[f"sync:{tag}"] = asyncio.current_task()
        _mine.set(tag)
        # A sync command may start work of its own on the loop; it runs as a task of its own.
        loop = asyncio.get_running_loop()
        facts["loop_running"] = loop.is_running()
        return facts

    @command(registry=registry)
    async def async_probe(tag: str) -> dict[str, Any]:
        facts = _task_facts()  # the first step: runs while the frame is read (eager start)
        first = asyncio.current_task()
        _mine.set(tag)
        if HAS_TIMEOUT:
            # The original failure: asyncio.timeout entered before the command's first await.
            async with asyncio.timeout(5):
                pass
        facts.update(await _time_limits())
        facts["same_task_after_waiting"] = asyncio.current_task() is first
        facts["mine_after"] = _mine.get()
        _seen[f"async:{tag}"] = first
        return facts

    @command(registry=registry)
    async def async_at_once(tag: str) -> dict[str, Any]:
        """Never suspends: answered in its eager first step, still as a Task."""
        facts = _task_facts()
        _seen[f"at_once:{tag}"] = asyncio.current_task()
        _mine.set(tag)
        if HAS_TIMEOUT:
            async with asyncio.timeout(5):
                pass
        return facts

    @command(registry=registry)
    async def timeout_expires(seconds: float) -> str:
        """Its own deadline, shorter than the work: the TimeoutError reaches the caller."""
        return await asyncio.wait_for(asyncio.sleep(5, result="late"), seconds)

    @command(registry=registry)
    async def asyncio_timeout_expires(seconds: float) -> str:
        async with asyncio.timeout(seconds):
            await asyncio.sleep(5)
        return "late"

    @command(blocking=True, registry=registry)
    def blocking_probe(tag: str) -> dict[str, Any]:
        # In a worker thread, as asyncio.to_thread runs it: no event loop here, the call's
        # context copied in, and coroutines sent to the worker's loop run as tasks there.
        facts: dict[str, Any] = {"in_thread": threading.current_thread() is not threading.main_thread()}
        try:
            asyncio.get_running_loop()
            facts["loop_in_thread"] = True
        except RuntimeError:
            facts["loop_in_thread"] = False
        facts["around"] = _around.get()
        facts["mine_before"] = _mine.get()
        _mine.set(tag)

        async def on_the_loop() -> dict[str, Any]:
            out = _task_facts()
            out.update(await _time_limits())
            return out

        facts["on_loop"] = asyncio.run_coroutine_threadsafe(on_the_loop(), _worker_loop[0]).result(10)
        return facts

    @command(registry=registry)
    async def async_stream(tag: str, n: int) -> AsyncIterator[dict[str, Any]]:
        first = asyncio.current_task()
        _mine.set(tag)
        for i in range(n):
            facts = _task_facts()
            facts["same_task"] = asyncio.current_task() is first
            if i == 0:
                facts.update(await _time_limits())
            yield facts
        _seen[f"stream:{tag}"] = first

    @command(registry=registry)
    def sync_stream(tag: str, n: int) -> Iterator[dict[str, Any]]:
        first = asyncio.current_task()
        _mine.set(tag)
        for _ in range(n):
            facts = _task_facts()
            facts["same_task"] = asyncio.current_task() is first
            yield facts
        _seen[f"sync_stream:{tag}"] = first

    @command(registry=registry)
    async def cancel_inside_deadline(seconds: float) -> str:
        _seen["cancel_inside_deadline"] = "started"
        try:
            if HAS_TIMEOUT:
                async with asyncio.timeout(seconds):
                    await asyncio.sleep(seconds * 2)
            else:
                await asyncio.wait_for(asyncio.sleep(seconds * 2), seconds)
        except asyncio.CancelledError:
            _seen["cancel_inside_deadline"] = "cancelled"
            raise
        return "finished"


@pytest.fixture
async def probe_worker(make_worker: Callable[..., Any], registry: CommandRegistry) -> WorkerHarness:
    _register(registry)
    _seen.clear()
    _worker_loop[:] = [asyncio.get_running_loop()]
    # A value set around the calls: the connection's callbacks, hence every call, start from it.
    token = _around.set("outer")
    try:
        h = await make_worker()
    finally:
        _around.reset(token)
    assert (await h.wire.read_frame()).WhichOneof("kind") == "hello"
    return h


async def _stream(worker: WorkerHarness, command_name: str, args: dict[str, Any]) -> list[Any]:
    call_id = worker.wire.next_id()
    worker.wire.send(execute_frame(call_id, command_name, args, stream=True))
    items: list[Any] = []
    while True:
        frame = await worker.wire.read_frame()
        item = frame.stream_item
        assert item.call_id == call_id
        kind = item.WhichOneof("kind")
        if kind == "item":
            items.append(decode_value(item.item))
        elif kind == "end":
            return items
        else:
            raise AssertionError(f"stream failed: {item.error.message}")


def _assert_in_own_task(facts: dict[str, Any], name: str) -> None:
    assert facts["is_task"], "asyncio.current_task() must be the call's Task"
    assert facts["name"] == name, "the Task is named after the command"
    assert facts["not_done"]
    assert facts["around"] == "outer", "a context variable set around the call is seen"
    assert facts["mine_before"] == "", "no other call's context variable leaks in"


def _assert_time_limits(facts: dict[str, Any]) -> None:
    if HAS_TIMEOUT:
        assert facts["timeout"] == "TimeoutError"
        assert facts["timeout_not_reached"] is True
    assert facts["wait_for"] == "TimeoutError"
    assert facts["wait_for_result"] == 7
    assert facts["shield"] == "shielded"
    assert facts["child_cancelled"] == "CancelledError"


async def test_sync_command_runs_in_its_own_task(probe_worker: WorkerHarness) -> None:
    first = await probe_worker.wire.call_value("sync_probe", {"tag": "s1"})
    _assert_in_own_task(first, "sync_probe")
    assert first["loop_running"] is True
    # The value the first call set is not seen by the next: each call has its own context.
    second = await probe_worker.wire.call_value("sync_probe", {"tag": "s2"})
    _assert_in_own_task(second, "sync_probe")
    assert _seen["sync:s1"] is not _seen["sync:s2"], "one Task per call"


async def test_async_command_runs_in_its_own_task_with_working_timeouts(probe_worker: WorkerHarness) -> None:
    facts = await probe_worker.wire.call_value("async_probe", {"tag": "a1"})
    _assert_in_own_task(facts, "async_probe")
    _assert_time_limits(facts)
    assert facts["same_task_after_waiting"] is True, "the eager first step and the rest run in one Task"
    assert facts["mine_after"] == "a1"
    again = await probe_worker.wire.call_value("async_probe", {"tag": "a2"})
    _assert_in_own_task(again, "async_probe")


async def test_async_command_that_never_suspends_is_a_task_too(probe_worker: WorkerHarness) -> None:
    for tag in ("x", "y"):
        facts = await probe_worker.wire.call_value("async_at_once", {"tag": tag})
        _assert_in_own_task(facts, "async_at_once")
    assert _seen["at_once:x"] is not _seen["at_once:y"]


async def test_blocking_command_runs_in_a_thread_with_the_calls_context(probe_worker: WorkerHarness) -> None:
    facts = await probe_worker.wire.call_value("blocking_probe", {"tag": "b1"})
    assert facts["in_thread"] is True
    assert facts["loop_in_thread"] is False, "like asyncio.to_thread: no event loop in the thread"
    assert facts["around"] == "outer", "the call's context is copied into the thread"
    assert facts["mine_before"] == ""
    on_loop = facts["on_loop"]
    assert on_loop["is_task"] and on_loop["not_done"]
    _assert_time_limits(on_loop)
    again = await probe_worker.wire.call_value("blocking_probe", {"tag": "b2"})
    assert again["mine_before"] == "", "the thread's context change stays in that call"


async def test_blocking_call_is_awaited_by_a_tracked_task(probe_worker: WorkerHarness) -> None:
    probe_worker.wire.send(execute_frame(41, "blocking_probe", {"tag": "b3"}))
    for _ in range(1000):
        task = probe_worker.protocol._tasks.get(41)
        if task is not None:
            break
        await asyncio.sleep(0.001)
    assert isinstance(task, asyncio.Task) and task.get_name() == "blocking_probe"
    frame = await probe_worker.wire.read_frame()
    assert frame.result.call_id == 41 and frame.result.WhichOneof("outcome") == "result"


async def test_async_generator_stream_runs_in_one_task(probe_worker: WorkerHarness) -> None:
    items = await _stream(probe_worker, "async_stream", {"tag": "st", "n": 3})
    assert len(items) == 3
    for facts in items:
        assert facts["is_task"] and facts["name"] == "async_stream" and facts["same_task"]
        assert facts["around"] == "outer"
        assert facts["mine_before"] == "st", "the generator's own value, through the whole stream"
    _assert_time_limits(items[0])
    again = await _stream(probe_worker, "async_stream", {"tag": "st2", "n": 1})
    assert again[0]["mine_before"] == "st2"
    assert _seen["stream:st"] is not _seen["stream:st2"]


async def test_sync_generator_stream_runs_in_one_task(probe_worker: WorkerHarness) -> None:
    items = await _stream(probe_worker, "sync_stream", {"tag": "ss", "n": 3})
    assert len(items) == 3
    for facts in items:
        assert facts["is_task"] and facts["name"] == "sync_stream" and facts["same_task"]
        assert facts["around"] == "outer"
    first = await probe_worker.wire.call_value("sync_probe", {"tag": "after-stream"})
    assert first["mine_before"] == "", "a stream's context change does not leak"


async def test_a_commands_own_timeout_reaches_the_caller_as_timeout_error(probe_worker: WorkerHarness) -> None:
    res = await probe_worker.wire.call("timeout_expires", {"seconds": 0.02})
    assert res.WhichOneof("outcome") == "error"
    # asyncio.TimeoutError is TimeoutError from 3.11 on, asyncio.exceptions.TimeoutError on 3.10.
    assert res.error.python_type.rsplit(".", 1)[-1] == "TimeoutError"
    assert res.error.code == Code.DEADLINE_EXCEEDED


@needs_timeout
async def test_asyncio_timeout_in_a_command_reaches_the_caller_as_timeout_error(probe_worker: WorkerHarness) -> None:
    res = await probe_worker.wire.call("asyncio_timeout_expires", {"seconds": 0.02})
    assert res.WhichOneof("outcome") == "error"
    # asyncio.TimeoutError is TimeoutError from 3.11 on, asyncio.exceptions.TimeoutError on 3.10.
    assert res.error.python_type.rsplit(".", 1)[-1] == "TimeoutError"
    assert res.error.code == Code.DEADLINE_EXCEEDED


async def test_cancel_from_the_host_inside_a_commands_own_deadline(probe_worker: WorkerHarness) -> None:
    """The host's Cancel is a cancellation, not the command's own timeout: the command sees
    CancelledError and the call is answered as cancelled, at once."""
    probe_worker.wire.send(execute_frame(51, "cancel_inside_deadline", {"seconds": 5.0}))
    await asyncio.sleep(0.02)
    assert _seen["cancel_inside_deadline"] == "started"
    loop = asyncio.get_running_loop()
    started = loop.time()
    probe_worker.wire.send(WorkerFrame(cancel=worker_pb2.CancelRequest(call_id=51)))
    frame = await probe_worker.wire.read_frame()
    assert loop.time() - started < 1.0
    assert frame.result.call_id == 51
    assert frame.result.error.code == Code.CANCELLED
    assert _seen["cancel_inside_deadline"] == "cancelled"


async def test_cancel_in_the_same_batch_as_the_call(probe_worker: WorkerHarness) -> None:
    # The eager first step has run (the command is waiting) when the Cancel is read.
    probe_worker.wire.send(
        execute_frame(61, "cancel_inside_deadline", {"seconds": 5.0}),
        WorkerFrame(cancel=worker_pb2.CancelRequest(call_id=61)),
    )
    frame = await probe_worker.wire.read_frame()
    assert frame.result.call_id == 61 and frame.result.error.code == Code.CANCELLED
    assert _seen["cancel_inside_deadline"] == "cancelled"
    assert not probe_worker.protocol._tasks


async def test_many_calls_in_one_batch_each_in_its_own_task(probe_worker: WorkerHarness) -> None:
    frames = [execute_frame(100 + i, "async_probe" if i % 2 else "sync_probe", {"tag": f"t{i}"}) for i in range(10)]
    probe_worker.wire.send(*frames)
    answers = {}
    for _ in frames:
        frame = await probe_worker.wire.read_frame()
        answers[frame.result.call_id] = decode_value(frame.result.result)
    for call_id, facts in answers.items():
        _assert_in_own_task(facts, "async_probe" if call_id % 2 else "sync_probe")
    assert not probe_worker.protocol._tasks, "every answered call has left the in-flight table"


async def test_a_failure_of_the_workers_own_code_is_fatal_and_logged(
    probe_worker: WorkerHarness, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """A bug in the worker's frame handling (not a command's error) must not look like a
    clean exit: it is logged with the worker's id, the connection is dropped, and
    `fatal_error` makes the worker's main exit with status 1 (fork_server._run_worker)."""
    protocol: WorkerProtocol = probe_worker.protocol

    def broken(req: Any) -> None:
        raise RuntimeError("dispatch is broken")

    monkeypatch.setattr(protocol, "_execute", broken)
    probe_worker.wire.send(execute_frame(71, "sync_probe", {"tag": "z"}))
    assert await probe_worker.wire.at_eof()
    assert isinstance(protocol.fatal_error, RuntimeError)
    err = capfd.readouterr().err
    assert "[dspy-bridge worker " in err and "fatal: RuntimeError: dispatch is broken" in err
    assert "Traceback (most recent call last)" in err


async def test_a_call_cancelled_before_its_first_step_is_answered(probe_worker: WorkerHarness) -> None:
    """Where a Task cannot start eagerly (a task already running on 3.10/3.11), it is left
    scheduled; a Cancel that reaches it before its first step still gets the call answered,
    and the command never runs."""
    protocol: WorkerProtocol = probe_worker.protocol
    ran: list[str] = []
    task = asyncio.get_running_loop().create_task(protocol._run_sync(81, lambda: ran.append("ran"), {}))
    protocol._track(81, task, False)
    protocol._cancel(81)
    frame = await probe_worker.wire.read_frame()
    assert frame.result.call_id == 81 and frame.result.error.code == Code.CANCELLED
    assert ran == [] and not protocol._tasks


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fork server uses Linux process groups")
def test_a_real_worker_whose_own_code_fails_exits_with_status_1(
    sock_dir: str, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """The same in a real forked worker (the fork server plays it out, this test is the host):
    the fork server reports exit code 1, not 0, and the worker's stderr ends with its fatal
    line. The user module ts/test/fixtures/py_task_semantics.py breaks the worker's dispatch
    for one command."""
    fixtures = Path(__file__).resolve().parents[3] / "ts" / "test" / "fixtures"
    monkeypatch.setenv("PYTHONPATH", str(fixtures))
    path, listener = _listen(sock_dir)
    proc = _start_fork_server(path, "--modules", "py_task_semantics")
    conns = [listener]
    try:
        assert proc.stdin is not None
        proc.stdin.write(f"{TOKEN}\n".encode())
        proc.stdin.flush()
        fs_sock, _ = listener.accept()
        conns.append(fs_sock)
        fs = Conn(fs_sock)
        assert fs.read().hello.role == worker_pb2.Hello.ROLE_FORK_SERVER
        fs.send(WorkerFrame(fork=worker_pb2.ForkRequest(worker_id="w-fatal")))
        pid = fs.read().forked.pid
        s, _ = listener.accept()
        conns.append(s)
        worker = Conn(s)
        assert worker.read().hello.worker_id == "w-fatal"
        worker.send(execute_frame(1, "task_info_async"))
        assert decode_value(worker.read().result.result)["in_task"] is True
        worker.send(execute_frame(2, "break_the_worker_loop"))
        frame = fs.read()
        assert frame.WhichOneof("kind") == "worker_exited"
        assert (frame.worker_exited.worker_id, frame.worker_exited.pid) == ("w-fatal", pid)
        assert (frame.worker_exited.exit_code, frame.worker_exited.signal) == (1, 0)
        assert worker.at_eof()
        err = capfd.readouterr().err
        assert (
            "[dspy-bridge worker w-fatal] fatal: RuntimeError: the worker's own dispatch failed (py_task_semantics)"
            in err
        )
    finally:
        _stop(proc, conns)
