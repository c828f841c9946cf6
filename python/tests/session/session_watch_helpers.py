"""Helpers the session watch tests share."""

from __future__ import annotations

import asyncio

from dspy_bridge.session import VariableUpdate, VariableWatch


async def take(w: VariableWatch, n: int, timeout: float = 10.0) -> list[VariableUpdate]:
    """The watch's next `n` updates, failing after `timeout` seconds."""
    out: list[VariableUpdate] = []

    async def run() -> None:
        async for u in w:
            out.append(u)
            if len(out) == n:
                return

    await asyncio.wait_for(run(), timeout)
    return out
