"""Busy polling on a real event loop: when it spins, when it stops, how its window adapts,
and that a worker answering a lone call leaves its loop polling for the next one."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from dspy_bridge.core._busy_poll import BusyPoll

# Windows in these tests are milliseconds, not microseconds, so that "quick" and "late"
# are far apart whatever else the machine is doing.
LIMIT_US = 20_000


async def test_a_lone_write_keeps_the_loop_turning_for_the_window_then_stops() -> None:
    poll = BusyPoll(asyncio.get_running_loop(), LIMIT_US)
    poll.sent(1)
    assert poll.spinning
    await asyncio.sleep(0.005)
    assert poll.spinning, "still inside the 20 ms window"
    await asyncio.sleep(0.03)
    assert not poll.spinning, "the window has passed"


async def test_an_arrival_ends_the_spin_and_a_batch_never_starts_one() -> None:
    poll = BusyPoll(asyncio.get_running_loop(), LIMIT_US)
    poll.sent(1)
    poll.received()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not poll.spinning, "the answer came: nothing more to wait for"
    poll.sent(5)
    assert not poll.spinning, "a batch of frames means the loop is busy anyway"
    assert poll.window == LIMIT_US / 1e6, "a quick arrival leaves the window as it was"


async def test_late_arrivals_shrink_the_window_to_zero_and_quick_ones_grow_it_back() -> None:
    poll = BusyPoll(asyncio.get_running_loop(), LIMIT_US)
    windows = []
    for _ in range(12):
        poll.sent(1)
        await asyncio.sleep(0.025)  # later than the 20 ms limit
        poll.received()
        windows.append(poll.window)
    assert windows[:3] == [0.01, 0.005, 0.0025]
    assert windows[-1] == 0.0, "halved below 20 µs, then off"
    poll.sent(1)
    assert not poll.spinning, "a zero window does not spin"
    grown = []
    for _ in range(3):
        poll.sent(1)
        await asyncio.sleep(0.001)  # later than the window, well inside the limit
        poll.received()
        grown.append(poll.window)
    assert grown == [25e-6, 50e-6, 100e-6]


async def test_a_zero_limit_never_spins() -> None:
    poll = BusyPoll(asyncio.get_running_loop(), 0)
    poll.sent(1)
    assert not poll.spinning
    poll.received()
    assert poll.window == 0


async def test_the_spin_lets_timers_and_other_callbacks_run() -> None:
    poll = BusyPoll(asyncio.get_running_loop(), LIMIT_US)
    poll.sent(1)
    for _ in range(10):
        await asyncio.sleep(0)
    await asyncio.sleep(0.002)
    assert poll.spinning, "other work ran inside the window, and the chain went on"


async def test_a_worker_polls_after_a_lone_answer(make_worker: Callable[..., Any]) -> None:
    h = await make_worker(busy_poll_us=LIMIT_US)
    await h.wire.read_frame()  # hello: one frame written, so the loop spins already
    assert await h.wire.call_value("ping") == {"ok": True}
    assert h.protocol._busy_poll.spinning, "the answer left alone: the next request is awaited hot"
    await asyncio.sleep(0.03)
    assert not h.protocol._busy_poll.spinning


async def test_a_worker_without_busy_polling_never_spins(make_worker: Callable[..., Any]) -> None:
    h = await make_worker()
    await h.wire.read_frame()
    assert await h.wire.call_value("ping") == {"ok": True}
    assert not h.protocol._busy_poll.spinning
