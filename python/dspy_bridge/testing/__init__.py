"""Offline testing helpers: :class:`ScriptedLM`, a deterministic ``dspy.BaseLM`` that answers any
DSPy signature (Predict, ChainOfThought, ReAct, ProgramOfThought, ...) with no network.

See ``docs/testing-lm.md``.
"""

from ._prompt import FieldSpec, ToolSpec
from ._settings import reset_dspy_settings
from .scripted_lm import (
    DEFAULT_MODEL,
    ScriptedCall,
    ScriptedLM,
    ScriptedRequest,
    ScriptEntry,
    ScriptError,
    ScriptExhaustedError,
)

__all__ = [
    "DEFAULT_MODEL",
    "FieldSpec",
    "ScriptEntry",
    "ScriptError",
    "ScriptExhaustedError",
    "ScriptedCall",
    "ScriptedLM",
    "ScriptedRequest",
    "ToolSpec",
    "reset_dspy_settings",
]
