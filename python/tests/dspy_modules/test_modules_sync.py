"""Auto-sync costs no round trip when nothing changed; sync callbacks; missing variables;
the sync wrappers inside and outside a running event loop."""

from __future__ import annotations

import asyncio
import threading

import dspy
import pytest

from dspy_bridge import (
    SessionContext,
    SyncSessionContext,
    VariableAwareChainOfThought,
    VariableAwarePredict,
    VariableNotFoundError,
    create_variable_aware_module,
)
from dspy_bridge.errors import BridgeError, NotFoundError
from dspy_bridge.testing import ScriptedLM


async def test_no_round_trip_when_nothing_changed(ts, ctx, session_id, lm: ScriptedLM, count_calls) -> None:
    await ts.adefine(session_id, "temp", "float", 0.7)
    await ts.adefine(session_id, "tokens", "integer", 256)
    await ts.adefine(session_id, "unrelated", "string", "a")
    cot = VariableAwareChainOfThought("question -> answer", session_context=ctx)
    await cot.bind_to_variables({"temperature": "temp", "max_tokens": "tokens"})
    counter = count_calls(ctx)
    reads_before = ts.stats(session_id, "temp")["read_count"]

    for i in range(5):
        await cot.forward_async(question=f"q{i}")
        cot(question=f"s{i}")
        await cot.acall(question=f"a{i}")
    assert counter.calls == []  # not one call to the host
    assert ts.stats(session_id, "temp")["read_count"] == reads_before
    assert [c.kwargs["temperature"] for c in lm.calls] == [0.7] * 15

    # A change of a bound variable arrives through the watch: applied, still no read.
    rev = await ts.aset(session_id, "temp", 1.2)
    await ctx.wait_for_revision(rev, timeout=5)
    await cot.forward_async(question="after change")
    assert lm.calls[-1].kwargs["temperature"] == 1.2
    # Another variable of the session changed: the revision moved, the values come from the cache.
    rev = await ts.aset(session_id, "unrelated", "b")
    await ctx.wait_for_revision(rev, timeout=5)
    cot(question="after unrelated change")
    assert counter.reads == 0 and counter.calls == []
    assert ts.stats(session_id, "temp")["read_count"] == reads_before

    # A write by this very context is seen at once (the cached value is dropped by the write).
    await ctx.set_variable("temp", 0.1)
    counter.calls.clear()
    await cot.forward_async(question="after own write")
    assert lm.calls[-1].kwargs["temperature"] == 0.1
    assert counter.reads <= 1


async def test_sync_callbacks(ts, ctx, session_id, lm) -> None:
    """DSPex's sync-callbacks example, against the real host."""
    await ts.adefine(session_id, "llm_temperature", "float", 0.7)
    history: list[tuple[str, object, object]] = []
    all_changes: list[tuple[str, object, object]] = []

    predictor = VariableAwarePredict("text -> summary", session_context=ctx, temperature=0.2)
    await predictor.bind_to_variable("temperature", "llm_temperature", lambda a, o, n: history.append((a, o, n)))
    predictor.add_sync_callback(lambda a, o, n: all_changes.append((a, o, n)))
    assert history == [("temperature", 0.2, 0.7)]  # at bind time: old config value -> variable

    previous = 0.7
    for temp in [0.5, 0.7, 0.9]:
        await ctx.set_variable("llm_temperature", temp)
        changes = await predictor.sync_variables()
        assert changes == {"temperature": (previous, temp)}
        previous = temp
        await predictor.forward_async(text="DSPy bridges TypeScript and Python.")
        assert lm.calls[-1].kwargs["temperature"] == temp
    assert history == [
        ("temperature", 0.2, 0.7),
        ("temperature", 0.7, 0.5),
        ("temperature", 0.5, 0.7),
        ("temperature", 0.7, 0.9),
    ]
    assert all_changes == history[1:]

    # A change from TypeScript, picked up by auto-sync before the next forward.
    rev = await ts.aset(session_id, "llm_temperature", 1.4)
    await ctx.wait_for_revision(rev, timeout=5)
    predictor(text="x")
    assert history[-1] == ("temperature", 0.9, 1.4)
    assert lm.calls[-1].kwargs["temperature"] == 1.4

    # A failing callback is logged, not raised; the sync still applies.
    predictor.add_sync_callback(lambda *a: 1 / 0)
    rev = await ts.aset(session_id, "llm_temperature", 0.3)
    await ctx.wait_for_revision(rev, timeout=5)
    assert await predictor.sync_variables() == {"temperature": (1.4, 0.3)}

    assert predictor.get_bindings() == {"temperature": "llm_temperature"}
    assert await predictor.get_bound_variable("temperature") == 0.3
    with pytest.raises(ValueError, match="not bound"):
        await predictor.get_bound_variable("max_tokens")


async def test_bind_to_missing_variable(ts, ctx, session_id) -> None:
    predictor = VariableAwarePredict("question -> answer", session_context=ctx)
    with pytest.raises(VariableNotFoundError) as info:
        await predictor.bind_to_variable("temperature", "no_such_variable")
    assert (
        isinstance(info.value, KeyError)
        and isinstance(info.value, NotFoundError)
        and isinstance(info.value, BridgeError)
    )
    assert info.value.variable_name == "no_such_variable"
    assert info.value.reason == "not_found" and info.value.code == 5
    with pytest.raises(KeyError):
        predictor.bind_to_variable_sync("temperature", "no_such_variable")
    with pytest.raises(KeyError):
        await create_variable_aware_module(ctx, "Predict", "q -> a", variable_bindings={"temperature": "nope"})
    assert predictor.get_bindings() == {}
    # all or none
    await ts.adefine(session_id, "present", "float", 0.5)
    with pytest.raises(VariableNotFoundError):
        await predictor.bind_to_variables({"temperature": "present", "max_tokens": "absent"})
    assert predictor.get_bindings() == {} and "temperature" not in predictor.config


async def test_deleted_variable_keeps_last_value(ts, ctx, session_id, lm) -> None:
    await ts.adefine(session_id, "t", "float", 0.4)
    predictor = VariableAwarePredict("question -> answer", session_context=ctx)
    await predictor.bind_to_variable("temperature", "t")
    await asyncio.to_thread(ts.call, "delete", session_id, names=["t"])
    await asyncio.sleep(0.1)
    assert await predictor.sync_variables() == {}
    await predictor.forward_async(question="q")
    assert lm.calls[-1].kwargs["temperature"] == 0.4


async def test_no_session_context() -> None:
    from dspy_bridge import SessionError

    predictor = VariableAwarePredict("question -> answer")
    with pytest.raises(SessionError):
        await predictor.bind_to_variable("temperature", "t")
    assert await predictor.sync_variables() == {}


# -- sync wrappers ---------------------------------------------------------------------


async def test_sync_wrappers_inside_a_running_loop(ts, ctx, session_id, lm, count_calls) -> None:
    """Called from a coroutine on the context's own loop: no deadlock. A cached value is used
    as is (no round trip); an uncached one is read on a helper thread with its own loop."""
    await ts.adefine(session_id, "cached_temp", "float", 0.6)
    await ts.adefine(session_id, "uncached_tokens", "integer", 99)
    await ctx.get_variable("cached_temp")  # now in the watch-fed cache
    counter = count_calls(ctx)
    predictor = VariableAwarePredict("question -> answer", session_context=ctx)

    predictor.bind_to_variable_sync("temperature", "cached_temp", timeout=10)
    assert predictor.config["temperature"] == 0.6 and counter.calls == []

    predictor.bind_to_variable_sync("max_tokens", "uncached_tokens", timeout=10)  # helper thread
    assert predictor.config["max_tokens"] == 99
    assert counter.calls == []  # read over the helper thread's own channel, not this loop's
    assert predictor.get_bound_variable_sync("max_tokens", timeout=10) == 99

    rev = await ts.aset(session_id, "cached_temp", 0.8)
    await ctx.wait_for_revision(rev, timeout=5)
    assert predictor.sync_variables_sync(timeout=10) == {"temperature": (0.6, 0.8)}
    predictor(question="sync call inside the loop")
    assert lm.calls[-1].kwargs["temperature"] == 0.8


def test_sync_wrappers_outside_a_running_loop(ts, session_id, lm) -> None:
    """Plain synchronous code: the context's loop is idle in this thread (run_until_complete)."""
    ts.define(session_id, "t", "float", 0.25)
    loop = asyncio.new_event_loop()
    try:
        ctx = loop.run_until_complete(SessionContext.connect(ts.address, session_id, token=ts.token))
        predictor = VariableAwarePredict("question -> answer", session_context=ctx)
        predictor.bind_to_variable_sync("temperature", "t")
        assert predictor.config["temperature"] == 0.25
        rev = ts.set(session_id, "t", 0.75)
        loop.run_until_complete(ctx.wait_for_revision(rev, timeout=5))
        assert predictor.sync_variables_sync() == {"temperature": (0.25, 0.75)}
        predictor(question="q")
        assert lm.calls[-1].kwargs["temperature"] == 0.75
        loop.run_until_complete(ctx.close())
    finally:
        loop.close()


def test_sync_wrappers_with_sync_session_context(ts, session_id, lm) -> None:
    """A SyncSessionContext (its loop runs on its own thread): calls go to that loop."""
    ts.define(session_id, "t", "float", 0.1)
    with SyncSessionContext.connect(ts.address, session_id, token=ts.token) as sctx:
        predictor = VariableAwarePredict("question -> answer", session_context=sctx)
        predictor.bind_to_variable_sync("temperature", "t")
        assert predictor.session_context is sctx and predictor.config["temperature"] == 0.1
        rev = ts.set(session_id, "t", 0.9)
        sctx.wait_for_revision(rev, timeout=5)
        predictor(question="q")
        assert lm.calls[-1].kwargs["temperature"] == 0.9
        # From other threads too (DSPy's Parallel runs calls on a thread pool).
        results = predictor.batch(
            [dspy.Example(question=f"q{i}").with_inputs("question") for i in range(4)],
            num_threads=4,
            disable_progress_bar=True,
        )
        assert len(results) == 4
        assert [c.kwargs["temperature"] for c in lm.calls[-4:]] == [0.9] * 4


def test_sync_wrapper_from_another_thread_while_the_loop_runs(ts, session_id, lm) -> None:
    ts.define(session_id, "t", "float", 0.3)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        ctx = asyncio.run_coroutine_threadsafe(
            SessionContext.connect(ts.address, session_id, token=ts.token), loop
        ).result(10)
        predictor = VariableAwarePredict("question -> answer", session_context=ctx)
        predictor.bind_to_variable_sync("temperature", "t", timeout=10)
        assert predictor.config["temperature"] == 0.3
        asyncio.run_coroutine_threadsafe(ctx.close(), loop).result(10)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
