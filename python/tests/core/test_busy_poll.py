"""Busy polling on a real event loop: when it spins, when it stops, how its window adapts
(judged with an injected clock, so no assertion depends on how fast this machine is right
now), and that a worker answering a lone call leaves its loop polling for the next one."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import math
import time
from typing import Any
from collections.abc import Callable

import pytest

from dspy_bridge.core._busy_poll import (
    LOW_NICE,
    BusyPoll,
    ContentionSignals,
    CpuContention,
    competing_tasks,
    task_state,
)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Machine(ContentionSignals):
    """A 2-CPU machine's figures as the test sets them: the loop thread's total wait for a
    CPU (ns) and the tasks runnable now (2: the host and one worker, both spinning)."""

    def __init__(self) -> None:
        self.cpus = 2
        self.waited_ns = 0
        self.runnable = 2

    def cpu_wait_ns(self) -> int | None:
        return self.waited_ns

    def runnable_tasks(self) -> int | None:
        return self.runnable


async def _turns(n: int) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_a_lone_write_keeps_the_loop_turning_and_timers_still_fire() -> None:
    poll = BusyPoll(asyncio.get_running_loop(), 100, clock=Clock(), signals=Machine())
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
    poll = BusyPoll(asyncio.get_running_loop(), 100, clock=Clock(), signals=Machine())
    poll.sent(5)
    assert not poll.spinning
    poll.sent(1)
    poll.sent(2)
    await _turns(2)
    assert not poll.spinning, "answers going out in batches: the loop is busy anyway"


async def test_late_requests_shrink_the_window_to_zero_and_quick_ones_grow_it_back() -> None:
    clock = Clock()
    poll = BusyPoll(asyncio.get_running_loop(), 100, clock=clock, signals=Machine())

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
    poll = BusyPoll(asyncio.get_running_loop(), 100, clock=Clock(), signals=Machine())
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
    # The worker's own poller on a clock that moves only when told to, on a quiet machine,
    # so a busy test machine can neither end the window nor stand polling aside early.
    clock = Clock()
    h.protocol._busy_poll = BusyPoll(asyncio.get_running_loop(), 10_000, clock=clock, signals=Machine())
    await h.wire.read_frame()  # the Hello: written before any request, it starts nothing
    assert not h.protocol._busy_poll.spinning
    assert await h.wire.call_value("ping") == {"ok": True}
    assert h.protocol._busy_poll.spinning, "the answer left alone: the next request is awaited hot"
    await _turns(5)
    assert h.protocol._busy_poll.spinning, "still inside the window"
    clock.t += 0.011
    await _turns(2)
    assert not h.protocol._busy_poll.spinning, "the 10 ms window has passed"


async def test_a_worker_without_busy_polling_never_spins(make_worker: Callable[..., Any]) -> None:
    h = await make_worker()
    await h.wire.read_frame()
    assert await h.wire.call_value("ping") == {"ok": True}
    assert not h.protocol._busy_poll.spinning


# -- standing aside when the CPUs are full (the host's rule, busy-poll.ts) -------------------


class Spinner:
    """A CpuContention on an injected clock and machine; run(ms, share, runnable) spins for
    `ms`, checking every ms, the thread waiting `share` of the time while `runnable` tasks are
    runnable, and says whether polling was told to stand aside."""

    def __init__(self) -> None:
        self.clock, self.machine = Clock(), Machine()
        self.c = CpuContention(self.machine)

    def run(self, ms: int, share: float, runnable: int) -> bool:
        self.machine.runnable = runnable
        for _ in range(ms):
            self.clock.t += 0.001
            self.machine.waited_ns += int(share * 1e6)
            if self.c.check(self.clock.t):
                return True
        return False


def test_an_idle_machine_keeps_polling_even_with_both_spinners_stacked_on_one_cpu() -> None:
    s = Spinner()
    assert not s.run(10_000, 0.0, 2), "the host and a worker spinning, each on its CPU: neither waits"
    assert not s.run(10_000, 0.05, 3), "a passing third task that costs little waiting"
    assert not s.run(10_000, 0.45, 2), "both on one CPU with the other idle: waiting, but not for want of a CPU"
    assert not s.c.holding(s.clock.t)


def test_a_cpu_bound_neighbour_holds_polling_probes_double_it_and_quiet_brings_it_back() -> None:
    s = Spinner()
    c, clock = s.c, s.clock
    assert not s.run(10, 0.4, 3), "the first sample is only a baseline"
    assert s.run(100, 0.4, 3), "three runnable on two CPUs, and the spinner waits 40% of the time"
    held_at = clock.t
    assert c.holding(held_at + 0.999) and not c.holding(held_at + 1.0), "held for 1 s"
    clock.t = held_at + 1.0
    assert s.run(100, 0.4, 3), "the probe after the hold: still contended"
    probed_at = clock.t
    assert c.holding(probed_at + 1.999) and not c.holding(probed_at + 2.0), "held for 2 s this time"
    for hold in (4.0, 8.0, 8.0):
        clock.t += 10
        s.run(100, 0.4, 3)
        assert c.holding(clock.t + hold - 0.001) and not c.holding(clock.t + hold), f"then {hold} s, at most 8"
    clock.t += 10
    assert not s.run(1000, 0.0, 2), "the neighbour is gone: the probe finds the machine quiet"
    assert s.run(100, 0.4, 3), "contended again later"
    assert c.holding(clock.t + 0.999) and not c.holding(clock.t + 1.0), "a clean interval reset the hold to 1 s"


def test_an_interval_with_a_gap_is_only_a_new_baseline() -> None:
    clock, machine = Clock(), Machine()
    machine.runnable = 3
    c = CpuContention(machine)
    c.check(clock.t)
    clock.t += 0.5  # a throughput burst in between: our own processes filled the CPUs, nothing spun
    machine.waited_ns += 400_000_000
    assert not c.check(clock.t)
    clock.t += 0.025
    assert not c.check(clock.t), "judged on the 25 ms since, in which nothing waited"
    clock.t += 0.025
    machine.waited_ns += 10_000_000
    assert c.check(clock.t), "then 10 ms of 25 waiting: contended"


def test_missing_figures_never_stand_aside() -> None:
    class NoWait(Machine):
        reads = 0

        def cpu_wait_ns(self) -> int | None:
            self.reads += 1
            return None

    no_wait = NoWait()
    no_wait.runnable = 99
    c = CpuContention(no_wait)
    assert not any(c.check(t / 1000) for t in range(1000))
    assert no_wait.reads == 1, "asked once, then never again"

    class NoCount(Machine):
        def cpu_wait_ns(self) -> int | None:
            self.waited_ns += 20_000_000
            return self.waited_ns

        def runnable_tasks(self) -> int | None:
            return None

    c = CpuContention(NoCount())
    assert not any(c.check(t / 1000) for t in range(1000))


def _stat_line(tid: int, name: str, state: str, nice: int) -> bytes:
    """A task's /proc stat line: pid, (name), state, then fields 4-18, nice (19) and the rest."""
    return f"{tid} ({name}) {state} 1 {tid} {tid} 0 -1 4194560 100 0 0 0 10 5 0 0 {20 + nice} {nice} 1 0 100 0 0\n".encode()


def test_batch_jobs_at_nice_10_or_more_are_not_counted(tmp_path: Any) -> None:
    def task(pid: int, tid: int, name: str, state: str, nice: int) -> None:
        d = tmp_path / str(pid) / "task" / str(tid)
        d.mkdir(parents=True)
        (d / "stat").write_bytes(_stat_line(tid, name, state, nice))

    task(100, 100, "node", "R", 0)  # the host, spinning
    task(100, 101, "node worker", "S", 0)  # one of its threads, asleep
    task(200, 200, "python3 (a) b", "R", 0)  # a worker; a name with spaces and parentheses
    task(300, 300, "batch", "R", 19)  # niced batch jobs: weigh 15 and 110 against 1024
    task(301, 301, "batch", "R", 10)
    (tmp_path / "self").mkdir()  # not a process
    assert competing_tasks(str(tmp_path), math.inf) == 2, "the host and the worker; the niced jobs do not count"
    task(400, 400, "make", "R", 9)  # nice 9 still takes a CPU's worth beside a spinner
    assert competing_tasks(str(tmp_path), math.inf) == 3
    assert competing_tasks(str(tmp_path / "missing")) is None
    # A count that cannot finish within its budget gives no figure (the caller falls back to
    # /proc/loadavg's count) rather than holding the worker's loop.
    assert competing_tasks(str(tmp_path), -1.0) is None
    assert task_state(_stat_line(7, ") R (", "S", -5)) == (b"S", -5)
    assert task_state(b"garbage") is None


def test_on_linux_a_process_at_nice_19_is_runnable_but_not_competing() -> None:
    if not sys.platform.startswith("linux"):
        return
    child = subprocess.Popen(["nice", "-n", "19", sys.executable, "-c", "while True: pass"])
    try:
        deadline = time.monotonic() + 10
        task = None
        while time.monotonic() < deadline:
            time.sleep(0.01)
            try:
                with open(f"/proc/{child.pid}/stat", "rb") as f:
                    task = task_state(f.read())
            except OSError:
                task = None
            if task == (b"R", 19):
                break
        assert task == (b"R", 19), "the niced spinner is runnable at nice 19"
        assert task is not None and task[1] >= LOW_NICE, "so competing_tasks() leaves it out"
    finally:
        child.kill()
        child.wait()


def test_the_kernels_figures_are_read_on_linux() -> None:
    if not sys.platform.startswith("linux"):
        return
    signals = ContentionSignals()
    waited, runnable = signals.cpu_wait_ns(), signals.runnable_tasks()
    assert isinstance(waited, int) and waited >= 0
    assert isinstance(runnable, int) and runnable >= 1, "this thread included"
    assert signals.cpus >= 1


async def test_a_contended_sample_ends_the_spin_and_a_probe_follows_the_hold() -> None:
    clock, machine = Clock(), Machine()
    poll = BusyPoll(asyncio.get_running_loop(), 100, clock=clock, signals=machine)
    poll.sent(1)
    await _turns(3)  # the baseline sample
    poll.received()
    await _turns(2)
    clock.t += 0.03
    machine.waited_ns += 15_000_000  # half of the last 30 ms spent waiting for a CPU,
    machine.runnable = 3  # with three tasks runnable on two CPUs
    poll.sent(1)
    assert poll.spinning, "the spin starts; its first turn samples"
    await _turns(2)
    assert not poll.spinning, "contended: the spin ends though the request is still due"
    assert poll.contention.holding(clock.t)
    poll.received()
    assert poll.window_s == poll.limit_s, "standing aside leaves the window as it was"
    clock.t += 0.999
    poll.sent(1)
    assert not poll.spinning, "a lone answer during the hold spins nothing"
    poll.received()
    clock.t += 0.001
    poll.sent(1)
    assert poll.spinning, "the hold is over: the next lone answer probes"
    await _turns(2)
    assert poll.spinning, "the probe's first sample is a baseline (the last was before the hold)"
    poll.received()
    await _turns(2)
