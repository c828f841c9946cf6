"""How the variable-aware modules read a ``SessionContext`` from wherever they are called.

A ``SessionContext`` lives on one event loop (its gRPC channel and background watch do). The
modules may be used from that loop (``await``), from plain threads (DSPy's ``Parallel``,
``forward_async``'s executor) or from synchronous code with no loop at all. The rules:

* the cache first: a value the background watch keeps fresh is read with ``cache.peek``
  (no round trip, no loop needed);
* on the context's loop: ``await ctx.get_variables(...)``;
* from another thread while that loop runs: ``run_coroutine_threadsafe`` onto it;
* from synchronous code while that loop is idle in this thread: ``loop.run_until_complete``;
* from the loop's own thread in synchronous code (``bind_to_variable_sync`` inside a
  coroutine): a helper thread with its own loop and its own short-lived channel (made by the
  context's channel factory, so with its address and token) does the read; blocking the
  loop for the context's own call would deadlock.

Any other object with a ``get_variable(name)`` method (async or not) is a context too — code
written for DSPex passes such objects, and a user may wrap a session in their own class: it is read
one variable at a time through ``get_variable`` (a ``KeyError``, which includes
``VariableNotFoundError``, means "missing"), never through this package's cache, revision or
batch internals, which it need not have. It has no revision, so every auto-sync reads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
from collections.abc import Iterable
from typing import Any

from .exceptions import SessionError
from ..session import SessionContext
from ..session import SyncSessionContext

__all__: list[str] = []

MISSING: Any = object()
"""Marks a variable that does not exist (in the dicts returned by the fetch helpers)."""

DEFAULT_TIMEOUT = 60.0


_NATIVE: type | None = None


def is_native(ctx: Any) -> bool:
    """Whether ``ctx`` is this package's ``SessionContext`` (by its real class: a mock made
    with ``spec=SessionContext`` only looks like one)."""
    global _NATIVE
    if _NATIVE is None:
        _NATIVE = SessionContext
    return issubclass(type(ctx), _NATIVE)


def unwrap_context(session_context: Any) -> Any:
    """The async ``SessionContext`` behind ``session_context`` (a ``SyncSessionContext``
    gives its ``aio``); any other context as it is."""
    if session_context is None:
        return None

    if issubclass(type(session_context), SyncSessionContext):
        return session_context.aio
    return session_context


def context_revision(ctx: Any) -> int:
    """The newest revision ``ctx``'s watch delivered; -1 for a context without one."""
    return ctx.revision if is_native(ctx) else -1


def context_loop(ctx: Any) -> asyncio.AbstractEventLoop | None:
    """The event loop ``ctx`` lives on (None when unknown)."""
    return ctx.loop if is_native(ctx) else None


def watch_live(ctx: Any) -> bool:
    """Whether the background watch keeps ``ctx``'s cache and revision current."""
    return is_native(ctx) and ctx.cache_live


def cached_values(ctx: Any, names: Iterable[str]) -> dict[str, Any] | None:
    """Every value of ``names`` from the watch-fed cache, or None if one is not cached (or
    the watch is down). Read-only (``peek``), so any thread may call it."""
    if not is_native(ctx) or not watch_live(ctx):
        return None
    cache = ctx.cache
    miss = type(cache).MISS
    out: dict[str, Any] = {}
    for name in names:
        value = cache.peek(ctx.variable_key(name))
        if value is miss:
            return None
        out[name] = value
    return out


def changed_since(ctx: Any, names: Iterable[str], revision: int) -> bool:
    """Whether any of ``names`` may have changed since the store revision ``revision``.

    False only when the watch is live, the context's revision is still ``revision`` and no
    write of this context to one of ``names`` is pending delivery — then nothing can have
    changed and no read (not even of the cache) is needed.
    """
    if revision < 0 or not is_native(ctx) or not watch_live(ctx) or ctx.revision != revision:
        return True
    return ctx.changed_after(names, revision)


async def _get(ctx: Any, names: list[str]) -> dict[str, Any]:
    if not is_native(ctx):
        return await _get_each(ctx, names)
    return await ctx.get_variables(names, defaults={n: MISSING for n in names})


async def _get_each(ctx: Any, names: list[str]) -> dict[str, Any]:
    """A seed-style context: ``get_variable(name)`` per name, awaited if it is async."""
    out: dict[str, Any] = {}
    for name in names:
        try:
            value = ctx.get_variable(name)
            if inspect.isawaitable(value):
                value = await value
        except KeyError:  # VariableNotFoundError, NotFoundError: missing
            value = MISSING
        out[name] = value
    return out


def _get_each_blocking(ctx: Any, names: list[str], timeout: float | None) -> dict[str, Any]:
    getter = getattr(ctx, "get_variable", None)
    if getter is None:
        raise SessionError(f"the session context {ctx!r} has no get_variable method")
    if not (asyncio.iscoroutinefunction(getter) or inspect.iscoroutinefunction(getter)):
        out: dict[str, Any] = {}
        for name in names:
            try:
                value = getter(name)
            except KeyError:
                value = MISSING
            if inspect.isawaitable(value):  # an async get_variable in disguise
                return _run_blocking(lambda: _get_each(ctx, names), timeout)
            out[name] = value
        return out
    return _run_blocking(lambda: _get_each(ctx, names), timeout)


def _run_blocking(make: Any, timeout: float | None) -> Any:
    """Runs the coroutine ``make()`` to completion from synchronous code: here if this
    thread has no running loop, else on a helper thread (blocking this loop would deadlock)."""
    if _running_loop() is None:
        return asyncio.run(make())
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="dspy-bridge-sync-read") as pool:
        return pool.submit(lambda: asyncio.run(make())).result(timeout)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def fetch_in_helper_thread(ctx: Any, names: list[str], timeout: float | None = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """Reads ``names`` on a helper thread with its own event loop and its own channel."""
    if not ctx.host.can_reopen:
        raise SessionError(
            f"cannot read {', '.join(repr(n) for n in names)} synchronously here: the value is not cached and the "
            "session's event loop is this thread's (blocking it would deadlock) or gone, and the context's channel "
            "was made by the caller (no factory for a second one). Use the async method "
            "(`await module.bind_to_variable(...)` / `await module.sync_variables()`) or a context from "
            "`SessionContext.connect(...)`."
        )

    async def go() -> dict[str, Any]:
        tmp = await ctx.for_another_loop(timeout)
        try:
            return await _get(tmp, names)
        finally:
            await tmp.close()

    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="dspy-bridge-sync-read") as pool:
        return pool.submit(asyncio.run, go()).result(timeout)


def fetch_blocking(ctx: Any, names: list[str], timeout: float | None = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """``{name: value or MISSING}`` without ``await``, from any thread (see module doc)."""
    if not is_native(ctx):
        return _get_each_blocking(ctx, names, timeout)
    cached = cached_values(ctx, names)
    if cached is not None:
        return cached
    loop = context_loop(ctx)
    running = _running_loop()
    if loop is not None and loop is not running and not loop.is_closed():
        if loop.is_running():
            return asyncio.run_coroutine_threadsafe(_get(ctx, names), loop).result(timeout)
        if running is None:
            return loop.run_until_complete(_get(ctx, names))
    return fetch_in_helper_thread(ctx, names, timeout)


async def fetch_async(ctx: Any, names: list[str]) -> dict[str, Any]:
    """``{name: value or MISSING}`` from a coroutine on any loop (cache or one round trip)."""
    if not is_native(ctx):
        return await _get_each(ctx, names)
    loop = context_loop(ctx)
    running = asyncio.get_running_loop()
    if loop is None or loop is running:
        return await _get(ctx, names)
    cached = cached_values(ctx, names)
    if cached is not None:
        return cached
    if loop.is_running():
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_get(ctx, names), loop))
    return await asyncio.to_thread(fetch_in_helper_thread, ctx, names)
