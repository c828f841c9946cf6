"""Worker -> host calls on the worker's own connection instead of a gRPC channel.

An RPC of the bridge service (bridge.proto) made by code running on the worker's event loop
(a SessionContext's variable reads, writes and watches, a TypeScript tool call) travels as a
``HostCall`` frame on the connection the worker already has, and its answer comes back as
``HostReply`` frames (worker.proto): one for a unary RPC, one per response for a
server-streaming one (Watch, StreamTool) and then an end or an error. That skips grpcio's
client, HTTP/2 and a second socket: a cache-miss read costs about a sixth of what a unary
gRPC call does (docs/benchmarks.md).

Large values cross out of band, as a command's arguments and results do: a request whose
Values were encoded by ``OutgoingAttachments`` (``_message_attachments.py``) leaves as an
out-of-band frame, its attachments raw after the message; a caller that asks for it
(``call_parts``, a stream opened with ``parts``) gets each response with the frame's raw
attachments beside it, which the response's Values index (``decode_received``).

Only calls made on the worker's own loop use it (``local_route()``): the futures and the
transport here belong to that loop and are not thread-safe, and synchronous code on the
loop's thread waiting for an answer only that loop can read would wait forever. Calls from
other threads or loops, clients with another address or secret, and every process outside
the pool keep using gRPC, which serves the same handlers on the host.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any
from collections.abc import AsyncIterator, Callable

from google.protobuf import message_factory
import grpc

from .._gen.dspy_bridge.v1 import bridge_pb2, worker_pb2
from ..telemetry import _otel as _telemetry
from ..errors import BridgeClosedError, BridgeTimeoutError, PayloadTooLargeError, ProtocolError, error_from_detail
from ._message_attachments import OutgoingAttachments

# A response as received: its bytes, and the raw attachments of its frame (None: in band).
_Received = tuple[bytes, list[memoryview] | None]

__all__ = ["HostCalls", "HostStream", "install", "local_route", "DEFAULT_STREAM_WINDOW"]

# Responses of a host stream the host may send ahead of the consumer (HostCall.stream_window).
DEFAULT_STREAM_WINDOW = 64

_SERVICE = bridge_pb2.DESCRIPTOR.services_by_name["BridgeService"]
_response_classes: dict[str, Any] = {}


def _response_class(method: str, streaming: bool = False) -> Any:
    key = (method, streaming)
    cls = _response_classes.get(key)
    if cls is None:
        desc = _SERVICE.methods_by_name.get(method)
        if desc is None or desc.client_streaming or desc.server_streaming != streaming:
            kind = "server-streaming" if streaming else "unary"
            raise ValueError(f"'{method}' is not a {kind} RPC of the bridge service")
        cls = _response_classes[key] = message_factory.GetMessageClass(desc.output_type)
    return cls


class HostStream:
    """The responses of one server-streaming host call, as grpc.aio's stream call gives them:
    ``async for response in stream``, or ``await stream.read()`` until ``grpc.aio.EOF``.
    The host's error is raised typed; ``cancel()`` (or leaving the loop) tells the host to
    stop. Credit goes back to the host as responses are taken, half a window at a time."""

    def __init__(
        self, calls: HostCalls, call_id: int, method: str, response_class: Any, window: int, parts: bool = False
    ) -> None:
        self._calls = calls
        self.call_id = call_id
        self._method = method
        self._response_class = response_class
        self._window = window
        # Responses come as (message, raw attachments) pairs: the stream was opened with
        # out-of-band replies, whose Values index the raw attachments.
        self.parts = parts
        self._items: collections.deque[_Received] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        # None while open; True after a normal end; the exception that ended it otherwise.
        self._end: None | bool | BaseException = None
        self._taken = 0
        self._expiry: asyncio.TimerHandle | None = None

    def done(self) -> bool:
        return self._end is not None and not self._items

    def cancel(self) -> bool:
        """Stops the stream (the host's handler sees its cancellation); False if it had ended."""
        if self._end is not None:
            return False
        self._finish(asyncio.CancelledError(), drop_backlog=True)
        self._calls._abandon(self.call_id)
        return True

    async def read(self) -> Any:
        """The next response, or ``grpc.aio.EOF`` after the last. One reader at a time. A
        stream opened with ``parts`` gives ``(response, raw)`` pairs: `raw` is the received
        frame's attachments (None when it had none), which the response's Values index."""
        if self._waiter is not None:
            raise RuntimeError(f"the {self._method} stream is already being read")
        while not self._items and self._end is None:
            self._waiter = self._calls.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self._items:
            payload, raw = self._items.popleft()
            self._taken += 1
            if self._window and self._taken * 2 >= self._window and self._end is None:
                self._calls._grant(self.call_id, self._taken)
                self._taken = 0
            response = self._response_class.FromString(payload)
            return (response, raw) if self.parts else response
        if self._end is True:
            return grpc.aio.EOF
        assert isinstance(self._end, BaseException)
        raise self._end

    async def _responses(self) -> AsyncIterator[Any]:
        try:
            while True:
                response = await self.read()
                if response is grpc.aio.EOF:
                    return
                yield response
        finally:
            self.cancel()  # left early (break, aclose, cancellation): the host stops

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._responses()

    # -- from HostCalls --------------------------------------------------------------------
    def _push(self, payload: bytes, raw: list[memoryview] | None) -> None:
        if self._end is None:
            self._items.append((payload, raw))
            self._wake()

    def _finish(self, end: bool | BaseException, drop_backlog: bool = False) -> None:
        """Ends the stream: responses already received are still read first (as from gRPC),
        except after a cancel, which ends it now."""
        if self._end is not None:
            return
        self._end = end
        if self._expiry is not None:
            self._expiry.cancel()
        if drop_backlog:
            self._items.clear()
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class HostCalls:
    """The HostCalls of one worker connection: ids, pending answers, cancellation."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        send: Callable[[Any], None],
        max_message_bytes: int,
        send_with_attachments: Callable[[Any, list[Any]], None] | None = None,
    ) -> None:
        """`send` writes a WorkerFrame; `send_with_attachments(frame, raws)` writes one as an
        out-of-band frame with those raw attachments (without it, requests carrying
        attachments are refused)."""
        self.loop = loop
        self._send = send
        self._send_with_attachments = send_with_attachments
        self._max_message_bytes = max_message_bytes
        self._pending: dict[int, asyncio.Future[_Received] | HostStream] = {}
        self._next_id = 1
        self.closed = False

    @property
    def in_flight(self) -> int:
        """Unary calls and streams still open."""
        return len(self._pending)

    @property
    def streams_open(self) -> int:
        """The streams among them (a SessionContext's background watch is one)."""
        return sum(1 for entry in self._pending.values() if isinstance(entry, HostStream))

    async def call(
        self,
        method: str,
        request: Any,
        timeout: float | None = None,
        attachments: OutgoingAttachments | None = None,
    ) -> Any:
        """Sends `request` to the host's `method` and returns its response message; raises the
        host's typed error, BridgeTimeoutError past `timeout` seconds (the host is told to
        stop), or BridgeClosedError if the connection ends first. `attachments`: those the
        request's Values refer to (encoded by it), sent out of band."""
        response_class = _response_class(method)
        payload, _ = await self._call(method, request.SerializeToString(), timeout, attachments, False)
        return response_class.FromString(payload)

    async def call_parts(
        self,
        method: str,
        request: Any,
        timeout: float | None = None,
        attachments: OutgoingAttachments | None = None,
    ) -> tuple[Any, list[memoryview] | None]:
        """`call`, the response's attachments out of band too: ``(response, raw)``, where the
        response's Values index `raw`, the received frame's attachments (None: it had none)."""
        response_class = _response_class(method)
        payload, raw = await self._call(method, request.SerializeToString(), timeout, attachments, True)
        return response_class.FromString(payload), raw

    async def call_raw(self, method: str, payload: bytes, timeout: float | None = None) -> bytes:
        """`call` with the request already serialized and the response left so."""
        return (await self._call(method, payload, timeout, None, False))[0]

    async def _call(
        self,
        method: str,
        payload: bytes,
        timeout: float | None,
        attachments: OutgoingAttachments | None,
        reply_out_of_band: bool,
    ) -> _Received:
        if asyncio.get_running_loop() is not self.loop:
            raise RuntimeError("a worker's host calls belong to its event loop; use gRPC from elsewhere")
        self._check_sendable(method, payload, attachments)
        call_id = self._take_id()
        future: asyncio.Future[_Received] = self.loop.create_future()
        self._pending[call_id] = future
        host_call = worker_pb2.HostCall(
            call_id=call_id, method=method, request=payload, out_of_band_reply=reply_out_of_band
        )
        if _telemetry._tracer is not None:  # the host's span for this call joins the current trace
            host_call.traceparent = _telemetry.current_traceparent()
        self._send_call(worker_pb2.WorkerFrame(host_call=host_call), attachments)
        # A timer, not asyncio.wait_for: no extra task or timeout context per call, and it
        # works wherever it is awaited (from any Task, or none).
        expiry = None if timeout is None else self.loop.call_later(timeout, self._expire, call_id, method, timeout)
        try:
            return await future
        except asyncio.CancelledError:
            self._abandon(call_id)
            raise
        finally:
            if expiry is not None:
                expiry.cancel()

    def stream(
        self,
        method: str,
        request: Any,
        timeout: float | None = None,
        window: int = DEFAULT_STREAM_WINDOW,
        attachments: OutgoingAttachments | None = None,
        parts: bool = False,
    ) -> HostStream:
        """Opens server-streaming RPC `method` (Watch, StreamTool) with `request`; iterate the
        returned HostStream. `timeout` bounds the whole stream (BridgeTimeoutError, and the
        host is told to stop); `window` responses may arrive ahead of the consumer.
        `attachments`: those the request's Values refer to. `parts`: responses arrive with
        their attachments out of band, as ``(response, raw)`` pairs."""
        if asyncio.get_running_loop() is not self.loop:
            raise RuntimeError("a worker's host calls belong to its event loop; use gRPC from elsewhere")
        response_class = _response_class(method, streaming=True)
        payload = request.SerializeToString()
        self._check_sendable(method, payload, attachments)
        call_id = self._take_id()
        stream = HostStream(self, call_id, method, response_class, max(0, int(window)), parts)
        self._pending[call_id] = stream
        self._send_call(
            worker_pb2.WorkerFrame(
                host_call=worker_pb2.HostCall(
                    call_id=call_id,
                    method=method,
                    request=payload,
                    stream=True,
                    stream_window=stream._window,
                    out_of_band_reply=parts,
                )
            ),
            attachments,
        )
        if timeout is not None:
            stream._expiry = self.loop.call_later(timeout, self._expire_stream, stream, timeout)
        return stream

    def _check_sendable(self, method: str, payload: bytes, attachments: OutgoingAttachments | None = None) -> None:
        if self.closed:
            raise BridgeClosedError("the worker's connection to the host is closed")
        # The limit counts the attachments: they are part of the message.
        size = len(payload) + (attachments.size if attachments else 0)
        if size > self._max_message_bytes:
            # Refused here, as gRPC would refuse it: a frame over the host's limit would end
            # the connection, and the worker with it.
            raise PayloadTooLargeError(
                f"the {method} request is {size} bytes, over the message limit of {self._max_message_bytes} bytes"
                " (option maxMessageBytes)",
                details={"size": size, "limit": self._max_message_bytes},
            )
        if attachments and self._send_with_attachments is None:
            raise ProtocolError("this connection cannot send attachments out of band")

    def _send_call(self, frame: Any, attachments: OutgoingAttachments | None) -> None:
        if attachments:
            assert self._send_with_attachments is not None  # _check_sendable refused it otherwise
            self._send_with_attachments(frame, attachments.raws)
        else:
            self._send(frame)

    def _expire_stream(self, stream: HostStream, timeout: float) -> None:
        if stream._end is not None:
            return
        stream._finish(BridgeTimeoutError(f"{stream._method} did not finish within {timeout} s"))
        self._abandon(stream.call_id)

    def _grant(self, call_id: int, items: int) -> None:
        if not self.closed and call_id in self._pending:
            self._send(
                worker_pb2.WorkerFrame(host_stream_credit=worker_pb2.HostStreamCredit(call_id=call_id, items=items))
            )

    def _expire(self, call_id: int, method: str, timeout: float) -> None:
        future = self._pending.get(call_id)
        if future is None or future.done():
            return
        self._abandon(call_id)
        future.set_exception(BridgeTimeoutError(f"{method} got no answer from the host within {timeout} s"))

    def on_reply(self, reply: Any, raw: list[memoryview] | None = None) -> None:
        """A HostReply; `raw`: the attachments of its out-of-band frame."""
        entry = self._pending.get(reply.call_id)
        if isinstance(entry, HostStream):
            self._on_stream_reply(entry, reply, raw)
            return
        future = self._pending.pop(reply.call_id, None)
        if future is None or future.done():
            return  # given up on (timed out, cancelled): the answer is not wanted
        outcome = reply.WhichOneof("outcome")
        if outcome == "response":
            future.set_result((reply.response, raw))
        elif outcome == "error":
            future.set_exception(error_from_detail(reply.error))
        else:
            future.set_exception(
                ProtocolError(f"the host answered host call {reply.call_id} with neither a response nor an error")
            )

    def _on_stream_reply(self, stream: HostStream, reply: Any, raw: list[memoryview] | None) -> None:
        outcome = reply.WhichOneof("outcome")
        if outcome == "response":
            stream._push(reply.response, raw)
            return
        del self._pending[reply.call_id]
        if outcome == "end":
            stream._finish(True)
        elif outcome == "error":
            stream._finish(error_from_detail(reply.error))
        else:
            stream._finish(ProtocolError(f"the host answered host stream {reply.call_id} with an empty reply"))

    def close(self) -> None:
        """The connection is gone: every pending call fails."""
        self.closed = True
        pending, self._pending = self._pending, {}
        for entry in pending.values():
            if isinstance(entry, HostStream):
                entry._finish(BridgeClosedError("the worker's connection to the host closed during the stream"))
            elif not entry.done():
                entry.set_exception(BridgeClosedError("the worker's connection to the host closed during the call"))

    def _abandon(self, call_id: int) -> None:
        if self._pending.pop(call_id, None) is not None and not self.closed:
            self._send(worker_pb2.WorkerFrame(host_call_cancel=worker_pb2.HostCallCancel(call_id=call_id)))

    def _take_id(self) -> int:
        call_id = self._next_id
        while call_id in self._pending:
            call_id = call_id + 1 if call_id < 0xFFFFFFFF else 1
        self._next_id = call_id + 1 if call_id < 0xFFFFFFFF else 1
        return call_id


_installed: HostCalls | None = None


def install(host_calls: HostCalls | None) -> None:
    """Makes `host_calls` this process's route to the host (the fork server does this in each
    worker it starts; nothing else should)."""
    global _installed
    _installed = host_calls


def local_route() -> HostCalls | None:
    """This worker's HostCalls, if there is one and the caller runs on its event loop."""
    route = _installed
    if route is None or route.closed:
        return None
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    return route if loop is route.loop else None
