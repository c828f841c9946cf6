"""Adaptive busy polling of the worker's event loop while the next request is expected.

The twin of the host's ts/src/transport/busy-poll.ts (its header has the measurements):
after a lone answer is written, the loop is kept turning with a `call_soon` chain, so
uvloop polls with a zero timeout and the next request of a sequential caller is read the
moment it lands instead of after the vCPU wakes from a halt. Other callbacks and tasks run
between the chain's turns as usual; the chain only keeps the loop from sleeping.

Only a write of exactly one frame starts it (with many calls in flight the answers leave in
batches and a spinning worker would take CPU from the host), and the window adapts like
Linux's haltpoll governor: a request that arrives after the window but within the limit
doubles it, one later than the limit halves it (to zero below 20 µs).
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["BusyPoll"]

_GROW_START = 25e-6
_OFF_BELOW = 20e-6


class BusyPoll:
    __slots__ = ("_loop", "limit", "window", "_spinning", "_sent_at", "_clock")

    def __init__(self, loop: asyncio.AbstractEventLoop, limit_us: int) -> None:
        self._loop = loop
        self.limit = limit_us / 1e6
        self.window = self.limit
        self._spinning = False
        self._sent_at = 0.0  # perf_counter() of the last lone write; 0 when nothing is expected
        self._clock = time.perf_counter

    @property
    def spinning(self) -> bool:
        """Whether the loop is being kept turning now."""
        return self._spinning

    def sent(self, frames: int) -> None:
        """A write of `frames` frames has just been handed to the transport."""
        if self.limit == 0:
            return
        if frames != 1:
            self._sent_at = 0.0  # a batch: stop any spinning at its next turn
            return
        self._sent_at = self._clock()
        if not self._spinning and self.window > 0:
            self._spinning = True
            self._loop.call_soon(self._spin)

    def received(self) -> None:
        """Bytes have arrived: adapt the window to how long they took after the last lone write."""
        if self.limit == 0 or self._sent_at == 0.0:
            return
        waited = self._clock() - self._sent_at
        self._sent_at = 0.0
        if waited > self.limit:
            self.window = 0.0 if self.window < _OFF_BELOW else self.window / 2
        elif waited > self.window:
            self.window = min(self.limit, max(2 * self.window, _GROW_START))

    def _spin(self) -> None:
        if self._sent_at != 0.0 and self._clock() - self._sent_at < self.window:
            self._loop.call_soon(self._spin)
        else:
            self._spinning = False
