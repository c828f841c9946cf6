"""Seed ``python-architecture.txt`` (the composable bridge system): its variable manager and
type system (``VariableManager``, ``register_type``, ``BaseType``, ``TensorType``,
``EmbeddingType``), its tool system (``ToolRegistry``, ``ToolInfo``, ``ToolBridge``,
``ToolNotFoundError``, ``ToolExecutionError``, ``SessionContext.call_tool``) and its DSPy
adapter commands, run against a real host."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import numpy as np
import pytest
from seed_support import HostError, SeedHost

from dspy_bridge import SessionContext, SyncSessionContext
from dspy_bridge.dspy.adapter import ADAPTER_COMMANDS, DSPyAdapter
from dspy_bridge.errors import ConstraintViolationError
from dspy_bridge.tools import ToolBridge, ToolExecutionError, ToolInfo, ToolNotFoundError, ToolRegistry
from dspy_bridge.variables import (
    BaseType,
    EmbeddingType,
    SessionVariableScope,
    TensorType,
    TypeRegistry,
    VariableManager,
    type_registry,
)


class ProbabilityType(BaseType):
    """A probability: a float in [0, 1] (a user-defined type)."""

    base_type = "float"

    def validate(self, value: Any) -> float:
        value = float(value)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"a probability is in [0, 1], got {value}")
        return value

    def serialize(self, value: float) -> bytes:
        return repr(value).encode()

    def deserialize(self, data: bytes) -> float:
        return float(data)

    def get_constraints_schema(self) -> dict[str, Any]:
        return {"type": "object", "properties": {"at_most": {"type": "number"}}}

    def validate_constraints(self, value: float, constraints: dict[str, Any]) -> None:
        if "at_most" in constraints and value > constraints["at_most"]:
            raise ValueError(f"{value} is above at_most {constraints['at_most']}")


# -- variables/manager.py ---------------------------------------------------------------------------


def test_variable_manager_scopes_and_user_defined_types(host: SeedHost, session_id: str) -> None:
    manager = VariableManager()
    manager.initialize({"address": host.address, "token": host.token})
    manager.register_type("probability", ProbabilityType)
    try:
        scope = manager.get_session_scope(session_id)
        assert isinstance(scope, SessionVariableScope) and manager.get_session_scope(session_id) is scope
        scope.set("temperature", 0.7)  # created, type inferred
        scope.set("temperature", 0.9)
        assert scope.get("temperature") == 0.9
        scope.set("p_correct", 0.25, type_hint="probability", constraints={"at_most": 0.5})
        with pytest.raises(ValueError, match="above at_most"):
            scope.set("p_correct", 0.75)
        with pytest.raises(ValueError, match="in \\[0, 1\\]"):
            scope.set("p_correct", 1.5)
        listed = {v["name"]: v for v in scope.list()}
        assert (
            listed["p_correct"]["value"] == 0.25
            and listed["p_correct"]["metadata"]["dspy_bridge.type"] == "probability"
        )
        assert scope.delete("temperature") is True and scope.delete("temperature") is False
        with pytest.raises(KeyError):  # the seed's VariableNotFoundError
            scope.get("temperature")
        with pytest.raises(ValueError, match="not found"):
            scope.get("temperature")
    finally:
        manager.close()
        type_registry.unregister("probability")


async def test_a_user_defined_type_through_session_context(session: SessionContext) -> None:
    type_registry.register("probability", ProbabilityType)
    try:
        await session.register_variable("p", "probability", 0.4, constraints={"at_most": 0.8})
        assert await session.get_variable("p") == 0.4
        with pytest.raises(ValueError):
            await session.set_variable("p", 0.9)
        await session.set_variable("p", 0.6)
        assert await session.get_variable("p") == 0.6
        with pytest.raises(ValueError, match="base_type"):

            class Bad(ProbabilityType):
                base_type = "quaternion"

            type_registry.register("bad", Bad)
        with pytest.raises(ValueError, match="built-in type"):
            type_registry.register("float", ProbabilityType)
    finally:
        type_registry.unregister("probability")


# -- variables/types: BaseType, TensorType, EmbeddingType -------------------------------------------


def test_base_type_is_the_seeds_abstract_interface() -> None:
    assert inspect.isabstract(BaseType)
    assert {"validate", "serialize", "deserialize", "get_constraints_schema"} <= BaseType.__abstractmethods__
    info = ProbabilityType().get_type_info()
    assert (
        info["name"] == "probability"
        and info["constraints_schema"]["properties"]["at_most"]
        and "probability" in info["description"]
    )
    registry = TypeRegistry()
    registry.register_default_types()
    assert registry.get("tensor") is TensorType and registry.get("embedding") is EmbeddingType


def test_tensor_type_as_in_the_seed_without_pickle() -> None:
    t = TensorType()
    assert t.validate([[1, 2], [3, 4]]).shape == (2, 2)
    assert t.validate({"shape": [2, 3], "data": list(range(6))}).tolist() == [[0, 1, 2], [3, 4, 5]]
    arr = np.arange(4, dtype=np.float32)
    assert t.validate(arr) is arr
    with pytest.raises(ValueError):
        t.validate("not a tensor")
    data = t.serialize(arr)
    assert data.startswith(b"\x93NUMPY") and b"pickle" not in data  # .npy, loaded with allow_pickle=False
    assert np.array_equal(t.deserialize(data), arr)
    t.validate_constraints(arr, {"shape": [4], "dtype": "float32", "min_value": 0, "max_value": 3})
    for constraints in ({"shape": [2, 2]}, {"dtype": "int64"}, {"min_value": 1}, {"max_value": 2}):
        with pytest.raises(ValueError):
            t.validate_constraints(arr, constraints)
    assert set(t.get_constraints_schema()["properties"]) == {"shape", "dtype", "min_value", "max_value"}


def test_embedding_type_as_in_the_seed() -> None:
    e = EmbeddingType()
    assert e.validate((1, 2)) == [1.0, 2.0] and e.validate(np.array([0.5, 0.5])) == [0.5, 0.5]
    with pytest.raises(ValueError, match="1-dimensional"):
        e.validate(np.zeros((2, 2)))
    assert e.deserialize(e.serialize([0.5, 0.25])) == [0.5, 0.25]
    e.validate_constraints([0.6, 0.8], {"dimensions": 2, "norm": "unit", "range": [-1, 1]})
    e.validate_constraints([0.6, 0.8], {"norm": "l2"})
    e.validate_constraints([0.25, 0.75], {"norm": "l1"})
    with pytest.raises(ConstraintViolationError):
        e.validate_constraints([0.6, 0.8], {"norm": "l1"})
    with pytest.raises(ValueError, match="dimensions"):
        e.validate_constraints([0.6, 0.8], {"dimensions": 3})
    assert e.get_constraints_schema()["properties"]["norm"]["enum"] == ["l1", "l2", "unit"]


async def test_the_host_takes_the_seeds_type_vocabulary(session: SessionContext) -> None:
    """norm 'unit'/'l1'/'l2', tensor min_value/max_value, a tensor as a list or {shape, data},
    a map with integer keys (converted to strings): the seeds' tables, on a real host."""
    await session.register_variable("unit_vec", "embedding", [0.6, 0.8], constraints={"dimensions": 2, "norm": "unit"})
    await session.register_variable("l1_vec", "embedding", [0.25, 0.75], constraints={"norm": "l1"})
    with pytest.raises(ConstraintViolationError) as err:
        await session.set_variable("l1_vec", [0.6, 0.8])
    assert err.value.constraint == "norm" and err.value.limit == "l1"
    await session.register_variable(
        "weights", "tensor", [[0.5, 1.5], [2.5, 3.5]], constraints={"min_value": 0, "max_value": 4}
    )
    assert (await session.get_variable("weights")).shape == (2, 2)
    await session.set_variable("weights", {"shape": [2, 2], "data": [1, 2, 3, 4], "dtype": "float32"})
    got = await session.get_variable("weights", bypass_cache=True)
    assert got.dtype == np.float32 and got.tolist() == [[1, 2], [3, 4]]
    with pytest.raises(ConstraintViolationError) as err:
        await session.set_variable("weights", [[5.0, 0.0], [0.0, 0.0]])
    assert err.value.constraint == "max_value"
    await session.register_variable("by_id", "map", {1: "one", 2: {3: "three"}})
    assert await session.get_variable("by_id") == {"1": "one", "2": {"3": "three"}}
    info = await session.get_variables(["unit_vec", "weights"], include_metadata=True)
    assert info["unit_vec"]["constraints"]["norm"] == "unit" and info["weights"]["constraints"]["max_value"] == 4
    # A context that has not seen the variable's type still sends a list as the tensor it is.
    async with _fresh(session) as other:
        await other.set_variable("weights", [[1, 1], [1, 1]])
        assert (await other.get_variable("weights", bypass_cache=True)).tolist() == [[1, 1], [1, 1]]
    # torch is not in the lock: asking for torch tensors says which package is missing.
    try:
        import torch  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="pip install torch"):
            session.set_tensor_framework("torch")


def _fresh(session: SessionContext) -> Any:
    import os

    class _Ctx:
        async def __aenter__(self) -> SessionContext:
            self.ctx = await SessionContext.connect(
                os.environ["DSPY_BRIDGE_ADDRESS"], session.session_id, token=os.environ["DSPY_BRIDGE_TOKEN"]
            )
            return self.ctx

        async def __aexit__(self, *exc: Any) -> None:
            await self.ctx.close()

    return _Ctx()


# -- tools/ ---------------------------------------------------------------------------------------


def _add(a: int, b: int = 1) -> int:
    """Adds two integers."""
    return a + b


def _boom() -> None:
    raise RuntimeError("kaput")


def test_tool_registry_the_seeds_way(host: SeedHost, session_id: str) -> None:
    registry = ToolRegistry()
    registry.register_python_tool("add", _add)
    registry.register_python_tool("boom", _boom)
    info = registry.get_tool("add")
    assert isinstance(info, ToolInfo) and info.language == "python" and info.description == "Adds two integers."
    assert [p["name"] for p in info.parameters] == ["a", "b"] and info.handler is _add
    assert registry.execute_tool("add", {"a": 2}) == 3
    with pytest.raises(ToolExecutionError, match="Error executing tool 'boom': kaput") as err:
        registry.execute_tool("boom", {})
    assert isinstance(err.value.__cause__, RuntimeError)
    with pytest.raises(ToolNotFoundError):
        registry.get_tool("missing")
    with pytest.raises(KeyError):  # a ToolNotFoundError is a NotFoundError
        registry.execute_tool("missing", {})
    # a host (TypeScript) tool for the session, the seed's register_elixir_tool
    registry.register_elixir_tool(session_id, "ts_search", "Searches", [{"name": "query", "type": "string"}])
    found = registry.get_tool("ts_search", session_id)
    assert found.language == "typescript" and [t.name for t in registry.list_tools(session_id)] == [
        "add",
        "boom",
        "ts_search",
    ]
    assert registry.execute_tool("ts_search", {"query": "dspy", "limit": 1}, session_id) == ["dspy result 1"]


async def test_tool_bridge_both_directions(host: SeedHost, session: SessionContext) -> None:
    registry = ToolRegistry()
    bridge = ToolBridge(session, registry=registry)
    bridge.register_python_tool_for_elixir("add", _add)
    assert bridge.handle_elixir_tool_call is not None
    assert await bridge.handle_elixir_tool_call("add", {"a": 1, "b": 5}) == {
        "success": True,
        "result": 6,
    }  # awaitable from a coroutine
    failed = await bridge.handle_elixir_tool_call("nope", {})
    assert failed["success"] is False and "nope" in failed["error"]
    assert await bridge.call_elixir_tool(session.session_id, "ts_search", {"query": "x"}) == [
        "x result 1",
        "x result 2",
    ]
    with pytest.raises(ToolNotFoundError):
        await bridge.acall_elixir_tool(session.session_id, "no_such_tool", {})
    with pytest.raises(Exception, match="the TypeScript tool failed"):
        await bridge.acall_elixir_tool(session.session_id, "ts_fail", {})


def test_tool_bridge_from_synchronous_code(host: SeedHost, session_id: str) -> None:
    bridge = ToolBridge(registry=ToolRegistry())  # the host of DSPY_BRIDGE_ADDRESS / DSPY_BRIDGE_TOKEN
    assert bridge.call_elixir_tool(session_id, "ts_search", {"query": "sync", "limit": 1}) == ["sync result 1"]
    bridge.register_python_tool_for_elixir("add", _add)
    assert bridge.handle_elixir_tool_call("add", {"a": 2}) == {"success": True, "result": 3}


async def test_session_context_call_tool(host: SeedHost, session: SessionContext, session_id: str) -> None:
    assert await session.call_tool("ts_search", query="dspy", limit=1) == ["dspy result 1"]
    import seed_tools  # noqa: F401 - the workers' tool module, loaded here too: a Python @tool of this process

    scored = await session.call_tool("seed_accuracy", temperature=1.1)
    assert scored["score"] == 0 and scored["metrics"]["accuracy"] == 1
    with pytest.raises(ToolNotFoundError):
        await session.call_tool("no_such_tool")
    with SyncSessionContext(session_id) as sync:
        assert sync.call_tool("ts_search", query="sync", limit=1) == ["sync result 1"]


# -- dspy/adapter.py: the architecture seed's DSPy commands -------------------------------------------


async def test_dspy_adapter_commands(host: SeedHost, session_id: str) -> None:
    checked = await host.execute("check_dspy")
    assert checked["available"] is True and checked["version"].startswith("3.")
    configured = await host.execute(
        "configure_lm", {"model_type": "scripted"}, session_id
    )  # configure_lm(model_type, **kwargs)
    assert configured["status"] == "configured"
    called = await host.execute(
        "call_dspy", {"module_path": "dspy", "function_name": "Example", "kwargs": {"question": "q"}}
    )
    assert called == {"success": True, "result": {"question": "q"}}
    with pytest.raises(HostError, match="not callable from the host"):
        await host.execute("call_dspy", {"module_path": "dspy", "function_name": "load", "args": ["x.pkl"]})
    schema = await host.execute("discover_dspy_schema", {"module_path": "dspy"})
    assert {"Predict", "ChainOfThought", "ReAct", "Signature"} <= set(schema["classes"]) and schema["functions"]
    assert any(p["name"] == "signature" for p in schema["classes"]["Predict"]["parameters"])
    modules = {m["name"]: m for m in await host.execute("list_dspy_modules")}
    assert {"Predict", "ChainOfThought", "ReAct", "ProgramOfThought", "MultiChainComparison"} <= set(modules)
    assert (
        modules["ChainOfThought"]["aliases"] == ["COT", "CoT"]
        and modules["ChainOfThoughtWithHint"]["replaced_by"] == "ChainOfThought"
    )

    await host.define(session_id, "temperature", "float", 0.3, constraints={"min": 0, "max": 2})
    predicted = await host.execute(
        "enhanced_predict",
        {"signature": "question -> answer", "question": "What is DSPy?", "session_id": session_id},
        session_id,
    )
    assert predicted["success"] is True and predicted["temperature"] == 0.3 and predicted["result"]["answer"]
    cot = await host.execute(
        "enhanced_chain_of_thought", {"signature": "question -> answer", "question": "Why?"}, session_id
    )
    assert cot["result"]["reasoning"] and cot["result"]["answer"]
    async with await SessionContext.connect(host.address, session_id, token=host.token) as ctx:
        assert (
            await ctx.get_variable("last_prediction") == cot["result"]["answer"]
        )  # stored as the seed's workflow does

    program = await host.execute(
        "create_program", {"signature": "question -> answer", "modules": ["dspy.Predict"]}, session_id
    )
    bound = await host.execute(
        "bind_dspy_variable",
        {"program_id": program["id"], "attribute": "temperature", "variable_name": "temperature"},
        session_id,
    )
    assert bound["bindings"] == {"temperature": "temperature"}
    await host.set(session_id, "temperature", 1.4)
    run = await host.execute("execute_program", {"program_id": program["id"], "inputs": {"question": "q"}}, session_id)
    assert run["fields"]["answer"]


async def test_dspy_adapter_class(lm: Any) -> None:
    adapter = DSPyAdapter()
    assert adapter.get_supported_commands() == list(ADAPTER_COMMANDS)
    assert set(adapter.get_supported_commands()[:8]) == {
        "check_dspy",
        "configure_lm",
        "call_dspy",
        "discover_dspy_schema",
        "enhanced_predict",
        "enhanced_chain_of_thought",
        "bind_dspy_variable",
        "list_dspy_modules",
    }
    assert (await adapter.handle_command("check_dspy"))["available"]
    result = await adapter.handle_command(
        "execute_module", {"module": "dspy.Predict", "signature": "question -> answer", "inputs": {"question": "hi"}}
    )
    assert result["fields"]["answer"]
    with pytest.raises(ValueError, match="Unknown command"):
        await adapter.handle_command("nope")
    assert await asyncio.to_thread(adapter.handle_command_sync, "list_dspy_modules")


# -- core/session_manager.py ---------------------------------------------------------------------------


def test_session_manager_over_the_hosts_sessions(host: SeedHost, session_id: str) -> None:
    import time

    from dspy_bridge.core.session_manager import BaseAdapter, SessionInfo, SessionManager

    manager = SessionManager(host.address, host.token)
    try:
        ctx = manager.create_session(session_id, ttl=3600)
        ctx.set_variable("temperature", 0.7, create_if_missing=True)  # the seed's sync SessionContext methods
        assert manager.get_context(session_id).get_variable("temperature") == 0.7
        assert isinstance(manager.session_info(session_id), SessionInfo) and manager.list_sessions() == [session_id]
        with pytest.raises(ValueError, match="already exists"):
            manager.create_session(session_id)
        short = manager.create_session(session_id + "_short", ttl=1)  # the host expires it
        assert short.get_variables([]) == {}
        deadline = time.monotonic() + 15
        expired = 0
        while expired == 0 and time.monotonic() < deadline:
            time.sleep(0.5)
            expired = manager.cleanup_expired_sessions()
        assert expired == 1 and manager.list_sessions() == [session_id]
        assert manager.destroy_session(session_id) is True and manager.list_sessions() == []
        with pytest.raises(ValueError, match="not found"):
            manager.get_context(session_id)
    finally:
        manager.close()
    assert isinstance(DSPyAdapter(), BaseAdapter) and DSPyAdapter().session_manager is not None
