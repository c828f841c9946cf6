"""The bayesian optimizer and the worker's run table on their own (real Optuna, no host): the
space -> distribution mapping, conditional variables, infeasible candidates, options."""

from __future__ import annotations

import asyncio

import optuna
import pytest

from dspy_bridge.config import compile_space
from dspy_bridge.errors import AlreadyExistsError, InvalidArgumentError, NotFoundError
from dspy_bridge.core import user_code
from dspy_bridge.optimize import TPEOptimizer, class_path_of, load_class
from dspy_bridge.optimize._runs import OpenRuns

SPACE = {
    "variables": [
        {"name": "lr", "type": "float", "min": 1e-5, "max": 1.0, "log": True},
        {"name": "layers", "type": "integer", "min": 1, "max": 6},
        {"name": "model", "type": "choice", "values": ["small", "large"]},
        {"name": "cot", "type": "boolean"},
        {"name": "version", "type": "constant", "value": "v2"},
        {
            "name": "beams",
            "type": "integer",
            "min": 2,
            "max": 8,
            "active_when": {"op": "==", "left": {"var": "model"}, "right": {"const": "large"}},
        },
    ]
}


def test_every_variable_type_maps_to_an_optuna_distribution() -> None:
    opt = TPEOptimizer(compile_space(SPACE), seed=1)
    for _ in range(30):
        values = opt.ask()
        assert 1e-5 <= values["lr"] <= 1.0 and isinstance(values["layers"], int) and 1 <= values["layers"] <= 6
        assert values["model"] in ("small", "large") and isinstance(values["cot"], bool) and values["version"] == "v2"
        assert ("beams" in values) == (values["model"] == "large"), (
            "a conditional variable is suggested only when active"
        )
        opt.tell(values, -values["layers"])
    dists = opt.study.trials[0].distributions
    assert isinstance(dists["lr"], optuna.distributions.FloatDistribution) and dists["lr"].log
    assert isinstance(dists["layers"], optuna.distributions.IntDistribution) and not dists["layers"].log
    assert isinstance(dists["model"], optuna.distributions.CategoricalDistribution)
    assert "version" not in dists


def test_infeasible_candidates_are_pruned_trials_with_a_violated_constraint() -> None:
    space = compile_space(
        {
            "variables": [
                {"name": "x", "type": "float", "min": 0, "max": 1},
                {"name": "y", "type": "float", "min": 0, "max": 1},
            ],
            "constraints": [
                {"op": "<=", "left": {"op": "+", "args": [{"var": "x"}, {"var": "y"}]}, "right": {"const": 1}}
            ],
        }
    )
    opt = TPEOptimizer(space, seed=5, n_startup_trials=5)
    for _ in range(40):
        v = opt.ask()
        opt.tell(v, None if v["x"] + v["y"] > 1 else v["x"] + v["y"])
    pruned = [t for t in opt.study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned and all(t.params["x"] + t.params["y"] > 1 for t in pruned)
    assert all(t.system_attrs["constraints"] == (1.0,) for t in pruned)
    feasible = [t for t in opt.study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert all(t.system_attrs["constraints"] == (0.0,) for t in feasible)
    assert max(t.value for t in feasible) > 0.95, "it closes in on the constrained optimum x + y = 1"


def test_the_same_seed_and_scores_give_the_same_candidates() -> None:
    def run(seed: int) -> list[dict]:
        opt = TPEOptimizer(compile_space(SPACE), seed=seed, n_startup_trials=3)
        out = []
        for _ in range(12):
            v = opt.ask()
            opt.tell(v, v["lr"] * v["layers"])
            out.append(v)
        return out

    assert run(8) == run(8)
    assert run(8) != run(9)


def test_replay_rebuilds_the_study_from_what_was_told() -> None:
    space = compile_space({**SPACE, "constraints": [{"op": "<=", "left": {"var": "layers"}, "right": {"const": 5}}]})
    first = TPEOptimizer(space, seed=3, n_startup_trials=4)
    told = []
    for _ in range(10):
        v = first.ask()
        score = None if v["layers"] > 5 else v["lr"]
        first.tell(v, score)
        told.append((v, score))
    second = TPEOptimizer(space, seed=3, n_startup_trials=4)
    second.replay(told)
    assert [(t.params, t.value, t.state) for t in second.study.trials] == [
        (t.params, t.value, t.state) for t in first.study.trials
    ]
    assert [t.system_attrs["constraints"] for t in second.study.trials] == [
        t.system_attrs["constraints"] for t in first.study.trials
    ]
    nxt = second.ask()  # the sampler carries on from the replayed trials
    second.tell(nxt, 0.5)
    assert len(second.study.trials) == 11


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"n_trees": 1}, "no option 'n_trees'"),
        ({"acquisition_function": "ucb"}, "must be .ei. or .pi."),
        ({"xi": -0.1}, "xi must be a finite number"),
        ({"n_startup_trials": 0}, "positive integer"),
        ({"n_startup_trials": 2, "n_initial_points": 3}, "not both"),
        ({"multivariate": "yes"}, "must be a boolean"),
    ],
)
def test_bad_options_name_the_option(config: dict, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        TPEOptimizer(compile_space(SPACE), **config)


def test_the_run_table_opens_asks_tells_and_closes_by_run_id() -> None:
    async def scenario() -> None:
        runs = OpenRuns()
        await runs.open("r1", "bayesian", SPACE, "minimize", 3, {"n_startup_trials": 2}, "", "s1")
        with pytest.raises(AlreadyExistsError):
            await runs.open("r1", "bayesian", SPACE, "minimize", 3, {}, "", "s1")
        values = await runs.ask("r1")
        await runs.tell("r1", values, 1.5)
        with pytest.raises(NotFoundError):
            await runs.ask("r2")
        with pytest.raises(InvalidArgumentError, match="direction"):
            await runs.open("r3", "bayesian", SPACE, "sideways", 3, {}, "", "s1")
        user_code.register_user_modules(["opt_optimizers"])  # as the bridge's `modules` would
        await runs.open("r4", "custom", SPACE, "maximize", 3, {}, "opt_optimizers:TernarySearch", "s2")
        assert runs.close_session("s2") == ["r4"]
        assert await runs.close("r1") is True and await runs.close("r1") is False
        assert len(runs) == 0

    asyncio.run(scenario())


def test_classes_travel_by_import_path() -> None:
    assert class_path_of(TPEOptimizer) == "dspy_bridge.optimize._tpe:TPEOptimizer"
    assert load_class("dspy_bridge.optimize._tpe:TPEOptimizer") is TPEOptimizer
    with pytest.raises(InvalidArgumentError, match="package.module:ClassName"):
        class_path_of("no_colon")


def test_the_seeds_gp_options_map_onto_tpe() -> None:
    """acquisition_function 'ei'/'pi' are what TPE maximizes; xi widens the good quantile."""
    space = compile_space({"variables": [{"name": "t", "type": "float", "min": 0, "max": 2}]})
    plain = TPEOptimizer(space, acquisition_function="EI", n_initial_points=5)
    wide = TPEOptimizer(space, acquisition_function="pi", xi=0.2)
    assert plain.study.sampler._n_startup_trials == 5
    assert [plain.study.sampler._gamma(n) for n in (10, 100, 1000)] == [1, 10, 25]
    assert [wide.study.sampler._gamma(n) for n in (10, 100, 1000)] == [3, 25, 25]
