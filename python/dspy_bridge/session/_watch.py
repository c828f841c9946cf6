"""``VariableWatch``: one watch stream of a ``SessionContext`` as an async iterator of
``VariableUpdate``, with resume-after-reconnect, filters, throttle and debounce.

Stream handling (a pump task per watch):

* the first request always asks for ``include_initial``: its answer tells that the host has
  registered the watch (``ready()``) and at which revision; the snapshot is yielded only if
  the caller asked for it;
* every commit's revision is remembered; when the stream is lost (host unavailable, channel
  closed and reopened) the watch reopens with ``start_revision = last + 1``, so the host
  replays what was missed from its event log: no change is lost and none is repeated;
* if the host answers ``compacted`` (the resume point is older than its log), the watch
  re-reads the watched variables, yields them as snapshot updates (``initial=True``) and
  continues from the revision of that read: the consumer never silently misses state.

Throttle/debounce run on the consumer side (pull): every update waiting in the queue is
folded into the pending state of its variable before anything is emitted, so each emitted
update is the newest value known at that point and carries its revision.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import grpc

from .._gen.dspy_bridge.v1 import session_pb2, variables_pb2
from ..core.host import OpenStream, being_cancelled, translate_rpc_error
from ..errors import BridgeClosedError, BridgeError, BridgePermissionError, Code, InvalidArgumentError
from ..values import ValueDecodingError
from ._convert import change_to_update, snapshot_update
from ._update import VariableUpdate

if TYPE_CHECKING:
    from ._context import SessionContext

__all__ = ["VariableWatch"]

_RETRYABLE = {grpc.StatusCode.UNAVAILABLE}


_FIRST_ANSWER_WAIT = 1.0
"""Seconds to wait for a new watch's first answer before asking the host what is wrong."""


async def _chain(first: Any, rest: AsyncIterator[Any]) -> AsyncIterator[Any]:
    if first is not None:
        yield first
    async for item in rest:
        yield item


class _End:
    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class _Undecodable:
    """A change whose value this process cannot decode: the consumer gets its typed error
    (``ValueDecodingError``) once, and the watch goes on with the next change."""

    __slots__ = ("error",)

    def __init__(self, error: ValueDecodingError) -> None:
        self.error = error


def _decoded(make: Callable[..., VariableUpdate], *args: Any) -> VariableUpdate | _Undecodable:
    try:
        return make(*args)
    except ValueDecodingError as err:
        return _Undecodable(err)


def _check_ms(value: Any, parameter: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value != value:
        raise InvalidArgumentError(
            f"{parameter} must be a number of milliseconds >= 0, got {value!r}", parameter=parameter
        )
    return float(value) / 1000.0


class VariableWatch(AsyncIterator[VariableUpdate]):
    """An open watch: ``async for update in watch``; ``cancel()`` / ``await aclose()`` end it
    (so does ``SessionContext.close()``). Also an async context manager.

    ``revision`` is the last revision delivered by the stream; ``await ready()`` returns once
    the host has registered the watch (changes committed afterwards are certain to arrive).
    """

    def __init__(
        self,
        ctx: SessionContext,
        names: list[str],
        *,
        include_initial: bool,
        filter_fn: Callable[..., bool] | None,
        filter_with_name: bool,
        throttle_ms: float,
        debounce_ms: float,
        start_revision: int | None,
    ) -> None:
        if filter_fn is not None and not callable(filter_fn):
            raise InvalidArgumentError("filter_fn must be callable", parameter="filter_fn")
        if start_revision is not None and (
            isinstance(start_revision, bool) or not isinstance(start_revision, int) or start_revision < 1
        ):
            raise InvalidArgumentError(
                f"start_revision must be an integer >= 1, got {start_revision!r}", parameter="start_revision"
            )
        self._ctx = ctx
        self._names = list(names)
        self._include_initial = include_initial
        self._filter = filter_fn
        self._filter_with_name = filter_with_name
        self._throttle = _check_ms(throttle_ms, "throttle_ms")
        self._debounce = _check_ms(debounce_ms, "debounce_ms")
        self._start_revision = start_revision
        self._revision = (start_revision - 1) if start_revision else 0
        self._raw: asyncio.Queue[VariableUpdate | _Undecodable | _End] = asyncio.Queue()
        self._ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._stopped = False
        self._end: _End | None = None
        self._finished = False
        # throttle / debounce state
        self._pending: dict[str, VariableUpdate] = {}
        self._undecodable: list[ValueDecodingError] = []
        self._last_emit: dict[str, float] = {}
        self._last_change = -math.inf
        self.reconnects = 0
        # The first item read from the stream (a WatchResponse, or its (response, raw) pair).
        self._first_response: Any = None
        self._task = asyncio.create_task(self._pump(), name=f"dspy-bridge watch {ctx.session_id} {self._names}")

    # ------------------------------------------------------------------------------------
    # Public surface

    @property
    def names(self) -> list[str]:
        return list(self._names)

    @property
    def revision(self) -> int:
        """The revision of the last commit the stream delivered (0 before the first)."""
        return self._revision

    @property
    def closed(self) -> bool:
        return self._stopped

    async def ready(self) -> None:
        """Waits until the host has registered the watch; raises if opening it failed."""
        await asyncio.shield(self._ready)

    def cancel(self) -> None:
        """Ends the watch: iteration stops (StopAsyncIteration) once pending updates are out."""
        if self._stopped:
            return
        self._stopped = True
        self._task.cancel()
        self._raw.put_nowait(_End(None))
        if not self._ready.done():
            self._ready.set_exception(BridgeClosedError("the watch was cancelled"))
            self._ready.exception()
        self._ctx._forget_watch(self)

    async def aclose(self) -> None:
        self.cancel()
        try:
            await self._task
        except (asyncio.CancelledError, Exception):  # noqa: BLE001 - it was cancelled on purpose
            pass

    async def __aenter__(self) -> VariableWatch:
        return self

    async def __aexit__(self, *_exc: Any) -> None:
        await self.aclose()

    def __aiter__(self) -> VariableWatch:
        return self

    async def __anext__(self) -> VariableUpdate:
        if self._finished:
            raise StopAsyncIteration
        if self._throttle == 0 and self._debounce == 0:
            while True:
                item = await self._raw.get()
                if isinstance(item, _End):
                    self._finish(item)
                if isinstance(item, _Undecodable):
                    raise item.error
                if self._passes(item):
                    return item
        return await self._next_coalesced()

    # ------------------------------------------------------------------------------------
    # Consumer side

    def _finish(self, end: _End) -> None:
        self._finished = True
        if end.error is not None:
            raise end.error
        raise StopAsyncIteration

    def _passes(self, u: VariableUpdate) -> bool:
        f = self._filter
        if f is None or u.initial or u.kind != "put":
            return True
        if self._filter_with_name:
            return bool(f(u.name, u.old_value, u.value))
        return bool(f(u.old_value, u.value))

    def _fold(self, item: VariableUpdate | _Undecodable | _End, now: float) -> None:
        if isinstance(item, _End):
            if self._end is None:
                self._end = item
            return
        if isinstance(item, _Undecodable):
            self._undecodable.append(item.error)
            return
        if not self._passes(item):
            return
        prev = self._pending.get(item.name)
        if prev is not None:
            item = replace(item, old_value=prev.old_value, coalesced=prev.coalesced + item.coalesced)
        self._pending[item.name] = item
        self._last_change = now

    def _deadline(self, name: str) -> float:
        return max(self._last_emit.get(name, -math.inf) + self._throttle, self._last_change + self._debounce)

    async def _next_coalesced(self) -> VariableUpdate:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            while not self._raw.empty():
                self._fold(self._raw.get_nowait(), now)
            if self._undecodable:
                raise self._undecodable.pop(0)
            flush = self._end is not None
            best: VariableUpdate | None = None
            next_deadline = math.inf
            for name, u in self._pending.items():
                d = self._deadline(name)
                if flush or d <= now:
                    if best is None or u.revision < best.revision:
                        best = u
                elif d < next_deadline:
                    next_deadline = d
            if best is not None:
                del self._pending[best.name]
                self._last_emit[best.name] = now
                return best
            if self._end is not None:
                self._finish(self._end)
            timeout = None if next_deadline == math.inf else max(0.0, next_deadline - now)
            try:
                item = await asyncio.wait_for(self._raw.get(), timeout)
            except asyncio.TimeoutError:
                continue
            self._fold(item, loop.time())

    # ------------------------------------------------------------------------------------
    # Producer side (the pump task)

    def _request(self, first: bool) -> variables_pb2.WatchRequest:
        ctx = self._ctx
        if first:
            return variables_pb2.WatchRequest(
                session_id=ctx.session_id,
                names=self._names,
                include_initial=True,
                start_revision=self._start_revision or 0,
                caller_session_id=ctx.caller_session_id,
            )
        return variables_pb2.WatchRequest(
            session_id=ctx.session_id,
            names=self._names,
            start_revision=self._revision + 1,
            caller_session_id=ctx.caller_session_id,
        )

    async def _pump(self) -> None:
        ctx = self._ctx
        host = ctx.host
        first = True
        backoff = 0.05
        try:
            while not self._stopped:
                opened: OpenStream | None = None
                try:
                    request = self._request(first)
                    # A watch is never held back by the host: no credit needed (window 0).
                    # Values with attachments come out of band on the worker's connection.
                    opened = host.stream("Watch", request, window=0, parts=True)
                    stream = opened.call.__aiter__()
                    if first:
                        await self._await_first(stream)
                    async for item in _chain(self._first_response, stream):
                        self._first_response = None
                        resp, raw = opened.parts(item)
                        backoff = 0.05
                        if resp.compacted:
                            await self._resync()
                            first = False
                            if not self._ready.done():
                                self._ready.set_result(None)
                            break
                        if resp.initial:
                            if first:
                                if not self._start_revision:
                                    self._revision = resp.revision
                                if self._include_initial:
                                    for ch in resp.changes:
                                        self._raw.put_nowait(_decoded(change_to_update, ch, resp.revision, True, raw))
                                first = False
                                if not self._ready.done():
                                    self._ready.set_result(None)
                            continue
                        for ch in resp.changes:
                            self._raw.put_nowait(_decoded(change_to_update, ch, resp.revision, False, raw))
                        if resp.revision > self._revision:
                            self._revision = resp.revision
                    else:
                        # The host ended the stream (shutting down): reopen when it is back.
                        await asyncio.sleep(backoff)
                        backoff = min(backoff * 2, 2.0)
                except asyncio.CancelledError:
                    if (
                        self._stopped
                        or ctx.closed
                        or being_cancelled()
                        or opened is None
                        or opened.on_worker_connection
                    ):
                        raise
                    # The channel was closed under the stream: wait for a new one.
                    await host.channel_lost(opened.stub)
                    self.reconnects += 1
                except grpc.aio.UsageError:
                    await host.channel_lost(opened.stub if opened is not None else host.stub)
                    self.reconnects += 1
                except BridgeError as err:
                    # From the worker's connection, typed already; retried like gRPC's
                    # UNAVAILABLE while the connection itself is up.
                    if err.code != Code.UNAVAILABLE or opened is None or opened.route is None or opened.route.closed:
                        raise
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
                    self.reconnects += 1
                except grpc.aio.AioRpcError as err:
                    if err.code() not in _RETRYABLE:
                        raise translate_rpc_error(err) from None
                    # The host is unreachable (restarting, network): retry with backoff.
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
                    self.reconnects += 1
                finally:
                    if opened is not None and not opened.call.done():
                        opened.call.cancel()
        except asyncio.CancelledError:
            if not self._stopped:
                self._stop_with(BridgeClosedError("the session was closed"))
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            self._stop_with(exc if isinstance(exc, Exception) else BridgeClosedError(str(exc)))

    async def _await_first(self, stream: AsyncIterator[Any]) -> None:
        """Waits for the first answer (the snapshot the host sends once the watch is
        registered). The host ends a watch it refuses (unknown variable or session, observe
        not permitted) with an error status, which arrives here as that first answer. If
        nothing arrives soon (the host's store is slow or stuck), ask the host with unary
        calls whether the watch can be served: a refusal they name is raised at once, and
        otherwise the watch goes on waiting for its first answer."""
        first = asyncio.ensure_future(stream.__anext__())
        try:
            done, _ = await asyncio.wait({first}, timeout=_FIRST_ANSWER_WAIT)
            if not done:
                await self._diagnose()
            self._first_response = await first
        except StopAsyncIteration:
            self._first_response = None  # ended at once: treated like any ended stream
        except BaseException:
            first.cancel()
            raise

    async def _diagnose(self) -> None:
        ctx = self._ctx
        await ctx._call("GetSession", session_pb2.GetSessionRequest(session_id=ctx.session_id))
        for name in self._names:
            resp = await ctx._call(
                "CheckAccess",
                variables_pb2.CheckAccessRequest(
                    session_id=ctx.session_id,
                    variable=name,
                    permission="observe",
                    caller_session_id=ctx.caller_session_id,
                ),
            )
            if not resp.allowed:
                who = ctx.caller_session_id or ctx.session_id
                raise BridgePermissionError(
                    f"session '{who}' may not observe variable '{name}'",
                    details={"variable": name, "permission": "observe", "session_id": who},
                )

    def _stop_with(self, error: BaseException) -> None:
        self._stopped = True
        self._raw.put_nowait(_End(error))
        if not self._ready.done():
            self._ready.set_exception(error)
            self._ready.exception()  # the consumer sees it through iteration
        self._ctx._forget_watch(self)

    async def _resync(self) -> None:
        """The resume point was compacted: re-read the watched variables, yield them as
        snapshot values, and continue after the read's revision."""
        ctx = self._ctx
        if self._names:
            resp, raw = await ctx._call_parts(
                "GetVariables",
                variables_pb2.GetVariablesRequest(
                    session_id=ctx.session_id, names=self._names, caller_session_id=ctx.caller_session_id
                ),
            )
            variables = [r.variable for r in resp.results if r.found]
        else:
            resp, raw = await ctx._call_parts(
                "ListVariables",
                variables_pb2.ListVariablesRequest(session_id=ctx.session_id, caller_session_id=ctx.caller_session_id),
            )
            variables = list(resp.variables)
        for var in variables:
            self._raw.put_nowait(_decoded(snapshot_update, var, resp.revision, raw))
        self._revision = resp.revision
