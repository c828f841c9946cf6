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

import asyncio
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc

# DEFAULT_MAX_MESSAGE_BYTES: the largest message a channel sends or receives outside a worker
# (the host's default maxMessageBytes, shared through proto/constants.json); grpc's own default
# of 4 MB would refuse values the host accepts.
from .._gen.constants import DEFAULT_MAX_MESSAGE_BYTES
from .._gen.dspy_bridge.v1 import bridge_pb2, bridge_pb2_grpc, errors_pb2
from ..errors import (
    AuthenticationError,
    BridgeCancelledError,
    BridgeClosedError,
    BridgeError,
    BridgeTimeoutError,
    InvalidArgumentError,
    PayloadTooLargeError,
    UnavailableError,
    error_from_detail,
)
from ._host_calls import DEFAULT_STREAM_WINDOW, HostCalls, local_route
from ._message_attachments import OutgoingAttachments, inline_attachments

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "ERROR_DETAIL_METADATA_KEY",
    "ChannelFactory",
    "HostClient",
    "OpenStream",
    "being_cancelled",
    "channel_options",
    "client_for",
    "connect",
    "is_own_host",
    "open_channel",
    "resolve_address",
    "resolve_token",
    "translate_rpc_error",
]

ERROR_DETAIL_METADATA_KEY = "dspy-bridge-error-bin"

# Set by the fork server from its stdin and its command line, so worker code can connect
# without arguments, and its channels carry the limit its host was started with.
_worker_token: str | None = None
_worker_max_message_bytes: int | None = None


def _set_worker_token(token: str, max_message_bytes: int | None = None) -> None:
    global _worker_token, _worker_max_message_bytes
    _worker_token = token
    _worker_max_message_bytes = max_message_bytes


def resolve_token(token: str | None = None) -> str | None:
    """The token a client presents: the one given; else, inside a worker, the secret the worker
    received from its host; else ``DSPY_BRIDGE_TOKEN``. The worker's secret comes before the
    environment because the address a worker defaults to is its own host's, and the secret is
    the one credential certain to open it (the host never puts it in the environment)."""
    return token or _worker_token or os.environ.get("DSPY_BRIDGE_TOKEN") or None


def resolve_address(address: str | None = None) -> str | None:
    """The host address a client uses: the one given, else ``DSPY_BRIDGE_ADDRESS`` (a worker
    has it set to its own host)."""
    return address or os.environ.get("DSPY_BRIDGE_ADDRESS") or None


def channel_options(max_message_bytes: int | None = None) -> list[tuple[str, int]]:
    """gRPC channel options for a client of the host: its message limit both ways (the
    worker's ``maxMessageBytes`` inside a worker, else ``DEFAULT_MAX_MESSAGE_BYTES``)."""
    limit = max_message_bytes or _worker_max_message_bytes or DEFAULT_MAX_MESSAGE_BYTES
    return [("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit)]


def is_own_host(address: str | None, token: str | None) -> bool:
    """Whether a client for `address` with `token` talks to the host that runs this worker, as
    that worker: only such a client may use the worker's connection (any other keeps gRPC, and
    the host's own checks of that address and secret)."""
    return (
        bool(address)
        and address == os.environ.get("DSPY_BRIDGE_ADDRESS")
        and _worker_token is not None
        and token == _worker_token
    )


def being_cancelled() -> bool:
    """Whether the running task has been asked to stop (a cancellation of our own, as opposed
    to grpc cancelling a call because its channel closed)."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)  # 3.11+
    return bool(cancelling()) if cancelling is not None else False


def _translate(err: Any) -> BridgeError:
    """A grpc.aio.AioRpcError -> the matching BridgeError."""
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
    if code.name == "RESOURCE_EXHAUSTED":
        # Without a detail it is gRPC's own refusal of a message over a channel's limit (the
        # host's handlers type every error they raise), before or after it crossed.
        return _payload_too_large(err.details() or "")
    return BridgeError(err.details() or code.name, code=code.value[0], reason=code.name.lower())


translate_rpc_error = _translate

# gRPC's wording for a message over a channel's limit: "Sent message larger than max (N vs. M)"
# on the sending side, "Received message larger than max (N vs. M)" on the receiving one.
_OVER_LIMIT = re.compile(r"larger than max \((\d+) vs\. (\d+)\)")


def _payload_too_large(grpc_message: str) -> PayloadTooLargeError:
    """The PayloadTooLargeError of a message gRPC refused for its size, naming the limit as
    the worker's connection does (core._host_calls)."""
    found = _OVER_LIMIT.search(grpc_message)
    if found is None:
        return PayloadTooLargeError(
            f"a message is over the gRPC message limit (option maxMessageBytes): {grpc_message[:200]}"
        )
    size, limit = int(found[1]), int(found[2])
    return PayloadTooLargeError(
        f"a message of {size} bytes is over the message limit of {limit} bytes (option maxMessageBytes)",
        details={"size": size, "limit": limit},
    )


def _auth_interceptors(token: str) -> list[Any]:
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


def open_channel(
    address: str, token: str, *, max_message_bytes: int | None = None, tls_ca: str | bytes | None = None
) -> Any:
    """A ``grpc.aio`` channel to the host whose every call carries ``authorization: Bearer
    <token>``, with the message limit of ``channel_options``. A host serving TLS (``serve
    --tls-cert``) is reached over TLS, its certificate verified against ``tls_ca`` (PEM bytes or
    a file path), else the file named by ``DSPY_BRIDGE_TLS_CA``."""
    ca = tls_ca if tls_ca is not None else os.environ.get("DSPY_BRIDGE_TLS_CA") or None
    interceptors, options = _auth_interceptors(token), channel_options(max_message_bytes)
    if ca is None:
        return grpc.aio.insecure_channel(address, interceptors=interceptors, options=options)
    if isinstance(ca, str):
        with open(ca, "rb") as f:
            ca = f.read()
    return grpc.aio.secure_channel(
        address, grpc.ssl_channel_credentials(root_certificates=ca), interceptors=interceptors, options=options
    )


class _TokenStub:
    """A ``BridgeServiceStub`` whose calls all carry ``authorization: Bearer <token>`` (for a
    channel the caller made without the token)."""

    def __init__(self, stub: Any, token: str) -> None:
        self._stub = stub
        self._metadata = (("authorization", f"Bearer {token}"),)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._stub, name)
        metadata = self._metadata

        def call(request: Any, **kwargs: Any) -> Any:
            kwargs["metadata"] = tuple(kwargs.get("metadata") or ()) + metadata
            return method(request, **kwargs)

        return call


ChannelFactory = Callable[[], Any | Awaitable[Any]]


@dataclass(frozen=True)
class OpenStream:
    """A server-streaming call as ``HostClient.stream`` opened it. ``call`` is iterated
    (``async for``, or ``read()`` until ``grpc.aio.EOF``) and ended with ``cancel()``;
    ``route`` is the worker's connection it travels on (None: gRPC), ``stub`` the gRPC stub
    in use when it was opened (what ``HostClient.channel_lost`` compares against)."""

    call: Any
    route: HostCalls | None
    stub: Any

    @property
    def on_worker_connection(self) -> bool:
        return self.route is not None

    def parts(self, item: Any) -> tuple[Any, list[memoryview] | None]:
        """An item read from ``call`` as ``(response, raw)``: `raw` the attachments its Values
        index when it came out of band (a stream opened with ``parts`` on the worker's
        connection), else None (gRPC: the attachments are inside the response)."""
        if self.route is not None and self.call.parts:
            return item
        return item, None


class HostClient:
    """A client of the host's bridge service: the one place that decides how a call travels.

    A call made on a worker's event loop by a client of that worker's own host, with its
    secret, takes the worker's connection (``core._host_calls``): no grpcio client, HTTP/2 or
    second socket. Every other call takes the gRPC channel. Either way failures are the typed
    errors of ``dspy_bridge.errors``.

    ``channel_factory`` (``SessionContext.connect`` gives one) lets the client reopen a channel
    found closed under a call or stream; without one, ``channel_lost`` waits for the caller to
    ``swap`` in a new channel. ``owns_channel``: ``close()`` closes the channel.
    ``token_fallback``: the channel is a caller's, maybe without the token; when the host
    refuses a call for want of one, the calls carry ``resolve_token()`` from then on.
    ``stub``: a caller's stub to call instead of one over ``channel`` (``channel`` may be None).
    """

    def __init__(
        self,
        channel: Any,
        address: str | None = None,
        *,
        own_host: bool = False,
        channel_factory: ChannelFactory | None = None,
        owns_channel: bool = True,
        token_fallback: bool = False,
        stub: Any = None,
    ) -> None:
        self.address = address
        self._channel = channel
        self._stub = stub if stub is not None else bridge_pb2_grpc.BridgeServiceStub(channel)
        # The host that runs this worker, as this worker (is_own_host): calls and streams made
        # on the worker's loop take the worker's own connection, not the channel.
        self._own_host = own_host
        self._channel_factory = channel_factory
        self._owns_channel = owns_channel
        # A caller's channel may lack the token: when the host refuses it, the calls carry
        # the token at hand from then on (the form `SessionContext(id, plain_channel)`).
        self._token_fallback = token_fallback
        self._added_token: str | None = None
        self._reopen_lock = asyncio.Lock()
        self._swap_event = asyncio.Event()
        self.closed = False

    # -- the channel -----------------------------------------------------------------------

    @property
    def channel(self) -> Any:
        return self._channel

    @property
    def stub(self) -> Any:
        """The bridge-service stub of the current channel (it changes when the channel does)."""
        return self._stub

    @property
    def can_reopen(self) -> bool:
        """Whether this client makes its own channels (and so can reopen one, or make a second
        one for another event loop with ``new_channel``)."""
        return self._channel_factory is not None

    async def new_channel(self) -> Any:
        """A fresh channel from the factory, for the caller to own (another thread's loop)."""
        if self._channel_factory is None:
            raise InvalidArgumentError(
                "this client was made on a caller's channel: it cannot open another", parameter="channel"
            )
        channel = self._channel_factory()
        if asyncio.iscoroutine(channel):
            channel = await channel
        return channel

    async def sibling(self) -> HostClient:
        """A new client like this one, on a fresh channel of its own (for another event loop:
        a channel belongs to the loop it was made on)."""
        return HostClient(
            await self.new_channel(),
            self.address,
            own_host=self._own_host,
            channel_factory=self._channel_factory,
            token_fallback=self._token_fallback,
        )

    async def reconnect(self, channel: Any = None) -> None:
        """Switches to ``channel``, or to a new one from the factory."""
        if channel is None:
            channel, owned = await self.new_channel(), True
        else:
            owned = False
        old, old_owned = self._channel, self._owns_channel
        self.swap(channel, owned)
        if old_owned and old is not channel:
            await old.close()

    def swap(self, channel: Any, owned: bool) -> None:
        """Puts ``channel`` in place; whoever waits in ``channel_lost`` goes on with it."""
        self._channel = channel
        self._stub = bridge_pb2_grpc.BridgeServiceStub(channel)
        if self._added_token is not None:
            self._stub = _TokenStub(self._stub, self._added_token)
        self._owns_channel = owned
        event, self._swap_event = self._swap_event, asyncio.Event()
        event.set()

    async def channel_lost(self, stub_seen: Any) -> None:
        """A stream or call found the channel closed: returns once a new one is in place
        (reopened from the factory, or swapped in by the caller). CancelledError once the
        client is closed."""
        if self.closed:
            raise asyncio.CancelledError()
        if self._stub is not stub_seen:
            return
        if self._channel_factory is not None:
            async with self._reopen_lock:
                if self._stub is stub_seen and not self.closed:
                    self.swap(await self.new_channel(), True)
            return
        await self._swap_event.wait()
        if self.closed:
            raise asyncio.CancelledError()

    def _add_token(self) -> bool:
        """A caller's channel the host refused: carry the token this process knows, once."""
        if not self._token_fallback or self._added_token is not None:
            return False
        token = resolve_token()
        if token is None:
            return False
        self._added_token = token
        self._stub = _TokenStub(self._stub, token)
        return True

    # -- calls -----------------------------------------------------------------------------

    def worker_route(self) -> HostCalls | None:
        """The worker's own connection to the host (core._host_calls), when this client is the
        worker's client of its own host and the caller is on the worker's loop; else None."""
        if not self._own_host or self.closed:
            return None
        return local_route()

    def outgoing(self) -> OutgoingAttachments | None:
        """Where a request about to be sent should put its Values' attachments: an
        ``OutgoingAttachments`` when it will travel on the worker's connection (out of band:
        encode its Values with ``.value()`` and pass it as ``attachments``), else None (gRPC:
        encode them as usual, attachments inside)."""
        return OutgoingAttachments() if self.worker_route() is not None else None

    async def call(
        self,
        method: str,
        request: Any,
        timeout: float | None = None,
        *,
        attachments: OutgoingAttachments | None = None,
    ) -> Any:
        """Calls the unary RPC ``method`` of the bridge service, raising typed errors.
        `attachments`: what the request's Values refer to (``outgoing()``).

        Over gRPC: a channel the host refused for want of a token gets the token at hand
        (``resolve_token``) and the call is made again, once; a channel found closed is
        reopened (with a factory) or waited for (``swap``), once."""
        route = self.worker_route()
        if route is not None:
            return await route.call(method, request, timeout, attachments)
        return await self._grpc_call(method, request, timeout, attachments)

    async def call_parts(
        self,
        method: str,
        request: Any,
        timeout: float | None = None,
        *,
        attachments: OutgoingAttachments | None = None,
    ) -> tuple[Any, list[memoryview] | None]:
        """``call``, returning ``(response, raw)``: on the worker's connection the response's
        attachments come out of band, `raw` being what its Values index (decode them with
        ``decode_received``); over gRPC `raw` is None and they are inside the response."""
        route = self.worker_route()
        if route is not None:
            return await route.call_parts(method, request, timeout, attachments)
        return await self._grpc_call(method, request, timeout, attachments), None

    async def _grpc_call(
        self, method: str, request: Any, timeout: float | None, attachments: OutgoingAttachments | None
    ) -> Any:
        if attachments:
            # Encoded for the worker's connection, sent over gRPC after all (the route closed
            # meanwhile): the attachments go inside the message.
            inline_attachments(request, attachments)
        for attempt in (0, 1):
            stub = self._stub
            pending = None
            try:
                pending = getattr(stub, method)(request, timeout=timeout)
                return await pending
            except grpc.aio.AioRpcError as err:
                translated = _translate(err)
                if isinstance(translated, AuthenticationError) and attempt == 0 and self._add_token():
                    continue
                raise translated from None
            except grpc.aio.UsageError:
                if attempt == 0 and self._channel_factory is not None and not self.closed:
                    await self.channel_lost(stub)
                    continue
                raise BridgeClosedError("the channel to the host is closed") from None
            except asyncio.CancelledError:
                if (
                    self.closed
                    or being_cancelled()
                    or self._channel.get_state() is not grpc.ChannelConnectivity.SHUTDOWN
                ):
                    if pending is not None and not pending.done():
                        pending.cancel()  # the host sees the cancellation (a tool's AbortSignal aborts)
                    raise
                if attempt == 0 and self._channel_factory is not None:
                    await self.channel_lost(stub)
                    continue
                raise BridgeClosedError("the channel to the host was closed during the call") from None
        raise BridgeClosedError("the channel to the host is closed")  # pragma: no cover

    def stream(
        self,
        method: str,
        request: Any,
        timeout: float | None = None,
        *,
        window: int = DEFAULT_STREAM_WINDOW,
        attachments: OutgoingAttachments | None = None,
        parts: bool = False,
    ) -> OpenStream:
        """Opens the server-streaming RPC ``method`` (Watch, StreamTool). Over the worker's
        connection the host sends at most ``window`` responses ahead of the reader (0: no
        limit, for a stream the host never holds back); ``timeout`` bounds the whole stream.
        `attachments`: what the request's Values refer to (``outgoing()``). `parts`: on the
        worker's connection the responses' attachments come out of band (read each item
        through ``OpenStream.parts``). Errors from gRPC come raw (``translate_rpc_error``): a
        stream's owner decides which ones it retries."""
        stub = self._stub
        route = self.worker_route()
        if route is not None:
            opened = route.stream(method, request, timeout, window=window, attachments=attachments, parts=parts)
            return OpenStream(opened, route, stub)
        if attachments:
            inline_attachments(request, attachments)
        return OpenStream(getattr(stub, method)(request, timeout=timeout), None, stub)

    async def ping(self, message: str = "", timeout: float | None = 10.0) -> Any:
        return await self.call("Ping", bridge_pb2.PingRequest(message=message), timeout)

    async def close(self) -> None:
        """Ends the client: waiters in ``channel_lost`` stop; the channel is closed if the
        client owns it."""
        if self.closed:
            return
        self.closed = True
        self._swap_event.set()
        if self._owns_channel:
            await self._channel.close()

    async def __aenter__(self) -> HostClient:
        return self

    async def __aexit__(self, *_exc: Any) -> None:
        await self.close()


def client_for(address: str | None = None, token: str | None = None, *, reopen: bool = False) -> HostClient:
    """A ``HostClient`` for ``address`` and ``token`` (defaults: ``resolve_address``,
    ``resolve_token``) on a channel it owns. ``reopen``: the client reopens its channel when
    it finds it closed. InvalidArgumentError without an address, AuthenticationError without
    a token."""
    address = resolve_address(address)
    token = resolve_token(token)
    if not address:
        raise InvalidArgumentError(
            "no host address: pass one, or set DSPY_BRIDGE_ADDRESS (workers have it set)", parameter="address"
        )
    if not token:
        raise AuthenticationError("no token: pass token=..., or set DSPY_BRIDGE_TOKEN")

    def factory() -> Any:
        return open_channel(address, token)

    return HostClient(
        factory(), address, own_host=is_own_host(address, token), channel_factory=factory if reopen else None
    )


async def connect(address: str | None = None, token: str | None = None) -> HostClient:
    """Open an authenticated channel to the host's bridge service."""
    return client_for(address, token)
