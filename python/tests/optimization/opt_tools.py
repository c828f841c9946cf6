"""Objective tools the optimization tests load into the host's workers (serve --modules)."""

from dspy_bridge.tools import tool


@tool
def peak_at_1_1(temperature: float) -> dict:
    """Maximal at temperature = 1.1."""
    return {"score": -((temperature - 1.1) ** 2), "metrics": {"accuracy": 1 - abs(temperature - 1.1)}}


@tool
async def slow_peak_at_1_1(temperature: float) -> dict:
    """peak_at_1_1, 50 ms a call: runs that are still going when a test acts on them."""
    import asyncio

    await asyncio.sleep(0.05)
    return peak_at_1_1(temperature)


@tool
def tiny_slope(temperature: float) -> float:
    """Rises by 1e-5 per 0.1: below the default convergence threshold, above zero."""
    return 1e-4 * temperature
