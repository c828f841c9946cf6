"""``SessionContext``: the Python face of a host session's variables (the Python variables
API of DSPex), over the bridge service (gRPC).

The host owns the truth; this object keeps a ``VariableCache`` that a background watch
stream keeps fresh (see ``docs/python-sessions.md``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import datetime, timezone
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import grpc

from .._gen.dspy_bridge.v1 import optimization_pb2, session_pb2, variables_pb2
from ..core.host import ChannelFactory, HostClient, OpenStream, being_cancelled, client_for, translate_rpc_error
from ..core._message_attachments import OutgoingAttachments
from ..errors import (
    AlreadyExistsError,
    BridgeClosedError,
    BridgeError,
    Code,
    InvalidArgumentError,
    NotFoundError,
    VariableTypeError,
    error_from_detail,
)
from ..optimize import check_optimizer_class, class_path_of
from ..tools import SessionTools, default_tool_registry
from ..tools._errors import ToolNotFoundError, as_tool_not_found
from ..values import ValueEncodingError, encode_value
from ..variable_types import custom as _custom_types
from ..variable_types import value_forms as _seed_values
from ..variable_types.checks import TYPE_ALIASES as _TYPE_ALIASES
from ._cache import VariableCache
from ._configuration_space import ConfigurationSpace
from ._convert import (
    access_rules_in,
    allowed,
    decode,
    dependency_info,
    history_entry,
    string_map,
    variable_info,
)
from ._parquet import _pyarrow, document_to_parquet, parquet_to_document
from ._seed_forms import TaskableWatch
from ._watch import VariableWatch

__all__ = ["SessionContext", "DEFAULT_CACHE_TTL", "DEFAULT_CACHE_SIZE"]

DEFAULT_CACHE_TTL = 60.0
"""Seconds a cached value may be served. Freshness comes from the watch stream; the TTL only
bounds how long a value is kept when the stream cannot deliver (host unreachable)."""
DEFAULT_CACHE_SIZE = 1000

_MISS = VariableCache.MISS
_DELETE = variables_pb2.VariableChange.KIND_DELETE
_REGISTER_KEYS = {"name", "type", "initial_value", "value", "constraints", "metadata", "dependencies", "access_rules"}
_CUSTOM_TYPE_KEY = _custom_types.CUSTOM_TYPE_KEY
_CUSTOM_CONSTRAINTS_KEY = _custom_types.CUSTOM_CONSTRAINTS_KEY


def _canonical(vtype: str) -> str:
    return _TYPE_ALIASES.get(vtype, vtype)


class _Latency:
    __slots__ = ("count", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0

    def add(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds

    @property
    def avg_ms(self) -> float:
        return self.total / self.count * 1000.0 if self.count else 0.0


class SessionContext:
    """A session's variables on the host, seen from Python.

    ``SessionContext(session_id, channel)`` takes a ``grpc.aio`` channel the caller made. The
    host authenticates every call (``authorization: Bearer <token>``), so that channel must
    already carry the token: use ``await SessionContext.connect(address, session_id,
    token=...)`` to get a ready context on a channel made for you (it also reopens that
    channel if it is closed). Then ``await session.initialize()`` gets or creates the session
    and starts the background watch that keeps the cache fresh.

    ``caller_session_id`` is the identity access rules are checked against (default: the
    session itself). ``timeout`` is the deadline of each unary call in seconds (None: none).
    """

    def __init__(
        self,
        session_id: str | None,
        channel: Any,
        *,
        caller_session_id: str | None = None,
        cache: VariableCache | None = None,
        channel_factory: ChannelFactory | None = None,
        owns_channel: bool = False,
        timeout: float | None = 60.0,
    ) -> None:
        if session_id is not None and (not isinstance(session_id, str) or not session_id):
            raise InvalidArgumentError(
                "session_id must be a non-empty string (or None to let the host choose)", parameter="session_id"
            )
        self._session_id = session_id or ""
        self._caller = caller_session_id or ""
        # How calls travel (the worker's connection or gRPC), the channel and its reopening.
        self._host = HostClient(
            channel, channel_factory=channel_factory, owns_channel=owns_channel, token_fallback=channel_factory is None
        )
        self._timeout = timeout
        self._cache = cache if cache is not None else VariableCache(ttl=DEFAULT_CACHE_TTL, max_size=DEFAULT_CACHE_SIZE)
        self._ids: dict[str, str] = {}  # variable id -> name
        self._types: dict[str, str] = {}  # name -> type
        self._seen: dict[str, int] = {}  # name -> newest revision known to have changed it
        self._epoch = 0  # bumped when the cache is cleared for a resync
        self._revision = 0  # last revision the background watch delivered
        self._revision_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._cache_live = False
        self._initialized = False
        self._closed = False
        self._bg_task: asyncio.Task[None] | None = None
        self._bg_reconnects = 0
        self._watches: set[VariableWatch] = set()
        self._optimization_watchers: dict[str, asyncio.Future[Any]] = {}  # optimization id -> callback poller
        self._default_objective: str | None = None
        self._frameworks: dict[str, str] = {}  # name -> "torch"/"tensorflow": it was written as such a tensor here
        self._tensor_framework: str | None = None  # set_tensor_framework
        self._custom: dict[str, tuple[str, str]] = {}  # name -> (user-defined type, its constraints JSON)
        self._default_objective_options: dict[str, Any] = {}
        self._reads = _Latency()
        self._writes = _Latency()
        self.session_info: dict[str, Any] = {}
        try:  # the loop the caller's channel belongs to, until initialize() runs on one
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

    # ------------------------------------------------------------------------------------
    # Connection and lifecycle

    @classmethod
    async def connect(
        cls,
        address: str | None = None,
        session_id: str | None = None,
        token: str | None = None,
        *,
        caller_session_id: str | None = None,
        create: bool = True,
        ttl_ms: int = 0,
        metadata: Mapping[str, Any] | None = None,
        cache: VariableCache | None = None,
        timeout: float | None = 60.0,
    ) -> SessionContext:
        """Opens an authenticated channel to the host and returns an initialized context.

        ``address`` defaults to ``DSPY_BRIDGE_ADDRESS``; ``token`` to ``DSPY_BRIDGE_TOKEN`` (in
        a worker, the secret the worker received at start). ``session_id=None`` lets the host
        choose a new id. The context owns the channel: ``close()`` closes it, and it is
        reopened automatically if it is closed under a running watch or call.
        """
        ctx = cls._on_client(
            client_for(address, token, reopen=True),
            session_id,
            caller_session_id=caller_session_id,
            cache=cache,
            timeout=timeout,
        )
        try:
            await ctx.initialize(create=create, ttl_ms=ttl_ms, metadata=metadata)
        except BaseException:
            await ctx.close()
            raise
        return ctx

    @classmethod
    def _on_client(cls, client: HostClient, session_id: str | None, **options: Any) -> SessionContext:
        """A context whose calls go through ``client`` (it owns it from then on)."""
        ctx = cls(session_id, client.channel, **options)
        ctx._host = client
        return ctx

    async def initialize(
        self, *, create: bool = True, ttl_ms: int = 0, metadata: Mapping[str, Any] | None = None
    ) -> SessionContext:
        """Gets the session (creating it if missing and ``create``) and starts the background
        watch feeding the cache. Returns self. Idempotent."""
        if self._closed:
            raise BridgeClosedError("this SessionContext is closed")
        if self._initialized:
            return self
        info: session_pb2.SessionInfo | None = None
        if self._session_id:
            try:
                info = await self._call("GetSession", session_pb2.GetSessionRequest(session_id=self._session_id))
            except NotFoundError:
                if not create:
                    raise
        if info is None:
            try:
                info = await self._call(
                    "CreateSession",
                    session_pb2.CreateSessionRequest(
                        session_id=self._session_id, ttl_ms=ttl_ms, metadata_json=json.dumps(dict(metadata or {}))
                    ),
                )
            except AlreadyExistsError:  # created concurrently by someone else
                info = await self._call("GetSession", session_pb2.GetSessionRequest(session_id=self._session_id))
        self._session_id = info.session_id
        self.session_info = {
            "session_id": info.session_id,
            "created_at_ms": info.created_at_ms,
            "ttl_ms": info.ttl_ms,
            "metadata": json.loads(info.metadata_json) if info.metadata_json else {},
        }
        self._revision = info.revision
        self._loop = asyncio.get_running_loop()
        self._bg_task = asyncio.create_task(
            self._cache_watch(info.revision + 1), name=f"dspy-bridge cache watch {self._session_id}"
        )
        self._cache_live = True
        self._initialized = True
        return self

    async def exists(self) -> bool:
        """Whether the host still has this session (False once it was deleted or expired)."""
        try:
            await self._call("GetSession", session_pb2.GetSessionRequest(session_id=self._session_id))
        except NotFoundError:
            return False
        return True

    async def delete(self) -> None:
        """Deletes this session on the host: its variables, history and programs, for every
        client. This context stays open (its watch ends); close it as usual."""
        await self._call("DeleteSession", session_pb2.DeleteSessionRequest(session_id=self._session_id))

    async def close(self) -> None:
        """Stops every watch and the background stream; closes the channel if this context
        made it (``connect``). The session itself stays on the host."""
        if self._closed:
            return
        self._closed = True
        self._cache_live = False
        for w in list(self._watches):
            w.cancel()
        tasks = [w._task for w in self._watches]
        # start_optimization's callback pollers: they would go on polling a closed channel
        for poller in self._optimization_watchers.values():
            poller.cancel()
            tasks.append(poller)
        self._optimization_watchers.clear()
        if self._bg_task is not None:
            self._bg_task.cancel()
            tasks.append(self._bg_task)
        for t in tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        self._watches.clear()
        for _, fut in self._revision_waiters:
            if not fut.done():
                fut.set_exception(BridgeClosedError("the SessionContext was closed"))
                fut.exception()
        self._revision_waiters.clear()
        await self._host.close()

    async def __aenter__(self) -> SessionContext:
        return await self.initialize()

    async def __aexit__(self, *_exc: Any) -> None:
        await self.close()

    async def reconnect(self, channel: Any = None) -> None:
        """Switches to a new channel (``channel``, or one from the factory of ``connect``).
        Watches resume on it from their last revision + 1; nothing is lost."""
        if self._closed:
            raise BridgeClosedError("this SessionContext is closed")
        if channel is None and not self._host.can_reopen:
            raise InvalidArgumentError(
                "reconnect() needs a channel: this context was made on a caller's channel", parameter="channel"
            )
        await self._host.reconnect(channel)

    # ------------------------------------------------------------------------------------
    # Properties

    @property
    def session_id(self) -> str:
        return self._session_id

    @property
    def caller_session_id(self) -> str:
        """The identity checked by access rules ("" = the session itself)."""
        return self._caller

    @property
    def channel(self) -> Any:
        return self._host.channel

    @property
    def address(self) -> str | None:
        """The host's address, when this context made its channel (``connect``)."""
        return self._host.address

    @property
    def host(self) -> HostClient:
        """The client this context's calls, watches and tools go through."""
        return self._host

    def configuration_space(self, name: str) -> Any:
        """A handle on the configuration space ``name`` of this session (a
        ``dspy_bridge.config.ConfigurationSpace``): define, ``register()``, ``apply()``, …"""
        return ConfigurationSpace(name, self)

    # DSPex's private calls behind ConfigurationSpace (its register/apply/get_current_values/sample).

    async def _register_configuration(self, name: str, definition: Mapping[str, Any]) -> None:
        """Registers a space from DSPex's definition: ``{"variables": {name: {"type",
        "default", "constraints", "description"}}, "constraints": [...]}`` (or a list of
        variable documents). A constraint given as code (DSPex's ``{"logic": str(fn)}``)
        cannot be evaluated: ``InvalidArgumentError`` asking for a declarative condition."""
        space = self.configuration_space(name)
        variables = definition.get("variables") or {}
        items = list(variables.items()) if isinstance(variables, Mapping) else [(v.get("name"), v) for v in variables]
        for var_name, spec in items:
            space.add_variable(
                var_name, spec.get("type"), spec.get("default"), spec.get("constraints"), spec.get("description")
            )
        for clause in definition.get("constraints") or []:
            if isinstance(clause, Mapping) and "logic" in clause and "op" not in clause and "if" not in clause:
                raise InvalidArgumentError(
                    f"constraint {clause.get('error') or clause.get('logic')!r} is code, which the host cannot evaluate; write it as a "
                    'declarative condition, e.g. {"op": "<=", "left": {"var": "max_tokens"}, "right": {"const": 4096}} (docs/configuration.md)',
                    parameter="constraints",
                )
            space.add_constraint(clause)
        await space.register()

    async def _apply_configuration(
        self, name: str, values: Mapping[str, Any], metadata: Mapping[str, str] | None = None
    ) -> int:
        return await self.configuration_space(name).apply(values, metadata)

    async def _get_configuration_values(self, name: str) -> dict[str, Any]:
        return await self.configuration_space(name).get_current_values()

    async def _sample_configuration(self, name: str) -> dict[str, Any]:
        return await self.configuration_space(name).sample()

    @property
    def tools(self) -> Any:
        """This session's tools: ``call``, ``stream`` and ``list`` of the TypeScript tools it
        may use (a ``dspy_bridge.tools.SessionTools``)."""
        return SessionTools(self)

    async def call_tool(self, name: str, **kwargs: Any) -> Any:
        """Calls the tool ``name`` with ``kwargs`` within this session (DSPex's
        ``SessionContext.call_tool(name, **kwargs)``): a TypeScript tool of the host (global or
        this session's), else a Python ``@tool`` of this process (inside a worker: the
        workers' tools). ``ToolNotFoundError`` (a ``NotFoundError``) for an unknown tool; the
        tool's own error when it fails."""
        try:
            with as_tool_not_found(name):
                return await self.tools.call(name, kwargs)
        except ToolNotFoundError:
            if name not in default_tool_registry:
                raise
        return await default_tool_registry.call(name, kwargs, session_id=self._session_id)

    @property
    def cache(self) -> VariableCache:
        return self._cache

    @property
    def revision(self) -> int:
        """The newest store revision the background watch has delivered for this session."""
        return self._revision

    @property
    def watch_alive(self) -> bool:
        """Whether the background watch that keeps the cache fresh is still running."""
        return self._bg_task is not None and not self._bg_task.done()

    @property
    def cache_live(self) -> bool:
        """Whether the background watch is connected now, so the cache and ``revision`` are
        current (``get_cache_info()["watch_live"]``)."""
        return self._cache_live

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop this context lives on (its channel and background watch do); None
        when it was made outside one and not initialized yet."""
        return self._loop

    def variable_key(self, name_or_id: str) -> str:
        """The name the cache keys ``name_or_id`` under (a variable id becomes its name once
        the context has seen it; a name stays as it is)."""
        return self._ids.get(name_or_id, name_or_id)

    def changed_after(self, names: Iterable[str], revision: int) -> bool:
        """Whether a change to one of ``names`` newer than ``revision`` is known here: delivered
        by the watch, or written by this context and not delivered yet."""
        seen = self._seen
        return any(seen.get(self.variable_key(n), 0) > revision for n in names)

    async def for_another_loop(self, timeout: float | None = None) -> SessionContext:
        """A new, uninitialized context for the same session and caller, on a channel of its
        own, for one-off calls from another event loop (await it there, e.g. in a helper
        thread's): a context's channel and watch belong to the loop it was made on. Close it
        after use. InvalidArgumentError
        for a context made on a caller's channel (there is nothing to open a second one with)."""
        if not self._host.can_reopen:
            raise InvalidArgumentError(
                "this context was made on a caller's channel: it cannot open another", parameter="channel"
            )
        client = await self._host.sibling()
        return SessionContext._on_client(
            client, self._session_id, caller_session_id=self._caller or None, timeout=timeout
        )

    @property
    def watch_reconnects(self) -> int:
        """How many times the background watch stream was reopened."""
        return self._bg_reconnects

    async def wait_for_revision(self, revision: int, timeout: float | None = None) -> None:
        """Waits until the background watch has delivered ``revision`` (of a change to this
        session): from then on cached reads reflect it."""
        if self._revision >= revision:
            return
        if self._bg_task is None:
            raise BridgeClosedError("initialize() the SessionContext first")
        if self._bg_task.done():
            # The watch has ended (the session was deleted or expired): nothing will arrive.
            raise BridgeClosedError(
                f"the watch of session {self._session_id!r} has ended; revision {revision} will not arrive"
            )
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._revision_waiters.append((revision, fut))
        await asyncio.wait_for(fut, timeout)

    # ------------------------------------------------------------------------------------
    # Calls

    def worker_route(self) -> Any:
        """The worker's own connection to the host (core._host_calls), when this context is a
        worker's, for the host that runs it, and the caller is on the worker's loop; else None."""
        return None if self._closed else self._host.worker_route()

    async def _call(self, method: str, request: Any, attachments: OutgoingAttachments | None = None) -> Any:
        return await self._host.call(method, request, self._timeout, attachments=attachments)

    async def _call_parts(
        self, method: str, request: Any, attachments: OutgoingAttachments | None = None
    ) -> tuple[Any, list[memoryview] | None]:
        """A call whose response's values may come out of band: ``(response, raw)``, the
        values decoded with ``decode(..., raw)``."""
        return await self._host.call_parts(method, request, self._timeout, attachments=attachments)

    def _encoder(self) -> tuple[OutgoingAttachments | None, Callable[[Any, str], Any]]:
        """How a request's values are encoded: out of band when the request will travel on
        the worker's connection (the attachments to pass with it, and their encoder), else
        as ordinary Values (None, ``encode_value``)."""
        out = self._host.outgoing()
        return out, (out.value if out is not None else encode_value)

    def _caller_id(self) -> str:
        return self._caller or self._session_id

    # ------------------------------------------------------------------------------------
    # The background watch

    async def _cache_watch(self, start: int) -> None:
        backoff = 0.05
        cache = self._cache
        connected_before = False
        host = self._host
        while not self._closed:
            opened: OpenStream | None = None
            try:
                request = variables_pb2.WatchRequest(
                    session_id=self._session_id, start_revision=start, caller_session_id=self._caller
                )
                # A watch is never held back by the host, so it needs no credit (window 0).
                opened = host.stream("Watch", request, window=0, parts=True)
                if connected_before:
                    # The replay of what was missed arrives after this point; until it has, an
                    # entry cached before the outage could be stale: start from an empty cache.
                    cache.clear("reconnected")
                connected_before = True
                self._cache_live = True
                async for item in opened.call:
                    resp, raw = opened.parts(item)
                    backoff = 0.05
                    if resp.compacted:
                        # Missed changes are gone from the log: nothing cached can be trusted.
                        self._epoch += 1
                        self._seen.clear()
                        cache.clear("resync")
                        self._set_revision(resp.revision)
                        start = resp.revision + 1
                        break
                    self._apply(resp, raw)
                    start = resp.revision + 1
                else:
                    self._cache_live = False
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
                    self._bg_reconnects += 1
            except asyncio.CancelledError:
                if self._closed or being_cancelled() or opened is None or opened.on_worker_connection:
                    raise
                # grpc cancels a stream whose channel was closed under it: wait for a new one.
                self._cache_live = False
                await host.channel_lost(opened.stub)
                self._bg_reconnects += 1
            except grpc.aio.UsageError:
                self._cache_live = False
                if self._closed:
                    return
                await host.channel_lost(opened.stub if opened is not None else host.stub)
                self._bg_reconnects += 1
            except grpc.aio.AioRpcError as err:
                self._cache_live = False
                if err.code() == grpc.StatusCode.UNAVAILABLE:
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
                    self._bg_reconnects += 1
                    continue
                # The session is gone (deleted, expired) or the stream is refused: stop caching.
                self._stop_caching(translate_rpc_error(err))
                return
            except BridgeError as err:
                # Typed already: the worker's connection raises its host's errors as they are.
                self._cache_live = False
                if (
                    err.code == Code.UNAVAILABLE
                    and opened is not None
                    and opened.route is not None
                    and not opened.route.closed
                ):
                    # The host's store is unreachable for now (a shared backend's outage): as
                    # over gRPC, back off and reopen; the replay brings what was missed.
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
                    self._bg_reconnects += 1
                    continue
                self._stop_caching(err)
                return
            finally:
                if opened is not None and not opened.call.done():
                    opened.call.cancel()

    def _stop_caching(self, error: BaseException) -> None:
        """The background watch cannot go on: nothing cached stays, and waiters for a
        revision get `error`."""
        self._cache.clear("session unavailable")
        for _, fut in self._revision_waiters:
            if not fut.done():
                fut.set_exception(error)
                fut.exception()
        self._revision_waiters.clear()

    def _apply(self, resp: variables_pb2.WatchResponse, raw: list[memoryview] | None = None) -> None:
        rev = resp.revision
        cache = self._cache
        seen = self._seen
        for ch in resp.changes:
            name = ch.name
            if rev > seen.get(name, 0):
                seen[name] = rev
            if ch.kind == _DELETE:
                self._ids.pop(ch.id, None)
                self._types.pop(name, None)
                cache.refresh(name, revision=rev, reason="deleted")
                continue
            self._ids[ch.id] = name
            self._types[name] = ch.type
            if name in cache:
                try:
                    cache.refresh(name, decode(ch.value, ch.type, name, raw), rev)
                except Exception:  # noqa: BLE001 - undecodable: drop it, a read will say why
                    cache.refresh(name, revision=rev)
            else:
                cache.refresh(name, revision=rev)
        self._set_revision(rev)

    def _set_revision(self, rev: int) -> None:
        if rev > self._revision:
            self._revision = rev
        if self._revision_waiters:
            keep = []
            for want, fut in self._revision_waiters:
                if fut.done():
                    continue
                if self._revision >= want:
                    fut.set_result(None)
                else:
                    keep.append((want, fut))
            self._revision_waiters = keep

    def _remember(self, var: variables_pb2.Variable) -> None:
        self._ids[var.id] = var.name
        self._types[var.name] = var.type
        custom = var.metadata.get(_CUSTOM_TYPE_KEY)
        if custom:
            self._custom[var.name] = (custom, var.metadata.get(_CUSTOM_CONSTRAINTS_KEY, ""))

    def _out(self, name: str, value: Any) -> Any:
        """A value read from the host, as the caller wants it (a tensor written here as a torch
        tensor comes back as one; set_tensor_framework for all)."""
        framework = self._frameworks.get(name) or self._tensor_framework
        return value if framework is None else _seed_values.from_wire(value, framework)

    def set_tensor_framework(self, framework: str | None) -> None:
        """Tensors read through this context come back as ``"numpy"`` arrays (the default),
        ``"torch"`` or ``"tensorflow"`` tensors (DSPex's ``:tensor`` → torch.Tensor or
        tf.Tensor). ``InvalidArgumentError`` naming the package when it is not installed."""
        self._tensor_framework = None if framework in (None, "numpy") else _seed_values.check_framework(framework)

    def _maybe_cache(self, var: variables_pb2.Variable, value: Any, epoch: int) -> None:
        """Caches a value read from the host unless a newer change was delivered meanwhile or
        the watch could not tell us about its changes (observe denied)."""
        if not self._cache_live or epoch != self._epoch:
            return
        if self._seen.get(var.name, 0) > var.modify_revision:
            return
        if var.access_rules and not allowed(var.access_rules, self._caller_id(), "observe"):
            return
        self._cache.put(var.name, value, var.modify_revision)

    def _wrote(self, name: str, revision: int) -> None:
        """Our own write committed at ``revision``: the cached value is stale right now (the
        watch delivers the change a little later), so drop it; reads older than the write
        are not cached afterwards."""
        key = self._ids.get(name, name)
        if revision > self._seen.get(key, 0):
            self._seen[key] = revision
        self._cache.invalidate(key, "written")

    # ------------------------------------------------------------------------------------
    # Reading

    async def get_variable(self, name: str, default: Any = None, bypass_cache: bool = False) -> Any:
        """The value of variable ``name`` (a name or an id).

        Served from the cache when possible (no round trip); ``bypass_cache=True`` always asks
        the host. A missing variable returns ``default``, or raises ``KeyError``
        (``NotFoundError``) when ``default`` is None; a variable this session may not read
        raises ``PermissionError``.
        """
        if self._cache_live and not bypass_cache:
            value = self._cache.lookup(self._ids.get(name, name))
            if value is not _MISS:
                return self._out(name, value) if self._frameworks or self._tensor_framework else value
        epoch = self._epoch
        t0 = time.perf_counter()
        resp, raw = await self._call_parts(
            "GetVariables",
            variables_pb2.GetVariablesRequest(
                session_id=self._session_id, names=[name], caller_session_id=self._caller
            ),
        )
        self._reads.add(time.perf_counter() - t0)
        result = resp.results[0]
        if not result.found:
            if default is not None:
                return default
            raise NotFoundError(
                f"variable '{name}' not found in session '{self._session_id}'",
                details={"variable": name, "session_id": self._session_id},
            )
        var = result.variable
        self._remember(var)
        value = decode(var.value, var.type, var.name, raw)
        self._maybe_cache(var, value, epoch)
        return self._out(var.name, value) if self._frameworks or self._tensor_framework else value

    async def get_variables(
        self,
        names: list[str],
        defaults: dict[str, Any] | None = None,
        include_metadata: bool = False,
        include_stats: bool = False,
    ) -> dict[str, Any]:
        """Several variables in one call: ``{name: value}``, or with ``include_metadata`` /
        ``include_stats`` ``{name: {"value", "found", "metadata", ..., "stats"}}``.

        Cached values are used unless metadata or stats are asked for. A name that is not
        found takes its value from ``defaults``; names missing without a default raise one
        ``KeyError`` (``NotFoundError``) naming them all.
        """
        if isinstance(names, str):
            raise InvalidArgumentError("names must be a list of variable names, not a string", parameter="names")
        names = list(names)
        defaults = dict(defaults or {})
        full = include_metadata or include_stats
        out: dict[str, Any] = {}
        missing: list[str] = []
        if self._cache_live and not full:
            for name in names:
                value = self._cache.lookup(self._ids.get(name, name))
                if value is _MISS:
                    missing.append(name)
                else:
                    out[name] = value
        else:
            missing = names
        if missing:
            epoch = self._epoch
            t0 = time.perf_counter()
            resp, raw = await self._call_parts(
                "GetVariables",
                variables_pb2.GetVariablesRequest(
                    session_id=self._session_id,
                    names=missing,
                    include_stats=include_stats,
                    caller_session_id=self._caller,
                ),
            )
            self._reads.add(time.perf_counter() - t0)
            not_found: list[str] = []
            for result in resp.results:
                name = result.name
                if not result.found:
                    if name in defaults:
                        out[name] = (
                            {"value": defaults[name], "found": False, "metadata": {}} if full else defaults[name]
                        )
                        if include_stats:
                            out[name]["stats"] = {}
                    else:
                        not_found.append(name)
                    continue
                var = result.variable
                self._remember(var)
                value = decode(var.value, var.type, var.name, raw)
                self._maybe_cache(var, value, epoch)
                if not full:
                    out[name] = value
                    continue
                entry = variable_info(var, value)
                if not include_metadata:
                    entry = {"value": value, "found": True}
                if include_stats:
                    s = result.stats
                    entry["stats"] = {
                        "read_count": s.read_count,
                        "write_count": s.write_count,
                        "last_read_ms": s.last_read_ms,
                        "last_write_ms": s.last_write_ms,
                        **self._cache.key_stats(var.name),
                    }
                out[name] = entry
            if not_found:
                shown = ", ".join(f"'{n}'" for n in not_found)
                raise NotFoundError(
                    f"variable{'s' if len(not_found) > 1 else ''} {shown} not found in session '{self._session_id}'",
                    details={"variables": not_found, "session_id": self._session_id},
                )
        if self._frameworks or self._tensor_framework:
            for name in out:
                if full and isinstance(out[name], dict) and "value" in out[name]:
                    out[name]["value"] = self._out(name, out[name]["value"])
                elif not full:
                    out[name] = self._out(name, out[name])
        return {name: out[name] for name in names if name in out}

    async def list_variables(self, pattern: str | None = None) -> dict[str, Any]:
        """``{name: value}`` of every variable this session may read (``pattern``: a regular
        expression on names)."""
        resp, raw = await self._call_parts(
            "ListVariables",
            variables_pb2.ListVariablesRequest(
                session_id=self._session_id, pattern=pattern or "", caller_session_id=self._caller
            ),
        )
        out: dict[str, Any] = {}
        for var in resp.variables:
            self._remember(var)
            out[var.name] = decode(var.value, var.type, var.name, raw)
        return out

    # ------------------------------------------------------------------------------------
    # Creating and writing

    def _spec(
        self, spec: Mapping[str, Any], where: str, encode: Callable[[Any, str], Any] = encode_value
    ) -> variables_pb2.VariableSpec:
        unknown = set(spec) - _REGISTER_KEYS
        if unknown:
            raise InvalidArgumentError(
                f"{where} has unknown keys {sorted(unknown)}; known: {', '.join(sorted(_REGISTER_KEYS))}",
                parameter=where,
            )
        name = spec.get("name")
        if not isinstance(name, str):
            raise InvalidArgumentError(f"{where}.name must be a string", parameter=f"{where}.name")
        vtype = spec.get("type")
        if not isinstance(vtype, str):
            raise InvalidArgumentError(f"{where}.type must be a type name such as 'float'", parameter=f"{where}.type")
        if "initial_value" in spec and "value" in spec:
            raise InvalidArgumentError(f"{where}: give initial_value or value, not both", parameter=where)
        if "initial_value" not in spec and "value" not in spec:
            raise InvalidArgumentError(f"{where}.initial_value is required", parameter=f"{where}.initial_value")
        initial = spec["initial_value"] if "initial_value" in spec else spec["value"]
        constraints = spec.get("constraints") or {}
        if not isinstance(constraints, Mapping):
            raise InvalidArgumentError(f"{where}.constraints must be a dict", parameter=f"{where}.constraints")
        deps = spec.get("dependencies") or []
        if isinstance(deps, str):
            raise InvalidArgumentError(
                f"{where}.dependencies must be a list of names or ids", parameter=f"{where}.dependencies"
            )
        metadata = spec.get("metadata") or {}
        if _custom_types.type_registry.is_custom(vtype):
            # a user-defined type (register_type): its handler checks here, the host checks its base type
            custom = vtype
            vtype, initial, constraints, metadata = _custom_types.custom_spec(custom, initial, constraints, metadata)
            self._custom[name] = (custom, metadata[_CUSTOM_CONSTRAINTS_KEY])
        framework = _seed_values.framework_of(initial)
        if framework in ("torch", "tensorflow"):
            self._frameworks[name] = framework
        initial = _seed_values.to_wire(initial, _canonical(vtype), name)
        try:
            constraints_json = json.dumps(dict(constraints), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(
                f"{where}.constraints must be JSON data: {exc}", parameter=f"{where}.constraints"
            ) from None
        return variables_pb2.VariableSpec(
            name=name,
            type=vtype,
            initial_value=encode(initial, f"{name}.initial_value" if where == "variable" else f"{where}.initial_value"),
            constraints_json=constraints_json,
            metadata=string_map(metadata, f"{where}.metadata"),
            dependencies=[str(d) for d in deps],
            access_rules=access_rules_in(spec.get("access_rules"), f"{where}.access_rules"),
        )

    async def _register(
        self, specs: list[variables_pb2.VariableSpec], attachments: OutgoingAttachments | None = None
    ) -> dict[str, str]:
        epoch = self._epoch
        t0 = time.perf_counter()
        resp, raw = await self._call_parts(
            "RegisterVariables",
            variables_pb2.RegisterVariablesRequest(
                session_id=self._session_id, variables=specs, caller_session_id=self._caller
            ),
            attachments,
        )
        self._writes.add(time.perf_counter() - t0)
        out: dict[str, str] = {}
        for var in resp.variables:
            self._remember(var)
            out[var.name] = var.id
            if self._cache_live and len(resp.variables) <= self._cache.max_size:
                try:
                    self._maybe_cache(var, decode(var.value, var.type, var.name, raw), epoch)
                except Exception:  # noqa: BLE001 - caching is an optimisation
                    pass
        return out

    async def register_variable(
        self,
        name: str,
        type: str,  # noqa: A002 - DSPex's parameter name
        initial_value: Any,
        constraints: dict[str, Any] | None = None,
        metadata: dict[str, str] | None = None,
        dependencies: list[str] | None = None,
        access_rules: list[dict[str, Any]] | None = None,
    ) -> str:
        """Creates a variable; returns its id. ``type``: float, integer, string, boolean,
        choice, module, list, map (``dict``), embedding, tensor (aliases int, str, bool).

        Raises ``ValueError`` (``InvalidArgumentError``: bad type name or constraints,
        ``ConstraintViolationError``: the value breaks a constraint), ``TypeError``
        (``VariableTypeError``: the value is not of the type), ``AlreadyExistsError``,
        ``KeyError`` (an unknown dependency).
        """
        attachments, encode = self._encoder()
        spec = self._spec(
            {
                "name": name,
                "type": type,
                "initial_value": initial_value,
                "constraints": constraints,
                "metadata": metadata,
                "dependencies": dependencies,
                "access_rules": access_rules,
            },
            "variable",
            encode,
        )
        ids = await self._register([spec], attachments)
        return ids[name]

    async def register_variables(self, variables: list[dict[str, Any]]) -> dict[str, str]:
        """Creates several variables atomically (all or none); returns ``{name: id}``. Each
        spec is a dict with ``name``, ``type``, ``initial_value`` and optionally
        ``constraints``, ``metadata``, ``dependencies`` (may name variables of the same
        call), ``access_rules``."""
        if isinstance(variables, Mapping) or not isinstance(variables, Iterable):
            raise InvalidArgumentError("variables must be a list of variable specs (dicts)", parameter="variables")
        specs = []
        attachments, encode = self._encoder()
        for i, spec in enumerate(variables):
            if not isinstance(spec, Mapping):
                raise InvalidArgumentError(f"variables[{i}] must be a dict", parameter=f"variables[{i}]")
            specs.append(self._spec(spec, f"variables[{i}]", encode))
        if not specs:
            raise InvalidArgumentError("no variables to register", parameter="variables")
        return await self._register(specs, attachments)

    def _wire(self, name: str, value: Any, type_hint: str | None = None) -> Any:
        """A value to write, in the host's form: a user-defined type's checks run, the value
        forms DSPex accepts are converted (variable_types.value_forms), a framework tensor is remembered."""
        key = self._ids.get(name, name)
        custom = self._custom.get(key)
        if custom is not None:
            value = _custom_types.check_custom(custom[0], custom[1], value)
        framework = _seed_values.framework_of(value)
        if framework in ("torch", "tensorflow"):
            self._frameworks[key] = framework
        elif key in self._frameworks and framework is None:
            self._frameworks.pop(key, None)
        return _seed_values.to_wire(value, _canonical(self._types.get(key) or type_hint or ""), name)

    def _encode_update(
        self,
        name: str,
        value: Any,
        creating: bool,
        type_hint: str | None,
        encode: Callable[[Any, str], Any] = encode_value,
    ) -> Any:
        value = self._wire(name, value, type_hint)
        try:
            return encode(value, name)
        except ValueEncodingError as exc:
            if creating and not type_hint:
                raise VariableTypeError(
                    f"cannot infer a variable type for '{name}' from {type(value).__name__}: {exc.detail}; "
                    "give type_hint (and a value the type accepts)",
                    variable=name,
                    got=type(value).__name__,
                ) from exc
            raise

    async def set_variable(
        self,
        name: str,
        value: Any,
        metadata: dict[str, str] | None = None,
        create_if_missing: bool = False,
        type_hint: str | None = None,
        *,
        expected_version: int | None = None,
        source: str | None = None,
    ) -> None:
        """Sets a variable's value (validated on the host: type and constraints).

        ``metadata`` is recorded with the change (non-string scalars are converted to
        strings). ``create_if_missing`` creates the variable, typed by ``type_hint`` or
        inferred from the value. ``expected_version`` makes it a compare-and-set
        (``VersionConflictError`` if the variable moved on). ``source`` is recorded as
        ``updated_by`` in the history (default: the caller's session id).

        Raises ``KeyError`` (missing, no ``create_if_missing``), ``ValueError`` (a constraint
        is broken: ``ConstraintViolationError``), ``TypeError`` (the value is not of the
        variable's type, or no type can be inferred: ``VariableTypeError``), and
        ``PermissionError`` (this session may not write it).
        """
        attachments, encode = self._encoder()
        update = variables_pb2.VariableUpdate(
            name=name,
            value=self._encode_update(name, value, create_if_missing, type_hint, encode),
            expected_version=expected_version or 0,
            metadata=string_map(metadata),
        )
        t0 = time.perf_counter()
        request = variables_pb2.UpdateVariablesRequest(
            session_id=self._session_id,
            updates=[update],
            atomic=True,
            create_if_missing=create_if_missing,
            type_hint=type_hint or "",
            caller_session_id=self._caller,
            source=source or "",
        )
        resp = await self._call("UpdateVariables", request, attachments)
        self._writes.add(time.perf_counter() - t0)
        result = resp.results[0]
        if not result.ok:
            err = error_from_detail(result.error)
            if (
                isinstance(err, VariableTypeError)
                and err.type == "tensor"
                and _seed_values.tensor_form(value)
                and not self._types.get(name)
            ):
                # The variable's type was not known here: a tensor given in DSPex's list or
                # {shape, data} form is sent again as the array it describes.
                self._types[name] = "tensor"
                attachments, encode = self._encoder()
                request.updates[0].value.CopyFrom(
                    self._encode_update(name, value, create_if_missing, type_hint, encode)
                )
                resp = await self._call("UpdateVariables", request, attachments)
                result = resp.results[0]
                if result.ok:
                    self._wrote(name, resp.revision)
                    return
                err = error_from_detail(result.error)
            raise err
        self._wrote(name, resp.revision)

    async def update_variables(
        self,
        updates: dict[str, Any],
        metadata: dict[str, str] | None = None,
        atomic: bool = True,
        *,
        expected_versions: dict[str, int] | None = None,
        source: str | None = None,
    ) -> dict[str, bool | str]:
        """Updates several variables in one request: ``{name: True | error message}``.

        ``atomic=True``: all or nothing, committed under one revision (watchers see one
        revision); on any failure nothing changes and every entry carries a message.
        ``atomic=False``: each update stands alone. ``expected_versions`` adds per-variable
        compare-and-set.
        """
        if not isinstance(updates, Mapping):
            raise InvalidArgumentError("updates must be a dict of name -> value", parameter="updates")
        meta = string_map(metadata)
        versions = dict(expected_versions or {})
        attachments, encode = self._encoder()
        msgs = [
            variables_pb2.VariableUpdate(
                name=name,
                value=encode(self._wire(name, value), name),
                expected_version=versions.get(name, 0),
                metadata=meta,
            )
            for name, value in updates.items()
        ]
        if not msgs:
            return {}
        t0 = time.perf_counter()
        resp = await self._call(
            "UpdateVariables",
            variables_pb2.UpdateVariablesRequest(
                session_id=self._session_id,
                updates=msgs,
                atomic=atomic,
                caller_session_id=self._caller,
                source=source or "",
            ),
            attachments,
        )
        self._writes.add(time.perf_counter() - t0)
        out: dict[str, bool | str] = {}
        for r in resp.results:
            if r.ok:
                out[r.name] = True
                self._wrote(r.name, resp.revision)
            else:
                out[r.name] = r.error.message or r.error.reason or "failed"
        return out

    async def delete_variables(self, names: list[str]) -> int:
        """Deletes variables (all or none); returns how many. Watchers see ``kind="delete"``."""
        resp = await self._call(
            "DeleteVariables",
            variables_pb2.DeleteVariablesRequest(
                session_id=self._session_id, names=list(names), caller_session_id=self._caller
            ),
        )
        for name in names:
            self._wrote(name, resp.revision)
        return int(resp.deleted)

    async def delete_variable(self, name: str) -> None:
        await self.delete_variables([name])

    # ------------------------------------------------------------------------------------
    # Dependencies

    async def add_dependency(
        self,
        from_variable: str,
        to_variable: str,
        dependency_type: str = "data",
        metadata: dict[str, str] | None = None,
    ) -> None:
        """``from_variable`` depends on ``to_variable`` (``"data"``, ``"constraint"`` or
        ``"optimization"``). ``ValueError`` if it would close a cycle (the message names it),
        ``KeyError`` if either variable is unknown."""
        await self._call(
            "ChangeDependency",
            variables_pb2.DependencyRequest(
                session_id=self._session_id,
                from_variable=from_variable,
                to_variable=to_variable,
                type=dependency_type,
                metadata=string_map(metadata),
                caller_session_id=self._caller,
            ),
        )

    async def remove_dependency(self, from_variable: str, to_variable: str) -> None:
        """Removes the dependency (nothing happens if there is none); ``KeyError`` if either
        variable is unknown."""
        await self._call(
            "ChangeDependency",
            variables_pb2.DependencyRequest(
                session_id=self._session_id,
                from_variable=from_variable,
                to_variable=to_variable,
                remove=True,
                caller_session_id=self._caller,
            ),
        )

    async def _deps(self, variable: str, include_transitive: bool, dependents: bool) -> list[dict[str, Any]]:
        resp = await self._call(
            "GetDependencies",
            variables_pb2.GetDependenciesRequest(
                session_id=self._session_id,
                variable=variable,
                include_transitive=include_transitive,
                dependents=dependents,
                caller_session_id=self._caller_id(),
            ),
        )
        return [dependency_info(d) for d in resp.dependencies]

    async def get_dependencies(self, variable: str, include_transitive: bool = False) -> list[dict[str, Any]]:
        """What ``variable`` depends on: ``[{"variable_id", "name", "type", "depth"}]``
        (depth 1 = direct; ``include_transitive`` adds the indirect ones, breadth first)."""
        return await self._deps(variable, include_transitive, False)

    async def get_dependents(self, variable: str, include_transitive: bool = False) -> list[dict[str, Any]]:
        """What depends on ``variable`` (same shape as ``get_dependencies``)."""
        return await self._deps(variable, include_transitive, True)

    # ------------------------------------------------------------------------------------
    # Optimization (docs/optimization.md): the host drives every run

    def set_default_objective(self, objective: str | None, **options: Any) -> None:
        """Sets the objective ``start_optimization`` uses when ``optimizer_config`` names none
        (DSPex's examples never name one): a TypeScript tool or a workers' Python ``@tool``,
        called with ``{variable: candidate}`` and returning a number or ``{"score",
        "metrics"}``. ``options`` are defaults for the other run options (``direction``,
        ``seed``, ``patience``, ...) that an explicit ``optimizer_config`` overrides. ``None``
        clears it. Per context (not stored on the host)."""
        if objective is not None and (not isinstance(objective, str) or not objective):
            raise InvalidArgumentError(
                "objective must name a tool (or be None to clear the default)", parameter="objective"
            )
        if "objective" in options:
            raise InvalidArgumentError("pass the objective as the first argument", parameter="objective")
        self._default_objective = objective
        self._default_objective_options = dict(options) if objective is not None else {}

    @property
    def default_objective(self) -> str | None:
        """The objective set with :meth:`set_default_objective` (None: none)."""
        return self._default_objective

    async def start_optimization(
        self,
        variable: str,
        optimizer_type: str,
        optimizer_config: dict[str, Any] | None = None,
        max_iterations: int = 100,
        convergence_threshold: float = 0.001,
        callback: Callable[..., Any] | None = None,
    ) -> str:
        """Starts optimizing ``variable`` on the host and returns the optimization id.

        ``optimizer_type``: ``"random"``, ``"grid"`` (or ``"grid_search"``), ``"bayesian"``
        (alias ``"tpe"``: Optuna's TPE sampler in the session's worker), or a name given to
        :meth:`register_python_optimizer`. ``optimizer_config["objective"]`` names the
        objective: a TypeScript tool or a Python ``@tool`` of the workers, called with
        ``{variable: candidate}``, returning a number or ``{"score", "metrics"}``; also
        ``direction`` ("maximize"/"minimize"), ``seed``, ``grid_points``, ``patience``. Without
        an ``objective`` key the one set with :meth:`set_default_objective` is used. Every
        other key configures the optimizer (bayesian: ``n_startup_trials`` or DSPex's
        ``n_initial_points``, ``n_ei_candidates``, ``multivariate``, ``consider_endpoints``,
        ``acquisition_function`` "ei"/"pi", ``xi``; gradient: ``method`` "spsa" /
        "finite_difference", ``learning_rate``, ``perturbation``, ``initial``; a registered
        optimizer gets them as constructor keyword arguments). ``callback(iteration, value, metrics)`` is called for each evaluated
        candidate (polled). ValueError if already being optimized, for an unknown optimizer
        or bad options; PermissionError without the ``optimize`` permission; an optimizer
        whose constructor raises fails the call with that error (typed, with its traceback)."""
        config = dict(optimizer_config or {})
        objective = config.pop("objective", None)
        if objective is None and self._default_objective is not None:
            objective = self._default_objective
            config = {**self._default_objective_options, **config}
        if objective is None:
            raise InvalidArgumentError(
                f"no objective to optimize {variable!r} against: name one with optimizer_config={{'objective': '<tool>'}} "
                "or set a default for this session with session.set_default_objective('<tool>') (a TypeScript tool or a "
                "Python @tool of the workers, returning a score)",
                parameter="optimizer_config.objective",
            )
        if not isinstance(objective, str) or not objective:
            raise InvalidArgumentError(
                "optimizer_config['objective'] must name the objective tool (a TypeScript tool or a Python @tool)",
                parameter="optimizer_config.objective",
            )
        # The request's numbers are proto3 scalars, where 0 reads as "unset": a 0 (or a wrong
        # type) must be refused or carried explicitly, never turned into the default.
        if isinstance(max_iterations, bool) or not isinstance(max_iterations, int) or not 1 <= max_iterations < 2**32:
            raise InvalidArgumentError(
                f"max_iterations must be a positive integer, got {max_iterations!r}", parameter="max_iterations"
            )
        if (
            isinstance(convergence_threshold, bool)
            or not isinstance(convergence_threshold, (int, float))
            or not 0 <= convergence_threshold < float("inf")
        ):
            raise InvalidArgumentError(
                f"convergence_threshold must be a finite number >= 0, got {convergence_threshold!r}",
                parameter="convergence_threshold",
            )
        if convergence_threshold == 0:
            config["convergence_threshold"] = 0
        reply = await self._call(
            "StartOptimization",
            optimization_pb2.StartOptimizationRequest(
                session_id=self._session_id,
                target=optimization_pb2.OptimizationTarget(variable=variable),
                optimizer=optimizer_type,
                objective=objective,
                max_iterations=max_iterations,
                convergence_threshold=convergence_threshold,
                options_json=json.dumps(config),
                caller_session_id=self._caller,
            ),
        )
        if callback is not None:
            # by run, not by variable: an earlier run's poller may still be catching up
            opt_id = str(reply.optimization_id)
            poller = asyncio.ensure_future(self._follow_optimization(variable, opt_id, callback))
            self._optimization_watchers[opt_id] = poller
            poller.add_done_callback(lambda _done: self._optimization_watchers.pop(opt_id, None))
        return str(reply.optimization_id)

    async def _follow_optimization(self, variable: str, optimization_id: str, callback: Callable[..., Any]) -> None:
        seen = 0
        while True:
            status = await self.get_optimization_status(variable)
            # A newer run owns the status: this one has ended, and what is left of it is in the
            # history (the host keeps a target's last 10,000 entries).
            superseded = status["optimization_id"] != optimization_id
            limit = 10_000 if superseded else status["iteration"] - seen
            while limit > 0:
                # Only the newest entries: the run may have moved on since the status, so widen
                # the window until it reaches back to the first unseen iteration.
                history = await self.get_optimization_history(variable, limit=limit, optimizer_id=optimization_id)
                if not history or history[0]["iteration"] <= seen + 1 or len(history) < limit:
                    break  # (fewer than asked for: that is all there is)
                limit = history[-1]["iteration"] - seen
            else:
                history = []
            for entry in history:
                if entry["iteration"] <= seen:
                    continue
                try:
                    result = callback(entry["iteration"], entry["value"], entry["metrics"])
                    if asyncio.iscoroutine(result):
                        await result
                except Exception:  # a broken display must not end the progress reports
                    logging.getLogger(__name__).exception(
                        "the progress callback of optimization %s raised", optimization_id
                    )
                seen = entry["iteration"]
            if superseded or (not status["is_optimizing"] and seen >= status["iteration"]):
                return
            await asyncio.sleep(0.05)

    def _optimization_request(self, variable: str, **kw: Any) -> Any:
        return optimization_pb2.OptimizationRequest(
            session_id=self._session_id, target=optimization_pb2.OptimizationTarget(variable=variable), **kw
        )

    @staticmethod
    def _status(reply: Any) -> dict[str, Any]:
        s = json.loads(reply.status_json or "{}")
        to_dt = lambda ms: datetime.fromtimestamp(ms / 1000, tz=timezone.utc) if isinstance(ms, (int, float)) else None  # noqa: E731
        return {
            "is_optimizing": bool(s.get("isOptimizing")),
            "optimization_id": s.get("optimizationId"),
            "iteration": int(s.get("iteration") or 0),
            "best_value": s.get("bestValue"),
            "best_metrics": s.get("bestMetrics") or {},
            "best_score": s.get("bestScore"),
            "started_at": to_dt(s.get("startedAt")),
            "last_update": to_dt(s.get("lastUpdate")),
            "state": s.get("state"),
            "error": s.get("error"),
            # the failure, typed, with its Python traceback when it came from Python
            "exception": error_from_detail(reply.error) if reply.HasField("error") else None,
            "rejected": int(s.get("rejected") or 0),
            "resumed": int(s.get("resumed") or 0),
            "optimizer": s.get("optimizer"),
            "total_time_s": float(s.get("totalTimeMs") or 0) / 1000.0,
        }

    async def stop_optimization(self, variable: str) -> None:
        """Stops the run (its best values so far stay applied). ValueError if not optimizing."""
        stopped = self._status(await self._call("StopOptimization", self._optimization_request(variable)))
        poller = self._optimization_watchers.get(stopped["optimization_id"] or "")
        if poller is not None:  # the stopped run's callbacks are all delivered on return
            await asyncio.gather(poller, return_exceptions=True)

    async def get_optimization_status(self, variable: str) -> dict[str, Any]:
        """``{is_optimizing, optimization_id, iteration, best_value, best_metrics, started_at,
        last_update}`` as in DSPex, plus ``best_score``, ``state``, ``error`` (message),
        ``exception`` (the typed failure or None), ``rejected`` (infeasible proposals),
        ``resumed`` (times a replacement worker took the run over), ``optimizer`` and
        ``total_time_s`` (time spent optimizing the variable over all its runs)."""
        reply = await self._call("GetOptimizationStatus", self._optimization_request(variable))
        return self._status(reply)

    async def get_optimization_history(
        self, variable: str, limit: int = 100, since: Any = None, optimizer_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Evaluated candidates, oldest first: ``{iteration, value, values, score, metrics,
        timestamp, optimization_id}``."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit < 2**32:
            raise InvalidArgumentError(
                f"limit must be a positive integer, got {limit!r}", parameter="limit"
            )  # 0 would read as "the default"
        since_ms = int(since.timestamp() * 1000) if since is not None else 0
        reply = await self._call(
            "GetOptimizationHistory",
            self._optimization_request(variable, limit=limit, optimization_id=optimizer_id or "", since_ms=since_ms),
        )
        out = []
        for h in json.loads(reply.history_json or "[]"):
            values = h.get("values") or {}
            out.append(
                {
                    "optimization_id": h.get("optimizationId"),
                    "iteration": h.get("iteration"),
                    "value": values.get(variable),
                    "values": values,
                    "score": h.get("score"),
                    "metrics": h.get("metrics") or {},
                    "timestamp": datetime.fromtimestamp(h["timestamp"] / 1000, tz=timezone.utc)
                    if h.get("timestamp")
                    else None,
                }
            )
        return out

    async def list_runs(self) -> list[dict[str, Any]]:
        """The session's recorded runs, newest first: optimization runs (``kind``
        "optimization") and DSPy optimizer jobs ("optimizer_job"), each ``{id, kind,
        session_id, target, optimizer, state, started_at, updated_at, iterations, best_score,
        direction, error, details}``. Kept in the host's store: they outlive the host that ran
        them (SQLite, Redis) and every host sharing a Redis store lists them."""
        reply = await self._call("ListRuns", optimization_pb2.ListRunsRequest(session_id=self._session_id))
        return [_run_record(r) for r in json.loads(reply.runs_json or "[]")]

    async def get_run(self, run_id: str, offset: int = 0, limit: int | None = None) -> dict[str, Any]:
        """One run as ``list_runs`` gives it, plus ``trials``: ``{iteration, score, values,
        metrics, at}``, oldest first (a job's are its progress reports: metric calls so far and
        the best score then). ``offset`` and ``limit`` page the trials. NotFoundError for a
        run the session does not have."""
        for name, n in (("offset", offset), ("limit", limit)):
            if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < 2**32):
                raise InvalidArgumentError(f"{name} must be an integer from 0, got {n!r}", parameter=name)
        request = optimization_pb2.GetRunRequest(
            session_id=self._session_id, run_id=run_id, offset=offset, limit=limit or 0
        )
        reply = await self._call("GetRun", request)
        out = _run_record(json.loads(reply.run_json))
        out["trials"] = [
            {
                "iteration": t.get("iteration"),
                "score": t.get("score"),
                "values": t.get("values") or {},
                "metrics": t.get("metrics") or {},
                "at": datetime.fromtimestamp(t["atMs"] / 1000, tz=timezone.utc) if t.get("atMs") else None,
            }
            for t in json.loads(reply.trials_json or "[]")
        ]
        return out

    async def register_python_optimizer(self, name: str, optimizer_class: type | str) -> None:
        """Registers ``optimizer_class`` (see :class:`dspy_bridge.optimize.BaseOptimizer` for
        its ask/tell protocol) under ``name``, usable as ``optimizer_type`` here and as
        ``optimizer`` from TypeScript, by every session of the host. The workers import the
        class, so it must be defined at the top level of a module on their path (or be given
        as ``"package.module:ClassName"``); a worker imports and checks it now.
        ValueError for a class without ask()/tell(), one the workers cannot import, or a
        built-in name; AlreadyExistsError if ``name`` is registered to another class."""
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError("name must be a non-empty string", parameter="name")
        if not isinstance(optimizer_class, str):
            check_optimizer_class(optimizer_class)
        await self._call(
            "RegisterPythonOptimizer",
            optimization_pb2.RegisterPythonOptimizerRequest(
                session_id=self._session_id,
                name=name,
                class_path=class_path_of(optimizer_class),
                caller_session_id=self._caller,
            ),
        )

    # ------------------------------------------------------------------------------------
    # Watches

    def _require_watchable(self) -> None:
        if self._closed:
            raise BridgeClosedError("this SessionContext is closed")
        if not self._initialized:
            raise BridgeClosedError("initialize() the SessionContext before watching")

    def watch_variable(
        self,
        name: str,
        include_initial: bool = True,
        filter_fn: Callable[[Any, Any], bool] | None = None,
        throttle_ms: int = 0,
        *,
        debounce_ms: int = 0,
        start_revision: int | None = None,
    ) -> VariableWatch:
        """Watches one variable: ``async for update in session.watch_variable("x")``.

        ``include_initial`` yields the current value first (``initial=True``);
        ``filter_fn(old_value, new_value)`` keeps the changes it returns True for (snapshot
        values and deletions always pass); ``throttle_ms`` emits at most one update per
        interval (the newest value, leading and trailing edge); ``debounce_ms`` waits for
        that much quiet first; ``start_revision`` replays every change since that revision.
        The stream opens at once (``await watch.ready()`` to be sure it is registered) and
        resumes after a reconnect from its last revision + 1.
        """
        if not isinstance(name, str):
            raise InvalidArgumentError("name must be a variable name; use watch_variables for a list", parameter="name")
        return self._watch([name], include_initial, filter_fn, False, throttle_ms, debounce_ms, start_revision)

    def watch_variables(
        self,
        names: list[str],
        include_initial: bool = True,
        filter_fn: Callable[[str, Any, Any], bool] | None = None,
        throttle_ms: int = 0,
        debounce_ms: int = 0,
        *,
        start_revision: int | None = None,
    ) -> VariableWatch:
        """Watches several variables (an empty list: every variable of the session).
        ``filter_fn(name, old_value, new_value)``; ``throttle_ms`` applies per variable;
        ``debounce_ms`` waits until no watched variable changed for that long, then emits
        the newest value of each that changed. An atomic multi-variable update arrives as
        one update per variable, all with the same ``revision``."""
        if isinstance(names, str):
            raise InvalidArgumentError("names must be a list of variable names", parameter="names")
        return self._watch(list(names), include_initial, filter_fn, True, throttle_ms, debounce_ms, start_revision)

    def _watch(
        self,
        names: list[str],
        include_initial: bool,
        filter_fn: Callable[..., bool] | None,
        with_name: bool,
        throttle_ms: float,
        debounce_ms: float,
        start_revision: int | None,
    ) -> VariableWatch:
        self._require_watchable()
        w = TaskableWatch(
            self,
            names,
            include_initial=include_initial,
            filter_fn=filter_fn,
            filter_with_name=with_name,
            throttle_ms=throttle_ms,
            debounce_ms=debounce_ms,
            start_revision=start_revision,
        )
        self._watches.add(w)
        return w

    def _forget_watch(self, w: VariableWatch) -> None:
        self._watches.discard(w)

    def cancel_watch(self, watch_task: VariableWatch | asyncio.Future[Any]) -> None:
        """Cancels a watch: the ``VariableWatch`` returned by ``watch_variable(s)``, or a task
        that iterates one (the task is cancelled)."""
        if isinstance(watch_task, VariableWatch):
            watch_task.cancel()
        elif isinstance(watch_task, asyncio.Future):
            watch_task.cancel()
        else:
            raise InvalidArgumentError(
                f"cancel_watch takes a VariableWatch or an asyncio.Task, got {type(watch_task).__name__}",
                parameter="watch_task",
            )

    @property
    def active_watches(self) -> int:
        return len(self._watches)

    # ------------------------------------------------------------------------------------
    # Access control

    async def set_variable_permissions(self, variable: str, rules: list[dict[str, Any]]) -> None:
        """Replaces the access rules of ``variable``: ``[{"session_pattern": "any" | "*" |
        glob, "permissions": ["read", "write", "observe", "optimize"], "conditions": {}}]``.
        No rules = open to every session; with rules, what no matching rule grants is denied.
        Only the owning session may change them (``PermissionError`` otherwise)."""
        await self._call(
            "SetPermissions",
            variables_pb2.SetPermissionsRequest(
                session_id=self._session_id,
                variable=variable,
                rules=access_rules_in(rules, "rules"),
                caller_session_id=self._caller,
            ),
        )
        # Rule changes are not commits (no watch event): drop the cached value so the next
        # read re-checks read/observe access.
        self._cache.invalidate(self._ids.get(variable, variable), "permissions changed")

    async def check_variable_access(self, variable: str, permission: str) -> bool:
        """Whether this session (``caller_session_id``) has ``permission`` on ``variable``."""
        resp = await self._call(
            "CheckAccess",
            variables_pb2.CheckAccessRequest(
                session_id=self._session_id, variable=variable, permission=permission, caller_session_id=self._caller
            ),
        )
        return bool(resp.allowed)

    # ------------------------------------------------------------------------------------
    # History

    async def get_variable_history(
        self, variable: str, limit: int = 100, offset: int = 0, include_metadata: bool = True
    ) -> list[dict[str, Any]]:
        """Past values, newest first: ``[{"version", "value", "updated_at", "updated_by",
        "revision", "metadata"}]`` (the host keeps the last 100 versions by default)."""
        if limit < 0 or offset < 0:
            raise InvalidArgumentError("limit and offset must be >= 0", parameter="limit" if limit < 0 else "offset")
        if limit == 0:
            return []
        resp, raw = await self._call_parts(
            "GetHistory",
            variables_pb2.HistoryRequest(
                session_id=self._session_id, name=variable, limit=limit, offset=offset, caller_session_id=self._caller
            ),
        )
        vtype = self._types.get(self._ids.get(variable, variable), "")
        return [history_entry(e, include_metadata, vtype, raw) for e in resp.entries]

    async def rollback_variable(self, variable: str, version: int, reason: str | None = None) -> None:
        """Sets the variable back to the value of ``version`` (a new version is written, so
        history keeps everything). ``ValueError`` if that version is not kept,
        ``PermissionError`` without write access."""
        resp = await self._call(
            "Rollback",
            variables_pb2.RollbackRequest(
                session_id=self._session_id,
                name=variable,
                version=version,
                reason=reason or "",
                caller_session_id=self._caller,
            ),
        )
        self._remember(resp)
        self._wrote(resp.name, resp.modify_revision)

    # ------------------------------------------------------------------------------------
    # Export / import

    async def export_variables(
        self,
        format: str = "json",  # noqa: A002 - DSPex's parameter name
        include_history: bool = False,
        include_dependencies: bool = True,
        filter_pattern: str | None = None,
    ) -> bytes:
        """The session's variables as a self-contained document (``"json"`` or ``"yaml"``;
        embeddings and tensors as base64 bytes with dtype and shape), or the same as a Parquet
        table (``"parquet"``: one row per variable, per kept version with ``include_history``,
        per dependency; needs the optional package pyarrow, ``MissingDependencyError`` — an
        ``ImportError`` — naming it otherwise; docs/variables.md). ``"pickle"`` is refused by
        the host (``ValueError``: loading one runs arbitrary code; use json, yaml or parquet)."""
        parquet = format == "parquet"
        if parquet:
            _pyarrow()  # missing: say so before asking the host for anything
        resp = await self._call(
            "ExportVariables",
            variables_pb2.ExportVariablesRequest(
                session_id=self._session_id,
                format="json" if parquet else format,
                include_history=include_history,
                include_dependencies=include_dependencies,
                filter_pattern=filter_pattern or "",
                caller_session_id=self._caller,
            ),
        )
        if parquet:
            return document_to_parquet(json.loads(bytes(resp.data)))
        return bytes(resp.data)

    async def import_variables(
        self,
        data: bytes,
        format: str = "json",  # noqa: A002
        merge_strategy: str = "replace",
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Imports an export: all or nothing. ``merge_strategy`` for names that exist:
        ``"replace"`` (imported value wins), ``"keep"`` (existing left alone, counted as
        skipped), ``"merge"`` (maps deep-merged, imported keys winning). ``dry_run`` checks
        everything and changes nothing. Returns ``{"imported", "skipped", "errors",
        "details": [{"name", "action", "error"?}], "revision", "dry_run", "warnings",
        "warning_count"}`` (``warnings``: what the YAML parser warned about, the first 20, each
        at most 200 characters). A malformed document raises ``ValueError`` and leaves the
        store unchanged. ``format``: ``"json"``, ``"yaml"`` or ``"parquet"`` (an
        ``export_variables(format="parquet")`` table; pyarrow)."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        if format == "parquet":  # the client's format: the host takes the same document as JSON
            data, format = json.dumps(parquet_to_document(bytes(data))).encode("utf-8"), "json"  # noqa: A001
        t0 = time.perf_counter()
        resp = await self._call(
            "ImportVariables",
            variables_pb2.ImportVariablesRequest(
                session_id=self._session_id,
                data=bytes(data),
                format=format,
                merge_strategy=merge_strategy,
                dry_run=dry_run,
                caller_session_id=self._caller,
            ),
        )
        self._writes.add(time.perf_counter() - t0)
        details = json.loads(resp.details_json) if resp.details_json else []
        if resp.revision:
            for d in details:
                if d.get("action") in ("replace", "merge", "create"):
                    self._wrote(d["name"], resp.revision)
        return {
            "imported": resp.imported,
            "skipped": resp.skipped,
            "errors": resp.errors,
            "details": details,
            "revision": resp.revision,
            "dry_run": dry_run,
            "warnings": list(resp.warnings),
            "warning_count": resp.warning_count,
        }

    # ------------------------------------------------------------------------------------
    # Statistics and cache

    async def get_variable_stats(self, variable: str | None = None) -> dict[str, Any]:
        """The host's counters (``read_count``, ``write_count``, ...; per variable under
        ``"variables"`` for the whole session) merged with this client's: ``cache_hits``,
        ``cache_misses``, ``cache_hit_rate`` and the average round trip of reads and writes
        it made (``avg_read_latency_ms``, ``avg_write_latency_ms``).
        ``total_optimization_time_s``: time the host spent optimizing (the variable's runs, or
        every run of the session), the running ones so far."""
        resp = await self._call(
            "GetStats",
            variables_pb2.StatsRequest(
                session_id=self._session_id, variable=variable or "", caller_session_id=self._caller_id()
            ),
        )
        stats: dict[str, Any] = json.loads(resp.stats_json) if resp.stats_json else {}
        if variable:
            stats.update(self._cache.key_stats(stats.get("variable", self._ids.get(variable, variable))))
        else:
            s = self._cache.stats
            stats.update({"cache_hits": s.hits, "cache_misses": s.misses, "cache_hit_rate": s.hit_rate})
            for name, per in (stats.get("variables") or {}).items():
                if isinstance(per, dict):
                    per.update(self._cache.key_stats(name))
        stats.setdefault("avg_read_latency_ms", self._reads.avg_ms)
        stats.setdefault("avg_write_latency_ms", self._writes.avg_ms)
        stats.setdefault("total_optimization_time_s", await self._optimization_time_s(variable))
        return stats

    async def _optimization_time_s(self, variable: str | None) -> float:
        if variable:
            reply = await self._call("GetOptimizationStatus", self._optimization_request(variable))
        else:  # no target: the session's runs in sum
            reply = await self._call(
                "GetOptimizationStatus", optimization_pb2.OptimizationRequest(session_id=self._session_id)
            )
        return float(json.loads(reply.status_json or "{}").get("totalTimeMs") or 0) / 1000.0

    def get_cache_info(self) -> dict[str, Any]:
        """``{"size", "ttl", "hit_rate", "eviction_count", "max_size", "eviction_policy",
        "hits", "misses", ..., "watch_live", "revision"}``."""
        info = self._cache.info()
        info["watch_live"] = self._cache_live
        info["revision"] = self._revision
        return info

    def set_cache_config(
        self, ttl: float | None = None, max_size: int | None = None, eviction_policy: str | None = None
    ) -> None:
        """``ttl`` in seconds (0 disables the cache), ``max_size`` entries, ``eviction_policy``
        ``"lru"``, ``"lfu"`` or ``"fifo"``."""
        self._cache.configure(ttl=ttl, max_size=max_size, eviction_policy=eviction_policy)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "live" if self._initialized else "new"
        return f"SessionContext({self._session_id!r}, {state}, revision={self._revision})"


def _run_record(r: dict[str, Any]) -> dict[str, Any]:
    """A run record from the host's JSON, in Python's names and types."""
    to_dt = lambda ms: datetime.fromtimestamp(ms / 1000, tz=timezone.utc) if isinstance(ms, (int, float)) else None  # noqa: E731
    return {
        "id": r.get("id"),
        "kind": r.get("kind"),
        "session_id": r.get("sessionId"),
        "target": r.get("target"),
        "optimizer": r.get("optimizer"),
        "state": r.get("state"),
        "started_at": to_dt(r.get("startedAtMs")),
        "updated_at": to_dt(r.get("updatedAtMs")),
        "iterations": r.get("iterations"),
        "best_score": r.get("bestScore"),
        "direction": r.get("direction"),
        "error": r.get("error"),
        "details": r.get("details") or {},
    }
