"""Session variables, Python side: the variable manager and session scopes over a session
(``manager``), and the variable types (``dspy_bridge.variable_types``) re-exported under
their documented names (``types`` is ``variable_types.checks``)."""

from ..variable_types import (
    CONSTRAINTS_BY_TYPE,
    DEFAULT_NORM_TOLERANCE,
    LIST_ITEM_TYPES,
    TYPE_ALIASES,
    VARIABLE_TYPES,
    BaseType,
    EmbeddingType,
    TensorType,
    TypeRegistry,
    canonical_type,
    infer_type,
    register_type,
    type_registry,
    validate_constraints,
    validate_value,
)
from ..variable_types import checks as types
from .manager import SessionVariableScope, VariableManager

__all__ = [
    "BaseType",
    "CONSTRAINTS_BY_TYPE",
    "DEFAULT_NORM_TOLERANCE",
    "EmbeddingType",
    "LIST_ITEM_TYPES",
    "SessionVariableScope",
    "TYPE_ALIASES",
    "TensorType",
    "TypeRegistry",
    "VARIABLE_TYPES",
    "VariableManager",
    "canonical_type",
    "infer_type",
    "register_type",
    "type_registry",
    "validate_constraints",
    "validate_value",
]
