"""How a running compile is stopped from outside its thread.

DSPy's optimizers are synchronous and catch ``Exception`` around every evaluation (a failing
example is counted, not fatal). A ``BaseException`` passes those handlers, DSPy's callback
wrappers and its thread pools, so raising one at the next checkpoint (an LM call, a module
call, a metric call) unwinds the whole compile promptly.
"""

from __future__ import annotations

import threading

__all__ = ["JobAborted", "JobCancelled", "MetricFailed", "StopFlag"]


class JobAborted(BaseException):
    """Unwinds a compile. Not an ``Exception`` on purpose: DSPy must not swallow it."""


class JobCancelled(JobAborted):
    """The job was cancelled (the host's stream was cancelled or aborted)."""


class MetricFailed(JobAborted):
    """The metric raised: the job stops at once with the metric's error (``original``)."""

    def __init__(self, original: BaseException, where: str) -> None:
        super().__init__(where)
        self.original = original
        self.where = where


class StopFlag:
    """Set once; every checkpoint calls ``check()``."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.failure: MetricFailed | None = None

    def set(self) -> None:
        self._event.set()

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self.failure is not None:
            raise self.failure
        if self._event.is_set():
            raise JobCancelled("optimization job cancelled")
