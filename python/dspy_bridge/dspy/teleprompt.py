"""The former name of ``dspy_bridge.dspy.optimizer_jobs``, kept as an alias because it was
public (it read like DSPy's own ``dspy.teleprompt``, which it is not: use the new name)."""

from .optimizer_jobs import *  # noqa: F403 - the same public names
from .optimizer_jobs import __all__  # noqa: F401
