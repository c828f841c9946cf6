"""Metrics for optimizer jobs: a built-in by name, a Python function by dotted path, or a tool
(a Python ``@tool`` of the worker, else a TypeScript tool called through the host).

Every metric is wrapped in :class:`JobMetric`, which takes DSPy's five metric arguments
(``gold, pred, trace, pred_name, pred_trace``; GEPA insists on them, the others pass two or
three), counts the calls for progress, checks the job's stop flag, and turns a failing metric
into :class:`MetricFailed` so the job stops with that error instead of DSPy counting it as one
bad example.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from dspy.evaluate.metrics import normalize_text
from dspy.evaluate import answer_exact_match
from dspy.evaluate import answer_passage_match
import dspy

from ...core.user_code import import_user_object
from ...errors import BridgeError, InvalidArgumentError
from .._serialize import plain
from ._cancel import MetricFailed, StopFlag
from ...tools import default_tool_registry
from ...tools import call_tool
from ...errors import as_bridge_error

__all__ = ["BUILTIN_METRICS", "JobMetric", "metric_error", "resolve_metric"]


def _normalize(value: Any) -> str:
    return normalize_text(str(value))


def exact_match(example: Any, pred: Any, trace: Any = None) -> bool:
    """Every output field the example labels equals the prediction's (DSPy's text
    normalisation: case, punctuation, articles). Fields the prediction lacks count as wrong."""
    labels = {k: v for k, v in example.items() if k not in example._input_keys}
    if not labels:
        return False
    for key, expected in labels.items():
        got = pred.get(key) if hasattr(pred, "get") else getattr(pred, key, None)
        if got is None or _normalize(got) != _normalize(expected):
            return False
    return True


def _answer_exact_match(example: Any, pred: Any, trace: Any = None) -> bool:
    return bool(answer_exact_match(example, pred, trace))


def _answer_passage_match(example: Any, pred: Any, trace: Any = None) -> bool:
    return bool(answer_passage_match(example, pred, trace))


BUILTIN_METRICS: dict[str, Callable[..., Any]] = {
    "exact_match": exact_match,
    "answer_exact_match": _answer_exact_match,
    "answer_passage_match": _answer_passage_match,
}


def _import_function(path: str, what: str = "metric", parameter: str = "metric") -> Callable[..., Any]:
    """A function of the user's own code ('package.module:function'), never the standard
    library or site-packages: see dspy_bridge.core.user_code."""
    if ":" not in path and "." not in path:
        raise InvalidArgumentError(
            f"{what} {path!r} is neither a built-in ({', '.join(BUILTIN_METRICS)}) nor a dotted path 'package.module:function'",
            parameter=parameter,
        )
    fn = import_user_object(path, what=what, parameter=parameter)
    if not callable(fn):
        raise InvalidArgumentError(f"{what} {path!r} is a {type(fn).__name__}, not a function", parameter=parameter)
    return fn


def _arity(fn: Callable[..., Any]) -> int:
    """How many of DSPy's five metric arguments ``fn`` takes positionally (2, 3 or 5)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return 3
    for n in (5, 3, 2):
        try:
            sig.bind(*([None] * n))
            return n
        except TypeError:
            continue
    raise InvalidArgumentError(
        f"metric {getattr(fn, '__name__', fn)!r} must accept (example, prediction[, trace])", parameter="metric"
    )


class _ToolMetric:
    """Calls a tool with ``{example, prediction, trace, pred_name?}`` from the compile's
    threads, on the worker's event loop (where the host connection lives)."""

    def __init__(self, name: str, session_id: str, loop: asyncio.AbstractEventLoop, stop: StopFlag) -> None:
        self.name = name
        self._session_id = session_id or None
        self._loop = loop
        self._stop = stop
        self._local = name in default_tool_registry.names()

    async def _call(self, args: dict[str, Any]) -> Any:
        if self._local:
            return await default_tool_registry.call(self.name, args)

        return await call_tool(self.name, args, session_id=self._session_id)

    def __call__(self, gold: Any, pred: Any, trace: Any = None, pred_name: Any = None, pred_trace: Any = None) -> Any:
        if threading.current_thread() is threading.main_thread():
            raise RuntimeError("a tool metric cannot be called on the worker's event-loop thread")
        args: dict[str, Any] = {
            "example": plain(dict(gold.items())),
            "prediction": plain(dict(pred.items()) if hasattr(pred, "items") else {"value": pred}),
            "trace": trace is not None,
        }
        if pred_name is not None:
            args["pred_name"] = str(pred_name)
        future = asyncio.run_coroutine_threadsafe(self._call(args), self._loop)
        while True:
            try:
                result = future.result(timeout=0.1)
                break
            except FutureTimeout:
                if self._stop.is_set:
                    future.cancel()
                    self._stop.check()
        return _tool_score(self.name, result, with_feedback=pred_name is not None)


def _tool_score(name: str, result: Any, *, with_feedback: bool) -> Any:
    """A tool's answer as DSPy's metric value. ``{score, feedback}`` becomes a Prediction only
    for GEPA's per-predictor calls (``pred_name`` given), the one place feedback is read; every
    other caller adds or tests plain numbers."""
    if isinstance(result, bool):
        return result
    if isinstance(result, (int, float)):
        return float(result)
    if isinstance(result, dict) and isinstance(result.get("score"), (int, float, bool)):
        feedback = result.get("feedback")
        if feedback is None or not with_feedback:
            return float(result["score"])
        return dspy.Prediction(score=float(result["score"]), feedback=str(feedback))
    raise InvalidArgumentError(
        f"metric tool {name!r} returned {type(result).__name__}; it must return a number, a boolean or {{score, feedback}}",
        parameter="metric",
    )


def resolve_metric(
    spec: Any, *, session_id: str, loop: asyncio.AbstractEventLoop, stop: StopFlag
) -> tuple[Callable[..., Any], str]:
    """The wire form from the host -> (callable, description). ``spec``: a built-in name, a
    dotted path, ``{"python": path}`` or ``{"tool": name}``."""
    if isinstance(spec, dict):
        if set(spec) == {"tool"} and isinstance(spec["tool"], str) and spec["tool"]:
            return _ToolMetric(spec["tool"], session_id, loop, stop), f"tool {spec['tool']}"
        if set(spec) == {"python"} and isinstance(spec["python"], str) and spec["python"]:
            spec = spec["python"]
        else:
            raise InvalidArgumentError(
                "metric must be a name, a dotted path, {python: path} or {tool: name}", parameter="metric"
            )
    if not isinstance(spec, str) or not spec:
        raise InvalidArgumentError(
            "metric must be a name, a dotted path, {python: path} or {tool: name}", parameter="metric"
        )
    fn = BUILTIN_METRICS.get(spec) or _import_function(spec)
    _arity(fn)
    return fn, spec


class JobMetric:
    """DSPy's metric for the job: counts, checks the stop flag, stops the job on an error."""

    def __init__(
        self, fn: Callable[..., Any], description: str, stop: StopFlag, on_score: Callable[[float], None]
    ) -> None:
        self._fn = fn
        self._arity = 5 if isinstance(fn, _ToolMetric) else _arity(fn)
        self.description = description
        self._stop = stop
        self._on_score = on_score
        self.__name__ = description.replace(" ", "_").replace(".", "_").replace(":", "_")

    def __call__(self, gold: Any, pred: Any, trace: Any = None, pred_name: Any = None, pred_trace: Any = None) -> Any:
        self._stop.check()
        args = (gold, pred, trace, pred_name, pred_trace)[: self._arity]
        try:
            result = self._fn(*args)
        except Exception as exc:  # reported as the job's error
            failure = MetricFailed(exc, f"metric {self.description!r} raised {type(exc).__name__}: {exc}")
            self._stop.failure = failure
            raise failure from exc
        score = getattr(result, "score", result)
        try:
            self._on_score(float(score))
        except (TypeError, ValueError):
            failure = MetricFailed(
                InvalidArgumentError(
                    f"metric {self.description!r} returned {type(result).__name__}, not a number or boolean",
                    parameter="metric",
                ),
                "bad metric result",
            )
            self._stop.failure = failure
            raise failure from None
        return result


def metric_error(failure: MetricFailed) -> BridgeError:
    """The error the host sees for a failing metric: the tool's own typed error, or the
    Python exception (its type and traceback kept), with the metric named in the message."""
    err = as_bridge_error(failure.original)
    err.message = failure.where
    err.args = (failure.where,)
    err.details = {**err.details, "metric_failed": True}
    return err
