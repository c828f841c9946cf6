"""WorkerProtocol over a real Unix socket pair: the host side speaks raw frames."""

from __future__ import annotations

import asyncio
import os
import struct
import sys
import uuid
from typing import Any
from collections.abc import Callable

import numpy as np
import pytest
from wire_helpers import (
    TOKEN,
    WORKER_ID,
    WorkerHarness,
    WorkerFrame,
    error_details,
    execute_frame,
)

from dspy_bridge._gen.dspy_bridge.v1 import values_pb2, worker_pb2
from dspy_bridge.core import CommandRegistry, command
from dspy_bridge.core._framing import encode_frame
from dspy_bridge.core.server import FRAME_OVERHEAD_BYTES, PROTOCOL_VERSION
from dspy_bridge.errors import Code
from dspy_bridge.values import decode_value, encode_value


def _error(res: worker_pb2.ExecuteResponse) -> Any:
    assert res.WhichOneof("outcome") == "error", res
    return res.error


# ---- hello ------------------------------------------------------------------------------------


async def test_hello(make_worker: Callable[..., Any]) -> None:
    h: WorkerHarness = await make_worker()
    frame = await h.wire.read_frame()
    assert frame.WhichOneof("kind") == "hello"
    hello = frame.hello
    assert hello.role == worker_pb2.Hello.ROLE_WORKER
    assert hello.worker_id == WORKER_ID
    assert hello.token == TOKEN
    assert hello.pid == os.getpid()
    assert hello.protocol_version == PROTOCOL_VERSION
    assert hello.python_version == sys.version.split()[0]
    commands = list(hello.commands)
    assert {"ping", "echo", "sleep", "count", "fail", "whoami"} <= set(commands)
    assert commands == sorted(commands)


# ---- execute ----------------------------------------------------------------------------------


async def test_ping(worker: WorkerHarness) -> None:
    assert await worker.wire.call_value("ping") == {"ok": True}


async def test_result_carries_call_id_including_zero_and_max(worker: WorkerHarness) -> None:
    for call_id in (0, 2**32 - 1, 128):
        worker.wire.send(execute_frame(call_id, "echo", {"value": call_id}))
        frame = await worker.wire.read_frame()
        assert frame.result.call_id == call_id
        assert decode_value(frame.result.result) == call_id


ECHO_VALUES: list[Any] = [
    None,
    0,
    -1.5,
    True,
    "",
    "héllo 😀",
    [],
    {},
    {"nested": {"list": [1, "two", None, {"three": [3.0]}], "$type": "escaped key"}},
    2**60,
    b"",
    b"\x00\x01\xff" * 100,
    "x" * 200_000,
]


@pytest.mark.parametrize("value", ECHO_VALUES, ids=[f"v{i}" for i in range(len(ECHO_VALUES))])
async def test_echo_round_trip(worker: WorkerHarness, value: Any) -> None:
    assert await worker.wire.call_value("echo", {"value": value}) == value


async def test_echo_numpy_and_bytes_nested(worker: WorkerHarness) -> None:
    value = {
        "matrix": np.arange(12, dtype=np.float32).reshape(3, 4),
        "ints": np.array([1, -2, 3], dtype=np.int64),
        "flags": np.array([True, False]),
        "blobs": [b"abc", {"inner": b"\xff" * 10}],
        "text": "plain",
    }
    res = await worker.wire.call("echo", {"value": value})
    assert res.WhichOneof("outcome") == "result"
    assert len(res.result.attachments) == 5, "arrays and bytes travel as attachments, not JSON"
    got = decode_value(res.result)
    assert set(got) == set(value)
    for key in ("matrix", "ints", "flags"):
        assert isinstance(got[key], np.ndarray)
        assert got[key].dtype == value[key].dtype
        np.testing.assert_array_equal(got[key], value[key])
    assert got["blobs"] == [b"abc", {"inner": b"\xff" * 10}]
    assert got["text"] == "plain"


async def test_context_is_injected(worker: WorkerHarness) -> None:
    call_id = worker.wire.next_id()
    worker.wire.send(execute_frame(call_id, "whoami", session_id="sess-9"))
    frame = await worker.wire.read_frame()
    assert decode_value(frame.result.result) == {
        "worker_id": WORKER_ID,
        "call_id": call_id,
        "session_id": "sess-9",
        "command": "whoami",
    }


async def test_builtin_sleep_sees_worker_id(worker: WorkerHarness) -> None:
    got = await worker.wire.call_value("sleep", {"seconds": 0})
    assert got == {"slept": 0, "worker_id": WORKER_ID, "pid": os.getpid()}


async def test_blocking_command_runs_in_a_thread(worker: WorkerHarness) -> None:
    # blocking_add asserts it is not on the main thread; a failure would come back as an error.
    assert await worker.wire.call_value("blocking_add", {"a": 2, "b": 40}) == 42


async def test_empty_args_value_means_no_arguments(worker: WorkerHarness) -> None:
    req = worker_pb2.ExecuteRequest(call_id=9, command="ping")  # args unset entirely
    worker.wire.send(WorkerFrame(execute=req))
    frame = await worker.wire.read_frame()
    assert frame.result.call_id == 9
    assert decode_value(frame.result.result) == {"ok": True}


# ---- errors -----------------------------------------------------------------------------------


async def test_unknown_command(worker: WorkerHarness) -> None:
    err = _error(await worker.wire.call("no_such_command"))
    assert err.reason == "unknown_command"
    assert err.code == Code.NOT_FOUND
    assert error_details(err) == {"command": "no_such_command"}
    assert "no_such_command" in err.message


@pytest.mark.parametrize(
    "command,args,parameter",
    [
        ("echo", {"value": 1, "bogus": 2}, "bogus"),
        ("sleep", {}, "seconds"),
        ("sleep", {"seconds": "soon"}, "seconds"),
        ("make_bytes", {"size": True}, "size"),
        ("fail", {"message": 3}, "message"),
        ("whoami", {"ctx": {}}, "ctx"),
    ],
)
async def test_bad_arguments(worker: WorkerHarness, command: str, args: dict[str, Any], parameter: str) -> None:
    err = _error(await worker.wire.call(command, args))
    assert err.reason == "invalid_argument"
    assert err.code == Code.INVALID_ARGUMENT
    assert error_details(err) == {"parameter": parameter}
    assert parameter in err.message


async def test_arguments_must_be_a_map(worker: WorkerHarness) -> None:
    req = worker_pb2.ExecuteRequest(call_id=4, command="echo", args=encode_value([1, 2]))
    worker.wire.send(WorkerFrame(execute=req))
    frame = await worker.wire.read_frame()
    assert frame.result.call_id == 4
    assert _error(frame.result).reason == "invalid_argument"


async def test_undecodable_args_value(worker: WorkerHarness) -> None:
    req = worker_pb2.ExecuteRequest(call_id=5, command="echo", args=values_pb2.Value(json='{"value": '))
    worker.wire.send(WorkerFrame(execute=req))
    frame = await worker.wire.read_frame()
    assert frame.result.call_id == 5
    assert _error(frame.result).reason == "invalid_argument"
    assert await worker.wire.call_value("ping") == {"ok": True}


async def test_python_exception(worker: WorkerHarness) -> None:
    err = _error(await worker.wire.call("fail", {"message": "boom 42"}))
    assert err.reason == "python_error"
    assert err.code == Code.UNKNOWN
    assert err.python_type == "ValueError"
    assert err.message == "boom 42"
    names = [f.name for f in err.traceback]
    assert names[-1] == "_raise_nested", names
    assert "fail" in names
    inner = err.traceback[-1]
    assert inner.filename.endswith("builtins.py") and inner.lineno > 0 and "raise" in inner.line


async def test_python_exception_kind(worker: WorkerHarness) -> None:
    err = _error(await worker.wire.call("fail", {"message": "k", "kind": "KeyError"}))
    assert (err.reason, err.python_type) == ("python_error", "KeyError")


async def test_unencodable_result(worker: WorkerHarness, registry: CommandRegistry) -> None:
    @command(registry=registry)
    def give_object() -> Any:
        return {"inner": [object()]}

    err = _error(await worker.wire.call("give_object"))
    assert err.reason == "invalid_argument"
    assert error_details(err)["path"].startswith("result")
    assert await worker.wire.call_value("ping") == {"ok": True}, "the worker keeps serving"


async def test_result_larger_than_message_limit(make_worker: Callable[..., Any]) -> None:
    h: WorkerHarness = await make_worker(max_message_bytes=10_000)
    await h.wire.read_frame()  # hello
    err = _error(await h.wire.call("make_bytes", {"size": 20_000}))
    assert err.reason == "payload_too_large"
    assert error_details(err)["limit"] == 10_000
    ok = await h.wire.call_value("make_bytes", {"size": 5_000})
    assert ok == b"\x5a" * 5_000


# ---- streaming --------------------------------------------------------------------------------


async def _collect_stream(worker: WorkerHarness, call_id: int) -> tuple[list[Any], Any]:
    items: list[Any] = []
    while True:
        frame = await worker.wire.read_frame()
        assert frame.WhichOneof("kind") == "stream_item", frame
        item = frame.stream_item
        assert item.call_id == call_id
        kind = item.WhichOneof("kind")
        if kind == "item":
            items.append(decode_value(item.item))
        elif kind == "end":
            assert item.end is True
            return items, None
        else:
            return items, item.error


async def test_stream_count(worker: WorkerHarness) -> None:
    worker.wire.send(execute_frame(11, "count", {"n": 5}, stream=True))
    assert await _collect_stream(worker, 11) == ([0, 1, 2, 3, 4], None)


async def test_stream_sync_generator(worker: WorkerHarness) -> None:
    worker.wire.send(execute_frame(12, "letters", {"word": "abc"}, stream=True))
    assert await _collect_stream(worker, 12) == (["a", "b", "c"], None)


async def test_stream_empty(worker: WorkerHarness) -> None:
    worker.wire.send(execute_frame(13, "count", {"n": 0}, stream=True))
    assert await _collect_stream(worker, 13) == ([], None)


async def test_stream_error_after_items(worker: WorkerHarness) -> None:
    worker.wire.send(execute_frame(14, "stream_then_fail", {"n": 2}, stream=True))
    items, err = await _collect_stream(worker, 14)
    assert items == [0, 1]
    assert err.reason == "python_error" and err.python_type == "RuntimeError"
    assert err.message == "stream broke"


async def test_stream_bad_arguments_answer_on_the_stream(worker: WorkerHarness) -> None:
    worker.wire.send(execute_frame(15, "count", {"n": "five"}, stream=True))
    items, err = await _collect_stream(worker, 15)
    assert items == []
    assert err.reason == "invalid_argument" and error_details(err) == {"parameter": "n"}


async def test_stream_command_without_stream_flag(worker: WorkerHarness) -> None:
    err = _error(await worker.wire.call("count", {"n": 3}))
    assert err.reason == "invalid_argument"
    assert "stream" in err.message


async def test_plain_command_with_stream_flag(worker: WorkerHarness) -> None:
    worker.wire.send(execute_frame(16, "ping", stream=True))
    items, err = await _collect_stream(worker, 16)
    assert items == [] and err.reason == "invalid_argument"


async def test_interleaved_streams(worker: WorkerHarness) -> None:
    worker.wire.send(
        execute_frame(21, "count", {"n": 3, "delay_ms": 1}, stream=True),
        execute_frame(22, "count", {"n": 4, "delay_ms": 1}, stream=True),
    )
    seen: dict[int, list[Any]] = {21: [], 22: []}
    ended: set[int] = set()
    while ended != {21, 22}:
        frame = await worker.wire.read_frame()
        item = frame.stream_item
        if item.WhichOneof("kind") == "end":
            ended.add(item.call_id)
        else:
            assert item.call_id not in ended, "no item after end"
            seen[item.call_id].append(decode_value(item.item))
    assert seen == {21: [0, 1, 2], 22: [0, 1, 2, 3]}


# ---- stream flow control ----------------------------------------------------------------------


def _windowed(call_id: int, command: str, args: dict[str, Any], window: int) -> WorkerFrame:
    frame = execute_frame(call_id, command, args, stream=True)
    frame.execute.stream_window = window
    return frame


def _credit(call_id: int, items: int) -> WorkerFrame:
    return WorkerFrame(stream_credit=worker_pb2.StreamCredit(call_id=call_id, items=items))


async def _read_items(worker: WorkerHarness, call_id: int, n: int) -> list[Any]:
    items = []
    for _ in range(n):
        frame = await worker.wire.read_frame()
        assert frame.stream_item.call_id == call_id and frame.stream_item.WhichOneof("kind") == "item", frame
        items.append(decode_value(frame.stream_item.item))
    return items


async def _assert_quiet(worker: WorkerHarness) -> None:
    """Nothing but the answer to a ping comes next: the stream sends nothing while out of credit."""
    await asyncio.sleep(0.1)
    assert await worker.wire.call_value("ping") == {"ok": True}


async def test_stream_window_waits_for_credit_then_resumes(worker: WorkerHarness) -> None:
    worker.wire.send(_windowed(31, "count", {"n": 10}, 3))
    assert await _read_items(worker, 31, 3) == [0, 1, 2]
    await _assert_quiet(worker)
    assert worker.protocol._windows[31].remaining == 0
    worker.wire.send(_credit(31, 2))
    assert await _read_items(worker, 31, 2) == [3, 4]
    await _assert_quiet(worker)
    worker.wire.send(_credit(31, 100))
    assert await _collect_stream(worker, 31) == ([5, 6, 7, 8, 9], None)
    assert worker.protocol._windows == {}, "the call's flow-control state is gone once it ends"


async def test_stream_window_sync_generator(worker: WorkerHarness) -> None:
    worker.wire.send(_windowed(32, "letters", {"word": "abcdef"}, 2))
    assert await _read_items(worker, 32, 2) == ["a", "b"]
    await _assert_quiet(worker)
    worker.wire.send(_credit(32, 1))
    assert await _read_items(worker, 32, 1) == ["c"]
    await _assert_quiet(worker)
    worker.wire.send(_credit(32, 3))
    assert await _collect_stream(worker, 32) == (["d", "e", "f"], None)
    assert worker.protocol._windows == {}


async def test_stream_window_zero_means_no_limit(worker: WorkerHarness) -> None:
    worker.wire.send(_windowed(33, "count", {"n": 200}, 0))
    assert await _collect_stream(worker, 33) == (list(range(200)), None)
    assert worker.protocol._windows == {}


async def test_cancel_while_waiting_for_credit_closes_the_generator(worker: WorkerHarness) -> None:
    probe = uuid.uuid4().hex
    worker.wire.send(_windowed(34, "produce", {"n": 1000, "probe": probe}, 2))
    assert [i["i"] for i in await _read_items(worker, 34, 2)] == [0, 1]
    await _assert_quiet(worker)
    # The third item is produced and held: the generator waits at its yield for credit.
    assert await worker.wire.call_value("produce_probe", {"probe": probe}) == {"produced": 3, "state": "running"}
    worker.wire.send(WorkerFrame(cancel=worker_pb2.CancelRequest(call_id=34)))
    frame = await worker.wire.read_frame()
    assert frame.stream_item.call_id == 34 and frame.stream_item.WhichOneof("kind") == "error", frame
    assert frame.stream_item.error.reason == "cancelled"
    assert await worker.wire.call_value("produce_probe", {"probe": probe}) == {"produced": 3, "state": "closed"}
    assert worker.protocol._windows == {} and 34 not in worker.protocol._tasks


async def test_credit_for_unknown_or_finished_call_is_ignored(worker: WorkerHarness) -> None:
    worker.wire.send(_credit(9999, 5))
    assert await worker.wire.call_value("ping") == {"ok": True}
    worker.wire.send(_windowed(35, "count", {"n": 2}, 8))
    assert await _collect_stream(worker, 35) == ([0, 1], None)
    worker.wire.send(_credit(35, 4))  # after its end
    assert await worker.wire.call_value("ping") == {"ok": True}
    assert worker.protocol._windows == {}


async def test_connection_loss_while_waiting_for_credit(worker: WorkerHarness) -> None:
    from dspy_bridge.core import builtins

    probe = uuid.uuid4().hex
    worker.wire.send(_windowed(36, "produce", {"n": 1000, "probe": probe}, 1))
    await _read_items(worker, 36, 1)
    await _assert_quiet(worker)
    worker.wire.writer.close()
    await asyncio.wait_for(worker.closed, 5)
    for _ in range(200):
        if builtins._produce_log[probe]["state"] != "running":
            break
        await asyncio.sleep(0.005)
    assert builtins._produce_log[probe] == {"produced": 2, "state": "closed"}
    assert worker.protocol._windows == {}


# ---- cancellation -----------------------------------------------------------------------------


async def _wait_probe(worker: WorkerHarness, probe: str, state: str) -> None:
    for _ in range(1000):
        if await worker.wire.call_value("cancellation_probe", {"probe": probe}) == state:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"probe {probe} never reached {state!r}")


async def test_cancel_running_sleep(worker: WorkerHarness) -> None:
    probe = uuid.uuid4().hex
    worker.wire.send(execute_frame(100, "sleep", {"seconds": 60, "probe": probe}))
    await _wait_probe(worker, probe, "running")
    worker.wire.send(WorkerFrame(cancel=worker_pb2.CancelRequest(call_id=100)))
    frame = await worker.wire.read_frame()
    assert frame.result.call_id == 100
    err = _error(frame.result)
    assert err.reason == "cancelled"
    assert err.code == Code.CANCELLED
    assert await worker.wire.call_value("cancellation_probe", {"probe": probe}) == "cancelled"


async def test_cancel_unknown_call_is_ignored(worker: WorkerHarness) -> None:
    worker.wire.send(WorkerFrame(cancel=worker_pb2.CancelRequest(call_id=12345)))
    assert await worker.wire.call_value("ping") == {"ok": True}


async def test_cancel_stream(worker: WorkerHarness) -> None:
    worker.wire.send(execute_frame(101, "count", {"n": 1_000_000, "delay_ms": 5}, stream=True))
    first = await worker.wire.read_frame()
    assert first.stream_item.call_id == 101 and first.stream_item.WhichOneof("kind") == "item"
    worker.wire.send(WorkerFrame(cancel=worker_pb2.CancelRequest(call_id=101)))
    while True:
        frame = await worker.wire.read_frame()
        kind = frame.stream_item.WhichOneof("kind")
        assert kind != "end", "a cancelled stream ends with an error, not end=true"
        if kind == "error":
            assert frame.stream_item.error.reason == "cancelled"
            break


async def test_probe_completed_without_cancel(worker: WorkerHarness) -> None:
    probe = uuid.uuid4().hex
    assert (await worker.wire.call_value("sleep", {"seconds": 0, "probe": probe}))["slept"] == 0
    assert await worker.wire.call_value("cancellation_probe", {"probe": probe}) == "completed"


# ---- health -----------------------------------------------------------------------------------


async def test_health(worker: WorkerHarness) -> None:
    probe = uuid.uuid4().hex
    worker.wire.send(execute_frame(200, "sleep", {"seconds": 60, "probe": probe}))
    await _wait_probe(worker, probe, "running")
    served_before = worker.protocol._served
    worker.wire.send(WorkerFrame(health=worker_pb2.HealthRequest(probe_id=77)))
    frame = await worker.wire.read_frame()
    assert frame.WhichOneof("kind") == "health_reply"
    reply = frame.health_reply
    assert reply.probe_id == 77
    assert reply.rss_bytes > 1024 * 1024, "the test process certainly uses more than 1 MiB"
    assert reply.in_flight == 1
    assert reply.served == served_before
    worker.wire.send(WorkerFrame(cancel=worker_pb2.CancelRequest(call_id=200)))
    assert _error((await worker.wire.read_frame()).result).reason == "cancelled"
    worker.wire.send(WorkerFrame(health=worker_pb2.HealthRequest(probe_id=78)))
    again = (await worker.wire.read_frame()).health_reply
    assert (again.probe_id, again.in_flight) == (78, 0)


# ---- protocol errors --------------------------------------------------------------------------


async def test_malformed_frame_then_keeps_serving(worker: WorkerHarness) -> None:
    garbage = b"\xff" * 16
    worker.wire.send_raw(encode_frame(garbage))
    frame = await worker.wire.read_frame()
    assert frame.WhichOneof("kind") == "protocol_error"
    assert frame.protocol_error.call_id == 0
    assert frame.protocol_error.error.reason == "protocol_error"
    assert "16 bytes" in frame.protocol_error.error.message
    assert await worker.wire.call_value("ping") == {"ok": True}


async def test_malformed_frame_between_good_ones_in_one_write(worker: WorkerHarness) -> None:
    data = (
        encode_frame(execute_frame(1, "echo", {"value": "a"}).SerializeToString())
        + encode_frame(b"\x0f")
        + encode_frame(execute_frame(2, "echo", {"value": "b"}).SerializeToString())
    )
    worker.wire.send_raw(data)
    kinds = []
    for _ in range(3):
        frame = await worker.wire.read_frame()
        kind = frame.WhichOneof("kind")
        kinds.append((kind, frame.result.call_id if kind == "result" else None))
    assert kinds == [("result", 1), ("protocol_error", None), ("result", 2)]


async def test_unexpected_frame_kind(worker: WorkerHarness) -> None:
    worker.wire.send(WorkerFrame(hello=worker_pb2.Hello(role=worker_pb2.Hello.ROLE_WORKER)))
    frame = await worker.wire.read_frame()
    assert frame.WhichOneof("kind") == "protocol_error"
    assert "hello" in frame.protocol_error.error.message
    # an empty frame (no kind at all) is unexpected too
    worker.wire.send_raw(encode_frame(b""))
    frame = await worker.wire.read_frame()
    assert frame.WhichOneof("kind") == "protocol_error"
    assert await worker.wire.call_value("ping") == {"ok": True}


async def test_oversized_frame_header_closes_connection(make_worker: Callable[..., Any]) -> None:
    h: WorkerHarness = await make_worker(max_message_bytes=1000)
    await h.wire.read_frame()  # hello
    assert await h.wire.call_value("ping") == {"ok": True}
    h.wire.send_raw(struct.pack("<I", 1000 + FRAME_OVERHEAD_BYTES + 1))
    frame = await h.wire.read_frame()
    assert frame.WhichOneof("kind") == "protocol_error"
    assert frame.protocol_error.call_id == 0
    assert frame.protocol_error.error.reason == "protocol_error"
    assert "exceeds" in frame.protocol_error.error.message
    assert await h.wire.at_eof()
    await asyncio.wait_for(h.closed, 5)


async def test_frame_within_overhead_allowance_is_accepted(make_worker: Callable[..., Any]) -> None:
    # The frame limit is the message limit plus framing overhead, so a request just over the
    # message limit is still decoded (and answered), not treated as a broken stream.
    h: WorkerHarness = await make_worker(max_message_bytes=1000)
    await h.wire.read_frame()
    assert await h.wire.call_value("cancellation_probe", {"probe": "y" * 2000}) == ""


async def test_small_map_result_over_the_limit_is_refused_typed(make_worker: Callable[..., Any]) -> None:
    # A small flat map takes the result fast path; over the message limit it is still refused
    # with the typed error naming the limit, and the worker serves on.
    h: WorkerHarness = await make_worker(max_message_bytes=1000)
    await h.wire.read_frame()
    res = await h.wire.call("echo", {"value": {"s": "y" * 1500}})
    assert res.WhichOneof("outcome") == "error"
    assert res.error.reason == "payload_too_large"
    assert "1000" in res.error.message
    assert await h.wire.call_value("ping") == {"ok": True}


# ---- batching ---------------------------------------------------------------------------------


async def test_many_pipelined_calls(worker: WorkerHarness) -> None:
    n = 500
    frames = []
    for i in range(n):
        if i % 5 == 0:
            frames.append(execute_frame(1000 + i, "sleep", {"seconds": 0}))
        elif i % 7 == 0:
            frames.append(execute_frame(1000 + i, "no_such"))
        else:
            frames.append(execute_frame(1000 + i, "echo", {"value": {"i": i, "s": "x" * (i % 50)}}))
    worker.wire.send(*frames)
    answers: dict[int, Any] = {}
    for _ in range(n):
        frame = await worker.wire.read_frame()
        assert frame.WhichOneof("kind") == "result"
        assert frame.result.call_id not in answers, "one answer per call"
        answers[frame.result.call_id] = frame.result
    assert set(answers) == {1000 + i for i in range(n)}
    for i in range(n):
        res = answers[1000 + i]
        if i % 5 == 0:
            assert decode_value(res.result)["slept"] == 0
        elif i % 7 == 0:
            assert res.error.reason == "unknown_command"
        else:
            assert decode_value(res.result) == {"i": i, "s": "x" * (i % 50)}
    assert worker.protocol._served == n


async def test_inline_answers_keep_request_order(worker: WorkerHarness) -> None:
    worker.wire.send(*(execute_frame(i, "echo", {"value": i}) for i in range(1, 101)))
    ids = [(await worker.wire.read_frame()).result.call_id for _ in range(100)]
    assert ids == list(range(1, 101))


# ---- drain ------------------------------------------------------------------------------------


async def test_drain_waits_for_in_flight_calls(worker: WorkerHarness) -> None:
    probe = uuid.uuid4().hex
    worker.wire.send(execute_frame(300, "sleep", {"seconds": 0.2, "probe": probe}))
    await _wait_probe(worker, probe, "running")
    worker.wire.send(WorkerFrame(drain=worker_pb2.DrainRequest()))
    first = await worker.wire.read_frame()
    assert first.WhichOneof("kind") == "result", "the in-flight call's answer comes before drained"
    assert first.result.call_id == 300
    assert decode_value(first.result.result)["slept"] == 0.2
    second = await worker.wire.read_frame()
    assert second.WhichOneof("kind") == "drained"
    assert second.drained.in_flight == 0
    assert await worker.wire.call_value("cancellation_probe", {"probe": probe}) == "completed"


async def test_drain_when_idle(worker: WorkerHarness) -> None:
    worker.wire.send(WorkerFrame(drain=worker_pb2.DrainRequest()))
    frame = await worker.wire.read_frame()
    assert frame.WhichOneof("kind") == "drained"


# ---- connection loss --------------------------------------------------------------------------


async def test_connection_loss_cancels_running_calls(worker: WorkerHarness) -> None:
    probe = uuid.uuid4().hex
    worker.wire.send(execute_frame(400, "sleep", {"seconds": 60, "probe": probe}))
    await _wait_probe(worker, probe, "running")
    worker.wire.writer.close()
    await asyncio.wait_for(worker.closed, 5)
    from dspy_bridge.core import builtins

    for _ in range(200):
        if builtins._cancellation_log.get(probe) == "cancelled":
            break
        await asyncio.sleep(0.005)
    assert builtins._cancellation_log.get(probe) == "cancelled"
