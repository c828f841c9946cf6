"""Every test starts and ends with DSPy's default settings (no LM, no adapter, no usage
tracking), and without DSPy 3.4's per-call deprecation warning for ScriptedLM's
forward()/aforward() plugin interface cluttering the report."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

from dspy_bridge.testing import reset_dspy_settings


@pytest.fixture(autouse=True)
def _fresh_dspy_settings() -> Iterator[None]:
    reset_dspy_settings()
    warnings.filterwarnings(
        "ignore",
        message=r"Implementing custom LMs through BaseLM\.forward\(\)",
        category=DeprecationWarning,
        module=r"dspy_bridge\.testing\.scripted_lm$",
    )
    yield
    reset_dspy_settings()
