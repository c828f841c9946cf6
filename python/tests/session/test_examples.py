"""Every script under examples/python runs against a real host and ends with OK.

The host is `dspy-bridge serve` as the examples' docs start it: one worker, no DSPy preloaded,
and the optimization examples' objective tools (examples/python/_objectives.py) loaded.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from host_process import running_serve

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "python"
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))


@pytest.fixture(scope="module")
def examples_host() -> Iterator[tuple[str, str]]:
    token = secrets.token_urlsafe(32)
    with running_serve(
        "dspy-bridge-examples-", token, "--modules", "_objectives", "--python-path", str(EXAMPLES)
    ) as node:
        yield node.ready["address"], token


def test_there_are_examples() -> None:
    # every seed example (docs/seed-conformance.md lists which script has which)
    assert len(SCRIPTS) >= 16
    for script in (
        "optimization_workflow.py",
        "adaptive_system.py",
        "cognitive_configuration.py",
        "dspy_adapter.py",
        "architecture.py",
    ):
        assert script in SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_runs(script: str, examples_host: tuple[str, str]) -> None:
    address, token = examples_host
    env = dict(os.environ, DSPY_BRIDGE_ADDRESS=address, DSPY_BRIDGE_TOKEN=token)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, script], cwd=EXAMPLES, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.rstrip().endswith("OK"), proc.stdout[-2000:]
