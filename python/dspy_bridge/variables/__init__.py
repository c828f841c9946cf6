"""Session variables, Python side. Each module re-exports its public names here."""

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
    "CONSTRAINTS_BY_TYPE",
    "DEFAULT_NORM_TOLERANCE",
    "LIST_ITEM_TYPES",
    "TYPE_ALIASES",
    "VARIABLE_TYPES",
    "canonical_type",
    "infer_type",
    "validate_constraints",
    "validate_value",
]
