"""Seed "Python Architecture" (the composable bridge system): the variable manager with a
user-defined type, the type handlers, and the tool registry and bridge, against a running host.
"""

import os
from typing import Any

import numpy as np

from _common import session_name
from dspy_bridge.tools import ToolBridge, ToolExecutionError, ToolNotFoundError, ToolRegistry
from dspy_bridge.variables import BaseType, EmbeddingType, TensorType, VariableManager


class PercentType(BaseType):
    """A percentage, 0 to 100, stored as a float."""

    base_type = "float"

    def validate(self, value: Any) -> float:
        value = float(value)
        if not 0 <= value <= 100:
            raise ValueError(f"a percentage is between 0 and 100, got {value}")
        return value

    def serialize(self, value: float) -> bytes:
        return str(value).encode()

    def deserialize(self, data: bytes) -> float:
        return float(data)

    def get_constraints_schema(self) -> dict:
        return {"type": "object", "properties": {}}


def word_count(text: str) -> int:
    """Counts words."""
    return len(text.split())


def main() -> None:
    # variables/manager.py: scopes and a user-defined type
    manager = VariableManager()
    manager.initialize({})
    manager.register_type("percent", PercentType)
    scope = manager.get_session_scope(session_name("architecture"))
    scope.set("progress", 12.5, type_hint="percent")
    scope.set("progress", 40)
    try:
        scope.set("progress", 140)
    except ValueError as err:
        print("refused:", err)
    scope.set("temperature", 0.7)
    print({v["name"]: v["value"] for v in scope.list()})
    assert scope.get("progress") == 40.0

    # variables/types: the seed's tensor and embedding handlers (no pickle)
    tensor = TensorType().validate({"shape": [2, 2], "data": [1, 2, 3, 4]})
    assert np.array_equal(TensorType().deserialize(TensorType().serialize(tensor)), tensor)
    EmbeddingType().validate_constraints([0.6, 0.8], {"dimensions": 2, "norm": "unit"})

    # the same vocabulary on the host: a tensor given as a list, a unit-norm embedding
    session = scope.context  # the scope's SyncSessionContext
    session.register_variable(
        "weights", "tensor", [[0.1, 0.2], [0.3, 0.4]], constraints={"min_value": 0, "max_value": 1}
    )
    session.register_variable("direction", "embedding", [0.6, 0.8], constraints={"norm": "unit"})
    print("weights:", session.get_variable("weights").tolist())
    manager.close()

    # tools/: the registry and the bridge
    registry = ToolRegistry()
    bridge = ToolBridge(registry=registry)
    bridge.register_python_tool_for_elixir("word_count", word_count)
    info = registry.get_tool("word_count")
    print(info.name, info.language, info.parameters)
    print(bridge.handle_elixir_tool_call("word_count", {"text": "one two three"}))
    try:
        registry.execute_tool("word_count", {"text": None})
    except (ValueError, ToolExecutionError) as err:
        print("refused:", err)
    try:
        registry.get_tool("nope")
    except ToolNotFoundError as err:
        print("not found:", err)
    print("OK")


if not os.environ.get("DSPY_BRIDGE_ADDRESS"):
    raise SystemExit("set DSPY_BRIDGE_ADDRESS (and DSPY_BRIDGE_TOKEN) to a running `dspy-bridge serve`")
main()
