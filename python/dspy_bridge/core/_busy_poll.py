"""Adaptive busy polling of the worker's event loop while the next request is expected.

The twin of the host's ts/src/transport/busy-poll.ts, whose header explains why: waking a
halted vCPU is most of a trivial call's round trip on a VM (docs/benchmarks.md has the
figures). After a lone answer is written, the loop is kept turning with a `call_soon`
chain (uvloop, or asyncio's own loop, then polls with a zero timeout and never sleeps),
so the next request of a sequential caller is read the moment it lands. Other callbacks,
timers and tasks run between the chain's turns as usual.

Only a write of exactly one frame starts it (with many calls in flight the answers leave in
batches), each turn yields the CPU to any other runnable process first (`sched_yield`: a
worker waiting for work must not slow the host or another worker on a small machine), and
the window adapts like the host's: a request later than the window but within twice the
limit doubles it (up to the limit), a later one halves it (to zero below 20 µs).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Callable

__all__ = ["BusyPoll"]

_GROW_START_S = 25e-6
_OFF_BELOW_S = 20e-6
_yield_cpu: Callable[[], None] = getattr(os, "sched_yield", lambda: None)


class BusyPoll:
    __slots__ = ("_loop", "limit_s", "window_s", "_spinning", "_sent_at", "_clock")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, limit_us: int, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        if limit_us < 0:
            raise ValueError(f"busy_poll_us must be at least 0, got {limit_us}")
        self._loop = loop
        self.limit_s = limit_us / 1e6
        self.window_s = self.limit_s
        self._spinning = False
        self._sent_at = 0.0  # clock() of the last lone write; 0 when nothing is expected
        self._clock = clock

    @property
    def spinning(self) -> bool:
        """Whether the loop is being kept turning now."""
        return self._spinning

    def sent(self, frames: int) -> None:
        """A write of `frames` frames has just been handed to the transport."""
        if self.limit_s == 0:
            return
        if frames != 1:
            self._sent_at = 0.0  # a batch: stop any spinning at its next turn
            return
        self._sent_at = self._clock()
        if not self._spinning and self.window_s > 0:
            self._spinning = True
            self._loop.call_soon(self._spin)

    def received(self) -> None:
        """Bytes have arrived: adapt the window to how long they took after the last lone write."""
        if self._sent_at == 0.0:
            return
        waited = self._clock() - self._sent_at
        self._sent_at = 0.0
        if waited > 2 * self.limit_s:
            self.window_s = 0.0 if self.window_s < _OFF_BELOW_S else self.window_s / 2
        elif waited > self.window_s:
            self.window_s = min(self.limit_s, max(2 * self.window_s, _GROW_START_S))

    def stop(self) -> None:
        """Nothing more to wait for (the connection is gone)."""
        self._sent_at = 0.0

    def _spin(self) -> None:
        if self._sent_at != 0.0 and self._clock() - self._sent_at < self.window_s:
            _yield_cpu()
            self._loop.call_soon(self._spin)
        else:
            self._spinning = False
