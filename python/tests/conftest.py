"""Every test starts and ends with DSPy's default settings (no LM, no adapter, no usage
tracking). DSPy 3.4's per-call deprecation warning for ScriptedLM's forward()/aforward()
plugin interface is ignored suite-wide by ``filterwarnings`` in python/pyproject.toml.

This directory is also on ``sys.path`` (rootdir conftest), so the test directories share
helpers from here: ``host_process`` (a real TypeScript host as a Node subprocess)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dspy_bridge.testing import reset_dspy_settings


@pytest.fixture(autouse=True)
def _fresh_dspy_settings() -> Iterator[None]:
    reset_dspy_settings()
    yield
    reset_dspy_settings()
