"""watch_variable(s) against a real host: initial values, filters, throttle, debounce,
atomic commits, resume after the channel is closed, cancel."""

from __future__ import annotations

import asyncio

import pytest
from session_watch_helpers import take

from dspy_bridge.session import SessionContext, VariableUpdate, VariableWatch


async def until_value(w: VariableWatch, value: object, timeout: float = 10.0) -> list[VariableUpdate]:
    out: list[VariableUpdate] = []

    async def run() -> None:
        async for u in w:
            out.append(u)
            if u.value == value:
                return

    await asyncio.wait_for(run(), timeout)
    return out


async def test_include_initial_then_changes(session: SessionContext, other: SessionContext) -> None:
    tid = await session.register_variable("temperature", "float", 0.7)
    async with session.watch_variable("temperature") as w:
        await w.ready()
        await other.set_variable("temperature", 0.9, metadata={"reason": "ui"}, source="ui_client")
        first, second = await take(w, 2)
    assert first.initial and first.value == 0.7 and first.old_value is None and first.variable_id == tid
    assert not second.initial and second.value == 0.9 and second.old_value == 0.7
    assert second.name == "temperature" and second.version == 2 and second.source == "ui_client"
    assert second.metadata == {"reason": "ui"} and second.revision > first.revision
    assert second.timestamp.year >= 2024


async def test_without_initial(session: SessionContext) -> None:
    await session.register_variable("t", "integer", 1)
    w = session.watch_variable("t", include_initial=False)
    await w.ready()
    await session.set_variable("t", 2)
    [u] = await take(w, 1)
    assert u.value == 2 and not u.initial
    w.cancel()


async def test_filter_fn(session: SessionContext) -> None:
    await session.register_variable("temperature", "float", 0.50)
    w = session.watch_variable("temperature", include_initial=False, filter_fn=lambda old, new: abs(new - old) > 0.05)
    await w.ready()
    for v in (0.52, 0.54, 0.70, 0.71, 0.90):
        await session.set_variable("temperature", v)
    got = await until_value(w, 0.90)
    assert [(u.old_value, u.value) for u in got] == [(0.54, 0.70), (0.71, 0.90)]
    named = session.watch_variables(["temperature"], include_initial=False, filter_fn=lambda name, old, new: new > 1.0)
    await named.ready()
    await session.set_variable("temperature", 0.95)
    await session.set_variable("temperature", 1.5)
    [u] = await take(named, 1)
    assert u.value == 1.5 and u.old_value == 0.95
    w.cancel()
    named.cancel()


async def test_throttle_collapses_and_last_value_wins(session: SessionContext) -> None:
    await session.register_variable("progress", "float", 0.0)
    w = session.watch_variable("progress", include_initial=False, throttle_ms=300)
    await w.ready()
    for i in range(1, 41):
        await session.set_variable("progress", float(i))
    got = await until_value(w, 40.0)
    assert 1 <= len(got) < 40  # bursts were folded
    assert got[-1].value == 40.0 and got[-1].version == 41
    assert sum(u.coalesced for u in got) == 40  # every change is accounted for
    revs = [u.revision for u in got]
    assert revs == sorted(revs) and len(set(revs)) == len(revs)
    # Each emitted update is the state at its revision (a state stream).
    history = {h["revision"]: h["value"] for h in await session.get_variable_history("progress", limit=100)}
    for u in got:
        assert history[u.revision] == u.value
    w.cancel()


async def test_debounce_waits_for_quiet(session: SessionContext) -> None:
    await session.register_variables(
        [{"name": n, "type": "string", "initial_value": ""} for n in ("query", "filters", "sort")]
    )
    w = session.watch_variables(["query", "filters", "sort"], include_initial=False, debounce_ms=250)
    await w.ready()
    for text in ("h", "he", "hel", "hell", "hello"):
        await session.set_variable("query", text)
    await session.set_variable("sort", "date")
    got = await take(w, 2)
    assert {u.name: u.value for u in got} == {"query": "hello", "sort": "date"}
    assert [u.coalesced for u in got if u.name == "query"] == [5]
    assert got[0].revision < got[1].revision
    # Nothing else is pending.
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(w.__anext__(), 0.6)
    w.cancel()


async def test_atomic_update_is_one_revision(session: SessionContext, other: SessionContext) -> None:
    await session.register_variables(
        [{"name": "a", "type": "integer", "initial_value": 0}, {"name": "b", "type": "integer", "initial_value": 0}]
    )
    w = session.watch_variables(["a", "b"], include_initial=False)
    await w.ready()
    assert await other.update_variables({"a": 1, "b": 2}, atomic=True) == {"a": True, "b": True}
    ua, ub = await take(w, 2)
    assert {ua.name: ua.value, ub.name: ub.value} == {"a": 1, "b": 2}
    assert ua.revision == ub.revision
    w.cancel()


async def test_resume_after_channel_closed_and_reopened(session: SessionContext, other: SessionContext) -> None:
    await session.register_variable("counter", "integer", 0)
    w = session.watch_variable("counter", include_initial=False)
    await w.ready()
    for i in (1, 2):
        await other.set_variable("counter", i)
    assert [u.value for u in await take(w, 2)] == [1, 2]
    old_channel = session.channel
    await old_channel.close()  # the stream dies with the channel
    for i in range(3, 11):  # changes made while the client has no channel
        await other.set_variable("counter", i)
    got = await take(w, 8)
    assert [u.value for u in got] == list(range(3, 11))  # nothing lost, nothing repeated
    assert session.channel is not old_channel and w.reconnects >= 1
    # The background watch came back too: cached reads see later writes.
    await other.set_variable("counter", 99)
    [u] = await take(w, 1)
    await session.wait_for_revision(u.revision, timeout=10)
    assert await session.get_variable("counter") == 99
    w.cancel()


async def test_resume_on_callers_channel_with_reconnect(host: object, session_id: str, other: SessionContext) -> None:
    import grpc

    from dspy_bridge.core.host import open_channel

    address, token = host  # type: ignore[misc]

    def make() -> grpc.aio.Channel:
        return open_channel(address, token)

    ctx = SessionContext(session_id, make())
    await ctx.initialize()
    try:
        await other.register_variable("n", "integer", 0)
        w = ctx.watch_variable("n", include_initial=False)
        await w.ready()
        await ctx.channel.close()
        await other.set_variable("n", 1)
        await other.set_variable("n", 2)
        await ctx.reconnect(make())  # the caller supplies the new channel
        assert [u.value for u in await take(w, 2)] == [1, 2]
    finally:
        await ctx.close()


async def test_cancel_watch(session: SessionContext) -> None:
    await session.register_variable("temperature", "float", 0.7)
    w = session.watch_variable("temperature")
    [initial] = await take(w, 1)
    assert initial.value == 0.7
    assert session.active_watches == 1
    session.cancel_watch(w)
    with pytest.raises(StopAsyncIteration):
        await w.__anext__()
    assert session.active_watches == 0
    assert w.closed
    session.cancel_watch(w)  # a second cancel is a no-op
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(w.__anext__(), 5)

    seen: list[float] = []

    async def watcher() -> None:
        async for u in session.watch_variable("temperature"):
            seen.append(u.value)

    task = asyncio.create_task(watcher())
    while not seen:
        await asyncio.sleep(0.01)
    session.cancel_watch(task)
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_watch_errors(session: SessionContext) -> None:
    w = session.watch_variable("missing")
    with pytest.raises(KeyError):
        await w.__anext__()
    # The failed watch is over: closed, forgotten by the context, its readiness the same error,
    # and iterating again ends at once instead of waiting for updates that will never come.
    assert w.closed and session.active_watches == 0
    with pytest.raises(KeyError):
        await w.ready()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(w.__anext__(), 5)
    with pytest.raises(ValueError):
        session.watch_variable("x", throttle_ms=-1)
    # Milliseconds are a number >= 0: not a bool, a string or NaN; the error names the option.
    for bad in (True, "10", float("nan")):
        with pytest.raises(ValueError, match="debounce_ms must be a number of milliseconds >= 0"):
            session.watch_variable("x", debounce_ms=bad)
    assert session.active_watches == 0, "a refused watch is never opened"


async def test_watch_ends_on_close(host: object, session_id: str) -> None:
    address, token = host  # type: ignore[misc]
    ctx = await SessionContext.connect(address, session_id, token=token)
    await ctx.register_variable("x", "integer", 1)
    w = ctx.watch_variable("x")
    await take(w, 1)
    await ctx.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(w.__anext__(), 5)
