"""Names DSPy removed, mapped to their current equivalent: a seed written for DSPy 2 names
``dspy.ChainOfThoughtWithHint``, gone since DSPy 2.6."""

from __future__ import annotations

import logging
import warnings

__all__ = ["DEPRECATED_MODULES", "current_module_name"]

logger = logging.getLogger(__name__)

DEPRECATED_MODULES: dict[str, tuple[str, str]] = {
    "ChainOfThoughtWithHint": (
        "ChainOfThought",
        "dspy.ChainOfThoughtWithHint was removed from DSPy (2.6); ChainOfThought is used instead: put the hint in the "
        "signature as an input field (e.g. 'question, hint -> answer')",
    ),
}
"""Module names DSPy removed -> (the current module, the notice)."""


def current_module_name(name: str) -> tuple[str, str | None]:
    """``(module name to build, deprecation notice or None)``: ``"dspy.ChainOfThoughtWithHint"``
    -> ``("ChainOfThought", "...removed...")``; other names unchanged."""
    short = name.split(".")[-1] if isinstance(name, str) else name
    replaced = DEPRECATED_MODULES.get(short)
    if replaced is None:
        return name, None
    warnings.warn(replaced[1], DeprecationWarning, stacklevel=3)
    logger.warning("%s", replaced[1])
    return replaced[0], replaced[1]
