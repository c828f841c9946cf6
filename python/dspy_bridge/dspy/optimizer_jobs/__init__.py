"""DSPy optimizers as long jobs (``docs/optimization.md``, "DSPy optimizers").

The worker side of ``session.programs.optimize(...)``: the eight optimizers, metrics from
Python or from tools, progress, cancellation, and the compiled program installed in the
session. ``dspy_bridge.dspy.optimizer_jobs.commands`` registers the ``dspy.optimize`` and
``dspy.optimizers`` commands. (Formerly ``dspy_bridge.dspy.teleprompt``, an alias kept for
code that imports it.)
"""

from ._cancel import JobCancelled, MetricFailed
from ._embedder import hashing_embedder
from ._job import knn_restore
from ._metrics import BUILTIN_METRICS, exact_match
from ._optimizers import OPTIMIZERS, describe_optimizers

__all__ = [
    "BUILTIN_METRICS",
    "JobCancelled",
    "MetricFailed",
    "OPTIMIZERS",
    "describe_optimizers",
    "exact_match",
    "hashing_embedder",
    "knn_restore",
]
