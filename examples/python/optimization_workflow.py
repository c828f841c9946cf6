"""Seed usage example "Complete Optimization Workflow", as written, plus the seed's other
optimization snippets: "Handle optimization failures" (safe_optimization), the Migration
Guide's start_optimization with a lambda callback, and the gradient optimizer with a progress
callback.

The one line the seed does not have: the objective. The seed's start_optimization calls name
none, so the session gets a default one (`set_default_objective`): a Python @tool of the
workers, here `validation_accuracy` of examples/python/_objectives.py (start the host with
`--modules _objectives --python-path examples/python`).
"""

import asyncio
import json
import logging
import os
import tempfile

import grpc

from _common import session_name
from dspy_bridge import SessionContext

logger = logging.getLogger("example")


async def optimization_workflow(address: str, session_id: str) -> None:
    # Initialize session (the seed's form: a channel; the token comes from DSPY_BRIDGE_TOKEN)
    channel = grpc.aio.insecure_channel(address)
    session = SessionContext(session_id, channel)
    await session.initialize()
    session.set_default_objective("validation_accuracy")  # not in the seed: what to optimize for

    # Register variables with dependencies
    temp_id = await session.register_variable("base_temperature", "float", 0.7, constraints={"min": 0.0, "max": 2.0})
    style_id = await session.register_variable("style_modifier", "float", 1.0, constraints={"min": 0.5, "max": 1.5})

    # Derived variable with dependencies
    effective_id = await session.register_variable(
        "effective_temperature", "float", 0.7, dependencies=[temp_id, style_id]
    )
    assert [d["name"] for d in await session.get_dependencies(effective_id)] == ["base_temperature", "style_modifier"]

    # Start optimization with callback
    progress = []

    def on_progress(iteration, value, metrics):
        progress.append(iteration)
        print(f"Iteration {iteration}: temp={value:.3f}, accuracy={metrics.get('accuracy', 0):.3f}")

    opt_id = await session.start_optimization(
        "base_temperature",
        "bayesian",
        optimizer_config={"acquisition_function": "ei", "xi": 0.01},
        max_iterations=25,  # the seed's default is 100; 25 keeps the example quick
        callback=on_progress,
    )
    assert opt_id.startswith("opt_")

    # Monitor optimization
    while True:
        status = await session.get_optimization_status("base_temperature")
        if not status["is_optimizing"]:
            break
        await asyncio.sleep(0.1)  # the seed sleeps 1 s

    print(f"Optimization complete! Best value: {status['best_value']}")
    assert abs(status["best_value"] - 0.9) < 0.3, status

    # Export results
    export_data = await session.export_variables(include_history=True, filter_pattern=r".*temperature.*")
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "optimization_results.json"), "wb") as f:
            f.write(export_data)
    exported = json.loads(export_data)
    assert sorted(v["name"] for v in exported["variables"]) == ["base_temperature", "effective_temperature"]

    stats = await session.get_variable_stats("base_temperature")
    print(f"optimizing base_temperature took {stats['total_optimization_time_s']:.2f} s")
    assert stats["total_optimization_time_s"] > 0
    await session.close()
    await channel.close()


async def safe_optimization(session: SessionContext) -> str:
    """The seed's "Handle optimization failures"."""
    try:
        opt_id = await session.start_optimization("hyperparameter", "bayesian")
    except ValueError as e:
        if "already being optimized" in str(e):
            # Wait for current optimization to complete
            status = await session.get_optimization_status("hyperparameter")
            logger.info(f"Waiting for optimization {status['optimization_id']}")
            print("already being optimized: waiting for", status["optimization_id"])

            while status["is_optimizing"]:
                await asyncio.sleep(0.1)
                status = await session.get_optimization_status("hyperparameter")

            # Retry
            opt_id = await session.start_optimization("hyperparameter", "bayesian")
        else:
            raise
    return opt_id


async def main() -> None:
    address = os.environ["DSPY_BRIDGE_ADDRESS"]
    await optimization_workflow(address, session_name("optimization"))

    async with await SessionContext.connect(session_id=session_name("optimization_more")) as session:
        session.set_default_objective("slow_validation_accuracy", seed=7)
        await session.register_variable("hyperparameter", "float", 0.9, constraints={"min": 0.0, "max": 1.0})
        first = await session.start_optimization("hyperparameter", "bayesian", max_iterations=15)
        second = await safe_optimization(session)  # the first run is still going: waits, then retries
        assert second != first
        while (await session.get_optimization_status("hyperparameter"))["is_optimizing"]:
            await asyncio.sleep(0.05)

        # The Migration Guide's call, and the seed's gradient example
        session.set_default_objective("validation_accuracy")
        await session.register_variable("temperature", "float", 0.7, constraints={"min": 0.0, "max": 2.0})
        await session.start_optimization(
            "temperature", "bayesian", max_iterations=10, callback=lambda i, v, m: print(f"Iteration {i}: {v}")
        )
        while (await session.get_optimization_status("temperature"))["is_optimizing"]:
            await asyncio.sleep(0.05)

        await session.register_variable("learning_rate", "float", 0.05, constraints={"min": 0.0001, "max": 0.1})

        def on_progress(iteration, value, metrics):
            print(f"Iteration {iteration}: {value} -> {metrics}")

        await session.start_optimization("learning_rate", "gradient", max_iterations=30, callback=on_progress)
        while (status := await session.get_optimization_status("learning_rate"))["is_optimizing"]:
            await asyncio.sleep(0.05)
        print("gradient: best learning_rate", status["best_value"])
        assert abs(status["best_value"] - 0.01) < 0.02, status
        history = await session.get_optimization_history("learning_rate", limit=50)
        iterations = [h["iteration"] for h in history]
        values = [h["value"] for h in history]
        metrics = [h["metrics"]["accuracy"] for h in history]
        assert len(iterations) == len(values) == len(metrics) == status["iteration"]
    print("OK")


asyncio.run(main())
