"""Every script under examples/python runs against the real host and ends with OK."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "python"
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))


def test_there_are_examples() -> None:
    assert len(SCRIPTS) >= 9


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_runs(script: str, host: object) -> None:
    address, token = host  # type: ignore[misc]
    env = dict(os.environ, DSPY_BRIDGE_ADDRESS=address, DSPY_BRIDGE_TOKEN=token)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, script], cwd=EXAMPLES, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.rstrip().endswith("OK"), proc.stdout[-2000:]
