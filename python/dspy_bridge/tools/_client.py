"""Python -> TypeScript tools: ``call_tool``, ``stream_tool``, ``list_tools`` over the host's
bridge service (``CallTool``, ``StreamTool``, ``ListTools``), and ``SessionTools`` for a
``SessionContext``'s channel.

Arguments and results travel in the value envelope. Cancelling the awaiting task cancels the
gRPC call, which aborts the TypeScript tool's ``AbortSignal``. Failures raise the typed
errors of ``dspy_bridge.errors`` (the host sends them in the trailing metadata).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc

from .._gen.dspy_bridge.v1 import tools_pb2
from ..core._message_attachments import OutgoingAttachments, decode_received
from ..core.host import HostClient, connect, resolve_address, translate_rpc_error
from ..errors import BridgeClosedError, InvalidArgumentError, ProtocolError
from ..values import encode_value
from ._current import current_session_id

__all__ = ["SessionTools", "ToolSpec", "call_tool", "close_tool_clients", "list_tools", "stream_tool", "tool_client"]


@dataclass(frozen=True)
class ToolSpec:
    """A tool as the host lists it (TypeScript or Python)."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    """The JSON Schema (an object schema) of the arguments."""
    streaming: bool = False
    owner: str = "typescript"
    """``"typescript"`` or ``"python"``."""
    session_id: str = ""
    """Empty for a global tool; else the only session that sees it."""

    @classmethod
    def from_proto(cls, msg: Any) -> ToolSpec:
        try:
            parameters = json.loads(msg.parameters_json) if msg.parameters_json else {}
        except ValueError as err:
            raise ProtocolError(f"tool '{msg.name}': parameters_json is not JSON: {err}") from None
        if not isinstance(parameters, dict):
            parameters = {}
        parameters.setdefault("type", "object")
        parameters.setdefault("properties", {})
        return cls(msg.name, msg.description, parameters, msg.streaming, msg.owner or "typescript", msg.session_id)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolSpec:
        parameters = dict(data.get("parameters") or {})
        parameters.setdefault("type", "object")
        parameters.setdefault("properties", {})
        return cls(
            name=str(data["name"]),
            description=str(data.get("description") or ""),
            parameters=parameters,
            streaming=bool(data.get("streaming", False)),
            owner=str(data.get("owner") or "typescript"),
            session_id=str(data.get("session_id") or data.get("session") or ""),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
            "streaming": self.streaming,
            "owner": self.owner,
            "session_id": self.session_id,
        }


# -- the per-process, per-event-loop client ------------------------------------------------

_clients: dict[tuple[int, int, str, str], tuple[asyncio.AbstractEventLoop, Any]] = {}
_connecting: dict[tuple[int, int, str, str], asyncio.Future[Any]] = {}


def _key(address: str | None, token: str | None) -> tuple[int, int, str, str]:
    loop = asyncio.get_running_loop()
    return (os.getpid(), id(loop), resolve_address(address) or "", token or "")


async def tool_client(address: str | None = None, token: str | None = None) -> Any:
    """The ``HostClient`` these functions use by default: one per process, event loop and
    address, made by ``dspy_bridge.core.host.connect(address, token)`` on first use (in a
    worker, address and secret come from the host that started it)."""
    key = _key(address, token)
    loop = asyncio.get_running_loop()
    for stale in [k for k, (lp, _) in _clients.items() if lp.is_closed() or k[0] != key[0]]:
        _clients.pop(stale, None)
    entry = _clients.get(key)
    if entry is not None and entry[0] is loop:
        return entry[1]
    pending = _connecting.get(key)
    if pending is None:
        pending = asyncio.ensure_future(connect(address, token))
        _connecting[key] = pending
    try:
        client = await asyncio.shield(pending)
    finally:
        if pending.done():
            _connecting.pop(key, None)
    _clients[key] = (loop, client)
    return client


async def close_tool_clients() -> None:
    """Closes the cached clients of the running event loop (tests, shutdown)."""
    loop = asyncio.get_running_loop()
    for key, (lp, client) in list(_clients.items()):
        if lp is loop:
            _clients.pop(key, None)
            await client.close()


# -- calls ---------------------------------------------------------------------------------


def _host_client(client: Any) -> HostClient:
    """`client` as a HostClient: any object with a bridge-service `stub` will do as a client
    (it then always takes gRPC; only a HostClient can take the worker's connection)."""
    if isinstance(client, HostClient):
        return client
    return HostClient(None, stub=client.stub, owns_channel=False)


def _request(
    name: str,
    args: Mapping[str, Any] | None,
    session_id: str | None,
    timeout: float | None,
    attachments: OutgoingAttachments | None = None,
) -> Any:
    """The CallToolRequest; with `attachments` (the worker's connection), its arguments'
    attachments go out of band there."""
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError("the tool name must be a non-empty string", parameter="name")
    if args is None:
        args = {}
    if not isinstance(args, Mapping):
        raise InvalidArgumentError(
            f"tool arguments must be a mapping of argument names to values, got {type(args).__name__}", parameter="args"
        )
    if timeout is not None and timeout <= 0:
        raise InvalidArgumentError("timeout must be positive (seconds)", parameter="timeout")
    session = current_session_id() if session_id is None else session_id
    return tools_pb2.CallToolRequest(
        session_id=session,
        name=name,
        args=attachments.value(dict(args), "args") if attachments is not None else encode_value(dict(args), "args"),
        timeout_ms=int(timeout * 1000) if timeout is not None else 0,
    )


async def _call(
    client: HostClient, name: str, args: Mapping[str, Any] | None, session_id: str | None, timeout: float | None
) -> Any:
    """Calls the tool through `client`; cancelling or timing out tells the host to abort the
    tool (its AbortSignal) whichever way the call travels. The host also gets `timeout` as
    timeout_ms (the tool's signal aborts then); the call's deadline at the same moment makes
    the caller's error a BridgeTimeoutError whatever the tool throws."""
    attachments = client.outgoing()
    response, raw = await client.call_parts(
        "CallTool", _request(name, args, session_id, timeout, attachments), timeout, attachments=attachments
    )
    return decode_received(response.result, "result", raw) if response.HasField("result") else None


async def _stream(
    client: HostClient, name: str, args: Mapping[str, Any] | None, session_id: str | None, timeout: float | None
) -> AsyncIterator[Any]:
    """The items of a streaming tool through `client` (a stream on the worker's connection
    reads like grpc.aio's, raising the host's errors already typed)."""
    attachments = client.outgoing()
    opened = client.stream(
        "StreamTool",
        _request(name, args, session_id, timeout, attachments),
        timeout,
        attachments=attachments,
        parts=True,
    )
    call = opened.call
    try:
        while True:
            try:
                item = await call.read()
            except grpc.aio.AioRpcError as err:
                raise translate_rpc_error(err) from None
            except grpc.aio.UsageError:
                raise BridgeClosedError("the channel to the host is closed") from None
            if item is grpc.aio.EOF:
                return
            response, raw = opened.parts(item)
            yield decode_received(response.result, "item", raw) if response.HasField("result") else None
    finally:
        if not call.done():
            call.cancel()  # stopped early (break, aclose, cancellation): end the TypeScript stream


async def call_tool(
    name: str,
    args: Mapping[str, Any] | None = None,
    *,
    session_id: str | None = None,
    timeout: float | None = None,
    client: Any = None,
) -> Any:
    """Calls a TypeScript tool through the host's bridge service and returns its result.

    ``session_id``: the session whose tools are visible (default: the session of the tool call
    being served, see ``current_session_id()``; "" = global tools only). ``timeout`` in
    seconds (``BridgeTimeoutError``). ``client``: a ``HostClient`` (default: ``tool_client()``).
    Unknown tools raise ``NotFoundError``, bad arguments ``InvalidArgumentError`` naming the
    argument, a failing tool the error it raised.
    """
    if client is None:
        client = await tool_client()
    return await _call(_host_client(client), name, args, session_id, timeout)


async def stream_tool(
    name: str,
    args: Mapping[str, Any] | None = None,
    *,
    session_id: str | None = None,
    timeout: float | None = None,
    client: Any = None,
) -> AsyncIterator[Any]:
    """Iterates the items of a streaming tool (``async for item in stream_tool(...)``).
    Leaving the loop early cancels the call."""
    if client is None:
        client = await tool_client()
    async for item in _stream(_host_client(client), name, args, session_id, timeout):
        yield item


async def _list(client: HostClient, session_id: str | None, timeout: float | None) -> list[ToolSpec]:
    session = current_session_id() if session_id is None else session_id
    response = await client.call("ListTools", tools_pb2.ListToolsRequest(session_id=session), timeout)
    return [ToolSpec.from_proto(t) for t in response.tools]


async def list_tools(
    session_id: str | None = None, *, client: Any = None, timeout: float | None = 30.0
) -> list[ToolSpec]:
    """Every tool the host knows that ``session_id`` sees (global ones plus the session's own;
    TypeScript and Python tools), with their schemas."""
    if client is None:
        client = await tool_client()
    return await _list(_host_client(client), session_id, timeout)


class SessionTools:
    """A session's tools, over a ``SessionContext``'s channel: ``SessionTools(session)``.

    ``await tools.call(name, args)``, ``async for item in tools.stream(name, args)``,
    ``await tools.list()`` all use the context's (authenticated) channel and session id, so
    the session's own TypeScript tools are visible.
    """

    def __init__(self, session: Any) -> None:
        self._session = session

    @property
    def session_id(self) -> str:
        return str(self._session.session_id)

    async def call(self, name: str, args: Mapping[str, Any] | None = None, *, timeout: float | None = None) -> Any:
        return await _call(self._session.host, name, args, self.session_id, timeout)

    async def stream(
        self, name: str, args: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> AsyncIterator[Any]:
        async for item in _stream(self._session.host, name, args, self.session_id, timeout):
            yield item

    async def list(self) -> list[ToolSpec]:
        return await _list(self._session.host, self.session_id, 30.0)

    def __repr__(self) -> str:
        return f"SessionTools(session_id={self.session_id!r})"
