"""The built-in gradient optimizer on its own (ask/tell without a host): SPSA and finite
differences climb a black-box objective from where they start, in any scale."""

from __future__ import annotations

import math

import pytest

from dspy_bridge.config import compile_space
from dspy_bridge.errors import InvalidArgumentError
from dspy_bridge.optimize import GradientOptimizer


def _run(opt: GradientOptimizer, f, n: int) -> dict:
    best = None
    for _ in range(n):
        values = opt.ask()
        score = f(values)
        opt.tell(values, score)
        if best is None or (score > best[0] if opt.direction == "maximize" else score < best[0]):
            best = (score, values)
    return best[1]


@pytest.mark.parametrize("method", ["spsa", "finite_difference"])
def test_climbs_one_float_from_its_start(method: str) -> None:
    space = compile_space({"variables": [{"name": "t", "type": "float", "min": 0, "max": 2}]})
    opt = GradientOptimizer(space, method=method, initial=0.2, seed=3)
    first = opt.ask()
    opt.tell(first, 0.0)
    second = opt.ask()
    assert (first["t"] + second["t"]) / 2 == pytest.approx(0.2)  # central around the start
    opt = GradientOptimizer(space, method=method, initial=0.2, seed=3)
    best = _run(opt, lambda v: -((v["t"] - 1.3) ** 2), 80)
    assert abs(best["t"] - 1.3) < 0.1


def test_objective_scale_does_not_matter_and_minimize_descends() -> None:
    space = compile_space({"variables": [{"name": "t", "type": "float", "min": 0, "max": 2}]})
    small = _run(GradientOptimizer(space, initial=0.2), lambda v: -1e-6 * (v["t"] - 1.3) ** 2, 80)
    large = _run(GradientOptimizer(space, initial=0.2), lambda v: -1e6 * (v["t"] - 1.3) ** 2, 80)
    assert small == large
    low = _run(GradientOptimizer(space, direction="minimize", initial=0.2), lambda v: (v["t"] - 1.3) ** 2, 80)
    assert abs(low["t"] - 1.3) < 0.1


def test_several_variables_integers_log_scale_and_fixed_choices() -> None:
    space = compile_space(
        {
            "variables": [
                {"name": "a", "type": "float", "min": 0, "max": 1},
                {"name": "n", "type": "integer", "min": 1, "max": 50},
                {"name": "lr", "type": "float", "min": 1e-5, "max": 1e-1, "log": True},
                {"name": "m", "type": "choice", "values": ["x", "y"]},
            ]
        }
    )
    opt = GradientOptimizer(space, direction="minimize", initial={"a": 0.9, "n": 40, "lr": 1e-2, "m": "y"})

    def loss(v: dict) -> float:
        return (v["a"] - 0.25) ** 2 + ((v["n"] - 10) / 50) ** 2 + (math.log10(v["lr"]) + 4) ** 2 / 16

    best = _run(opt, loss, 300)
    assert isinstance(best["n"], int) and best["m"] == "y"
    assert loss(best) < loss({"a": 0.9, "n": 40, "lr": 1e-2}) / 10


def test_replay_rebuilds_the_same_state() -> None:
    space = compile_space({"variables": [{"name": "t", "type": "float", "min": 0, "max": 2}]})
    f = lambda v: -((v["t"] - 1.3) ** 2)  # noqa: E731
    a = GradientOptimizer(space, initial=0.5, seed=9)
    told = []
    for _ in range(11):
        v = a.ask()
        a.tell(v, f(v))
        told.append((v, f(v)))
    b = GradientOptimizer(space, initial=0.5, seed=9)
    b.replay(told)
    assert a.ask() == b.ask()


def test_options_are_checked() -> None:
    space = compile_space({"variables": [{"name": "t", "type": "float", "min": 0, "max": 2}]})
    with pytest.raises(InvalidArgumentError, match="method"):
        GradientOptimizer(space, method="newton")
    with pytest.raises(InvalidArgumentError, match="learning_rate"):
        GradientOptimizer(space, learning_rate=0)
    with pytest.raises(InvalidArgumentError, match="needs a float or integer"):
        GradientOptimizer(compile_space({"variables": [{"name": "c", "type": "choice", "values": ["a", "b"]}]}))
    infeasible = GradientOptimizer(space, initial=1.0)
    v = infeasible.ask()
    infeasible.tell(v, None)  # a rejected side: the step is skipped
    infeasible.tell(infeasible.ask(), 1.0)
    assert infeasible.position == {"t": 1.0}
