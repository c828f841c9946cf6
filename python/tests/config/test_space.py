"""Configuration spaces against the shared vectors (testdata/config-spaces.json), plus the
property test (10,000 samples never violate a constraint) and error shapes."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pytest

from dspy_bridge.config import (
    Rng,
    assert_valid,
    compile_space,
    from_configspace,
    sample,
    to_configspace,
    validate,
)
from dspy_bridge.errors import ConstraintViolationError, FailedPreconditionError, InvalidArgumentError

PINNED_U32 = [2471417667, 1835675839, 2555194881, 574308149]
PINNED_FLOAT = 0.11938368372239505

VECTORS = json.loads((Path(__file__).resolve().parents[3] / "testdata" / "config-spaces.json").read_text())
SPACES: dict[str, Any] = VECTORS["spaces"]
TOL = VECTORS["float_tolerance"]["log_scaled_relative"]


def _log_vars(space: dict[str, Any]) -> set[str]:
    return {v["name"] for v in space["variables"] if v.get("log")}


def same_sample(space: dict[str, Any], got: dict[str, Any], want: dict[str, Any]) -> bool:
    if list(got) != list(want):
        return False
    logs = _log_vars(space)
    for k, w in want.items():
        g = got[k]
        if k in logs and isinstance(w, float):
            if not math.isclose(g, w, rel_tol=TOL, abs_tol=0):
                return False
        elif type(g) is not type(w) and not (
            isinstance(g, (int, float)) and isinstance(w, (int, float)) and not isinstance(g, bool)
        ):
            return False
        elif g != w:
            return False
    return True


@pytest.mark.parametrize("case", VECTORS["validate"], ids=lambda c: f"{c['space']}/{c['name']}")
def test_validate_vectors(case: dict[str, Any]) -> None:
    result = validate(SPACES[case["space"]], case["config"])
    assert [[v.kind, v.name, v.path] for v in result.violations] == case["violations"]
    assert result.ok is (not case["violations"])


@pytest.mark.parametrize("case", VECTORS["sampling"], ids=lambda c: f"{c['space']}/{c['seed']}")
def test_sampling_vectors(case: dict[str, Any]) -> None:
    space = SPACES[case["space"]]
    result = sample(space, case["n"], case["seed"])
    assert result.attempts == case["attempts"]
    assert result.accepted == case["n"]
    assert result.acceptance_rate == case["n"] / case["attempts"]
    for got, want in zip(result.samples, case["samples"], strict=True):
        assert same_sample(space, got, want), (got, want)


@pytest.mark.parametrize("case", VECTORS["infeasible"], ids=lambda c: c["name"])
def test_infeasible_vectors(case: dict[str, Any]) -> None:
    with pytest.raises(FailedPreconditionError) as info:
        sample(case["space"], case["n"], 1, max_attempts=case["max_attempts"])
    d = info.value.details
    assert d["attempts"] == case["attempts"]
    assert d["accepted"] == 0 and d["acceptance_rate"] == 0.0 and d["requested"] == case["n"]
    assert "infeasible" in str(info.value)


@pytest.mark.parametrize("case", VECTORS["malformed"], ids=lambda c: c["name"])
def test_malformed_vectors(case: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        compile_space(case["document"])
    assert info.value.parameter == case["path"]
    assert str(info.value).startswith(case["path"] + ": ")


def test_configspace_import_export() -> None:
    cs = VECTORS["configspace"]
    assert from_configspace(cs["import"]) == cs["expect"]
    exported = to_configspace(cs["expect"])
    assert exported["json_format_version"] == 0.4
    assert from_configspace(exported) == cs["expect"]
    for case in cs["unmapped"]:
        with pytest.raises(InvalidArgumentError) as info:
            from_configspace(case["document"])
        assert info.value.parameter == case["path"]


def test_export_refuses_what_does_not_map() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        to_configspace(SPACES["llm"])  # a comparison constraint is no forbidden clause
    assert info.value.parameter == "constraints[0]"


def test_rng_stream_is_fixed() -> None:
    # Pinned outputs: the TypeScript suite pins the same numbers.
    rng = Rng(0)
    assert [rng.next_u32() for _ in range(4)] == PINNED_U32
    assert Rng(2**53 - 1).next_float() == PINNED_FLOAT
    for bad in (-1, 2**53, 1.5, True):
        with pytest.raises(InvalidArgumentError):
            Rng(bad)  # type: ignore[arg-type]


def test_property_ten_thousand_samples_never_violate() -> None:
    space = compile_space(SPACES["twenty"])
    assert len(space.variables) == 20 and len(space.constraints) == 5
    result = sample(space, 10_000, 99)
    assert result.accepted == 10_000
    assert 0 < result.acceptance_rate <= 1
    for s in result.samples:
        assert validate(space, s).ok, s
    # Inactive variables are absent; active ones present.
    assert any("g" in s for s in result.samples) and any("g" not in s for s in result.samples)


def test_infeasible_space_errors_quickly() -> None:
    doc = {
        "variables": [
            {"name": "x", "type": "integer", "min": 0, "max": 9},
            {"name": "y", "type": "integer", "min": 0, "max": 9},
        ],
        "constraints": [
            {
                "name": "odd_sum_even",
                "op": "==",
                "left": {"op": "+", "args": [{"var": "x"}, {"var": "x"}]},
                "right": {"op": "+", "args": [{"op": "*", "args": [{"var": "y"}, {"const": 2}]}, {"const": 1}]},
            }
        ],
    }
    t0 = time.perf_counter()
    with pytest.raises(FailedPreconditionError) as info:
        sample(doc, 100, 5)
    assert time.perf_counter() - t0 < 5
    assert info.value.details["attempts"] == 10_000


def test_determinism_and_seed_sensitivity() -> None:
    a = sample(SPACES["cross"], 20, 5).samples
    assert a == sample(SPACES["cross"], 20, 5).samples
    assert a != sample(SPACES["cross"], 20, 6).samples


def test_assert_valid_raises_constraint_violation() -> None:
    config = {"a": 3, "b": 3, "n": 10, "m": 10, "mode": "x"}
    with pytest.raises(ConstraintViolationError) as info:
        assert_valid(SPACES["cross"], config)
    err = info.value
    assert err.constraint == "a_below_b" and err.variable == "a" and err.type == "float"
    assert err.details["violations"][0]["variables"] == {"a": 3, "b": 3}
    with pytest.raises(ConstraintViolationError) as info:
        assert_valid(SPACES["cross"], {**config, "b": 4, "m": 25})
    assert info.value.constraint == "max" and info.value.limit == 20 and info.value.variable == "m"
    assert_valid(SPACES["cross"], {**config, "b": 4})


def test_narrowing_makes_tight_bounds_cheap() -> None:
    doc = {
        "variables": [
            {"name": "x", "type": "float", "min": 0, "max": 1000},
            {"name": "y", "type": "integer", "min": 0, "max": 10**6},
        ],
        "constraints": [
            {"op": ">=", "left": {"var": "x"}, "right": {"const": 999.5}},
            {"op": "<", "left": {"var": "y"}, "right": {"op": "+", "args": [{"var": "x"}, {"const": 1}]}},
        ],
    }
    r = sample(doc, 200, 3)
    assert r.acceptance_rate == 1.0
    assert all(999.5 <= s["x"] <= 1000 and s["y"] < s["x"] + 1 for s in r.samples)


def test_bad_arguments() -> None:
    with pytest.raises(InvalidArgumentError):
        sample(SPACES["cross"], -1, 1)
    with pytest.raises(InvalidArgumentError):
        sample(SPACES["cross"], 1, 1, max_attempts=0)
    with pytest.raises(InvalidArgumentError):
        validate(SPACES["cross"], [])  # type: ignore[arg-type]
    assert sample(SPACES["cross"], 0, 1).samples == []
