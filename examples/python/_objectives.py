"""Objective tools for the optimization examples. The host's workers load them:

    DSPY_BRIDGE_TOKEN=... npx dspy-bridge serve --listen unix:/tmp/db/bridge.sock \\
        --modules _objectives --python-path examples/python

An objective gets the candidate as keyword arguments ({variable: value}) and returns a score
(higher is better) with metrics; the seeds' callbacks print metrics['accuracy'].
"""

from typing import Any

from dspy_bridge.tools import tool

# Where each example variable scores best.
BEST = {"temperature": 0.9, "base_temperature": 0.9, "learning_rate": 0.01, "hyperparameter": 0.3}


@tool
def validation_accuracy(**candidate: Any) -> dict:
    """A stand-in for 'run the program on a validation set': smooth, peaked at BEST."""
    loss = sum((float(v) - BEST.get(name, 0.5)) ** 2 for name, v in candidate.items() if isinstance(v, (int, float)))
    return {"score": -loss, "metrics": {"accuracy": max(0.0, 1.0 - loss**0.5)}}


@tool
async def slow_validation_accuracy(**candidate: Any) -> dict:
    """validation_accuracy at 20 ms an evaluation: a run that is still going a moment later."""
    import asyncio

    await asyncio.sleep(0.02)
    return validation_accuracy(**candidate)
