"""What a running optimizer job reports: metric calls done out of the expected number, the
best score DSPy has reported (its ``Evaluate`` runs, SIMBA's batch scores), the mean metric
score, LM calls per model, and the optimizer's latest log line.

Fed from the compile's threads (the metric wrapper, a DSPy callback, a log handler) and sent
to the event loop at most every ``interval_s`` (plus once at the end), so a fast scripted
run does not flood the stream and a slow real one still shows movement.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from dspy.utils.callback import BaseCallback

from ._cancel import StopFlag

__all__ = ["JobProgress", "job_callback", "optimizer_log_handler"]

_BEST = re.compile(r"\bBest(?: score so far)?: ([0-9]+(?:\.[0-9]+)?)")


class JobProgress:
    def __init__(self, expected: int | None, emit: Callable[[dict[str, Any]], None], interval_s: float) -> None:
        self._lock = threading.Lock()
        self._emit = emit
        self._interval = interval_s
        self._last_sent = 0.0
        self.started = time.monotonic()
        self.expected = expected
        self.evaluations = 0
        self._score_sum = 0.0
        self.best_score: float | None = None
        self.evaluate_runs = 0
        self.lm_calls: dict[str, int] = {}
        self.message = ""

    def metric_called(self, score: float) -> None:
        with self._lock:
            self.evaluations += 1
            self._score_sum += score
        self._maybe_send()

    def evaluated(self, percent: float) -> None:
        """An ``Evaluate`` run finished (DSPy reports a percentage)."""
        with self._lock:
            self.evaluate_runs += 1
            self._best(percent / 100.0)
        self._maybe_send()

    def reported_best(self, score: float) -> None:
        with self._lock:
            self._best(score)

    def _best(self, score: float) -> None:
        if self.best_score is None or score > self.best_score:
            self.best_score = score

    def lm_called(self, model: str) -> None:
        with self._lock:
            self.lm_calls[model] = self.lm_calls.get(model, 0) + 1

    def logged(self, message: str) -> None:
        with self._lock:
            self.message = message[:300]
        self._maybe_send()

    def snapshot(self, final: bool = False) -> dict[str, Any]:
        with self._lock:
            expected = self.evaluations if final else self.expected
            if expected is not None and self.evaluations > expected:
                expected = self.evaluations  # the estimate was low: never show more than 100%
            return {
                "type": "progress",
                "evaluations": self.evaluations,
                "expected": expected,
                "best_score": self.best_score,
                "mean_score": (self._score_sum / self.evaluations) if self.evaluations else None,
                "evaluate_runs": self.evaluate_runs,
                "lm_calls": dict(self.lm_calls),
                "message": self.message,
                "elapsed_ms": round((time.monotonic() - self.started) * 1000, 1),
                "final": final,
            }

    def _maybe_send(self) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last_sent < self._interval:
                return
            self._last_sent = now
        self._emit(self.snapshot())


def job_callback(progress: JobProgress, stop: StopFlag) -> Any:
    """A DSPy callback: a stop checkpoint before every LM and module call, LM calls counted per
    model, and each ``Evaluate`` score. (DSPy swallows ``Exception``s from callbacks, not the
    ``BaseException`` the stop flag raises.)"""

    class _JobCallback(BaseCallback):
        def on_lm_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
            stop.check()
            progress.lm_called(str(getattr(instance, "model", type(instance).__name__)))

        def on_module_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
            stop.check()

        def on_evaluate_end(self, call_id: str, outputs: Any, exception: BaseException | None = None) -> None:
            score = getattr(outputs, "score", None)
            if isinstance(score, (int, float)):
                progress.evaluated(float(score))

    return _JobCallback()


class _OptimizerLogHandler(logging.Handler):
    """The optimizers' own log lines (DSPy's teleprompt loggers) as progress messages; SIMBA's
    "Best: x" lines as its best score (it has no Evaluate runs)."""

    def __init__(self, progress: JobProgress, threads: Callable[[], bool]) -> None:
        super().__init__(logging.INFO)
        self._progress = progress
        self._mine = threads

    def emit(self, record: logging.LogRecord) -> None:
        if not self._mine():
            return
        try:
            message = record.getMessage().strip()
        except Exception:  # noqa: BLE001 - a malformed record is not our problem
            return
        if not message:
            return
        if record.name.endswith("simba"):
            found = _BEST.search(message)
            if found:
                self._progress.reported_best(float(found.group(1)))
        self._progress.logged(message.splitlines()[0])


_LOGGER = "dspy.teleprompt"


def optimizer_log_handler(
    progress: JobProgress, attributable: Callable[[], bool]
) -> tuple[Callable[[], None], Callable[[], None]]:
    """(attach, detach) for a handler on DSPy's teleprompt loggers. ``attributable()`` says
    whether a record may be credited to this job (log records carry no job id)."""
    logger = logging.getLogger(_LOGGER)
    handler = _OptimizerLogHandler(progress, attributable)

    def attach() -> None:
        with _level_lock:
            if not _attached:  # the level from before any job: jobs overlap, so not each job's own
                _saved_level[:] = [logger.level]
            _attached.add(handler)
            logger.addHandler(handler)
            if logger.getEffectiveLevel() > logging.INFO:
                logger.setLevel(logging.INFO)

    def detach() -> None:
        with _level_lock:
            logger.removeHandler(handler)
            _attached.discard(handler)
            if not _attached and _saved_level:
                logger.setLevel(_saved_level.pop())

    return attach, detach


_level_lock = threading.Lock()
_attached: set[logging.Handler] = set()
_saved_level: list[int] = []
