"""Variable types on the Python side, below the session client that applies them: the
checks of the built-in types (``checks``: the twin of the host's, tested against the same
vectors in ``testdata/variable-types.json``), user-defined types (``custom``: ``BaseType``
handlers stored as a built-in type) and the value forms converted before a value is sent
(``value_forms``: lists as tensors, framework tensors as numpy arrays).

``dspy_bridge.variables`` re-exports the public names; this package exists apart from it so
that ``SessionContext`` can use the types without importing ``VariableManager``, which is
built on ``SessionContext``.
"""

from . import checks, custom, value_forms
from .checks import (
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
from .custom import BaseType, EmbeddingType, TensorType, TypeRegistry, register_type, type_registry

__all__ = [
    "BaseType",
    "CONSTRAINTS_BY_TYPE",
    "DEFAULT_NORM_TOLERANCE",
    "EmbeddingType",
    "LIST_ITEM_TYPES",
    "TYPE_ALIASES",
    "TensorType",
    "TypeRegistry",
    "VARIABLE_TYPES",
    "canonical_type",
    "checks",
    "custom",
    "infer_type",
    "register_type",
    "type_registry",
    "validate_constraints",
    "validate_value",
    "value_forms",
]
