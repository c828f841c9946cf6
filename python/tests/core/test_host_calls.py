"""A worker's calls to the host on its own connection (HostCall frames), against a real
WorkerProtocol on a real socket pair; this test plays the host's end with raw frames
(ts/test/host-calls.test.ts runs the same calls against the real TypeScript host)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any
from collections.abc import Callable

import pytest
from wire_helpers import WorkerHarness

from dspy_bridge._gen.dspy_bridge.v1 import session_pb2, worker_pb2
from dspy_bridge.core import _host_calls
from dspy_bridge.errors import BridgeClosedError, BridgeTimeoutError, NotFoundError, error_to_detail


async def _host_call(h: WorkerHarness) -> worker_pb2.HostCall:
    frame = await h.wire.read_frame()
    assert frame.WhichOneof("kind") == "host_call", frame
    return frame.host_call


def _reply(call_id: int, **outcome: Any) -> worker_pb2.WorkerFrame:
    return worker_pb2.WorkerFrame(host_reply=worker_pb2.HostReply(call_id=call_id, **outcome))


async def test_a_call_travels_as_a_frame_and_its_answer_comes_back_typed(worker: WorkerHarness) -> None:
    calls = worker.protocol.host_calls
    pending = asyncio.ensure_future(calls.call("GetSession", session_pb2.GetSessionRequest(session_id="s1")))
    sent = await _host_call(worker)
    assert sent.method == "GetSession"
    assert session_pb2.GetSessionRequest.FromString(sent.request).session_id == "s1"
    worker.wire.send(
        _reply(sent.call_id, response=session_pb2.SessionInfo(session_id="s1", revision=7).SerializeToString())
    )
    info = await pending
    assert isinstance(info, session_pb2.SessionInfo)
    assert (info.session_id, info.revision) == ("s1", 7)
    assert calls.in_flight == 0


async def test_the_hosts_error_is_raised_as_its_typed_error(worker: WorkerHarness) -> None:
    pending = asyncio.ensure_future(
        worker.protocol.host_calls.call("GetSession", session_pb2.GetSessionRequest(session_id="gone"))
    )
    sent = await _host_call(worker)
    worker.wire.send(_reply(sent.call_id, error=error_to_detail(NotFoundError("session 'gone' not found"))))
    with pytest.raises(NotFoundError, match="session 'gone' not found"):
        await pending


async def test_answers_out_of_order_and_unknown_ids(worker: WorkerHarness) -> None:
    calls = worker.protocol.host_calls
    first = asyncio.ensure_future(calls.call("GetSession", session_pb2.GetSessionRequest(session_id="a")))
    second = asyncio.ensure_future(calls.call("GetSession", session_pb2.GetSessionRequest(session_id="b")))
    a, b = await _host_call(worker), await _host_call(worker)
    assert a.call_id != b.call_id
    worker.wire.send(
        _reply(999_999, response=b""),  # nobody asked: ignored
        _reply(b.call_id, response=session_pb2.SessionInfo(session_id="b").SerializeToString()),
        _reply(a.call_id, response=session_pb2.SessionInfo(session_id="a").SerializeToString()),
    )
    assert (await first).session_id == "a"
    assert (await second).session_id == "b"


async def test_a_timeout_raises_and_tells_the_host(worker: WorkerHarness) -> None:
    calls = worker.protocol.host_calls
    with pytest.raises(BridgeTimeoutError, match="GetSession got no answer from the host within 0.05 s"):
        await calls.call("GetSession", session_pb2.GetSessionRequest(session_id="slow"), timeout=0.05)
    sent = await _host_call(worker)
    cancel = await worker.wire.read_frame()
    assert cancel.WhichOneof("kind") == "host_call_cancel"
    assert cancel.host_call_cancel.call_id == sent.call_id
    worker.wire.send(_reply(sent.call_id, response=b""))  # a late answer is dropped
    assert await worker.wire.call_value("ping") == {"ok": True}
    assert calls.in_flight == 0


async def test_cancelling_the_caller_tells_the_host(worker: WorkerHarness) -> None:
    pending = asyncio.ensure_future(
        worker.protocol.host_calls.call("GetSession", session_pb2.GetSessionRequest(session_id="x"))
    )
    sent = await _host_call(worker)
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending
    cancel = await worker.wire.read_frame()
    assert cancel.host_call_cancel.call_id == sent.call_id


async def test_the_connection_closing_fails_pending_calls(make_worker: Callable[..., Any]) -> None:
    h: WorkerHarness = await make_worker()
    await h.wire.read_frame()
    pending = asyncio.ensure_future(
        h.protocol.host_calls.call("GetSession", session_pb2.GetSessionRequest(session_id="x"))
    )
    await _host_call(h)
    h.wire.writer.close()
    with pytest.raises(BridgeClosedError, match="closed during the call"):
        await pending
    with pytest.raises(BridgeClosedError):
        await h.protocol.host_calls.call("GetSession", session_pb2.GetSessionRequest(session_id="y"))


async def test_a_reply_with_no_outcome_is_a_protocol_error(worker: WorkerHarness) -> None:
    from dspy_bridge.errors import ProtocolError

    pending = asyncio.ensure_future(
        worker.protocol.host_calls.call("GetSession", session_pb2.GetSessionRequest(session_id="x"))
    )
    sent = await _host_call(worker)
    worker.wire.send(_reply(sent.call_id))
    with pytest.raises(ProtocolError, match="neither a response nor an error"):
        await pending


async def test_streaming_and_unknown_methods_are_refused_before_anything_is_sent(worker: WorkerHarness) -> None:
    calls = worker.protocol.host_calls
    for method in ("Watch", "StreamTool", "NoSuchRpc"):
        with pytest.raises(ValueError, match="is not a unary RPC of the bridge service"):
            await calls.call(method, session_pb2.GetSessionRequest())
    assert calls.in_flight == 0


async def test_the_route_is_only_for_code_on_the_workers_loop(worker: WorkerHarness) -> None:
    _host_calls.install(worker.protocol.host_calls)
    try:
        assert _host_calls.local_route() is worker.protocol.host_calls
        seen: list[Any] = []

        def elsewhere() -> None:
            async def probe() -> None:
                seen.append(_host_calls.local_route())

            asyncio.run(probe())

        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
        assert seen == [None], "another thread's loop must not wait on this loop's connection"
    finally:
        _host_calls.install(None)
    assert _host_calls.local_route() is None


async def test_a_request_over_the_message_limit_is_refused_before_it_is_sent(make_worker: Callable[..., Any]) -> None:
    from dspy_bridge.errors import PayloadTooLargeError

    h: WorkerHarness = await make_worker(max_message_bytes=2048)
    await h.wire.read_frame()
    with pytest.raises(PayloadTooLargeError, match="over the message limit of 2048 bytes") as raised:
        await h.protocol.host_calls.call("GetSession", session_pb2.GetSessionRequest(session_id="x" * 5000))
    assert raised.value.details == {"size": 5003, "limit": 2048}
    assert h.protocol.host_calls.in_flight == 0
    assert await h.wire.call_value("ping") == {"ok": True}, "nothing was sent; the connection serves on"


async def test_an_async_commands_first_step_may_make_a_host_call_with_a_timeout(
    registry: Any, make_worker: Callable[..., Any]
) -> None:
    # The first step of an async command runs outside any Task (WorkerProtocol._start_eagerly):
    # the host call's timeout must not need one (asyncio.timeout does, from Python 3.12).
    from dspy_bridge.core import command

    @command(registry=registry)
    async def ask_host(session_id: str) -> str:
        route = _host_calls.local_route()
        assert route is not None
        info = await route.call("GetSession", session_pb2.GetSessionRequest(session_id=session_id), timeout=5)
        return info.session_id

    h: WorkerHarness = await make_worker()
    await h.wire.read_frame()
    _host_calls.install(h.protocol.host_calls)
    try:
        call_id = h.wire.next_id()
        from wire_helpers import execute_frame

        h.wire.send(execute_frame(call_id, "ask_host", {"session_id": "s9"}))
        sent = await _host_call(h)
        h.wire.send(_reply(sent.call_id, response=session_pb2.SessionInfo(session_id="s9").SerializeToString()))
        frame = await h.wire.read_frame()
        assert frame.WhichOneof("kind") == "result" and frame.result.call_id == call_id
        from dspy_bridge.values import decode_value

        assert decode_value(frame.result.result) == "s9"
    finally:
        _host_calls.install(None)


async def test_a_call_from_another_loop_is_refused(worker: WorkerHarness) -> None:
    calls = worker.protocol.host_calls
    errors: list[BaseException] = []

    def elsewhere() -> None:
        async def attempt() -> None:
            try:
                await calls.call("GetSession", session_pb2.GetSessionRequest(session_id="x"))
            except RuntimeError as err:
                errors.append(err)

        asyncio.run(attempt())

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert len(errors) == 1 and "belong to its event loop" in str(errors[0])
    assert calls.in_flight == 0


# -- server-streaming host calls (Watch, StreamTool) ---------------------------------------


def _watch_response(revision: int) -> bytes:
    from dspy_bridge._gen.dspy_bridge.v1 import variables_pb2

    return variables_pb2.WatchResponse(revision=revision).SerializeToString()


def _watch_request() -> Any:
    from dspy_bridge._gen.dspy_bridge.v1 import variables_pb2

    return variables_pb2.WatchRequest(session_id="s1")


async def test_a_stream_delivers_its_responses_in_order_then_ends_and_grants_credit(worker: WorkerHarness) -> None:
    import grpc

    calls = worker.protocol.host_calls
    stream = calls.stream("Watch", _watch_request(), window=4)
    sent = await _host_call(worker)
    assert (sent.method, sent.stream, sent.stream_window) == ("Watch", True, 4)
    worker.wire.send(*(_reply(sent.call_id, response=_watch_response(r)) for r in (1, 2, 3)))
    assert (await stream.read()).revision == 1
    assert (await stream.read()).revision == 2
    credit = await worker.wire.read_frame()
    assert credit.WhichOneof("kind") == "host_stream_credit", credit
    assert (credit.host_stream_credit.call_id, credit.host_stream_credit.items) == (sent.call_id, 2), (
        "half a window taken: granted back"
    )
    worker.wire.send(_reply(sent.call_id, end=True))
    assert (await stream.read()).revision == 3  # read after the end arrived: still delivered
    assert await stream.read() is grpc.aio.EOF
    assert stream.done()
    assert calls.in_flight == 0 and calls.streams_open == 0


async def test_a_streams_error_comes_after_the_responses_sent_before_it_typed(worker: WorkerHarness) -> None:
    calls = worker.protocol.host_calls
    stream = calls.stream("Watch", _watch_request())
    sent = await _host_call(worker)
    worker.wire.send(
        _reply(sent.call_id, response=_watch_response(5)),
        _reply(sent.call_id, error=error_to_detail(NotFoundError("session 's1' not found"))),
    )
    seen = []
    with pytest.raises(NotFoundError, match="session 's1' not found"):
        async for response in stream:
            seen.append(response.revision)
    assert seen == [5]
    assert calls.in_flight == 0


async def test_leaving_a_stream_early_cancels_it_on_the_host_and_late_responses_are_dropped(
    worker: WorkerHarness,
) -> None:
    calls = worker.protocol.host_calls
    stream = calls.stream("Watch", _watch_request(), window=0)
    sent = await _host_call(worker)
    assert sent.stream_window == 0
    worker.wire.send(_reply(sent.call_id, response=_watch_response(1)))
    async for response in stream:
        assert response.revision == 1
        break
    cancel = await worker.wire.read_frame()
    assert cancel.WhichOneof("kind") == "host_call_cancel" and cancel.host_call_cancel.call_id == sent.call_id
    worker.wire.send(
        _reply(sent.call_id, response=_watch_response(2)), _reply(sent.call_id, end=True)
    )  # too late: ignored
    assert await worker.wire.call_value("ping") == {"ok": True}
    assert calls.in_flight == 0
    assert stream.cancel() is False, "already ended"


async def test_a_streams_timeout_raises_and_tells_the_host(worker: WorkerHarness) -> None:
    calls = worker.protocol.host_calls
    stream = calls.stream("StreamTool", _tool_request(), timeout=0.05)
    sent = await _host_call(worker)
    with pytest.raises(BridgeTimeoutError, match="StreamTool did not finish within 0.05 s"):
        async for _ in stream:
            pass
    cancel = await worker.wire.read_frame()
    assert cancel.host_call_cancel.call_id == sent.call_id
    assert calls.in_flight == 0


def _tool_request() -> Any:
    from dspy_bridge._gen.dspy_bridge.v1 import tools_pb2

    return tools_pb2.CallToolRequest(name="t")


async def test_the_connection_closing_ends_open_streams(make_worker: Callable[..., Any]) -> None:
    h: WorkerHarness = await make_worker()
    await h.wire.read_frame()
    stream = h.protocol.host_calls.stream("Watch", _watch_request())
    sent = await _host_call(h)
    h.wire.send(_reply(sent.call_id, response=_watch_response(1)))
    assert (await stream.read()).revision == 1
    h.wire.writer.close()
    with pytest.raises(BridgeClosedError, match="closed during the stream"):
        await stream.read()
    with pytest.raises(BridgeClosedError):
        h.protocol.host_calls.stream("Watch", _watch_request())


async def test_unary_and_unknown_methods_are_not_streams(worker: WorkerHarness) -> None:
    calls = worker.protocol.host_calls
    for method in ("GetSession", "NoSuchRpc"):
        with pytest.raises(ValueError, match="is not a server-streaming RPC of the bridge service"):
            calls.stream(method, session_pb2.GetSessionRequest())
    assert calls.in_flight == 0
