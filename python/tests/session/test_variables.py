"""DSPex's variable calls against a real host: values, types, exceptions."""

from __future__ import annotations

import numpy as np
import pytest

from dspy_bridge.errors import (
    AlreadyExistsError,
    ConstraintViolationError,
    NotFoundError,
    VariableTypeError,
    VersionConflictError,
)
from dspy_bridge.session import SessionContext
from dspy_bridge.values import Embedding


async def test_register_get_set_roundtrip_of_every_type(session: SessionContext) -> None:
    ids = await session.register_variables(
        [
            {"name": "temperature", "type": "float", "initial_value": 0.7, "constraints": {"min": 0.0, "max": 2.0}},
            {"name": "max_tokens", "type": "integer", "initial_value": 256},
            {
                "name": "model",
                "type": "choice",
                "initial_value": "gpt-4",
                "constraints": {"choices": ["gpt-4", "claude-3"]},
            },
            {"name": "flag", "type": "boolean", "initial_value": True},
            {"name": "prompt", "type": "string", "initial_value": "hi"},
            {"name": "strategy", "type": "module", "initial_value": "ChainOfThought"},
            {"name": "tags", "type": "list", "initial_value": ["a", 1]},
            {"name": "config", "type": "dict", "initial_value": {"k": {"nested": [1, 2]}}},
            {
                "name": "emb",
                "type": "embedding",
                "initial_value": np.ones(8),
                "constraints": {"dimensions": 8, "normalize": True},
            },
            {"name": "weights", "type": "tensor", "initial_value": np.arange(6, dtype=np.float32).reshape(2, 3)},
        ]
    )
    assert set(ids) == {
        "temperature",
        "max_tokens",
        "model",
        "flag",
        "prompt",
        "strategy",
        "tags",
        "config",
        "emb",
        "weights",
    }
    assert all(i.startswith("var_") for i in ids.values())
    vals = await session.get_variables(list(ids))
    assert vals["temperature"] == 0.7 and type(vals["temperature"]) is float
    assert vals["max_tokens"] == 256 and type(vals["max_tokens"]) is int
    assert vals["model"] == "gpt-4" and vals["flag"] is True and vals["prompt"] == "hi"
    assert vals["tags"] == ["a", 1] and vals["config"] == {"k": {"nested": [1, 2]}}
    assert isinstance(vals["emb"], Embedding)
    np.testing.assert_allclose(vals["emb"], np.full(8, 1 / np.sqrt(8)))  # normalized by the host
    assert vals["weights"].shape == (2, 3) and vals["weights"].dtype == np.float32
    # A float set to a whole number still comes back as a float.
    await session.set_variable("temperature", 1)
    got = await session.get_variable("temperature")
    assert got == 1.0 and type(got) is float
    # By id as well as by name.
    assert await session.get_variable(ids["max_tokens"]) == 256


async def test_get_variable_default_keyerror_and_bypass(session: SessionContext, other: SessionContext) -> None:
    with pytest.raises(KeyError) as info:
        await session.get_variable("missing")
    assert isinstance(info.value, NotFoundError)
    assert await session.get_variable("missing", default=256) == 256
    await session.register_variable("t", "float", 0.5)
    assert await session.get_variable("t") == 0.5
    await other.set_variable("t", 0.6)
    # bypass_cache always asks the host, whatever the cache holds.
    assert await session.get_variable("t", bypass_cache=True) == 0.6


async def test_get_variables_defaults_metadata_stats(session: SessionContext) -> None:
    await session.register_variable("temperature", "float", 0.7, metadata={"description": "LLM temperature"})
    vals = await session.get_variables(["temperature", "tokens"], defaults={"tokens": 256})
    assert vals == {"temperature": 0.7, "tokens": 256}
    with pytest.raises(KeyError, match="'a', 'b'"):
        await session.get_variables(["temperature", "a", "b"])
    info = await session.get_variables(["temperature"], include_metadata=True, include_stats=True)
    t = info["temperature"]
    assert t["value"] == 0.7 and t["found"] is True and t["type"] == "float" and t["version"] == 1
    assert t["metadata"] == {"description": "LLM temperature"}
    assert t["stats"]["read_count"] >= 1 and "cache_hits" in t["stats"]


async def test_register_errors(session: SessionContext) -> None:
    with pytest.raises(ValueError, match="unknown variable type"):
        await session.register_variable("x", "quaternion", 1)
    with pytest.raises(TypeError) as te:
        await session.register_variable("x", "float", "warm")
    assert isinstance(te.value, VariableTypeError)
    with pytest.raises(ValueError) as ve:
        await session.register_variable("x", "float", 3.0, constraints={"min": 0.0, "max": 2.0})
    assert isinstance(ve.value, ConstraintViolationError) and ve.value.constraint == "max"
    with pytest.raises(ValueError):
        await session.register_variable("x", "embedding", np.zeros(4), constraints={"normalize": True})
    await session.register_variable("x", "float", 1.0)
    with pytest.raises(AlreadyExistsError):
        await session.register_variable("x", "float", 1.0)
    with pytest.raises(KeyError):
        await session.register_variable("y", "float", 1.0, dependencies=["nope"])


async def test_register_variables_is_atomic(session: SessionContext) -> None:
    with pytest.raises(TypeError):
        await session.register_variables(
            [
                {"name": "good", "type": "integer", "initial_value": 1},
                {"name": "bad", "type": "integer", "initial_value": "one"},
            ]
        )
    assert await session.get_variable("good", default="absent") == "absent"
    with pytest.raises(ValueError, match="unknown keys"):
        await session.register_variables([{"name": "x", "type": "float", "initial_value": 1.0, "colour": "red"}])


async def test_set_variable_errors_and_create(session: SessionContext) -> None:
    with pytest.raises(KeyError):
        await session.set_variable("nope", 1.0)
    await session.register_variable("temperature", "float", 0.7, constraints={"min": 0.0, "max": 2.0})
    with pytest.raises(ValueError):
        await session.set_variable("temperature", 9.0)
    with pytest.raises(TypeError):
        await session.set_variable("temperature", "hot")
    await session.set_variable("temperature", 0.9, metadata={"reason": "user_preference", "source": "ui"})
    hist = await session.get_variable_history("temperature")
    assert hist[0]["value"] == 0.9 and hist[0]["metadata"] == {"reason": "user_preference", "source": "ui"}
    await session.set_variable("new_config", {"key": "value"}, create_if_missing=True, type_hint="dict")
    assert await session.get_variable("new_config") == {"key": "value"}
    info = await session.get_variables(["new_config"], include_metadata=True)
    assert info["new_config"]["type"] == "map"
    await session.set_variable("inferred", 3, create_if_missing=True)
    assert (await session.get_variables(["inferred"], include_metadata=True))["inferred"]["type"] == "integer"
    with pytest.raises(TypeError):
        await session.set_variable("untypable", None, create_if_missing=True)
    with pytest.raises(TypeError):
        await session.set_variable("untypable", {1, 2}, create_if_missing=True)
    # compare-and-set
    await session.set_variable("temperature", 1.0, expected_version=2)
    with pytest.raises(VersionConflictError):
        await session.set_variable("temperature", 1.1, expected_version=2)
    assert await session.get_variable("temperature") == 1.0


async def test_set_variable_permission_error(session: SessionContext) -> None:
    await session.register_variable("api_key", "string", "secret")
    await session.set_variable_permissions("api_key", [{"session_pattern": "any", "permissions": ["read"]}])
    with pytest.raises(PermissionError):
        await session.set_variable("api_key", "other")
    assert await session.get_variable("api_key") == "secret"


async def test_update_variables_atomic_and_not(session: SessionContext) -> None:
    await session.register_variables(
        [
            {"name": "temperature", "type": "float", "initial_value": 0.7, "constraints": {"max": 2.0}},
            {"name": "max_tokens", "type": "integer", "initial_value": 256},
            {"name": "model", "type": "string", "initial_value": "gpt-3"},
        ]
    )
    ok = await session.update_variables({"temperature": 0.8, "max_tokens": 512, "model": "gpt-4"}, atomic=True)
    assert ok == {"temperature": True, "max_tokens": True, "model": True}
    assert await session.get_variables(["temperature", "max_tokens", "model"]) == {
        "temperature": 0.8,
        "max_tokens": 512,
        "model": "gpt-4",
    }
    bad = await session.update_variables({"temperature": 5.0, "max_tokens": 1024}, atomic=True)
    assert isinstance(bad["temperature"], str) and "max" in bad["temperature"]
    assert isinstance(bad["max_tokens"], str) and "not applied" in bad["max_tokens"]
    assert await session.get_variable("max_tokens") == 512  # nothing committed
    partial = await session.update_variables({"temperature": 5.0, "max_tokens": 1024}, atomic=False)
    assert partial["max_tokens"] is True and isinstance(partial["temperature"], str)
    assert await session.get_variable("max_tokens") == 1024


async def test_dependencies(session: SessionContext) -> None:
    ids = await session.register_variables(
        [
            {"name": "base_temperature", "type": "float", "initial_value": 0.7},
            {"name": "style_modifier", "type": "float", "initial_value": 1.0},
        ]
    )
    eff = await session.register_variable(
        "effective_temperature", "float", 0.7, dependencies=[ids["base_temperature"], ids["style_modifier"]]
    )
    deps = await session.get_dependencies("effective_temperature")
    assert {d["name"] for d in deps} == {"base_temperature", "style_modifier"}
    assert {d["variable_id"] for d in deps} == set(ids.values())
    assert all(d["type"] == "data" and d["depth"] == 1 for d in deps)
    await session.register_variable("final", "float", 0.0)
    await session.add_dependency("final", "effective_temperature", dependency_type="constraint")
    trans = await session.get_dependencies("final", include_transitive=True)
    assert {(d["name"], d["depth"]) for d in trans} == {
        ("effective_temperature", 1),
        ("base_temperature", 2),
        ("style_modifier", 2),
    }
    dependents = await session.get_dependents("base_temperature", include_transitive=True)
    assert [d["name"] for d in dependents] == ["effective_temperature", "final"]
    assert eff.startswith("var_effective_temperature")
    with pytest.raises(ValueError, match="cycle"):
        await session.add_dependency("base_temperature", "final")
    with pytest.raises(KeyError):
        await session.add_dependency("final", "nope")
    with pytest.raises(KeyError):
        await session.get_dependencies("nope")
    await session.remove_dependency("final", "effective_temperature")
    assert await session.get_dependencies("final") == []


async def test_access_rule_conditions_are_refused_not_ignored(session: SessionContext) -> None:
    """The host cannot evaluate conditions; ignoring them would grant more than the rule says."""
    await session.register_variable("api_key", "string", "k1")
    rule = {"session_pattern": "any", "permissions": ["read", "write"], "conditions": {"role": "admin"}}
    with pytest.raises(ValueError, match=r"rules\[0\]\.conditions are not supported.*session_pattern"):
        await session.set_variable_permissions("api_key", [rule])
    with pytest.raises(ValueError, match="conditions are not supported"):
        await session.register_variable("other", "string", "x", access_rules=[rule])
    await session.set_variable_permissions(
        "api_key", [{"session_pattern": "any", "permissions": ["read"], "conditions": {}}]
    )
    assert await session.check_variable_access("api_key", "write") is False


async def test_permissions_and_access_checks(host: object, session: SessionContext, session_id: str) -> None:
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
        assert await admin.check_variable_access("api_key", "observe") is False
        await admin.set_variable("api_key", "k2")
        assert await session.get_variable("api_key", bypass_cache=True) == "k2"
        with pytest.raises(PermissionError):  # only the owner may change rules
            await admin.set_variable_permissions("api_key", [])
        with pytest.raises(PermissionError):  # observe is not granted to anyone
            w = admin.watch_variable("api_key")
            await w.ready()
    finally:
        await admin.close()
    with pytest.raises(ValueError):
        await session.check_variable_access("api_key", "fly")


async def test_history_and_rollback(session: SessionContext) -> None:
    await session.register_variable("temperature", "float", 0.5)
    for v in (0.6, 0.7, 0.8):
        await session.set_variable("temperature", v, metadata={"iteration": int(v * 10)}, source="optimizer_123")
    hist = await session.get_variable_history("temperature")
    assert [h["version"] for h in hist] == [4, 3, 2, 1]
    assert (
        hist[0]["value"] == 0.8
        and hist[0]["updated_by"] == "optimizer_123"
        and hist[0]["metadata"] == {"iteration": "8"}
    )
    page = await session.get_variable_history("temperature", limit=2, offset=1, include_metadata=False)
    assert [h["version"] for h in page] == [3, 2] and "metadata" not in page[0]
    await session.rollback_variable("temperature", version=2, reason="optimization_diverged")
    assert await session.get_variable("temperature") == 0.6
    latest = (await session.get_variable_history("temperature", limit=1))[0]
    assert latest["version"] == 5 and latest["metadata"]["reason"] == "optimization_diverged"
    with pytest.raises(ValueError, match="no version 99"):
        await session.rollback_variable("temperature", version=99)
    await session.set_variable_permissions("temperature", [{"session_pattern": "any", "permissions": ["read"]}])
    with pytest.raises(PermissionError):
        await session.rollback_variable("temperature", version=1)


async def test_stats_merge_host_and_cache(session: SessionContext) -> None:
    await session.register_variable("temperature", "float", 0.7)
    for _ in range(5):
        await session.get_variable("temperature")
    await session.set_variable("temperature", 0.8)
    stats = await session.get_variable_stats("temperature")
    assert stats["variable"] == "temperature" and stats["write_count"] == 2
    assert stats["cache_hits"] >= 4 and 0 < stats["cache_hit_rate"] <= 1
    overall = await session.get_variable_stats()
    assert overall["variable_count"] == 1 and overall["write_count"] == 2
    for key in (
        "read_count",
        "cache_hits",
        "cache_misses",
        "cache_hit_rate",
        "avg_read_latency_ms",
        "avg_write_latency_ms",
        "total_optimization_time_s",
    ):
        assert key in overall
    assert overall["avg_write_latency_ms"] > 0


async def test_optimization_calls_check_their_arguments(session: SessionContext) -> None:
    # The runs themselves are tested in tests/optimization; here only the argument errors.
    with pytest.raises(ValueError, match="objective"):
        await session.start_optimization("temperature", "bayesian")
    with pytest.raises(ValueError, match="set_default_objective"):
        await session.start_optimization("temperature", "gradient")
    with pytest.raises(ValueError, match="ask"):
        await session.register_python_optimizer("x", object)
    with pytest.raises(KeyError):
        await session.get_optimization_status("no_such_variable")


async def test_connect_from_environment_and_generated_session(host: object) -> None:
    # DSPY_BRIDGE_ADDRESS / DSPY_BRIDGE_TOKEN are set by the host fixture.
    ctx = await SessionContext.connect()
    try:
        assert ctx.session_id.startswith("session_")
        await ctx.register_variable("x", "integer", 1)
        assert await ctx.get_variable("x") == 1
    finally:
        await ctx.close()
    with pytest.raises(KeyError):
        await SessionContext.connect(session_id="t_never_created_zz", create=False)


async def test_delete_and_list(session: SessionContext) -> None:
    await session.register_variables(
        [{"name": "a1", "type": "integer", "initial_value": 1}, {"name": "b1", "type": "integer", "initial_value": 2}]
    )
    assert await session.list_variables() == {"a1": 1, "b1": 2}
    assert await session.list_variables("^a") == {"a1": 1}
    assert await session.get_variable("a1") == 1
    assert await session.delete_variables(["a1"]) == 1
    with pytest.raises(KeyError):
        await session.get_variable("a1")
