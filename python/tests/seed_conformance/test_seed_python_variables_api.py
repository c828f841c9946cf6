"""Seed ``python-variables-api.txt`` (05, the Python Variables API, revised): every
``SessionContext`` method with the arguments, return shapes and exceptions the seed states,
its ``VariableCache``, ``DSPyOptimizationBridge`` and its type conversion table, against a real
host. The seed's usage examples run as scripts (examples/python, test_examples.py); the ones
with a seed-specific twist are also here."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from typing import Any

import dspy
import grpc
import numpy as np
import pytest
import yaml
from seed_support import SeedHost

from dspy_bridge import SessionContext, VariableCache, VariableUpdate
from dspy_bridge.dspy import DSPyOptimizationBridge
from dspy_bridge.errors import AlreadyExistsError, UnavailableError
from dspy_bridge.testing import ScriptedLM

# -- Variable Retrieval --------------------------------------------------------------------------


async def test_get_variable(session: SessionContext) -> None:
    await session.register_variable("temperature", "float", 0.7, constraints={"min": 0.0, "max": 2.0})
    assert await session.get_variable("temperature") == 0.7
    assert await session.get_variable("max_tokens", default=256) == 256
    assert await session.get_variable("temperature", bypass_cache=True) == 0.7
    with pytest.raises(KeyError):  # not found, no default
        await session.get_variable("nope")
    var_id = (await session.get_variables(["temperature"], include_metadata=True))["temperature"]["id"]
    assert await session.get_variable(var_id) == 0.7  # "Variable name or ID"


async def test_get_variables(session: SessionContext) -> None:
    await session.register_variables(
        [
            {"name": "temperature", "type": "float", "initial_value": 0.7},
            {"name": "max_tokens", "type": "integer", "initial_value": 256},
            {"name": "model", "type": "string", "initial_value": "gpt-4"},
        ]
    )
    assert await session.get_variables(["temperature", "max_tokens", "model"]) == {
        "temperature": 0.7,
        "max_tokens": 256,
        "model": "gpt-4",
    }
    assert await session.get_variables(["temp", "tokens"], defaults={"temp": 0.7, "tokens": 256}) == {
        "temp": 0.7,
        "tokens": 256,
    }
    info = await session.get_variables(["temperature", "model"], include_metadata=True, include_stats=True)
    assert info["temperature"]["value"] == 0.7 and "metadata" in info["temperature"]
    assert {"read_count", "cache_hits"} <= set(info["temperature"]["stats"])


# -- Variable Creation and Updates ------------------------------------------------------------------


async def test_register_variable(session: SessionContext) -> None:
    temp_id = await session.register_variable("temperature", "float", 0.7, constraints={"min": 0.0, "max": 2.0})
    style_id = await session.register_variable("style", "float", 1.0)
    assert isinstance(temp_id, str) and temp_id
    assert temp_id.startswith("var_temperature_") and temp_id != style_id
    assert (await session.get_variable(temp_id), await session.get_variable(style_id)) == (0.7, 1.0)
    # The seed's embedding example is np.zeros(768) with normalize: the host refuses a zero
    # vector (it has no direction), as a ValueError.
    with pytest.raises(ValueError, match="zero vector"):
        await session.register_variable(
            "context_embedding", "embedding", np.zeros(768), constraints={"dimensions": 768, "normalize": True}
        )
    embed_id = await session.register_variable(
        "context_embedding", "embedding", np.ones(768), constraints={"dimensions": 768, "normalize": True}
    )
    assert abs(float(np.linalg.norm(await session.get_variable("context_embedding"))) - 1) < 1e-9 and embed_id
    derived_id = await session.register_variable(
        "effective_temperature", "float", 0.7, dependencies=[temp_id, style_id]
    )
    assert [d["name"] for d in await session.get_dependencies(derived_id)] == ["temperature", "style"]
    with pytest.raises(ValueError):  # type validation fails
        await session.register_variable("bad", "no_such_type", 1)
    with pytest.raises(TypeError):  # initial value does not match the type
        await session.register_variable("bad", "integer", "seven")
    with pytest.raises(AlreadyExistsError):
        await session.register_variable("temperature", "float", 0.5)


async def test_register_variables(session: SessionContext) -> None:
    var_ids = await session.register_variables(
        [
            {"name": "temperature", "type": "float", "initial_value": 0.7, "constraints": {"min": 0.0, "max": 2.0}},
            {
                "name": "model",
                "type": "choice",
                "initial_value": "gpt-4",
                "constraints": {"choices": ["gpt-4", "claude-3", "gemini"]},
            },
        ]
    )
    assert set(var_ids) == {"temperature", "model"}
    with pytest.raises(ValueError):  # atomic: a bad one registers nothing
        await session.register_variables(
            [
                {"name": "a", "type": "float", "initial_value": 0.1},
                {"name": "b", "type": "choice", "initial_value": "x", "constraints": {"choices": ["y"]}},
            ]
        )
    assert await session.get_variable("a", default="absent") == "absent"


async def test_set_variable(session: SessionContext) -> None:
    await session.register_variable("temperature", "float", 0.7, constraints={"min": 0.0, "max": 2.0})
    await session.set_variable("temperature", 0.9)
    await session.set_variable("temperature", 0.9, metadata={"reason": "user_preference", "source": "ui"})
    await session.set_variable("new_config", {"key": "value"}, create_if_missing=True, type_hint="dict")
    assert await session.get_variable("new_config") == {"key": "value"}
    with pytest.raises(ValueError):
        await session.set_variable("temperature", 5.0)  # fails validation
    with pytest.raises(KeyError):
        await session.set_variable("missing", 1)
    with pytest.raises(TypeError):  # create_if_missing but no type can be inferred
        await session.set_variable("weird", object(), create_if_missing=True)
    await session.set_variable_permissions(
        "temperature", [{"session_pattern": "someone_else", "permissions": ["read", "write"]}]
    )
    with pytest.raises(PermissionError):  # read-only for this session now
        await session.set_variable("temperature", 1.0)


async def test_update_variables(session: SessionContext) -> None:
    await session.register_variables(
        [
            {"name": "temperature", "type": "float", "initial_value": 0.7, "constraints": {"min": 0, "max": 2}},
            {"name": "max_tokens", "type": "integer", "initial_value": 256},
            {"name": "model", "type": "string", "initial_value": "gpt-3"},
        ]
    )
    results = await session.update_variables({"temperature": 0.8, "max_tokens": 512, "model": "gpt-4"}, atomic=True)
    assert results == {"temperature": True, "max_tokens": True, "model": True}
    failed = await session.update_variables({"temperature": 9.0, "max_tokens": 1}, atomic=True)
    assert all(r is not True for r in failed.values()) and await session.get_variable("max_tokens") == 512
    partial = await session.update_variables({"temperature": 9.0, "max_tokens": 1}, atomic=False)
    assert partial["max_tokens"] is True and isinstance(partial["temperature"], str)


# -- Variable Dependencies ------------------------------------------------------------------------


async def test_dependencies(session: SessionContext) -> None:
    await session.register_variables(
        [
            {"name": "base_temperature", "type": "float", "initial_value": 0.7},
            {"name": "effective_temperature", "type": "float", "initial_value": 0.7},
            {"name": "final", "type": "float", "initial_value": 0.7},
        ]
    )
    await session.add_dependency("effective_temperature", "base_temperature", dependency_type="data")
    await session.add_dependency(
        "final", "effective_temperature", dependency_type="constraint", metadata={"why": "test"}
    )
    deps = await session.get_dependencies("final", include_transitive=True)
    assert [d["name"] for d in deps] == ["effective_temperature", "base_temperature"] and "variable_id" in deps[0]
    assert [d["type"] for d in deps] == ["constraint", "data"]  # the seed's {"variable_id", "type": dependency type}
    assert [d["name"] for d in await session.get_dependents("base_temperature")] == ["effective_temperature"]
    with pytest.raises(ValueError):  # circular
        await session.add_dependency("base_temperature", "final")
    with pytest.raises(KeyError):
        await session.add_dependency("final", "nope")
    await session.remove_dependency("final", "effective_temperature")
    assert await session.get_dependencies("final") == []


# -- Optimization Integration ---------------------------------------------------------------------------


async def test_optimization(session: SessionContext) -> None:
    session.set_default_objective("slow_accuracy")
    await session.register_variable("temperature", "float", 0.7, constraints={"min": 0.0, "max": 2.0})
    seen: list[tuple[int, Any, dict]] = []
    opt_id = await session.start_optimization(
        "temperature",
        "bayesian",
        optimizer_config={"acquisition_function": "ei", "n_initial_points": 5},
        max_iterations=50,
        callback=lambda iteration, value, metrics: seen.append((iteration, value, metrics)),
    )
    with pytest.raises(ValueError, match="already being optimized"):
        await session.start_optimization("temperature", "bayesian")
    status = await session.get_optimization_status("temperature")
    assert status["is_optimizing"] and status["optimization_id"] == opt_id
    assert set(status) >= {
        "is_optimizing",
        "optimization_id",
        "iteration",
        "best_value",
        "best_metrics",
        "started_at",
        "last_update",
    }
    assert isinstance(status["started_at"], datetime)
    for _ in range(1000):  # stopped once it has made progress (the callback reports each iteration)
        if seen:
            break
        await asyncio.sleep(0.01)
    await session.stop_optimization("temperature")
    with pytest.raises(ValueError):  # not currently optimizing
        await session.stop_optimization("temperature")
    history = await session.get_optimization_history("temperature", limit=50)
    iterations = [h["iteration"] for h in history]
    values = [h["value"] for h in history]
    metrics = [h["metrics"]["accuracy"] for h in history]
    assert iterations == list(range(1, len(history) + 1)) and len(values) == len(metrics) > 0
    assert await session.get_optimization_history("temperature", since=datetime.now(timezone.utc)) == []
    assert len(await session.get_optimization_history("temperature", optimizer_id=opt_id)) == len(history)
    assert [s[0] for s in seen] == iterations  # callback(iteration, value, metrics) for each
    await session.set_variable_permissions(
        "temperature", [{"session_pattern": "other_*", "permissions": ["read", "write", "observe", "optimize"]}]
    )
    with pytest.raises(PermissionError):
        await session.start_optimization("temperature", "random")


async def test_register_python_optimizer(session: SessionContext) -> None:
    # the seed's CustomBayesianOptimizer stand-in: the bridge's own TPE class under another name
    await session.register_python_optimizer("custom_bayesian", "dspy_bridge.optimize._tpe:TPEOptimizer")
    await session.register_variable("temperature", "float", 0.2, constraints={"min": 0.0, "max": 2.0})
    session.set_default_objective("seed_accuracy")
    opt_id = await session.start_optimization("temperature", "custom_bayesian", max_iterations=12)
    while (status := await session.get_optimization_status("temperature"))["is_optimizing"]:
        await asyncio.sleep(0.05)
    assert (
        status["optimization_id"] == opt_id and status["optimizer"] == "custom_bayesian" and status["exception"] is None
    )


# -- Variable Observation -------------------------------------------------------------------------


async def test_watch_variable_filter_and_throttle(session: SessionContext) -> None:
    await session.register_variable("temperature", "float", 0.70, constraints={"min": 0.0, "max": 2.0})
    watch = session.watch_variable("temperature", filter_fn=lambda old, new: abs(new - old) > 0.05)
    await watch.ready()
    for v in (0.72, 0.80, 0.81, 1.0):
        await session.set_variable("temperature", v)
    got: list[VariableUpdate] = []
    async for update in watch:
        got.append(update)
        if update.value == 1.0:
            break
    await watch.aclose()
    assert [u.value for u in got] == [0.7, 0.8, 1.0]  # the initial value, then significant changes only
    u = got[1]
    assert (u.variable_id, u.old_value, u.source) and isinstance(u.timestamp, datetime) and isinstance(u.metadata, dict)

    await session.register_variable("metrics", "float", 0.0)
    throttled = session.watch_variable("metrics", include_initial=False, throttle_ms=200)
    await throttled.ready()
    received: list[tuple[float, float]] = []

    async def update_ui() -> None:
        async for update in throttled:
            received.append((asyncio.get_running_loop().time(), update.value))
            if update.value == 10.0:
                return

    consumer = asyncio.create_task(update_ui())
    for i in range(1, 11):
        await session.set_variable("metrics", float(i))
        await asyncio.sleep(0.03)
    await asyncio.wait_for(consumer, 5)
    await throttled.aclose()
    assert received[-1][1] == 10.0 and len(received) < 10  # the newest value, at most one per 200 ms
    gaps = [b[0] - a[0] for a, b in zip(received, received[1:])]
    assert all(g >= 0.15 for g in gaps), gaps


async def test_watch_variables_debounce_and_cancel_watch(session: SessionContext) -> None:
    await session.register_variables(
        [{"name": n, "type": "string", "initial_value": ""} for n in ("query", "filters", "sort")]
    )
    watch = session.watch_variables(["query", "filters", "sort"], include_initial=False, debounce_ms=200)
    await watch.ready()
    for v in ("a", "ab", "abc"):
        await session.set_variable("query", v)
    await session.set_variable("sort", "asc")
    updates = [await asyncio.wait_for(watch.__anext__(), 5) for _ in range(2)]  # after the changes settle
    assert {(u.name, u.value) for u in updates} == {("query", "abc"), ("sort", "asc")}
    await watch.aclose()
    # The seed's cancel_watch: watch_task = asyncio.create_task(session.watch_variable('temperature'))
    await session.register_variable("temperature", "float", 0.5)
    watch_task = asyncio.create_task(session.watch_variable("temperature"))
    await asyncio.sleep(0.1)
    session.cancel_watch(watch_task)
    await asyncio.gather(watch_task, return_exceptions=True)
    assert watch_task.cancelled() or watch_task.done()


# -- Access Control, History, Export/Import ------------------------------------------------------------------


async def test_permissions(host: SeedHost, session: SessionContext, session_id: str) -> None:
    await session.register_variable("api_key", "string", "k1")
    await session.set_variable_permissions(
        "api_key",
        [
            {"session_pattern": "any", "permissions": ["read"]},
            {"session_pattern": "admin_*", "permissions": ["read", "write", "optimize"]},
        ],
    )
    assert await session.check_variable_access("api_key", "read") is True
    assert await session.check_variable_access("api_key", "write") is False
    admin = SessionContext(session_id, session.channel, caller_session_id="admin_1")
    await admin.initialize()
    try:
        assert await admin.check_variable_access("api_key", "write") is True
    finally:
        await admin.close()


async def test_history_and_rollback(session: SessionContext) -> None:
    await session.register_variable("temperature", "float", 0.5)
    for v in (0.6, 0.7, 0.8):
        await session.set_variable("temperature", v, metadata={"iteration": str(int(v * 10))})
    history = await session.get_variable_history("temperature", limit=2, offset=1)
    assert [h["version"] for h in history] == [3, 2] and set(history[0]) >= {
        "version",
        "value",
        "updated_at",
        "updated_by",
        "metadata",
    }
    await session.rollback_variable("temperature", version=2, reason="optimization_diverged")
    assert await session.get_variable("temperature") == 0.6
    with pytest.raises(ValueError):
        await session.rollback_variable("temperature", version=99)


async def test_export_import(host: SeedHost, session: SessionContext, session_id: str) -> None:
    await session.register_variables(
        [
            {"name": "temperature", "type": "float", "initial_value": 0.7},
            {"name": "model_name", "type": "string", "initial_value": "gpt-4"},
        ]
    )
    export_data = await session.export_variables(format="json", include_history=True)
    assert isinstance(export_data, bytes) and {v["name"] for v in json.loads(export_data)["variables"]} == {
        "temperature",
        "model_name",
    }
    model_vars = await session.export_variables(filter_pattern=r".*model.*")
    assert [v["name"] for v in json.loads(model_vars)["variables"]] == ["model_name"]
    config = await session.export_variables(format="yaml", include_history=True)
    assert yaml.safe_load(config)["variables"]
    with pytest.raises(ValueError, match="pickle"):
        await session.export_variables(format="pickle")
    async with await SessionContext.connect(host.address, session_id + "_copy", token=host.token) as target:
        summary = await target.import_variables(export_data, dry_run=True)
        assert summary["errors"] == 0 and set(summary) >= {"imported", "skipped", "errors", "details"}
        if summary["errors"] == 0:
            await target.import_variables(export_data)
        assert await target.get_variable("temperature") == 0.7
        kept = await target.import_variables(export_data, merge_strategy="keep")
        assert kept["skipped"] == 2


# -- Performance Monitoring and the cache -------------------------------------------------------------


async def test_stats_and_cache(session: SessionContext) -> None:
    await session.register_variable("temperature", "float", 0.7)
    for _ in range(3):
        await session.get_variable("temperature")
    stats = await session.get_variable_stats("temperature")
    for key in (
        "read_count",
        "write_count",
        "cache_hits",
        "cache_misses",
        "cache_hit_rate",
        "avg_read_latency_ms",
        "avg_write_latency_ms",
        "total_optimization_time_s",
    ):
        assert key in stats
    overall = await session.get_variable_stats()
    assert overall["write_count"] >= 1 and 0 <= overall["cache_hit_rate"] <= 1
    info = session.get_cache_info()
    assert set(info) >= {"size", "ttl", "hit_rate", "eviction_count"}
    session.set_cache_config(ttl=0)
    assert session.get_cache_info()["ttl"] == 0
    session.set_cache_config(ttl=5.0, max_size=10000, eviction_policy="lru")
    assert session.get_cache_info()["max_size"] == 10000


async def test_variable_cache() -> None:
    cache = VariableCache(ttl=1.0, max_size=1000)
    cache.put("a", 1)
    fetched: list[list[str]] = []

    async def fetch_missing(missing: list[str]) -> dict[str, Any]:
        fetched.append(missing)
        return {k: k.upper() for k in missing}

    assert await cache.get_batch(["a", "b"], fetch_missing) == {"a": 1, "b": "B"} and fetched == [["b"]]
    events: list[tuple[str, str]] = []
    called = asyncio.Event()

    async def on_invalidate(var_id: str, reason: str) -> None:
        events.append((var_id, reason))
        called.set()

    sub = cache.subscribe_invalidation("a", on_invalidate)
    assert isinstance(sub, str)
    assert sub != cache.subscribe_invalidation("*", lambda *_: None), "each subscription has its own id"
    cache.put("model_x", 1)
    assert await cache.invalidate_pattern(r"model_.*", reason="test") == 1
    cache.invalidate("a", "changed")
    await asyncio.wait_for(called.wait(), 5)
    assert events == [("a", "changed")]
    assert cache.unsubscribe_invalidation(sub) is True and cache.unsubscribe_invalidation(sub) is False
    cache.invalidate("a", "changed again")
    await asyncio.sleep(0)  # a scheduled callback would have run its first step by now
    assert events == [("a", "changed")], "an unsubscribed callback is not called"


# -- DSPy Integration Enhancements --------------------------------------------------------------------


TRAIN = [dspy.Example(question=f"q{i}", answer=f"Scripted answer for: q{i}").with_inputs("question") for i in range(4)]


async def test_dspy_optimization_bridge(session: SessionContext, lm: ScriptedLM) -> None:
    await session.register_variables(
        [
            {"name": "temperature", "type": "float", "initial_value": 0.7, "constraints": {"min": 0, "max": 2}},
            {"name": "max_demos", "type": "integer", "initial_value": 2, "constraints": {"min": 0, "max": 8}},
        ]
    )
    bridge = DSPyOptimizationBridge(session)
    assert bridge.session_context is session
    optimizer = await bridge.create_variable_aware_optimizer(
        dspy.teleprompt.BootstrapFewShot,
        variable_mappings={"teacher_temperature": "temperature", "max_bootstrapped_demos": "max_demos"},
        metric=lambda example, pred, trace=None: example.answer == pred.answer,
        max_labeled_demos=0,
    )
    optimized_program = await optimizer.compile(dspy.Predict("question -> answer"), trainset=TRAIN)
    assert len(optimized_program.demos) == 2
    cot = dspy.ChainOfThought("question -> answer")
    mappings = await bridge.sync_dspy_parameters(cot, variable_prefix="cot_")
    assert any(v.startswith("cot_temperature") or v == "cot_temperature" for v in mappings.values())


# -- Type Conversion Reference ------------------------------------------------------------------------


async def test_type_conversion_table(session: SessionContext) -> None:
    cases = [
        ("f", "float", 1.0, float),  # the host (JavaScript) writes 1.0 as 1: it comes back a float
        ("i", "integer", 2**60, int),  # precision preserved
        ("s", "string", "héllo ✓", str),
        ("b", "boolean", True, bool),
        ("c", "choice", "a", str),
        ("m", "module", "ChainOfThought", str),
        ("l", "list", [1, [2, "x"]], list),
        ("d", "map", {1: "one"}, dict),  # keys converted to strings
        ("e", "embedding", [0.1, 0.2], np.ndarray),
        ("t", "tensor", [[1.0, 2.0]], np.ndarray),
    ]
    for name, vtype, value, pytype in cases:
        constraints = {"choices": ["a", "b"]} if vtype == "choice" else None
        await session.register_variable(name, vtype, value, constraints=constraints)
        got = await session.get_variable(name, bypass_cache=True)
        assert isinstance(got, pytype), (name, got)
    assert await session.get_variable("f") == 1.0 and await session.get_variable("i") == 2**60
    assert await session.get_variable("d") == {"1": "one"}
    assert (await session.get_variable("t")).shape == (1, 2)


# -- Error handling: communication errors are grpc.RpcError ----------------------------------------------


async def test_communication_errors_are_rpc_errors(tmp_path: Any) -> None:
    channel = grpc.aio.insecure_channel(f"unix:{tmp_path}/nobody.sock")
    ctx = SessionContext("unreachable", channel, timeout=5)
    try:
        with pytest.raises(grpc.RpcError) as err:
            await ctx.get_variable("critical_config")
        assert isinstance(err.value, UnavailableError) and err.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await channel.close()


async def test_thread_safety_shared_across_tasks(session: SessionContext) -> None:
    await session.register_variable("counter", "integer", 0)
    names = [f"v{i}" for i in range(20)]
    await asyncio.gather(*(session.register_variable(n, "integer", i) for i, n in enumerate(names)))
    values = await asyncio.gather(*(session.get_variable(n) for n in names))
    assert values == list(range(20))
