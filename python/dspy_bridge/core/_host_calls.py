"""Worker -> host calls on the worker's own connection instead of a gRPC channel.

A unary RPC of the bridge service (bridge.proto) made by code running on the worker's
event loop (a SessionContext's variable reads and writes, a TypeScript tool call) travels
as a ``HostCall`` frame on the connection the worker already has, and its answer comes back
as a ``HostReply`` (worker.proto). That skips grpcio's client, HTTP/2 and a second socket:
a cache-miss read costs about a sixth of what a unary gRPC call does (docs/benchmarks.md).

Only calls made on the worker's own loop use it (``local_route()``): the futures and the
transport here belong to that loop and are not thread-safe, and synchronous code on the
loop's thread waiting for an answer only that loop can read would wait forever. Calls from
other threads or loops, streaming RPCs (Watch, StreamTool), clients with another address or
secret, and every process outside the pool keep using gRPC, which serves the same handlers
on the host.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Callable, Optional

from google.protobuf import message_factory

from .._gen.dspy_bridge.v1 import bridge_pb2, worker_pb2
from ..errors import BridgeClosedError, BridgeTimeoutError, PayloadTooLargeError, ProtocolError, error_from_detail

__all__ = ["HostCalls", "install", "local_route", "is_own_host"]

_SERVICE = bridge_pb2.DESCRIPTOR.services_by_name["BridgeService"]
_response_classes: dict[str, Any] = {}


def _response_class(method: str) -> Any:
    cls = _response_classes.get(method)
    if cls is None:
        desc = _SERVICE.methods_by_name.get(method)
        if desc is None or desc.server_streaming or desc.client_streaming:
            raise ValueError(f"'{method}' is not a unary RPC of the bridge service")
        cls = _response_classes[method] = message_factory.GetMessageClass(desc.output_type)
    return cls


class HostCalls:
    """The HostCalls of one worker connection: ids, pending answers, cancellation."""

    def __init__(self, loop: asyncio.AbstractEventLoop, send: Callable[[Any], None], max_message_bytes: int) -> None:
        self.loop = loop
        self._send = send
        self._max_message_bytes = max_message_bytes
        self._pending: dict[int, asyncio.Future[bytes]] = {}
        self._next_id = 1
        self.closed = False

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def call(self, method: str, request: Any, timeout: Optional[float] = None) -> Any:
        """Sends `request` to the host's `method` and returns its response message; raises the
        host's typed error, BridgeTimeoutError past `timeout` seconds (the host is told to
        stop), or BridgeClosedError if the connection ends first."""
        response_class = _response_class(method)
        return response_class.FromString(await self.call_raw(method, request.SerializeToString(), timeout))

    async def call_raw(self, method: str, payload: bytes, timeout: Optional[float] = None) -> bytes:
        """`call` with the request already serialized and the response left so."""
        if asyncio.get_running_loop() is not self.loop:
            raise RuntimeError("a worker's host calls belong to its event loop; use gRPC from elsewhere")
        if self.closed:
            raise BridgeClosedError("the worker's connection to the host is closed")
        if len(payload) > self._max_message_bytes:
            # Refused here, as gRPC would refuse it: a frame over the host's limit would end
            # the connection, and the worker with it.
            raise PayloadTooLargeError(
                f"the {method} request is {len(payload)} bytes, over the message limit of {self._max_message_bytes} bytes",
                details={"size": len(payload), "limit": self._max_message_bytes},
            )
        call_id = self._take_id()
        future: asyncio.Future[bytes] = self.loop.create_future()
        self._pending[call_id] = future
        self._send(worker_pb2.WorkerFrame(host_call=worker_pb2.HostCall(call_id=call_id, method=method, request=payload)))
        # A timer, not asyncio.wait_for: an async command's first step runs outside any Task
        # (WorkerProtocol._start_eagerly), where wait_for (asyncio.timeout) refuses to run from
        # Python 3.12 on.
        expiry = None if timeout is None else self.loop.call_later(timeout, self._expire, call_id, method, timeout)
        try:
            return await future
        except asyncio.CancelledError:
            self._abandon(call_id)
            raise
        finally:
            if expiry is not None:
                expiry.cancel()

    def _expire(self, call_id: int, method: str, timeout: float) -> None:
        future = self._pending.get(call_id)
        if future is None or future.done():
            return
        self._abandon(call_id)
        future.set_exception(BridgeTimeoutError(f"{method} got no answer from the host within {timeout} s"))

    def on_reply(self, reply: Any) -> None:
        future = self._pending.pop(reply.call_id, None)
        if future is None or future.done():
            return  # given up on (timed out, cancelled): the answer is not wanted
        outcome = reply.WhichOneof("outcome")
        if outcome == "response":
            future.set_result(reply.response)
        elif outcome == "error":
            future.set_exception(error_from_detail(reply.error))
        else:
            future.set_exception(ProtocolError(f"the host answered host call {reply.call_id} with neither a response nor an error"))

    def close(self) -> None:
        """The connection is gone: every pending call fails."""
        self.closed = True
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(BridgeClosedError("the worker's connection to the host closed during the call"))

    def _abandon(self, call_id: int) -> None:
        if self._pending.pop(call_id, None) is not None and not self.closed:
            self._send(worker_pb2.WorkerFrame(host_call_cancel=worker_pb2.HostCallCancel(call_id=call_id)))

    def _take_id(self) -> int:
        call_id = self._next_id
        while call_id in self._pending:
            call_id = call_id + 1 if call_id < 0xFFFFFFFF else 1
        self._next_id = call_id + 1 if call_id < 0xFFFFFFFF else 1
        return call_id


_installed: Optional[HostCalls] = None


def install(host_calls: Optional[HostCalls]) -> None:
    """Makes `host_calls` this process's route to the host (the fork server does this in each
    worker it starts; nothing else should)."""
    global _installed
    _installed = host_calls


def is_own_host(address: Optional[str], token: Optional[str]) -> bool:
    """Whether a client for `address` with `token` talks to the host that runs this worker, as
    that worker: only such a client may use the worker's connection (any other keeps gRPC, and
    the host's own checks of that address and secret)."""
    from . import host

    own_token = host._worker_token
    return bool(address) and address == os.environ.get("DSPY_BRIDGE_ADDRESS") and own_token is not None and token == own_token


def local_route() -> Optional[HostCalls]:
    """This worker's HostCalls, if there is one and the caller runs on its event loop."""
    route = _installed
    if route is None or route.closed:
        return None
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    return route if loop is route.loop else None
