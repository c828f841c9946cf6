"""Python tools the seed-conformance host's workers load (Bridge.start modules): the objectives
the seeds' optimization examples need. An objective gets the candidate as keyword arguments
({variable: value}) and returns a score with metrics (the seeds print metrics['accuracy'])."""

from __future__ import annotations

from typing import Any

from dspy_bridge.tools import tool

# Where each seed variable's score peaks.
PEAKS = {"temperature": 1.1, "base_temperature": 1.1, "learning_rate": 0.01, "hyperparameter": 0.5}


@tool
def seed_accuracy(**values: Any) -> dict:
    """A smooth score of the candidate, highest at PEAKS (0.5 for unknown names)."""
    loss = sum((float(v) - PEAKS.get(k, 0.5)) ** 2 for k, v in values.items() if isinstance(v, (int, float)))
    return {"score": -loss, "metrics": {"accuracy": max(0.0, 1.0 - loss**0.5)}}


@tool
async def slow_accuracy(**values: Any) -> dict:
    """seed_accuracy at 30 ms a call: a run still going when a test acts on it."""
    import asyncio

    await asyncio.sleep(0.03)
    return seed_accuracy(**values)
