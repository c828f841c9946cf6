"""The bayesian optimizer (real Optuna TPE in the host's worker) and user optimizers registered
with register_python_optimizer, through DSPex's calls against a real host."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from opt_optimizers import FailsOnSecondAsk, NeedsAnOption, TernarySearch

from dspy_bridge.errors import AlreadyExistsError, BridgeError, InvalidArgumentError
from dspy_bridge.optimize import BaseOptimizer
from dspy_bridge.session import SessionContext


async def until(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Waits for ``predicate`` to hold (checked every 10 ms); fails naming ``what`` after ``timeout`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


async def _finished(session: SessionContext, variable: str) -> dict[str, Any]:
    while (status := await session.get_optimization_status(variable))["is_optimizing"]:
        await asyncio.sleep(0.02)
    return status


async def test_bayesian_with_the_seeds_options_finds_the_optimum_and_reports_progress(session: SessionContext) -> None:
    await session.register_variable("temperature", "float", 0.2, constraints={"min": 0.0, "max": 2.0})
    progress: list[tuple[int, float, dict]] = []
    opt_id = await session.start_optimization(
        "temperature",
        "bayesian",
        optimizer_config={
            "objective": "peak_at_1_1",
            "acquisition_function": "ei",
            "n_initial_points": 5,
            "seed": 3,
            "patience": 30,
        },
        max_iterations=30,
        callback=lambda i, v, m: progress.append((i, v, m)),
    )
    with pytest.raises(ValueError, match="already being optimized"):
        await session.start_optimization("temperature", "tpe", optimizer_config={"objective": "peak_at_1_1"})
    status = await _finished(session, "temperature")
    assert status["state"] == "exhausted", status["error"]
    assert status["optimization_id"] == opt_id and status["optimizer"] == "bayesian" and status["resumed"] == 0
    assert abs(status["best_value"] - 1.1) < 0.02
    assert await session.get_variable("temperature", bypass_cache=True) == status["best_value"]
    await until(lambda: len(progress) >= 30, "the callback poller to deliver all 30 iterations")
    assert [p[0] for p in progress] == list(range(1, 31))
    assert all(0.0 <= p[1] <= 2.0 for p in progress)


async def test_bayesian_is_reproducible_with_a_seed(session: SessionContext) -> None:
    await session.register_variable("temperature", "float", 0.2, constraints={"min": 0.0, "max": 2.0})
    runs = []
    for seed in (21, 21, 22):
        opt_id = await session.start_optimization(
            "temperature",
            "bayesian",
            optimizer_config={"objective": "peak_at_1_1", "seed": seed, "n_startup_trials": 4, "patience": 15},
            max_iterations=15,
        )
        await _finished(session, "temperature")
        runs.append([h["value"] for h in await session.get_optimization_history("temperature", optimizer_id=opt_id)])
    assert len(runs[0]) == 15
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


async def test_a_registered_python_optimizer_runs_with_its_options(session: SessionContext) -> None:
    await session.register_variable("temperature", "float", 0.2, constraints={"min": 0.0, "max": 2.0})
    await session.register_python_optimizer("ternary", TernarySearch)
    await session.register_python_optimizer("ternary", TernarySearch)  # the same class again: fine
    await session.start_optimization(
        "temperature", "ternary", optimizer_config={"objective": "peak_at_1_1", "patience": 40}, max_iterations=40
    )
    status = await _finished(session, "temperature")
    assert status["state"] == "exhausted", status["error"]
    assert abs(status["best_value"] - 1.1) < 1e-3, "20 rounds of ternary search narrow [0, 2] to about 6e-4"
    history = await session.get_optimization_history("temperature")
    # the first round probes the thirds of [0, 2]
    assert [round(h["value"], 9) for h in history[:2]] == [round(2 / 3, 9), round(4 / 3, 9)]
    # registered by import path, so the name works from a string too
    await session.register_python_optimizer("ternary_by_path", "opt_optimizers:TernarySearch")


async def test_a_failing_user_optimizer_ends_the_run_failed_with_the_typed_error(session: SessionContext) -> None:
    await session.register_variable("temperature", "float", 0.7, constraints={"min": 0.0, "max": 2.0})
    await session.register_python_optimizer("fails_on_second_ask", FailsOnSecondAsk)
    await session.start_optimization(
        "temperature", "fails_on_second_ask", optimizer_config={"objective": "peak_at_1_1"}, max_iterations=10
    )
    status = await _finished(session, "temperature")
    assert status["state"] == "failed"
    assert "divided by zero" in status["error"]
    exc = status["exception"]
    assert isinstance(exc, BridgeError) and exc.python_type == "ZeroDivisionError"
    assert any(frame.filename.endswith("opt_optimizers.py") for frame in exc.python_traceback)
    assert status["iteration"] == 1
    assert await session.get_variable("temperature", bypass_cache=True) == 0.3, "the one candidate scored is the best"

    # a constructor that raises fails start_optimization itself
    await session.register_python_optimizer("needs_an_option", NeedsAnOption)
    with pytest.raises(BridgeError, match="required_option"):
        await session.start_optimization(
            "temperature", "needs_an_option", optimizer_config={"objective": "peak_at_1_1"}
        )
    assert (await session.get_optimization_status("temperature"))["state"] == "failed"
    await session.start_optimization(
        "temperature",
        "needs_an_option",
        optimizer_config={"objective": "peak_at_1_1", "required_option": 1},
        max_iterations=2,
    )
    assert (await _finished(session, "temperature"))["state"] == "exhausted"


class _LocalOptimizer(BaseOptimizer):
    def ask(self) -> dict[str, Any]:
        return {}

    def tell(self, values: dict[str, Any], score: float | None) -> None:
        pass


async def test_registration_and_start_errors_are_clear(session: SessionContext) -> None:
    await session.register_variable("temperature", "float", 0.7, constraints={"min": 0.0, "max": 2.0})
    with pytest.raises(ValueError, match="unknown optimizer 'custom_bayesian'"):
        await session.start_optimization(
            "temperature", "custom_bayesian", optimizer_config={"objective": "peak_at_1_1"}
        )
    with pytest.raises(InvalidArgumentError, match="method must be one of"):
        await session.start_optimization(
            "temperature", "gradient", optimizer_config={"objective": "peak_at_1_1", "method": "newton"}
        )
    with pytest.raises(InvalidArgumentError, match="no option 'n_trees'"):
        await session.start_optimization(
            "temperature", "bayesian", optimizer_config={"objective": "peak_at_1_1", "n_trees": 3}
        )
    with pytest.raises(InvalidArgumentError, match="no ask\\(\\) or tell\\(\\)"):
        await session.register_python_optimizer("x", object)

    class Local(_LocalOptimizer):
        pass

    with pytest.raises(InvalidArgumentError, match="function body"):
        await session.register_python_optimizer("x", Local)
    with pytest.raises(InvalidArgumentError, match="cannot import"):
        await session.register_python_optimizer("x", "no_such_module:Optimizer")
    with pytest.raises(InvalidArgumentError, match="built-in"):
        await session.register_python_optimizer("bayesian", TernarySearch)
    await session.register_python_optimizer("taken_name", TernarySearch)
    with pytest.raises(AlreadyExistsError):
        await session.register_python_optimizer("taken_name", FailsOnSecondAsk)
    assert (await session.get_optimization_status("temperature"))["state"] == "failed", (
        "the run with a bad option failed before its first candidate"
    )
    assert await session.get_variable("temperature", bypass_cache=True) == 0.7
