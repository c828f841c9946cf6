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

It also stands aside while the machine has no CPU to spare, by the host's rule and for its
reasons (see busy-poll.ts): every `_SAMPLE_S` of spinning the loop thread takes a sample,
and when it waited for a CPU more than `_WAIT_SHARE` of the interval (its run_delay,
/proc/thread-self/schedstat) while more tasks that weigh with the scheduler are runnable
than the machine has CPUs, polling stops for a hold (1 s, doubled by each probe that finds
the machine still full, up to 8 s); the next lone answer after it spins again as a probe,
and one clean interval restores polling. Runnable tasks are counted by /proc/loadavg and,
when that is more than the CPUs, one by one (/proc/<pid>/task/<tid>/stat), leaving out
those at nice `LOW_NICE` or above: a nice-19 batch job gets about 1.5% of a CPU beside a
nice-0 task, so it takes nothing from the peer that must answer (counting it made a bridge
beside niced jobs stand aside). The count reads a file per thread, so it is taken only when
the wait says contended, and reused for `_COUNT_REUSE_S`. Intervals longer than `_STALE_S` only set a new
baseline. Each side decides on its own: no frame says anything about it. Where a figure is
missing (not Linux), it never stands aside.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Callable

__all__ = ["LOW_NICE", "BusyPoll", "ContentionSignals", "CpuContention", "competing_tasks", "task_state"]

_GROW_START_S = 25e-6
_OFF_BELOW_S = 20e-6
_SAMPLE_S = 0.025  # how often a spinning loop takes a sample
_STALE_S = 0.1  # intervals longer than this are not judged, only a new baseline
_WAIT_SHARE = 0.1  # waiting for a CPU more than this share of an interval counts as kept waiting
_HOLD_MIN_S = 1.0  # how long polling stands aside, at first
_HOLD_MAX_S = 8.0  # and at most
_COUNT_REUSE_S = 1.0  # how long a count of the machine's competing tasks is reused
# Tasks at this nice or above do not count as contention: they weigh at most 110 against a
# nice-0 task's 1024 with the scheduler (under a tenth of a CPU beside it).
LOW_NICE = 10
_yield_cpu: Callable[[], None] = getattr(os, "sched_yield", lambda: None)


class ContentionSignals:
    """What CpuContention reads (the kernel's figures; tests inject their own): each method
    returns None where the kernel does not say."""

    def __init__(self) -> None:
        self.cpus = max(1, os.cpu_count() or 1)  # the machine's CPUs
        self._counted: tuple[float, int] | None = None  # (when, competing tasks) of the last count

    def cpu_wait_ns(self) -> int | None:
        """The loop thread's total wait for a CPU so far (ns): the run_delay field of
        /proc/thread-self/schedstat."""
        try:
            with open("/proc/thread-self/schedstat", "rb") as f:
                return int(f.read().split()[1])
        except (OSError, ValueError, IndexError):
            return None

    def runnable_tasks(self) -> int | None:
        """Tasks runnable on the whole machine now that compete for a CPU (nice below
        LOW_NICE), the caller included: /proc/loadavg's count, then, when that is more than
        the CPUs, competing_tasks() (reused for _COUNT_REUSE_S)."""
        try:
            with open("/proc/loadavg", "rb") as f:
                running = int(f.read().split()[3].split(b"/")[0])
        except (OSError, ValueError, IndexError):
            return None
        if running <= self.cpus:
            return running  # no more than the CPUs, whatever their weight
        now = time.monotonic()
        if self._counted is None or now - self._counted[0] >= _COUNT_REUSE_S:
            n = competing_tasks()
            self._counted = (now, running if n is None else n)
        return self._counted[1]


def task_state(stat: bytes) -> tuple[bytes, int] | None:
    """A task's state and nice from its /proc stat line: fields 3 and 19, counted after the
    command name's closing parenthesis (a name may hold spaces and parentheses)."""
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        return fields[0], int(fields[16])
    except (IndexError, ValueError):
        return None


# The most a count may take (s): it reads a file per thread on the machine, on the worker's
# loop. Past it the count is given up (None: the caller falls back to /proc/loadavg's count,
# niced tasks included), so a machine with thousands of threads never stalls the worker.
COUNT_BUDGET_S = 0.005


def competing_tasks(root: str = "/proc", budget_s: float = COUNT_BUDGET_S) -> int | None:
    """Runnable tasks (threads) under `root` (a /proc) whose nice is below LOW_NICE; None if
    it cannot be read, or not within `budget_s`."""
    deadline = time.monotonic() + budget_s
    try:
        pids = os.listdir(root)
    except OSError:
        return None
    n = 0
    for pid in pids:
        if not pid[:1].isdigit():
            continue
        if time.monotonic() > deadline:
            return None
        base = f"{root}/{pid}/task"
        try:
            tids = os.listdir(base)
        except OSError:
            continue  # exited meanwhile
        for tid in tids:
            try:
                fd = os.open(f"{base}/{tid}/stat", os.O_RDONLY)
                try:
                    stat = os.read(fd, 1024)
                finally:
                    os.close(fd)
            except OSError:
                continue
            task = task_state(stat)
            if task is not None and task[0] == b"R" and task[1] < LOW_NICE:
                n += 1
    return n


class CpuContention:
    """Whether the machine is too full for polling to pay (see the module docstring)."""

    __slots__ = ("_signals", "_sampled_at", "_waited_at", "_next_sample_at", "hold_until", "next_hold_s")

    def __init__(self, signals: ContentionSignals | None = None) -> None:
        self._signals = signals if signals is not None else ContentionSignals()
        self._sampled_at = -math.inf
        self._waited_at = 0
        self._next_sample_at = -math.inf
        self.hold_until = -math.inf  # clock() until which polling stands aside
        self.next_hold_s = _HOLD_MIN_S  # the hold the next contended interval starts

    def holding(self, now: float) -> bool:
        return now < self.hold_until

    def check(self, now: float) -> bool:
        """Called on every spin turn: takes a sample when one is due; whether to stand aside now."""
        if now >= self._next_sample_at:
            self._sample(now)
        return now < self.hold_until

    def _sample(self, now: float) -> None:
        signals = self._signals
        waited = signals.cpu_wait_ns()
        if waited is None:
            self._next_sample_at = math.inf  # no figure here: never stand aside
            return
        span = now - self._sampled_at
        if span <= _STALE_S:
            if waited - self._waited_at > _WAIT_SHARE * span * 1e9 and (signals.runnable_tasks() or 0) > signals.cpus:
                self.hold_until = now + self.next_hold_s
                self.next_hold_s = min(2 * self.next_hold_s, _HOLD_MAX_S)
            else:
                self.next_hold_s = _HOLD_MIN_S
        self._sampled_at = now
        self._waited_at = waited
        self._next_sample_at = now + _SAMPLE_S


class BusyPoll:
    __slots__ = ("_loop", "limit_s", "window_s", "_spinning", "_sent_at", "_clock", "contention")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        limit_us: int,
        clock: Callable[[], float] = time.perf_counter,
        signals: ContentionSignals | None = None,
    ) -> None:
        if limit_us < 0:
            raise ValueError(f"busy_poll_us must be at least 0, got {limit_us}")
        self._loop = loop
        self.limit_s = limit_us / 1e6
        self.window_s = self.limit_s
        self._spinning = False
        self._sent_at = 0.0  # clock() of the last lone write; 0 when nothing is expected
        self._clock = clock
        self.contention = CpuContention(signals)

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
        self._sent_at = now = self._clock()
        if not self._spinning and self.window_s > 0 and not self.contention.holding(now):
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
        now = self._clock()
        if self._sent_at != 0.0 and now - self._sent_at < self.window_s and not self.contention.check(now):
            _yield_cpu()
            self._loop.call_soon(self._spin)
        else:
            self._spinning = False
