"""Session variables, Python side. Each module re-exports its public names here."""

from ._custom import BaseType, EmbeddingType, TensorType, TypeRegistry, register_type, type_registry
from .manager import SessionVariableScope, VariableManager
from .types import (
    CONSTRAINTS_BY_TYPE,
    DEFAULT_NORM_TOLERANCE,
    LIST_ITEM_TYPES,
    TYPE_ALIASES,
    VARIABLE_TYPES,
    canonical_type,
    infer_type,
    validate_constraints,
    validate_value,
)

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
