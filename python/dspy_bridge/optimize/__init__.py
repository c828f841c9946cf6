"""Optimizers that run in a worker while the host drives the run (``docs/optimization.md``):
the built-in bayesian optimizer (:class:`TPEOptimizer`, Optuna's TPE through ask/tell), the
built-in gradient optimizer (:class:`GradientOptimizer`, SPSA or finite differences) and
user optimizers registered with ``SessionContext.register_python_optimizer``, which follow the
:class:`BaseOptimizer` protocol."""

from ._loading import class_path_of, load_class
from ._protocol import BaseOptimizer, check_optimizer_class
from ._gradient import GRADIENT_OPTIONS, GradientOptimizer
from ._tpe import TPE_OPTIONS, TPEOptimizer

__all__ = [
    "BaseOptimizer",
    "GRADIENT_OPTIONS",
    "GradientOptimizer",
    "TPEOptimizer",
    "TPE_OPTIONS",
    "check_optimizer_class",
    "class_path_of",
    "load_class",
]
