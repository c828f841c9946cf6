"""DSPex's type system: ``BaseType`` handlers, ``TensorType`` and
``EmbeddingType``, and user-defined types registered with ``register_type``.

The host owns the built-in types (float, integer, string, boolean, choice, module, list, map,
embedding, tensor: docs/variables-types.md) and checks every write against them. A
user-defined type is a ``BaseType`` subclass stored as one of those (its ``base_type``): the
Python client that registers or writes such a variable runs the handler's ``validate`` and
``validate_constraints`` first, then the host checks the base type (and the handler's
``host_constraints``). The type's name and constraints travel in the variable's metadata
(``dspy_bridge.type``, ``dspy_bridge.constraints``), so any ``SessionContext`` that reads the
variable knows it.

What DSPex does that this does not: ``serialize``/``deserialize`` never use pickle (DSPex's
``TensorType`` pickles, and unpickling runs code a sender chose): tensors are ``.npy`` bytes loaded with ``allow_pickle=False``,
embeddings their float32 bytes.
"""

from __future__ import annotations

import io
import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ..errors import ConstraintViolationError, InvalidArgumentError, NotFoundError, VariableTypeError
from .checks import TYPE_ALIASES, VARIABLE_TYPES
from .value_forms import framework_to_numpy

__all__ = [
    "BaseType",
    "EmbeddingType",
    "TensorType",
    "TypeRegistry",
    "CUSTOM_TYPE_KEY",
    "CUSTOM_CONSTRAINTS_KEY",
    "register_type",
    "type_registry",
]

CUSTOM_TYPE_KEY = "dspy_bridge.type"
"""Variable metadata key naming a user-defined type."""
CUSTOM_CONSTRAINTS_KEY = "dspy_bridge.constraints"
"""Variable metadata key holding a user-defined type's constraints (JSON)."""


class BaseType(ABC):
    """DSPex's type handler interface. Subclass it for a type of your own and register it
    (``register_type("probability", ProbabilityType)``); ``base_type`` is the host type its
    values are stored as (default ``"string"``)."""

    base_type: ClassVar[str] = "string"

    @abstractmethod
    def validate(self, value: Any) -> Any:
        """Validates (and may convert) a value; raises ``ValueError``/``TypeError`` when it is not one."""

    @abstractmethod
    def serialize(self, value: Any) -> bytes:
        """The value as bytes (for storage or transport outside the bridge)."""

    @abstractmethod
    def deserialize(self, data: bytes) -> Any:
        """``serialize``'s inverse."""

    @abstractmethod
    def get_constraints_schema(self) -> dict[str, Any]:
        """A JSON Schema of the constraints this type takes."""

    def validate_constraints(self, value: Any, constraints: dict[str, Any]) -> None:  # noqa: B027 - an optional hook
        """Raises ``ValueError`` when ``value`` breaks ``constraints`` (default: nothing to check)."""

    def host_constraints(self, constraints: dict[str, Any]) -> dict[str, Any]:
        """The constraints of ``base_type`` the host should also enforce (default: none)."""
        return {}

    def get_type_info(self) -> dict[str, Any]:
        return {
            "name": self.__class__.__name__.lower().replace("type", ""),
            "description": self.__doc__ or "No description available",
            "constraints_schema": self.get_constraints_schema(),
            "base_type": self.base_type,
        }


class TensorType(BaseType):
    """Tensors: an ``np.ndarray``, a (nested) list or tuple, or ``{"shape", "data"[, "dtype"]}``.
    Constraints: ``shape``, ``dtype``, ``min_value``, ``max_value`` (the host checks them too)."""

    base_type: ClassVar[str] = "tensor"

    def validate(self, value: Any) -> np.ndarray:
        if isinstance(value, np.ndarray):
            return value
        if isinstance(value, (list, tuple)):
            arr = np.asarray(value)
        elif isinstance(value, Mapping) and "shape" in value and "data" in value:
            arr = np.asarray(value["data"], dtype=value.get("dtype")).reshape(tuple(value["shape"]))
        elif hasattr(value, "__array__") or hasattr(value, "numpy"):
            arr = framework_to_numpy(value)
        else:
            raise VariableTypeError(
                f"Cannot convert {type(value).__name__} to tensor", type="tensor", got=type(value).__name__
            )
        if arr.dtype == object:
            raise VariableTypeError(
                "a tensor needs a rectangular array of numbers or booleans (ragged or mixed data given)",
                type="tensor",
                got="list",
            )
        return arr

    def serialize(self, value: np.ndarray) -> bytes:
        buf = io.BytesIO()
        np.save(buf, np.asarray(value), allow_pickle=False)
        return buf.getvalue()

    def deserialize(self, data: bytes) -> np.ndarray:
        return np.load(io.BytesIO(data), allow_pickle=False)

    def get_constraints_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "shape": {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 1},
                    "description": "Required tensor shape",
                },
                "dtype": {
                    "type": "string",
                    "enum": ["float32", "float64", "int32", "int64"],
                    "description": "Required data type",
                },
                "min_value": {"type": "number", "description": "Minimum allowed value"},
                "max_value": {"type": "number", "description": "Maximum allowed value"},
            },
        }

    def validate_constraints(self, value: np.ndarray, constraints: dict[str, Any]) -> None:
        if "shape" in constraints and value.shape != tuple(constraints["shape"]):
            raise ConstraintViolationError(
                f"Tensor shape {value.shape} doesn't match required {tuple(constraints['shape'])}",
                constraint="shape",
                limit=list(constraints["shape"]),
            )
        if "dtype" in constraints and str(value.dtype) != constraints["dtype"]:
            raise ConstraintViolationError(
                f"Tensor dtype {value.dtype} doesn't match required {constraints['dtype']}",
                constraint="dtype",
                limit=constraints["dtype"],
            )
        if "min_value" in constraints and value.size and np.any(value < constraints["min_value"]):
            raise ConstraintViolationError(
                f"Tensor contains values below minimum {constraints['min_value']}",
                constraint="min_value",
                limit=constraints["min_value"],
            )
        if "max_value" in constraints and value.size and np.any(value > constraints["max_value"]):
            raise ConstraintViolationError(
                f"Tensor contains values above maximum {constraints['max_value']}",
                constraint="max_value",
                limit=constraints["max_value"],
            )

    def host_constraints(self, constraints: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in constraints.items() if k in ("shape", "dtype", "min_value", "max_value", "range")}


class EmbeddingType(BaseType):
    """Embedding vectors: a list/tuple of numbers or a 1-D array, as a list of floats (the
    form DSPex uses). Constraints: ``dimensions``, ``norm`` (``"unit"``, ``"l1"``, ``"l2"``),
    ``range`` (the host checks them too)."""

    base_type: ClassVar[str] = "embedding"

    def validate(self, value: Any) -> list[float]:
        if isinstance(value, (list, tuple)):
            return [float(x) for x in value]
        if isinstance(value, np.ndarray):
            if value.ndim != 1:
                raise VariableTypeError(
                    "Embedding must be 1-dimensional", type="embedding", got=f"{value.ndim}-D array"
                )
            return [float(x) for x in value.tolist()]
        raise VariableTypeError(
            f"Cannot convert {type(value).__name__} to embedding", type="embedding", got=type(value).__name__
        )

    def serialize(self, value: list[float]) -> bytes:
        return np.asarray(value, dtype=np.float32).tobytes()

    def deserialize(self, data: bytes) -> list[float]:
        return np.frombuffer(data, dtype=np.float32).astype(float).tolist()

    def get_constraints_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "dimensions": {"type": "integer", "minimum": 1, "description": "Required number of dimensions"},
                "norm": {"type": "string", "enum": ["l1", "l2", "unit"], "description": "Required normalization"},
                "range": {
                    "type": "array",
                    "items": {"type": "number"},
                    "minItems": 2,
                    "maxItems": 2,
                    "description": "Valid range [min, max] for values",
                },
            },
        }

    def validate_constraints(self, value: list[float], constraints: dict[str, Any]) -> None:
        if "dimensions" in constraints and len(value) != constraints["dimensions"]:
            raise ConstraintViolationError(
                f"Embedding has {len(value)} dimensions, expected {constraints['dimensions']}",
                constraint="dimensions",
                limit=constraints["dimensions"],
            )
        if "range" in constraints:
            lo, hi = constraints["range"]
            if any(x < lo or x > hi for x in value):
                raise ConstraintViolationError(
                    f"Embedding values must be in range [{lo}, {hi}]", constraint="range", limit=[lo, hi]
                )
        norm = constraints.get("norm")
        if norm is not None:
            arr = np.asarray(value, dtype=np.float64)
            got = float(np.sum(np.abs(arr))) if norm == "l1" else float(np.linalg.norm(arr))
            if not np.isclose(got, 1.0, atol=1e-6):
                raise ConstraintViolationError(
                    f"Embedding must be {norm} normalized, got norm {got}", constraint="norm", limit=norm
                )

    def host_constraints(self, constraints: dict[str, Any]) -> dict[str, Any]:
        return {
            k: v
            for k, v in constraints.items()
            if k in ("dimensions", "norm", "range", "dtype", "normalize", "norm_tolerance")
        }


_BUILT_IN = set(VARIABLE_TYPES) | set(TYPE_ALIASES)


class TypeRegistry:
    """Type handlers by name: DSPex's ``TensorType`` and ``EmbeddingType`` for the built-in
    ``tensor`` and ``embedding``, and the user-defined types (any other name)."""

    def __init__(self) -> None:
        self._types: dict[str, type[BaseType]] = {}
        self._lock = threading.Lock()

    def register_default_types(self) -> None:
        with self._lock:
            self._types.setdefault("tensor", TensorType)
            self._types.setdefault("embedding", EmbeddingType)

    def register(self, type_name: str, type_class: type[BaseType]) -> None:
        """Registers ``type_class`` under ``type_name``. A built-in name other than ``tensor``
        and ``embedding`` cannot be redefined (the host owns those types)."""
        if not isinstance(type_name, str) or not type_name or not type_name.replace("_", "").isalnum():
            raise InvalidArgumentError(
                f"a type name must be letters, digits and '_', got {type_name!r}", parameter="type_name"
            )
        if not (isinstance(type_class, type) and issubclass(type_class, BaseType)):
            raise InvalidArgumentError(
                f"type_class must be a BaseType subclass, got {type_class!r}", parameter="type_class"
            )
        if type_name in _BUILT_IN and type_name not in ("tensor", "embedding"):
            raise InvalidArgumentError(
                f"{type_name!r} is a built-in type the host owns; register your type under another name",
                parameter="type_name",
            )
        if type_class.base_type not in _BUILT_IN:
            raise InvalidArgumentError(
                f"{type_class.__name__}.base_type must be a built-in type ({', '.join(sorted(VARIABLE_TYPES))}), got {type_class.base_type!r}",
                parameter="type_class",
            )
        with self._lock:
            self._types[type_name] = type_class

    def unregister(self, type_name: str) -> bool:
        with self._lock:
            return self._types.pop(type_name, None) is not None

    def get(self, type_name: str) -> type[BaseType] | None:
        return self._types.get(type_name)

    def require(self, type_name: str) -> type[BaseType]:
        found = self._types.get(type_name)
        if found is None:
            raise NotFoundError(
                f"no type {type_name!r} registered (registered: {', '.join(sorted(self._types)) or 'none'})",
                details={"type": type_name},
            )
        return found

    def names(self) -> list[str]:
        return sorted(self._types)

    def is_custom(self, type_name: Any) -> bool:
        """A registered user-defined type (not a built-in one)."""
        return isinstance(type_name, str) and type_name not in _BUILT_IN and type_name in self._types


type_registry = TypeRegistry()
"""The process's type registry: what ``SessionContext.register_variable(name, "<your type>", ...)`` consults."""
type_registry.register_default_types()


def register_type(type_name: str, type_class: type[BaseType]) -> None:
    """Registers a user-defined type in the process's registry (``type_registry``)."""
    type_registry.register(type_name, type_class)


def custom_spec(
    type_name: str, value: Any, constraints: Mapping[str, Any], metadata: Mapping[str, Any]
) -> tuple[str, Any, dict[str, Any], dict[str, Any]]:
    """A user-defined type's variable as the host stores it: ``(base type, checked value, host
    constraints, metadata with the type and its constraints)``."""
    handler = type_registry.require(type_name)()
    checked = handler.validate(value)
    handler.validate_constraints(checked, dict(constraints))
    meta = dict(metadata)
    meta[CUSTOM_TYPE_KEY] = type_name
    meta[CUSTOM_CONSTRAINTS_KEY] = json.dumps(dict(constraints), sort_keys=True)
    return handler.base_type, checked, handler.host_constraints(dict(constraints)), meta


def check_custom(type_name: str, constraints_json: str, value: Any) -> Any:
    """A write to a variable of a user-defined type: the handler's checks (a type no longer
    registered in this process is left to the host's base-type checks)."""
    cls = type_registry.get(type_name)
    if cls is None:
        return value
    handler = cls()
    checked = handler.validate(value)
    try:
        constraints = json.loads(constraints_json) if constraints_json else {}
    except ValueError:
        constraints = {}
    handler.validate_constraints(checked, constraints)
    return checked
