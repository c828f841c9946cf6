// The variable type system: which values each variable type accepts, the constraints each
// type takes, validation with typed errors. Python twin: python/dspy_bridge/variable_types/checks.py.
// Shared vectors: testdata/variable-types.json. Reference: docs/variables-types.md.
export { VARIABLE_TYPES, TYPE_ALIASES, canonicalType } from "./names.js";
export type { VariableType, VariableTypeName, VariableValue, VariableValueTypes } from "./names.js";
export { CONSTRAINTS_BY_TYPE, DEFAULT_NORM_TOLERANCE, LIST_ITEM_TYPES, validateConstraints } from "./constraints.js";
export { validateValue } from "./validate.js";
export { inferType } from "./infer.js";
