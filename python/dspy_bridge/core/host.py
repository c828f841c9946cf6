"""Python -> host: a client of the host's bridge service (gRPC), with the per-host secret.

Inside a worker the address and secret are known (``DSPY_BRIDGE_ADDRESS`` and the token the
fork server received on stdin), so ``await connect()`` needs no arguments. From any other
process pass them, or set ``DSPY_BRIDGE_ADDRESS`` / ``DSPY_BRIDGE_TOKEN``::

    client = await connect("unix:/tmp/dspy-bridge-x/bridge.sock", token="...")
    reply = await client.ping("hello")
    await client.close()

Failed calls raise the typed errors of ``dspy_bridge.errors``: the host sends the error
detail in the trailing metadata, and the status code alone is the fallback.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import (
    AuthenticationError,
    BridgeCancelledError,
    BridgeError,
    BridgeTimeoutError,
    InvalidArgumentError,
    UnavailableError,
    error_from_detail,
)

__all__ = ["HostClient", "connect", "ERROR_DETAIL_METADATA_KEY"]

ERROR_DETAIL_METADATA_KEY = "dspy-bridge-error-bin"

# Set by the fork server from its stdin, so worker code can connect without arguments.
_worker_token: str | None = None


def _set_worker_token(token: str) -> None:
    global _worker_token
    _worker_token = token


def _translate(err: Any) -> BridgeError:
    """A grpc.aio.AioRpcError -> the matching BridgeError."""
    from .._gen.dspy_bridge.v1 import errors_pb2

    for key, value in err.trailing_metadata() or ():
        if key == ERROR_DETAIL_METADATA_KEY and isinstance(value, bytes):
            return error_from_detail(errors_pb2.ErrorDetail.FromString(value))
    code = err.code()
    if code.name == "UNAUTHENTICATED":
        return AuthenticationError(err.details() or "unauthenticated")
    # No detail in the trailers: the client's own deadline or cancellation, typed as the
    # worker's connection types them (core._host_calls).
    if code.name == "DEADLINE_EXCEEDED":
        return BridgeTimeoutError(err.details() or "the call to the host timed out")
    if code.name == "CANCELLED":
        return BridgeCancelledError(err.details() or "the call to the host was cancelled")
    if code.name == "UNAVAILABLE":
        # The host unreachable or the connection lost: a transport failure (also a grpc.RpcError).
        return UnavailableError(err.details() or "the host is unavailable")
    return BridgeError(err.details() or code.name, code=code.value[0], reason=code.name.lower())


def _auth_interceptors(token: str) -> list[Any]:
    import grpc

    metadata = (("authorization", f"Bearer {token}"),)

    def with_auth(details: Any) -> Any:
        return details._replace(metadata=tuple(details.metadata or ()) + metadata)

    class UnaryUnary(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
        async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
            return await continuation(with_auth(details), request)

    class UnaryStream(grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]
        async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
            return await continuation(with_auth(details), request)

    class StreamUnary(grpc.aio.StreamUnaryClientInterceptor):  # type: ignore[misc]
        async def intercept_stream_unary(self, continuation: Any, details: Any, request_iterator: Any) -> Any:
            return await continuation(with_auth(details), request_iterator)

    class StreamStream(grpc.aio.StreamStreamClientInterceptor):  # type: ignore[misc]
        async def intercept_stream_stream(self, continuation: Any, details: Any, request_iterator: Any) -> Any:
            return await continuation(with_auth(details), request_iterator)

    return [UnaryUnary(), UnaryStream(), StreamUnary(), StreamStream()]


class HostClient:
    """An authenticated channel to the host plus the bridge service stub."""

    def __init__(self, channel: Any, address: str, *, own_host: bool = False) -> None:
        from .._gen.dspy_bridge.v1 import bridge_pb2_grpc

        self.channel = channel
        self.address = address
        self.stub = bridge_pb2_grpc.BridgeServiceStub(channel)
        # The host that runs this worker, as this worker (_host_calls.is_own_host): calls and
        # streams made on the worker's loop take the worker's own connection, not the channel.
        self._own_host = own_host

    def worker_route(self) -> Any:
        """The worker's own connection to the host (core._host_calls), when this client is the
        worker's client of its own host and the caller is on the worker's loop; else None."""
        if not self._own_host:
            return None
        from ._host_calls import local_route

        return local_route()

    async def call(self, method: str, request: Any, timeout: float | None = None) -> Any:
        """Calls a unary RPC of the bridge service by name, raising typed errors."""
        import grpc

        route = self.worker_route()
        if route is not None:
            return await route.call(method, request, timeout)
        try:
            return await getattr(self.stub, method)(request, timeout=timeout)
        except grpc.aio.AioRpcError as err:
            raise _translate(err) from None

    async def ping(self, message: str = "", timeout: float | None = 10.0) -> Any:
        from .._gen.dspy_bridge.v1 import bridge_pb2

        return await self.call("Ping", bridge_pb2.PingRequest(message=message), timeout)

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> HostClient:
        return self

    async def __aexit__(self, *_exc: Any) -> None:
        await self.close()


async def connect(address: str | None = None, token: str | None = None) -> HostClient:
    """Open an authenticated channel to the host's bridge service."""
    import grpc

    address = address or os.environ.get("DSPY_BRIDGE_ADDRESS")
    # Inside a worker the secret received from the host wins over the environment.
    token = token or _worker_token or os.environ.get("DSPY_BRIDGE_TOKEN")
    if not address:
        raise InvalidArgumentError(
            "no host address: pass one, or set DSPY_BRIDGE_ADDRESS (workers have it set)", parameter="address"
        )
    if not token:
        raise AuthenticationError("no token: pass token=..., or set DSPY_BRIDGE_TOKEN")
    channel = grpc.aio.insecure_channel(
        address,
        interceptors=_auth_interceptors(token),
        options=[("grpc.max_receive_message_length", 128 * 1024 * 1024), ("grpc.max_send_message_length", 128 * 1024 * 1024)],
    )
    from ._host_calls import is_own_host

    return HostClient(channel, address, own_host=is_own_host(address, token))
