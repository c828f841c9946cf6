"""Busy polling on a real event loop: when it spins, when it stops, how its window adapts
(judged with an injected clock, so no assertion depends on how fast this machine is right
now), and that a worker answering a lone call leaves its loop polling for the next one."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

import pytest

from dspy_bridge.core._busy_poll import BusyPoll


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def _turns(n: int) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_a_lone_write_keeps_the_loop_turning_and_timers_still_fire() -> None:
    poll = BusyPoll(asyncio.get_running_loop(), 100, clock=Clock())
    poll.sent(1)
    assert poll.spinning
    await _turns(10)
    await asyncio.sleep(0.002)
    assert poll.spinning, "the clock has not moved: still inside the window"
    poll.received()
    await _turns(2)
    assert not poll.spinning, "the request came: nothing more to wait for"


async def test_on_the_real_clock_the_spin_ends_when_the_window_has_passed() -> None:
    poll = BusyPoll(asyncio.get_running_loop(), 10_000)
    poll.sent(1)
    assert poll.spinning
    await asyncio.sleep(0.06)
    assert not poll.spinning, "10 ms window, 60 ms later"


async def test_a_batch_never_starts_a_spin_and_ends_one() -> None:
    poll = BusyPoll(asyncio.get_running_loop(), 100, clock=Clock())
    poll.sent(5)
    assert not poll.spinning
    poll.sent(1)
    poll.sent(2)
    await _turns(2)
    assert not poll.spinning, "answers going out in batches: the loop is busy anyway"


async def test_late_requests_shrink_the_window_to_zero_and_quick_ones_grow_it_back() -> None:
    clock = Clock()
    poll = BusyPoll(asyncio.get_running_loop(), 100, clock=clock)

    def exchange(waited_us: float) -> float:
        poll.sent(1)
        clock.t += waited_us / 1e6
        poll.received()
        return round(poll.window_s * 1e6, 6)

    assert exchange(150) == 100, "within twice the limit: stays on"
    assert [exchange(300) for _ in range(4)] == [50, 25, 12.5, 0], "later than twice the limit: halved, then off"
    await _turns(2)
    poll.sent(1)
    assert not poll.spinning, "a zero window spins nothing"
    poll.received()
    assert [exchange(150) for _ in range(4)] == [25, 50, 100, 100], "quick requests double it up to the limit"
    assert exchange(10) == 100


async def test_stop_and_a_zero_limit() -> None:
    poll = BusyPoll(asyncio.get_running_loop(), 100, clock=Clock())
    poll.sent(1)
    poll.stop()
    await _turns(2)
    assert not poll.spinning
    off = BusyPoll(asyncio.get_running_loop(), 0)
    off.sent(1)
    assert not off.spinning
    with pytest.raises(ValueError, match="busy_poll_us"):
        BusyPoll(asyncio.get_running_loop(), -1)


async def test_a_worker_polls_after_a_lone_answer(make_worker: Callable[..., Any]) -> None:
    h = await make_worker(busy_poll_us=10_000)
    await h.wire.read_frame()  # the Hello: written before any request, it starts nothing
    assert not h.protocol._busy_poll.spinning
    assert await h.wire.call_value("ping") == {"ok": True}
    assert h.protocol._busy_poll.spinning, "the answer left alone: the next request is awaited hot"
    await asyncio.sleep(0.06)
    assert not h.protocol._busy_poll.spinning


async def test_a_worker_without_busy_polling_never_spins(make_worker: Callable[..., Any]) -> None:
    h = await make_worker()
    await h.wire.read_frame()
    assert await h.wire.call_value("ping") == {"ok": True}
    assert not h.protocol._busy_poll.spinning
