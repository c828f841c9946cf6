"""DSPex's optimization calls against a real host: random and grid search with a Python
objective tool, progress callbacks, status, history, stop, and DSPex's errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from dspy_bridge.errors import InvalidArgumentError
from dspy_bridge.session import SessionContext


async def until(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Waits for ``predicate`` to hold (checked every 10 ms); fails naming ``what`` after ``timeout`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


async def test_random_search_finds_the_optimum_with_progress_callbacks(session: SessionContext) -> None:
    await session.register_variable("temperature", "float", 0.2, constraints={"min": 0.0, "max": 2.0})
    progress: list[tuple[int, float, dict]] = []
    opt_id = await session.start_optimization(
        "temperature",
        "random",
        optimizer_config={"objective": "peak_at_1_1", "seed": 5, "patience": 60},
        max_iterations=60,
        callback=lambda i, v, m: progress.append((i, v, m)),
    )
    with pytest.raises(ValueError, match="already being optimized"):
        await session.start_optimization("temperature", "random", optimizer_config={"objective": "peak_at_1_1"})
    while (status := await session.get_optimization_status("temperature"))["is_optimizing"]:
        await asyncio.sleep(0.05)
    assert status["optimization_id"] == opt_id
    assert abs(status["best_value"] - 1.1) < 0.1
    assert "accuracy" in status["best_metrics"]
    assert await session.get_variable("temperature", bypass_cache=True) == status["best_value"]
    history = await session.get_optimization_history("temperature", limit=100)
    assert len(history) == 60 and history[0]["iteration"] == 1
    await until(lambda: len(progress) >= 60, "the callback poller to deliver all 60 iterations")
    assert [p[0] for p in progress] == list(range(1, 61))


async def test_grid_search_stop_and_errors(session: SessionContext) -> None:
    await session.register_variable("temperature", "float", 0.2, constraints={"min": 0.0, "max": 2.0})
    await session.start_optimization(
        "temperature", "grid", optimizer_config={"objective": "peak_at_1_1", "grid_points": 21}, max_iterations=100
    )
    while (status := await session.get_optimization_status("temperature"))["is_optimizing"]:
        await asyncio.sleep(0.05)
    assert status["state"] == "exhausted"
    assert abs(status["best_value"] - 1.1) < 1e-9
    with pytest.raises(ValueError):
        await session.stop_optimization("temperature")  # not currently optimizing
    with pytest.raises(ValueError, match="xi must be a finite number"):
        await session.start_optimization(
            "temperature", "bayesian", optimizer_config={"objective": "peak_at_1_1", "xi": -1}
        )
    with pytest.raises(ValueError):
        await session.start_optimization("temperature", "random")  # no objective
    with pytest.raises(
        KeyError, match="objective 'no_such_objective' is neither"
    ):  # NotFoundError, before anything is applied
        await session.start_optimization("temperature", "random", optimizer_config={"objective": "no_such_objective"})
    assert await session.get_variable("temperature", bypass_cache=True) == status["best_value"]


async def test_closing_the_context_ends_its_progress_callbacks(
    address_and_token: tuple[str, str], session_id: str
) -> None:
    address, token = address_and_token
    ctx = await SessionContext.connect(address, session_id, token=token)
    await ctx.register_variable("temperature", "float", 0.2, constraints={"min": 0.0, "max": 2.0})
    calls: list[int] = []
    await ctx.start_optimization(
        "temperature",
        "random",
        optimizer_config={"objective": "slow_peak_at_1_1", "patience": 1000},
        max_iterations=1000,
        callback=lambda i, v, m: calls.append(i),
    )
    while not calls:
        await asyncio.sleep(0.01)
    pollers = [t for t in asyncio.all_tasks() if "_follow_optimization" in t.get_coro().__qualname__]
    assert len(pollers) == 1
    await ctx.close()
    assert pollers[0].cancelled(), "close() ends the callback poller (it would poll a closed channel)"
    seen = len(calls)
    await asyncio.sleep(0.3)
    assert len(calls) == seen, "no callback after close()"
    async with await SessionContext.connect(address, session_id, token=token) as other:
        await other.stop_optimization("temperature")  # the run itself belongs to the host
        assert (await other.get_optimization_status("temperature"))["state"] == "stopped"


async def _finished(session: SessionContext, variable: str) -> dict:
    while (status := await session.get_optimization_status(variable))["is_optimizing"]:
        await asyncio.sleep(0.02)
    return status


async def test_run_options_are_checked_and_a_zero_threshold_is_kept(session: SessionContext) -> None:
    await session.register_variable("temperature", "float", 0.0, constraints={"min": 0.0, "max": 2.0})
    grid = {"objective": "tiny_slope", "grid_points": 21, "patience": 3}
    for bad in (0, -1, 2.5, True):
        with pytest.raises(InvalidArgumentError, match="max_iterations must be a positive integer"):
            await session.start_optimization("temperature", "grid", optimizer_config=grid, max_iterations=bad)
    for bad in (-0.1, float("nan"), "0.1"):
        with pytest.raises(InvalidArgumentError, match="convergence_threshold must be a finite number"):
            await session.start_optimization("temperature", "grid", optimizer_config=grid, convergence_threshold=bad)
    with pytest.raises(InvalidArgumentError, match="patience must be a positive integer"):
        await session.start_optimization("temperature", "grid", optimizer_config={**grid, "patience": 0})
    with pytest.raises(InvalidArgumentError, match="gridPoints must be a positive integer"):
        await session.start_optimization("temperature", "grid", optimizer_config={**grid, "grid_points": "many"})
    assert (await session.get_optimization_status("temperature"))["state"] == "idle", "nothing was started"

    # steps of 1e-5 are no improvement for the default threshold (0.001): converged after `patience`
    await session.start_optimization("temperature", "grid", optimizer_config=grid)
    status = await _finished(session, "temperature")
    assert (status["state"], status["iteration"]) == ("converged", 4)
    for bad in (0, -3, 1.5):
        with pytest.raises(InvalidArgumentError, match="limit must be a positive integer"):
            await session.get_optimization_history("temperature", limit=bad)
    assert len(await session.get_optimization_history("temperature", limit=1)) == 1
    # ... and every one is for a threshold of 0 (which must not become the default on the way)
    await session.start_optimization("temperature", "grid", optimizer_config=grid, convergence_threshold=0)
    status = await _finished(session, "temperature")
    assert (status["state"], status["iteration"]) == ("exhausted", 21)
    assert status["best_value"] == 2.0


async def test_a_raising_callback_is_logged_and_the_later_ones_still_come(
    session: SessionContext, caplog: pytest.LogCaptureFixture
) -> None:
    await session.register_variable("temperature", "float", 0.2, constraints={"min": 0.0, "max": 2.0})
    seen: list[int] = []

    def callback(iteration: int, value: float, metrics: dict) -> None:
        seen.append(iteration)
        if iteration == 2:
            raise RuntimeError("a broken progress display")

    with caplog.at_level("ERROR", logger="dspy_bridge.session._context"):
        await session.start_optimization(
            "temperature",
            "grid",
            optimizer_config={"objective": "peak_at_1_1", "grid_points": 6, "patience": 10},
            callback=callback,
        )
        status = await _finished(session, "temperature")
        for _ in range(100):
            if len(seen) >= status["iteration"]:
                break
            await asyncio.sleep(0.02)
    assert (status["state"], status["iteration"]) == ("exhausted", 6)
    assert seen == [1, 2, 3, 4, 5, 6]
    assert any(
        "progress callback" in r.getMessage() and r.exc_info and "broken progress display" in str(r.exc_info[1])
        for r in caplog.records
    )


async def test_close_ends_the_callback_poller_of_an_earlier_run_too(
    address_and_token: tuple[str, str], session_id: str
) -> None:
    address, token = address_and_token
    ctx = await SessionContext.connect(address, session_id, token=token)
    await ctx.register_variable("temperature", "float", 0.2, constraints={"min": 0.0, "max": 2.0})
    never = asyncio.Event()

    async def stuck(iteration: int, value: float, metrics: dict) -> None:
        await never.wait()  # a callback still busy when the next run starts

    grid = {"objective": "peak_at_1_1", "grid_points": 3}
    await ctx.start_optimization("temperature", "grid", optimizer_config=grid, callback=stuck)
    await _finished(ctx, "temperature")
    await ctx.start_optimization("temperature", "grid", optimizer_config=grid, callback=lambda i, v, m: None)
    pollers = [t for t in asyncio.all_tasks() if "_follow_optimization" in t.get_coro().__qualname__]
    assert pollers
    await ctx.close()
    assert all(p.done() for p in pollers), "close() ended every poller, the earlier run's included"
    assert any(p.cancelled() for p in pollers)


async def test_stop_returns_once_the_stopped_runs_callbacks_are_delivered(session: SessionContext) -> None:
    await session.register_variable("temperature", "float", 0.2, constraints={"min": 0.0, "max": 2.0})
    calls: list[int] = []
    await session.start_optimization(
        "temperature",
        "random",
        optimizer_config={"objective": "slow_peak_at_1_1", "patience": 1000},
        max_iterations=1000,
        callback=lambda i, v, m: calls.append(i),
    )
    while len(calls) < 2:
        await asyncio.sleep(0.01)
    await session.stop_optimization("temperature")
    status = await session.get_optimization_status("temperature")
    assert status["state"] == "stopped"
    assert calls == list(range(1, status["iteration"] + 1)), (
        "every evaluated candidate was called back before stop returned"
    )


async def test_callbacks_of_a_run_are_all_delivered_after_a_newer_run_took_over_the_status(
    session: SessionContext,
) -> None:
    await session.register_variable("temperature", "float", 0.2, constraints={"min": 0.0, "max": 2.0})
    calls: list[int] = []

    async def slow_at_first(iteration: int, value: float, metrics: dict) -> None:
        calls.append(iteration)
        if iteration == 1:
            await asyncio.sleep(1.0)  # the run ends, and the next one starts, meanwhile

    await session.start_optimization(
        "temperature",
        "grid",
        optimizer_config={"objective": "slow_peak_at_1_1", "grid_points": 6, "patience": 10},
        callback=slow_at_first,
    )
    first = await _finished(session, "temperature")
    assert first["iteration"] == 6
    await session.start_optimization(
        "temperature", "grid", optimizer_config={"objective": "peak_at_1_1", "grid_points": 3}, max_iterations=1
    )
    assert (await _finished(session, "temperature"))["iteration"] == 1
    for _ in range(150):
        if len(calls) >= 6:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    assert calls == [1, 2, 3, 4, 5, 6], "the first run's callbacks, none lost to the second run's status"


async def test_the_seeds_calls_run_as_written_once_a_default_objective_is_set(session: SessionContext) -> None:
    """start_optimization('x', 'bayesian', optimizer_config={acquisition_function, xi, n_initial_points})
    and start_optimization('x', 'gradient', callback=...) name no objective: the session's default."""
    await session.register_variable("temperature", "float", 0.2, constraints={"min": 0.0, "max": 2.0})
    with pytest.raises(ValueError, match=r"set_default_objective\('<tool>'\)"):
        await session.start_optimization("temperature", "bayesian")
    session.set_default_objective("peak_at_1_1")
    assert session.default_objective == "peak_at_1_1"
    await session.start_optimization(
        "temperature",
        "bayesian",
        optimizer_config={"acquisition_function": "ei", "xi": 0.01, "n_initial_points": 5},
        max_iterations=30,
    )
    while (status := await session.get_optimization_status("temperature"))["is_optimizing"]:
        await asyncio.sleep(0.05)
    assert status["state"] in ("exhausted", "converged") and status["exception"] is None
    assert abs(status["best_value"] - 1.1) < 0.2

    progress: list[tuple[int, float, dict]] = []
    await session.set_variable("temperature", 0.2)
    await session.start_optimization(
        "temperature", "gradient", max_iterations=60, callback=lambda i, v, m: progress.append((i, v, m))
    )
    while (status := await session.get_optimization_status("temperature"))["is_optimizing"]:
        await asyncio.sleep(0.05)
    assert status["exception"] is None and status["optimizer"] == "gradient"
    assert abs(status["best_value"] - 1.1) < 0.1, status
    # the first step moves from where the variable stood (0.2): its two sides straddle it
    history = await session.get_optimization_history("temperature", optimizer_id=status["optimization_id"])
    assert abs((history[0]["value"] + history[1]["value"]) / 2 - 0.2) < 1e-9
    for _ in range(100):
        if progress and progress[-1][0] == status["iteration"]:
            break
        await asyncio.sleep(0.05)
    assert [p[0] for p in progress] == list(range(1, status["iteration"] + 1))

    stats = await session.get_variable_stats("temperature")
    assert stats["total_optimization_time_s"] > 0 and stats["total_optimization_time_s"] == pytest.approx(
        status["total_time_s"], abs=0.05
    )
    overall = await session.get_variable_stats()
    assert overall["total_optimization_time_s"] >= stats["total_optimization_time_s"]
    session.set_default_objective(None)


async def test_gradient_moves_numeric_variables_of_a_space_and_refuses_spaces_without_one(
    session: SessionContext,
) -> None:
    await session.register_variable("style", "choice", "a", constraints={"choices": ["a", "b"]})
    with pytest.raises(ValueError, match="gradient optimizer needs a float or integer variable"):
        await session.start_optimization("style", "gradient", optimizer_config={"objective": "peak_at_1_1"})


async def test_runs_are_recorded_with_their_trials(session: SessionContext) -> None:
    """The durable run history through the bridge service: the run and each trial's values
    and score, as the host's store keeps them."""
    from dspy_bridge.errors import NotFoundError

    await session.register_variable("temperature", "float", 0.2, constraints={"min": 0.0, "max": 2.0})
    opt_id = await session.start_optimization(
        "temperature",
        "random",
        optimizer_config={"objective": "peak_at_1_1", "seed": 3, "patience": 100},
        max_iterations=5,
    )
    while (await session.get_optimization_status("temperature"))["is_optimizing"]:
        await asyncio.sleep(0.05)
    history = await session.get_optimization_history("temperature", limit=100)
    # The run's last state is recorded just after it ends: wait for it, not for a fixed time.
    for _ in range(200):
        runs = await session.list_runs()
        if runs and runs[0]["state"] != "running":
            break
        await asyncio.sleep(0.02)
    assert [r["id"] for r in runs] == [opt_id]
    run = runs[0]
    assert (run["kind"], run["target"], run["optimizer"], run["iterations"]) == (
        "optimization",
        "temperature",
        "random",
        5,
    )
    assert run["state"] == "exhausted"
    assert run["best_score"] == max(h["score"] for h in history)
    full = await session.get_run(opt_id)
    assert [t["iteration"] for t in full["trials"]] == [1, 2, 3, 4, 5]
    assert [t["score"] for t in full["trials"]] == [h["score"] for h in history]
    assert [t["values"]["temperature"] for t in full["trials"]] == [h["value"] for h in history]
    page = await session.get_run(opt_id, offset=3, limit=1)
    assert [t["iteration"] for t in page["trials"]] == [4]
    with pytest.raises(NotFoundError):
        await session.get_run("opt_nope")
