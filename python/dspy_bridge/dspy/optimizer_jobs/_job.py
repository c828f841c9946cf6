"""One optimizer job: checked and built on the event loop (bad input fails before anything
runs), compiled on a thread of its own (DSPy's optimizers are synchronous), reporting through
a callback the event loop drains.

The compile works on a copy of the session program, so a cancelled or failed job leaves the
program exactly as it was; only a finished job hands back its result for the caller to install.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dspy

from ...errors import BridgeError, InvalidArgumentError
from .._lm_specs import lm_from_spec
from .._serialize import plain
from ._cancel import JobCancelled, MetricFailed, StopFlag
from ._embedder import hashing_embedder
from ._metrics import JobMetric, metric_error, resolve_metric
from ._optimizers import OptimizerSpec, expected_calls, optimizer_spec, split_params
from ._progress import JobProgress, job_callback, optimizer_log_handler
from ._metrics import _import_function

__all__ = ["JobPlan", "examples_from", "plan_job", "run_job", "knn_restore"]

_job_ids = itertools.count(1)
_active_jobs: set[int] = set()
_active_lock = threading.Lock()

# Attributes optimizers hang on their result that hold whole candidate programs: dropped, the
# scores kept in the job's result.
_HEAVY_ATTRIBUTES = ("candidate_programs", "mb_candidate_programs", "trial_logs", "detailed_results")


@dataclass
class JobPlan:
    job_id: str
    spec: OptimizerSpec
    optimizer: Any
    compile_kwargs: dict[str, Any]
    student: Any
    trainset: list[Any]
    valset: list[Any] | None
    lm: Any
    metric: JobMetric | None
    stop: StopFlag
    expected: int | None
    recipe: dict[str, Any] = field(default_factory=dict)


def examples_from(rows: Any, input_keys: list[str], what: str) -> list[Any]:
    """Plain dicts from the host -> ``dspy.Example``s with their inputs marked."""
    if not isinstance(rows, list) or not rows:
        raise InvalidArgumentError(f"{what} must be a non-empty list of examples (objects)", parameter=what)
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise InvalidArgumentError(
                f"{what}[{i}] must be an object of field values, got {type(row).__name__}", parameter=f"{what}[{i}]"
            )
        missing = [k for k in input_keys if k not in row]
        if missing:
            raise InvalidArgumentError(
                f"{what}[{i}] lacks the input field(s) {', '.join(missing)}", parameter=f"{what}[{i}]"
            )
        out.append(dspy.Example(**row).with_inputs(*input_keys))
    return out


def _input_keys(signature: str, given: Any) -> list[str]:
    if given is not None:
        if not isinstance(given, list) or not given or not all(isinstance(k, str) and k for k in given):
            raise InvalidArgumentError("input_keys must be a non-empty list of field names", parameter="input_keys")
        return list(given)
    return list(dspy.Signature(signature).input_fields)


def _embedder(choice: Any) -> Any:
    if choice in (None, "hashing"):
        return dspy.Embedder(hashing_embedder, caching=False)
    if isinstance(choice, str):
        return dspy.Embedder(_import_function(choice, what="embedder", parameter="params.embedder"), caching=False)
    raise InvalidArgumentError(
        "params.embedder must be 'hashing' or 'package.module:function'", parameter="params.embedder"
    )


def plan_job(
    *,
    program: Any,
    signature: str,
    optimizer: Any,
    trainset: Any,
    metric: Any,
    input_keys: Any,
    valset: Any,
    params: Any,
    lm: Any,
    prompt_lm: Any,
    reflection_lm: Any,
    session_id: str,
    loop: asyncio.AbstractEventLoop,
    on_score: Callable[[float], None],
) -> JobPlan:
    """Checks every input and builds the optimizer; raises typed errors, runs nothing."""
    spec = optimizer_spec(optimizer)
    if params is not None and not isinstance(params, dict):
        raise InvalidArgumentError("params must be an object of optimizer parameters", parameter="params")
    init, comp = split_params(spec, dict(params or {}))
    keys = _input_keys(signature, input_keys)
    train = examples_from(trainset, keys, "trainset")
    val = examples_from(valset, keys, "valset") if valset is not None else None
    stop = StopFlag()
    job_metric: JobMetric | None = None
    if metric is None:
        if spec.metric == "required":
            raise InvalidArgumentError(
                f"{spec.name} needs a metric (a built-in name, 'package.module:function' or {{tool: name}})",
                parameter="metric",
            )
    elif spec.metric == "none":
        raise InvalidArgumentError(f"{spec.name} takes no metric", parameter="metric")
    else:
        fn, description = resolve_metric(metric, session_id=session_id, loop=loop, stop=stop)
        job_metric = JobMetric(fn, description, stop, on_score)
    task_lm = lm_from_spec(lm) if lm is not None else dspy.settings.lm
    if task_lm is None:
        raise InvalidArgumentError("no LM for the job: pass lm (a configured LM name or a spec)", parameter="lm")
    prompt = lm_from_spec(prompt_lm) if prompt_lm is not None else None
    reflection = lm_from_spec(reflection_lm) if reflection_lm is not None else None
    student = program.deepcopy()
    recipe: dict[str, Any] = {}
    kwargs = dict(init)
    if spec.name == "LabeledFewShot":
        pass
    elif spec.name == "KNNFewShot":
        embedder_choice = kwargs.pop("embedder", None)
        kwargs.setdefault("k", 3)
        if job_metric is not None:
            kwargs["metric"] = job_metric
        kwargs["trainset"] = train
        kwargs["vectorizer"] = _embedder(embedder_choice)
        recipe = {
            "optimizer": "KNNFewShot",
            "trainset": plain([dict(e.items()) for e in train]),
            "input_keys": keys,
            "params": plain({k: v for k, v in init.items()}),
        }
    else:
        if job_metric is not None:
            kwargs["metric"] = job_metric
    if spec.uses_prompt_lm:
        kwargs["prompt_model"] = prompt or task_lm
    if spec.name == "MIPROv2":
        kwargs["task_model"] = task_lm
    if spec.uses_reflection_lm:
        kwargs["reflection_lm"] = reflection or prompt or task_lm
    try:
        with dspy.context(lm=task_lm):
            built = spec.cls()(**kwargs)
    except (TypeError, ValueError, AssertionError) as exc:
        raise InvalidArgumentError(f"{spec.name} rejected its parameters: {exc}", parameter="params") from None
    compile_kwargs: dict[str, Any] = dict(comp)
    if spec.name != "KNNFewShot":
        compile_kwargs["trainset"] = train
    if val is not None:
        # The optimizers whose compile() takes a valset (it is one of the arguments the job supplies).
        if spec.name not in ("BootstrapFewShotWithRandomSearch", "MIPROv2", "GEPA"):
            raise InvalidArgumentError(f"{spec.name} takes no valset", parameter="valset")
        compile_kwargs["valset"] = val
    n_predictors = max(1, len(student.predictors()))
    expected = expected_calls(spec, built, init, comp, len(train), len(val) if val is not None else None, n_predictors)
    return JobPlan(
        f"job-{next(_job_ids)}",
        spec,
        built,
        compile_kwargs,
        student,
        train,
        val,
        task_lm,
        job_metric,
        stop,
        expected,
        recipe,
    )


def knn_restore(program: Any, recipe: dict[str, Any]) -> Any:
    """Rebuilds a KNNFewShot program from its saved recipe (the trainset and parameters; the
    neighbours are chosen per call, so they are not state DSPy can dump)."""
    params = dict(recipe.get("params") or {})
    keys = list(recipe.get("input_keys") or [])
    train = examples_from(recipe.get("trainset"), keys, "optimization.trainset")
    embedder = _embedder(params.pop("embedder", None))
    params.setdefault("k", 3)
    params.pop("metric", None)
    compiled = dspy.teleprompt.KNNFewShot(trainset=train, vectorizer=embedder, **params).compile(program)
    return compiled


@dataclass
class JobOutcome:
    program: Any = None
    error: BaseException | None = None
    cancelled: bool = False
    summary: dict[str, Any] = field(default_factory=dict)


def _summary(compiled: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    score = getattr(compiled, "score", None)
    if isinstance(score, (int, float)):
        out["score"] = float(score)
    candidates = getattr(compiled, "candidate_programs", None)
    if isinstance(candidates, list):
        scores = [
            c.get("score") for c in candidates if isinstance(c, dict) and isinstance(c.get("score"), (int, float))
        ]
        out["candidate_scores"] = [float(s) for s in scores]
    for attr in _HEAVY_ATTRIBUTES:
        if attr in getattr(compiled, "__dict__", {}):
            delattr(compiled, attr)
    return out


def run_job(plan: JobPlan, progress: JobProgress) -> JobOutcome:
    """The compile, on the calling (job) thread. Never raises: the outcome says what happened."""
    outcome = JobOutcome()
    job_thread = threading.get_ident()
    key = id(plan)
    with _active_lock:
        _active_jobs.add(key)

    def attributable() -> bool:
        with _active_lock:
            return threading.get_ident() == job_thread or len(_active_jobs) == 1

    attach, detach = optimizer_log_handler(progress, attributable)
    attach()
    try:
        callbacks = [*dspy.settings.callbacks, job_callback(progress, plan.stop)]
        with dspy.context(lm=plan.lm, callbacks=callbacks, track_usage=False):
            compiled = plan.optimizer.compile(plan.student, **plan.compile_kwargs)
        plan.stop.check()
        outcome.summary = _summary(compiled)
        outcome.program = compiled
    except MetricFailed as failure:
        outcome.error = metric_error(failure)
    except JobCancelled:
        outcome.cancelled = True
    except BridgeError as exc:
        outcome.error = exc
    except (ValueError, TypeError, AssertionError) as exc:
        if plan.stop.failure is not None:
            outcome.error = metric_error(plan.stop.failure)
        elif plan.stop.is_set:
            outcome.cancelled = True
        else:
            outcome.error = InvalidArgumentError(
                f"{plan.spec.name}.compile failed: {type(exc).__name__}: {exc}", details={"optimizer": plan.spec.name}
            )
            outcome.error.__cause__ = exc
    except BaseException as exc:  # noqa: BLE001 - reported to the host, typed by the boundary
        if plan.stop.failure is not None:
            outcome.error = metric_error(plan.stop.failure)
        elif plan.stop.is_set:
            outcome.cancelled = True
        else:
            outcome.error = exc
    finally:
        detach()
        with _active_lock:
            _active_jobs.discard(key)
    return outcome


def started_event(plan: JobPlan) -> dict[str, Any]:
    return {
        "type": "started",
        "job_id": plan.job_id,
        "optimizer": plan.spec.name,
        "expected": plan.expected,
        "trainset_size": len(plan.trainset),
        "valset_size": len(plan.valset) if plan.valset is not None else None,
        "metric": plan.metric.description if plan.metric is not None else None,
        "started_at": time.time(),
    }
