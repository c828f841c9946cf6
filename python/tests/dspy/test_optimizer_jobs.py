"""The worker side of optimizer jobs without a host: planning checks, the compile on its own
thread with real DSPy optimizers and the scripted LM, stopping mid-run, metric failures,
progress and the local embedder."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

import dspy
import numpy as np
import pytest

from dspy_bridge.core import user_code
from dspy_bridge.dspy.commands import build_module
from dspy_bridge.dspy.optimizer_jobs import (
    BUILTIN_METRICS,
    OPTIMIZERS,
    describe_optimizers,
    exact_match,
    hashing_embedder,
)
from dspy_bridge.dspy.optimizer_jobs._job import plan_job, run_job
from dspy_bridge.dspy.optimizer_jobs._optimizers import optimizer_spec, split_params
from dspy_bridge.dspy.optimizer_jobs._progress import JobProgress
from dspy_bridge.errors import BridgeError, InvalidArgumentError

SUMS = [
    {"question": f"What is {a} + {b}?", "answer": str(a + b)}
    for a, b in [(1, 2), (3, 4), (5, 6), (7, 8), (2, 9), (4, 4)]
]


def broken_metric(example, pred, trace=None):
    raise KeyError("no such label")


async def plan(optimizer: str, *, program=None, progress_events: list | None = None, **kw):
    loop = asyncio.get_running_loop()
    holder: dict = {}
    defaults = dict(
        trainset=SUMS,
        metric=None,
        input_keys=None,
        valset=None,
        params=None,
        lm={"model": "scripted"},
        prompt_lm=None,
        reflection_lm=None,
    )
    defaults.update(kw)
    p = plan_job(
        program=program or build_module("Predict", "question -> answer"),
        signature="question -> answer",
        optimizer=optimizer,
        session_id="",
        loop=loop,
        on_score=lambda s: holder["progress"].metric_called(s),
        **defaults,
    )
    events = progress_events if progress_events is not None else []
    holder["progress"] = JobProgress(p.expected, events.append, 0.0)
    return p, holder["progress"]


def test_the_eight_are_described_with_their_parameters() -> None:
    described = {d["name"]: d for d in describe_optimizers()}
    assert set(described) == set(OPTIMIZERS) and len(OPTIMIZERS) == 8
    assert "max_bootstrapped_demos" in described["BootstrapFewShot"]["constructor_params"]
    assert "metric" not in described["BootstrapFewShot"]["constructor_params"], "the job supplies the metric"
    assert "embedder" in described["KNNFewShot"]["constructor_params"]
    assert "max_labeled_demos" in described["KNNFewShot"]["constructor_params"], "its **kwargs go to BootstrapFewShot"
    assert "log_dir" not in described["GEPA"]["constructor_params"]
    assert described["LabeledFewShot"]["metric"] == "none"


def test_names_and_params_are_checked() -> None:
    assert optimizer_spec("mipro").name == "MIPROv2"
    assert optimizer_spec("dspy.teleprompt.COPRO").name == "COPRO"
    with pytest.raises(InvalidArgumentError, match="unknown optimizer 'Nope'") as err:
        optimizer_spec("Nope")
    assert err.value.details["available"] == list(OPTIMIZERS)
    init, comp = split_params(optimizer_spec("MIPROv2"), {"auto": None, "num_candidates": 3, "num_trials": 4})
    assert init == {"auto": None, "num_candidates": 3} and comp == {"num_trials": 4}
    for bad, pattern in [
        ({"trainset": []}, "supplied by the job"),
        ({"log_dir": "/tmp"}, "not accepted"),
        ({"nope": 1}, "no parameter 'nope'"),
    ]:
        with pytest.raises(InvalidArgumentError, match=pattern):
            split_params(optimizer_spec("GEPA"), bad)


def test_exact_match_compares_every_labelled_field() -> None:
    example = dspy.Example(question="q", answer="The Paris", city="x").with_inputs("question")
    assert exact_match(example, dspy.Prediction(answer="paris!", city="X"))
    assert not exact_match(example, dspy.Prediction(answer="paris"))
    assert set(BUILTIN_METRICS) == {"exact_match", "answer_exact_match", "answer_passage_match"}


def test_the_hashing_embedder_is_deterministic_and_puts_similar_texts_close() -> None:
    a, b, c = hashing_embedder(["What is 2 + 2?", "What is 2 + 3?", "Capital of France"])
    assert np.allclose(hashing_embedder(["What is 2 + 2?"])[0], a)
    assert a.shape == (256,) and abs(float(np.linalg.norm(a)) - 1) < 1e-5
    assert float(a @ b) > float(a @ c)


async def test_a_compile_on_its_thread_reports_progress_and_leaves_the_student_alone() -> None:
    student = build_module("Predict", "question -> answer")
    events: list = []
    p, progress = await plan(
        "BootstrapFewShot",
        program=student,
        progress_events=events,
        metric="exact_match",
        params={"max_bootstrapped_demos": 2, "max_labeled_demos": 0},
    )
    assert p.expected == len(SUMS)
    outcome = await asyncio.to_thread(run_job, p, progress)
    assert outcome.error is None and not outcome.cancelled
    assert len(outcome.program.demos) == 2
    assert student.demos == [], "the session's instance is never compiled in place"
    assert progress.evaluations == 2 and progress.lm_calls == {"scripted": 2}
    assert events and events[-1]["evaluations"] <= 2


async def test_setting_the_stop_flag_stops_the_compile_at_its_next_checkpoint() -> None:
    p, progress = await plan(
        "BootstrapFewShotWithRandomSearch",
        metric="exact_match",
        lm={"model": "scripted", "latency_ms": 20},
        params={"num_candidate_programs": 8, "num_threads": 1},
    )
    threading.Timer(0.15, p.stop.set).start()
    outcome = await asyncio.to_thread(run_job, p, progress)
    assert outcome.cancelled and outcome.program is None
    assert 0 < progress.evaluations < p.expected


async def test_a_raising_metric_fails_the_job_with_its_type_at_the_first_call() -> None:
    with user_modules(__name__):
        p, progress = await plan("BootstrapFewShot", metric=f"{__name__}:broken_metric")
    outcome = await asyncio.to_thread(run_job, p, progress)
    assert isinstance(outcome.error, BridgeError)
    assert outcome.error.python_type == "KeyError"
    assert outcome.error.message.startswith(f"metric '{__name__}:broken_metric' raised KeyError")
    assert progress.evaluations == 0


async def test_planning_refuses_bad_input_before_anything_runs() -> None:
    with pytest.raises(InvalidArgumentError, match="COPRO needs a metric"):
        await plan("COPRO")
    with pytest.raises(InvalidArgumentError, match="takes no metric"):
        await plan("LabeledFewShot", metric="exact_match")
    with pytest.raises(InvalidArgumentError, match=r"trainset\[1\] lacks the input field"):
        await plan("LabeledFewShot", trainset=[SUMS[0], {"answer": "1"}])
    with pytest.raises(InvalidArgumentError, match="takes no valset"):
        await plan("LabeledFewShot", valset=SUMS)
    with pytest.raises(InvalidArgumentError, match="no LM for the job"):
        await plan("BootstrapFewShot", lm=None)
    with pytest.raises(InvalidArgumentError, match="COPRO rejected its parameters: Breadth must be greater than 1"):
        await plan("COPRO", metric="exact_match", params={"breadth": 1})
    # Only the user's code can be named: not the standard library, not this package.
    for foreign in ("os:system", "subprocess:getoutput", "dspy_bridge.errors:error_to_detail"):
        with pytest.raises(InvalidArgumentError, match="is not the user's code"):
            await plan("BootstrapFewShot", metric=foreign)
    with pytest.raises(InvalidArgumentError, match="is not the user's code"):
        await plan("KNNFewShot", params={"k": 1, "embedder": "os:listdir"})
    with user_modules("dspy_bridge"):
        with pytest.raises(InvalidArgumentError, match="has no"):
            await plan("BootstrapFewShot", metric="dspy_bridge.errors:no_such_metric")
        with pytest.raises(
            InvalidArgumentError,
            match=r"metric 'dspy_bridge.dspy.optimizer_jobs._metrics:BUILTIN_METRICS' is a dict, not a function",
        ):
            await plan("BootstrapFewShot", metric="dspy_bridge.dspy.optimizer_jobs._metrics:BUILTIN_METRICS")


@contextlib.contextmanager
def user_modules(*names: str) -> Iterator[None]:
    """As if the bridge had been given these modules (`modules: [...]`)."""
    saved = set(user_code._registered)
    user_code.register_user_modules(list(names))
    try:
        yield
    finally:
        user_code._registered.clear()
        user_code._registered.update(saved)


def test_overlapping_jobs_leave_the_optimizer_log_level_as_they_found_it() -> None:
    import logging

    from dspy_bridge.dspy.optimizer_jobs._progress import JobProgress, optimizer_log_handler

    logger = logging.getLogger("dspy.teleprompt")
    original = logger.level
    logger.setLevel(logging.WARNING)
    try:
        first = optimizer_log_handler(JobProgress(None, lambda _e: None, 1.0), lambda: True)
        second = optimizer_log_handler(JobProgress(None, lambda _e: None, 1.0), lambda: True)
        first[0]()
        second[0]()  # attached while the first job had lowered the level to INFO
        assert logger.level == logging.INFO
        first[1]()
        assert logger.level == logging.INFO, "the second job still reads INFO lines"
        second[1]()
        assert logger.level == logging.WARNING
    finally:
        logger.setLevel(original)
