"""The optimizers of the runs a worker serves, by run id. The host pins a run to its
session's worker, opens it once, then asks and tells in turn until it closes it."""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
from dataclasses import dataclass
from typing import Any

from ..spaces import compile_space
from ..errors import AlreadyExistsError, InvalidArgumentError, NotFoundError
from ._loading import load_class
from ._protocol import check_optimizer_class, construct_optimizer
from ._gradient import GradientOptimizer
from ._tpe import TPEOptimizer

__all__ = ["BUILT_IN", "OpenRuns", "open_runs"]

BUILT_IN = {"bayesian": TPEOptimizer, "tpe": TPEOptimizer, "gradient": GradientOptimizer}

_SCALARS = (str, int, float, bool)
_log = logging.getLogger(__name__)


@dataclass
class _Run:
    name: str
    optimizer: Any
    session_id: str


async def _call(fn: Any, *args: Any) -> Any:
    """Coroutine methods are awaited; plain ones run in a thread (TPE's ask costs milliseconds)."""
    if inspect.iscoroutinefunction(fn):
        return await fn(*args)
    result = await asyncio.to_thread(fn, *args)
    if inspect.isawaitable(result):
        result = await result
    return result


async def _close_optimizer(run: _Run) -> None:
    close = getattr(run.optimizer, "close", None)
    if callable(close):
        await _call(close)


def _checked_candidate(name: str, values: Any) -> dict[str, Any] | None:
    if values is None:
        return None
    if not isinstance(values, dict) or not all(isinstance(k, str) for k in values):
        raise InvalidArgumentError(
            f"optimizer {name!r}: ask() must return a dict of variable name -> value (or None when done), got {type(values).__name__}",
            parameter="ask",
        )
    for key, value in values.items():
        if not isinstance(value, _SCALARS) or (isinstance(value, float) and not math.isfinite(value)):
            raise InvalidArgumentError(
                f"optimizer {name!r}: ask() proposed {key}={value!r}; values must be strings, finite numbers or booleans",
                parameter="ask",
            )
    return values


class OpenRuns:
    def __init__(self) -> None:
        self._runs: dict[str, _Run] = {}
        self._closing: set[asyncio.Future[None]] = set()  # close() calls of released sessions' runs

    def _get(self, run_id: str) -> _Run:
        run = self._runs.get(run_id)
        if run is None:
            # details.optimization_run tells the host to reopen the run here and replay it
            raise NotFoundError(
                f"optimization run {run_id!r} is not open in this worker (was the worker restarted?)",
                details={"optimization_run": run_id},
            )
        return run

    async def open(
        self,
        run_id: str,
        name: str,
        space_doc: dict[str, Any],
        direction: str,
        seed: int,
        config: dict[str, Any],
        class_path: str,
        session_id: str,
        history: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Constructs the run's optimizer. ``history`` (``{values, score}`` told before, when a
        new worker takes over a run) is replayed into optimizers that have ``replay``."""
        if run_id in self._runs:
            raise AlreadyExistsError(f"optimization run {run_id!r} is already open")
        if direction not in ("maximize", "minimize"):
            raise InvalidArgumentError(
                f"direction must be 'maximize' or 'minimize', got {direction!r}", parameter="direction"
            )
        space = compile_space(space_doc)
        cls = BUILT_IN.get(name)
        if cls is None:
            if not class_path:
                raise NotFoundError(f"no optimizer {name!r} in this worker")
            cls = load_class(class_path)
            check_optimizer_class(cls)
        optimizer = await asyncio.to_thread(construct_optimizer, cls, space, direction, seed, config)
        replayed = 0
        replay = getattr(optimizer, "replay", None)
        if history and callable(replay):
            await _call(replay, [(h.get("values") or {}, h.get("score")) for h in history])
            replayed = len(history)
        self._runs[run_id] = _Run(name, optimizer, session_id)
        return {
            "optimizer": name,
            "class": f"{type(optimizer).__module__}:{type(optimizer).__qualname__}",
            "replayed": replayed,
        }

    async def ask(self, run_id: str) -> dict[str, Any] | None:
        run = self._get(run_id)
        return _checked_candidate(run.name, await _call(run.optimizer.ask))

    async def tell(self, run_id: str, values: dict[str, Any], score: float | None) -> None:
        run = self._get(run_id)
        await _call(run.optimizer.tell, values, score)

    async def close(self, run_id: str) -> bool:
        run = self._runs.pop(run_id, None)
        if run is None:
            return False
        await _close_optimizer(run)
        return True

    def close_session(self, session_id: str) -> list[str]:
        """Closes the runs of a released session: their host loop has ended and will not call
        ``optimize.close``, so the optimizers' own ``close()`` (what they hold) runs here."""
        gone = [rid for rid, run in self._runs.items() if run.session_id == session_id]
        for rid in gone:
            task = asyncio.ensure_future(_close_optimizer(self._runs.pop(rid)))
            self._closing.add(task)
            task.add_done_callback(self._closed)
        return gone

    def _closed(self, task: asyncio.Future[None]) -> None:
        self._closing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.warning("an optimizer's close() raised while its session was released", exc_info=task.exception())

    def __len__(self) -> int:
        return len(self._runs)


open_runs = OpenRuns()
