"""Configuration spaces without a session (``docs/configuration.md``): the declarative
constraint language, conditional variables, structured validation, seeded sampling identical
to TypeScript's, and ConfigSpace JSON (format 0.4) import/export where it maps.

- :func:`compile_space` checks a space document (InvalidArgumentError naming the path).
- :func:`validate` returns a :class:`ValidationResult`; :func:`assert_valid` raises
  ConstraintViolationError.
- :func:`sample` draws ``n`` valid configurations for a seed (FailedPreconditionError when
  infeasible); :class:`Rng` is the portable generator behind it.
- :func:`from_configspace` / :func:`to_configspace` convert ConfigSpace JSON.

The public name is ``dspy_bridge.config``, which adds the session-bound
``ConfigurationSpace``; this package stays free of sessions so that the session client and
the optimizers can both build on it.
"""

from ._configspace import from_configspace, to_configspace
from ._rng import MAX_SEED, Rng
from ._space import (
    VARIABLE_TYPES,
    Constraint,
    SampleResult,
    Space,
    ValidationResult,
    Variable,
    Violation,
    assert_valid,
    compile_space,
    is_active,
    sample,
    validate,
)

__all__ = [
    "MAX_SEED",
    "VARIABLE_TYPES",
    "Constraint",
    "Rng",
    "SampleResult",
    "Space",
    "ValidationResult",
    "Variable",
    "Violation",
    "assert_valid",
    "compile_space",
    "from_configspace",
    "is_active",
    "sample",
    "to_configspace",
    "validate",
]
