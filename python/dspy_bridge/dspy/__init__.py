"""DSPy integration for dspy-bridge: host-side DSPy commands, variable-aware modules, and
:class:`SubprocessInterpreter` (ProgramOfThought without Deno or network)."""

from .exceptions import BridgeError, SessionError, ValidationError, VariableNotFoundError
from .interpreter import SubprocessCrashError, SubprocessInterpreter, SubprocessTimeoutError, make_program_of_thought
from .optimization_bridge import DSPyOptimizationBridge, VariableAwareOptimizer
from .resolver import ModuleSpec, ModuleVariableResolver, create_variable_aware_module
from .variable_aware import (
    LM_PARAMETERS,
    AwaitablePrediction,
    VariableAwareBestOfN,
    VariableAwareChainOfThought,
    VariableAwareMixin,
    VariableAwareMultiChainComparison,
    VariableAwarePredict,
    VariableAwareProgramOfThought,
    VariableAwareReAct,
    VariableAwareRefine,
    make_variable_aware,
    variable_aware_class,
)

__all__ = [
    "SubprocessCrashError",
    "SubprocessInterpreter",
    "SubprocessTimeoutError",
    "make_program_of_thought",
    # optimization (docs/optimization.md)
    "DSPyOptimizationBridge",
    "VariableAwareOptimizer",
    # variable-aware modules (docs/dspy-modules.md)
    "AwaitablePrediction",
    "BridgeError",
    "LM_PARAMETERS",
    "ModuleSpec",
    "ModuleVariableResolver",
    "SessionError",
    "ValidationError",
    "VariableAwareBestOfN",
    "VariableAwareChainOfThought",
    "VariableAwareMixin",
    "VariableAwareMultiChainComparison",
    "VariableAwarePredict",
    "VariableAwareProgramOfThought",
    "VariableAwareReAct",
    "VariableAwareRefine",
    "VariableNotFoundError",
    "create_variable_aware_module",
    "make_variable_aware",
    "variable_aware_class",
]
