"""Configuration spaces (``docs/configuration.md``): everything of ``dspy_bridge.spaces`` (the
declarative constraint language, conditional variables, structured validation, seeded
sampling identical to TypeScript's, ConfigSpace JSON import/export) and
:class:`ConfigurationSpace`, a space registered in a session (``dspy_bridge.session``).

- :func:`compile_space` checks a space document (InvalidArgumentError naming the path).
- :func:`validate` returns a :class:`ValidationResult`; :func:`assert_valid` raises
  ConstraintViolationError.
- :func:`sample` draws ``n`` valid configurations for a seed (FailedPreconditionError when
  infeasible); :class:`Rng` is the portable generator behind it.
- :func:`from_configspace` / :func:`to_configspace` convert ConfigSpace JSON.
"""

from .. import spaces as _spaces
from ..session import ConfigurationSpace
from ..spaces import (
    MAX_SEED,
    VARIABLE_TYPES,
    Constraint,
    Rng,
    SampleResult,
    Space,
    ValidationResult,
    Variable,
    Violation,
    assert_valid,
    compile_space,
    from_configspace,
    is_active,
    sample,
    to_configspace,
    validate,
)

__all__ = ["ConfigurationSpace", *_spaces.__all__]  # the pure language, plus the session-bound space
