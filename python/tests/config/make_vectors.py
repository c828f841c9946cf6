"""Regenerates testdata/config-spaces.json (the shared configuration-space vectors).

Run: .venv/bin/python python/tests/config/make_vectors.py

Validation expectations (violated clauses), malformed-document paths and the ConfigSpace
imports are stated by hand here; sampling expectations (samples and attempt counts) are
recorded from the Python implementation and checked by the TypeScript suite, which must
reproduce them (floats of log-scaled variables within 1e-12 relative: see
docs/configuration.md, "Determinism"). The script checks that Python agrees with every
hand-stated expectation and refuses to write the file otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dspy_bridge.config import compile_space, from_configspace, sample, to_configspace, validate
from dspy_bridge.errors import FailedPreconditionError, InvalidArgumentError

ROOT = Path(__file__).resolve().parents[3]
OUT = ROOT / "testdata" / "config-spaces.json"


def v(name: str) -> dict[str, Any]:
    return {"var": name}


def c(value: Any) -> dict[str, Any]:
    return {"const": value}


def cmp(op: str, left: Any, right: Any, name: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"op": op, "left": left, "right": right}
    if name:
        out["name"] = name
    return out


LLM = {
    "name": "llm",
    "variables": [
        {"name": "model", "type": "choice", "values": ["gpt-4", "claude", "small"]},
        {"name": "temperature", "type": "float", "min": 0, "max": 1.5, "default": 0.7},
        {"name": "max_tokens", "type": "integer", "min": 64, "max": 16384},
        {"name": "use_cot", "type": "boolean"},
        {"name": "max_iters", "type": "integer", "min": 1, "max": 10, "active_when": cmp("==", v("use_cot"), c(True))},
        {"name": "lr", "type": "float", "min": 1e-5, "max": 0.1, "log": True},
        {"name": "k", "type": "integer", "min": 1, "max": 1000, "log": True},
        {"name": "adapter", "type": "constant", "value": "chat"},
    ],
    "constraints": [
        cmp(
            "<=",
            v("max_tokens"),
            {"lookup": v("model"), "table": {"gpt-4": 4096, "claude": 8192}, "default": 2048},
            "token_limit",
        ),
        cmp("<=", v("temperature"), c(1.0), "cool"),
        {"name": "small_few_iters", "if": cmp("==", v("model"), c("small")), "then": cmp("<=", v("max_iters"), c(3))},
        {
            "name": "budget",
            "op": "<=",
            "left": {"op": "*", "args": [v("temperature"), v("max_tokens")]},
            "right": c(2000),
        },
        {"not": {"and": [cmp("==", v("model"), c("small")), cmp(">", v("k"), c(500))]}},
    ],
}

CROSS = {
    "name": "cross",
    "variables": [
        {"name": "a", "type": "float", "min": 0, "max": 10},
        {"name": "b", "type": "float", "min": 0, "max": 10},
        {"name": "n", "type": "integer", "min": 0, "max": 20},
        {"name": "m", "type": "integer", "min": 0, "max": 20},
        {"name": "mode", "type": "choice", "values": ["x", "y", "z", 1, True]},
    ],
    "constraints": [
        cmp("<", v("a"), v("b"), "a_below_b"),
        cmp(">=", {"op": "+", "args": [v("n"), v("m")]}, c(10), "sum"),
        {"name": "mode_in", "op": "in", "left": v("mode"), "values": ["x", "z", 1]},
        cmp("<=", {"op": "-", "args": [v("b"), v("a")]}, c(5), "gap"),
        cmp(">", v("m"), c(3.5), "m_min"),
    ],
}

NESTED = {
    "name": "nested",
    "variables": [
        {"name": "opt", "type": "choice", "values": ["sgd", "adam"]},
        {"name": "momentum", "type": "float", "min": 0, "max": 1, "active_when": cmp("==", v("opt"), c("sgd"))},
        {"name": "nesterov", "type": "boolean", "active_when": cmp(">", v("momentum"), c(0.5))},
        {
            "name": "beta1",
            "type": "float",
            "min": 0.8,
            "max": 0.999,
            "active_when": {"op": "in", "left": v("opt"), "values": ["adam"]},
        },
    ],
    "constraints": [
        {
            "name": "nesterov_needs_high",
            "if": cmp("==", v("nesterov"), c(True)),
            "then": cmp(">=", v("momentum"), c(0.9)),
        },
        {"name": "beta1_cap", "op": "<", "left": v("beta1"), "right": c(0.99)},
    ],
}

EVAL_ERR = {
    "name": "eval_errors",
    "variables": [
        {"name": "x", "type": "integer", "min": 0, "max": 3},
        {"name": "tier", "type": "choice", "values": ["a", "b", "c"]},
    ],
    "constraints": [
        {"name": "ratio", "op": "<", "left": {"op": "/", "args": [c(6), v("x")]}, "right": c(100)},
        {"name": "tier_cost", "op": "<=", "left": {"lookup": v("tier"), "table": {"a": 1, "b": 2}}, "right": c(2)},
    ],
}


def twenty() -> dict[str, Any]:
    """20 variables, 5 cross-variable constraints (the property test and the benchmark)."""
    vars_: list[dict[str, Any]] = []
    for i in range(8):
        vars_.append(
            {
                "name": f"f{i}",
                "type": "float",
                "min": 0,
                "max": 1,
                **({"log": True, "min": 0.001} if i % 4 == 3 else {}),
            }
        )
    for i in range(6):
        vars_.append({"name": f"i{i}", "type": "integer", "min": 0, "max": 100})
    for i in range(4):
        vars_.append({"name": f"c{i}", "type": "choice", "values": ["a", "b", "c", "d"]})
    vars_.append({"name": "flag", "type": "boolean"})
    vars_.append({"name": "g", "type": "float", "min": 0, "max": 1, "active_when": cmp("==", v("flag"), c(True))})
    cons = [
        cmp("<=", v("f0"), v("f1"), "f0_le_f1"),
        cmp("<=", {"op": "+", "args": [v("i0"), v("i1"), v("i2")]}, c(150), "int_budget"),
        cmp("<", v("i3"), {"lookup": v("c0"), "table": {"a": 10, "b": 50}, "default": 100}, "lookup_cap"),
        {"name": "c1_c2", "if": cmp("==", v("c1"), c("a")), "then": cmp("!=", v("c2"), c("a"))},
        cmp("<=", {"op": "*", "args": [v("f2"), v("g")]}, c(0.25), "product"),
    ]
    return {"name": "twenty", "variables": vars_, "constraints": cons}


TWENTY = twenty()
INFEASIBLE_STATIC = {
    "variables": [{"name": "x", "type": "float", "min": 0, "max": 1}],
    "constraints": [cmp(">", v("x"), c(2), "too_big")],
}
INFEASIBLE_REJECT = {
    "variables": [
        {"name": "x", "type": "integer", "min": 0, "max": 9},
        {"name": "y", "type": "integer", "min": 0, "max": 9},
    ],
    "constraints": [cmp("==", {"op": "*", "args": [v("x"), v("y")]}, c(83), "product_83")],
}
INFEASIBLE_CHOICE = {
    "variables": [{"name": "m", "type": "choice", "values": ["a", "b"]}],
    "constraints": [{"name": "none", "op": "in", "left": v("m"), "values": ["c"]}],
}

SPACES = {"llm": LLM, "cross": CROSS, "nested": NESTED, "eval_errors": EVAL_ERR, "twenty": TWENTY}

# (space, name, config, expected [kind, name, path] in order)
VALIDATE: list[tuple[str, str, dict[str, Any], list[list[Any]]]] = [
    (
        "llm",
        "valid",
        {
            "model": "gpt-4",
            "temperature": 0.5,
            "max_tokens": 4000,
            "use_cot": True,
            "max_iters": 5,
            "lr": 0.001,
            "k": 10,
            "adapter": "chat",
        },
        [],
    ),
    (
        "llm",
        "valid_inactive_absent",
        {
            "model": "claude",
            "temperature": 0.1,
            "max_tokens": 8192,
            "use_cot": False,
            "lr": 0.001,
            "k": 10,
            "adapter": "chat",
        },
        [],
    ),
    (
        "llm",
        "lookup_limit",
        {
            "model": "gpt-4",
            "temperature": 0.1,
            "max_tokens": 5000,
            "use_cot": False,
            "lr": 0.001,
            "k": 10,
            "adapter": "chat",
        },
        [["constraint", "token_limit", "constraints[0]"]],
    ),
    (
        "llm",
        "lookup_default",
        {
            "model": "small",
            "temperature": 0.1,
            "max_tokens": 3000,
            "use_cot": False,
            "lr": 0.001,
            "k": 10,
            "adapter": "chat",
        },
        [["constraint", "token_limit", "constraints[0]"]],
    ),
    (
        "llm",
        "implication",
        {
            "model": "small",
            "temperature": 0.1,
            "max_tokens": 100,
            "use_cot": True,
            "max_iters": 5,
            "lr": 0.001,
            "k": 10,
            "adapter": "chat",
        },
        [["constraint", "small_few_iters", "constraints[2]"]],
    ),
    (
        "llm",
        "implication_skipped_inactive",
        {
            "model": "small",
            "temperature": 0.1,
            "max_tokens": 100,
            "use_cot": False,
            "lr": 0.001,
            "k": 10,
            "adapter": "chat",
        },
        [],
    ),
    (
        "llm",
        "arith_and_unnamed",
        {
            "model": "small",
            "temperature": 1.0,
            "max_tokens": 2048,
            "use_cot": False,
            "lr": 0.001,
            "k": 600,
            "adapter": "chat",
        },
        [["constraint", "budget", "constraints[3]"], ["constraint", None, "constraints[4]"]],
    ),
    (
        "llm",
        "inactive_present_missing_unknown",
        {
            "model": "gpt-4",
            "temperature": 0.5,
            "use_cot": False,
            "max_iters": 5,
            "lr": 0.001,
            "k": 10,
            "adapter": "chat",
            "zeta": 1,
            "alpha": 2,
        },
        [
            ["unknown", None, None],
            ["unknown", None, None],
            ["missing", None, "variables[2]"],
            ["inactive", None, "variables[4]"],
        ],
    ),
    (
        "llm",
        "domains",
        {"model": "gpt-5", "temperature": 2.0, "max_tokens": 100.5, "use_cot": 1, "lr": 0.5, "k": 0, "adapter": "json"},
        [
            ["domain", "values", "variables[0]"],
            ["domain", "max", "variables[1]"],
            ["domain", "integer", "variables[2]"],
            ["domain", "type", "variables[3]"],
            ["domain", "max", "variables[5]"],
            ["domain", "min", "variables[6]"],
            ["domain", "value", "variables[7]"],
        ],
    ),
    (
        "llm",
        "bool_is_not_number",
        {
            "model": "gpt-4",
            "temperature": True,
            "max_tokens": 100,
            "use_cot": False,
            "lr": 0.001,
            "k": 10,
            "adapter": "chat",
        },
        [["domain", "type", "variables[1]"]],
    ),
    ("cross", "valid", {"a": 1, "b": 2.5, "n": 5, "m": 5, "mode": 1}, []),
    (
        "cross",
        "all_broken",
        {"a": 3, "b": 3, "n": 2, "m": 3, "mode": True},
        [
            ["constraint", "a_below_b", "constraints[0]"],
            ["constraint", "sum", "constraints[1]"],
            ["constraint", "mode_in", "constraints[2]"],
            ["constraint", "m_min", "constraints[4]"],
        ],
    ),
    ("cross", "gap", {"a": 0, "b": 9, "n": 10, "m": 10, "mode": "z"}, [["constraint", "gap", "constraints[3]"]]),
    (
        "cross",
        "one_is_not_true",
        {"a": 0, "b": 1, "n": 10, "m": 10, "mode": True},
        [["constraint", "mode_in", "constraints[2]"]],
    ),
    (
        "nested",
        "sgd_nesterov_low",
        {"opt": "sgd", "momentum": 0.6, "nesterov": True},
        [["constraint", "nesterov_needs_high", "constraints[0]"]],
    ),
    ("nested", "sgd_low_momentum", {"opt": "sgd", "momentum": 0.3}, []),
    (
        "nested",
        "sgd_low_momentum_extra",
        {"opt": "sgd", "momentum": 0.3, "nesterov": False},
        [["inactive", None, "variables[2]"]],
    ),
    ("nested", "adam", {"opt": "adam", "beta1": 0.995}, [["constraint", "beta1_cap", "constraints[1]"]]),
    (
        "nested",
        "adam_with_sgd_vars",
        {"opt": "adam", "beta1": 0.9, "momentum": 0.95, "nesterov": True},
        [["inactive", None, "variables[1]"], ["inactive", None, "variables[2]"]],
    ),
    ("eval_errors", "division_by_zero", {"x": 0, "tier": "a"}, [["constraint", "ratio", "constraints[0]"]]),
    ("eval_errors", "lookup_without_default", {"x": 1, "tier": "c"}, [["constraint", "tier_cost", "constraints[1]"]]),
    ("eval_errors", "fine", {"x": 2, "tier": "b"}, []),
]

SAMPLING = [
    ("llm", 40, 42),
    ("llm", 25, 7),
    ("cross", 40, 1),
    ("nested", 30, 123456789),
    ("twenty", 20, 2024),
    ("eval_errors", 10, 9007199254740991),
]

INFEASIBLE = [
    ("static_bound", INFEASIBLE_STATIC, 5, None, 0),
    ("static_choice", INFEASIBLE_CHOICE, 5, None, 0),
    ("rejection", INFEASIBLE_REJECT, 3, 50, 50),
]

# (name, document, expected parameter path)
MALFORMED: list[tuple[str, Any, str]] = [
    ("not_object", [], "space"),
    ("no_variables", {"variables": []}, "variables"),
    ("unknown_space_key", {"variables": [{"name": "x", "type": "boolean"}], "constrains": []}, "space"),
    ("unknown_type", {"variables": [{"name": "x", "type": "str"}]}, "variables[0].type"),
    (
        "duplicate_variable",
        {"variables": [{"name": "x", "type": "boolean"}, {"name": "x", "type": "boolean"}]},
        "variables[1].name",
    ),
    ("min_gt_max", {"variables": [{"name": "x", "type": "float", "min": 2, "max": 1}]}, "variables[0].min"),
    ("integer_bound", {"variables": [{"name": "x", "type": "integer", "min": 0.5, "max": 1}]}, "variables[0].min"),
    (
        "log_nonpositive",
        {"variables": [{"name": "x", "type": "float", "min": 0, "max": 1, "log": True}]},
        "variables[0].min",
    ),
    (
        "duplicate_choice",
        {"variables": [{"name": "x", "type": "choice", "values": [1, 1.0]}]},
        "variables[0].values[1]",
    ),
    ("choice_null", {"variables": [{"name": "x", "type": "choice", "values": ["a", None]}]}, "variables[0].values[1]"),
    (
        "bad_default",
        {"variables": [{"name": "x", "type": "integer", "min": 0, "max": 3, "default": 4}]},
        "variables[0].default",
    ),
    ("unknown_variable_key", {"variables": [{"name": "x", "type": "boolean", "values": [True]}]}, "variables[0]"),
    (
        "active_when_later",
        {
            "variables": [
                {"name": "x", "type": "float", "min": 0, "max": 1, "active_when": cmp("==", v("y"), c(True))},
                {"name": "y", "type": "boolean"},
            ]
        },
        "variables[0].active_when.left.var",
    ),
    (
        "active_when_self",
        {"variables": [{"name": "x", "type": "boolean", "active_when": cmp("==", v("x"), c(True))}]},
        "variables[0].active_when.left.var",
    ),
    (
        "unknown_op",
        {"variables": [{"name": "x", "type": "boolean"}], "constraints": [{"op": "=~", "left": v("x"), "right": c(1)}]},
        "constraints[0].op",
    ),
    (
        "unknown_var",
        {
            "variables": [{"name": "x", "type": "boolean"}],
            "constraints": [{"and": [cmp("==", v("x"), c(True)), cmp("==", v("nope"), c(1))]}],
        },
        "constraints[0].and[1].left.var",
    ),
    (
        "minus_arity",
        {
            "variables": [{"name": "x", "type": "float", "min": 0, "max": 1}],
            "constraints": [cmp("<", {"op": "-", "args": [v("x"), c(1), c(2)]}, c(0))],
        },
        "constraints[0].left.args",
    ),
    (
        "plus_arity",
        {
            "variables": [{"name": "x", "type": "float", "min": 0, "max": 1}],
            "constraints": [cmp("<", {"op": "+", "args": [v("x")]}, c(0))],
        },
        "constraints[0].left.args",
    ),
    (
        "arith_as_condition",
        {
            "variables": [{"name": "x", "type": "float", "min": 0, "max": 1}],
            "constraints": [{"op": "+", "args": [v("x"), c(1)]}],
        },
        "constraints[0].op",
    ),
    (
        "comparison_as_expression",
        {
            "variables": [{"name": "x", "type": "float", "min": 0, "max": 1}],
            "constraints": [cmp("<", cmp("<", v("x"), c(1)), c(0))],
        },
        "constraints[0].left.op",
    ),
    (
        "ordering_on_strings",
        {
            "variables": [{"name": "m", "type": "choice", "values": ["a", "b"]}],
            "constraints": [cmp("<", v("m"), c("b"))],
        },
        "constraints[0].left",
    ),
    (
        "arith_on_boolean",
        {
            "variables": [{"name": "f", "type": "boolean"}],
            "constraints": [cmp("<", {"op": "*", "args": [v("f"), c(2)]}, c(1))],
        },
        "constraints[0].left.args[0]",
    ),
    (
        "in_without_values",
        {"variables": [{"name": "x", "type": "boolean"}], "constraints": [{"op": "in", "left": v("x"), "values": []}]},
        "constraints[0].values",
    ),
    (
        "empty_and",
        {"variables": [{"name": "x", "type": "boolean"}], "constraints": [{"and": []}]},
        "constraints[0].and",
    ),
    (
        "if_without_then",
        {"variables": [{"name": "x", "type": "boolean"}], "constraints": [{"if": cmp("==", v("x"), c(True))}]},
        "constraints[0]",
    ),
    (
        "nested_name",
        {
            "variables": [{"name": "x", "type": "boolean"}],
            "constraints": [{"not": {"name": "inner", **cmp("==", v("x"), c(True))}}],
        },
        "constraints[0].not",
    ),
    (
        "lookup_empty_table",
        {
            "variables": [{"name": "x", "type": "float", "min": 0, "max": 1}],
            "constraints": [cmp("<", v("x"), {"lookup": v("x"), "table": {}})],
        },
        "constraints[0].right.table",
    ),
    (
        "const_null",
        {"variables": [{"name": "x", "type": "float", "min": 0, "max": 1}], "constraints": [cmp("<", v("x"), c(None))]},
        "constraints[0].right.const",
    ),
    (
        "duplicate_constraint_name",
        {
            "variables": [{"name": "x", "type": "boolean"}],
            "constraints": [cmp("==", v("x"), c(True), "a"), cmp("==", v("x"), c(False), "a")],
        },
        "constraints[1].name",
    ),
    (
        "unknown_condition",
        {"variables": [{"name": "x", "type": "boolean"}], "constraints": [{"xor": []}]},
        "constraints[0]",
    ),
]

CS_IMPORT = {
    "name": "cs",
    "hyperparameters": [
        {"name": "momentum", "type": "uniform_float", "log": False, "lower": 0.0, "upper": 1.0, "default": 0.5},
        {"name": "opt", "type": "categorical", "choices": ["sgd", "adam"], "default": "sgd", "weights": None},
        {"name": "lr", "type": "uniform_float", "log": True, "lower": 1e-5, "upper": 0.1, "default": 0.001},
        {"name": "layers", "type": "uniform_int", "log": False, "lower": 1, "upper": 8, "default": 2},
        {"name": "seed", "type": "constant", "value": 1},
    ],
    "conditions": [
        {"child": "momentum", "parent": "opt", "type": "EQ", "value": "sgd"},
        {
            "child": "layers",
            "type": "AND",
            "conditions": [
                {"child": "layers", "parent": "opt", "type": "IN", "values": ["sgd", "adam"]},
                {"child": "layers", "parent": "lr", "type": "LT", "value": 0.05},
            ],
        },
    ],
    "forbiddens": [
        {
            "name": "opt",
            "type": "AND",
            "clauses": [
                {"name": "opt", "type": "EQUALS", "value": "adam"},
                {"name": "layers", "type": "IN", "values": [7, 8]},
            ],
        },
        {"left": "momentum", "right": "lr", "type": "RELATION", "lambda": "LESS"},
    ],
    "python_module_version": "0.6.1",
    "json_format_version": 0.4,
}
CS_IMPORT_EXPECT = {
    "variables": [
        {"name": "opt", "type": "choice", "values": ["sgd", "adam"], "default": "sgd"},
        {"name": "lr", "type": "float", "min": 1e-5, "max": 0.1, "log": True, "default": 0.001},
        {
            "name": "layers",
            "type": "integer",
            "min": 1,
            "max": 8,
            "default": 2,
            "active_when": {
                "and": [
                    {"op": "in", "left": v("opt"), "values": ["sgd", "adam"]},
                    {"op": "<", "left": v("lr"), "right": c(0.05)},
                ]
            },
        },
        {"name": "seed", "type": "constant", "value": 1},
        {
            "name": "momentum",
            "type": "float",
            "min": 0.0,
            "max": 1.0,
            "default": 0.5,
            "active_when": {"op": "==", "left": v("opt"), "right": c("sgd")},
        },
    ],
    "constraints": [
        {
            "name": "forbidden_0",
            "not": {
                "and": [
                    {"op": "==", "left": v("opt"), "right": c("adam")},
                    {"op": "in", "left": v("layers"), "values": [7, 8]},
                ]
            },
        },
        {"name": "forbidden_1", "not": {"op": "<", "left": v("momentum"), "right": v("lr")}},
    ],
    "name": "cs",
}
CS_UNMAPPED: list[tuple[str, Any, str]] = [
    (
        "normal_float",
        {
            "hyperparameters": [{"name": "x", "type": "normal_float", "mu": 0, "sigma": 1, "log": False, "default": 0}],
            "conditions": [],
            "forbiddens": [],
        },
        "hyperparameters[0].type",
    ),
    (
        "ordinal",
        {
            "hyperparameters": [{"name": "x", "type": "ordinal", "sequence": [1, 2], "default": 1}],
            "conditions": [],
            "forbiddens": [],
        },
        "hyperparameters[0].type",
    ),
    (
        "weights",
        {
            "hyperparameters": [
                {"name": "x", "type": "categorical", "choices": ["a", "b"], "default": "a", "weights": [0.3, 0.7]}
            ],
            "conditions": [],
            "forbiddens": [],
        },
        "hyperparameters[0].weights",
    ),
    (
        "callable_relation",
        {
            "hyperparameters": [
                {"name": "x", "type": "uniform_int", "log": False, "lower": 0, "upper": 2, "default": 1},
                {"name": "y", "type": "uniform_int", "log": False, "lower": 0, "upper": 2, "default": 1},
            ],
            "conditions": [],
            "forbiddens": [{"left": "x", "right": "y", "type": "RELATION", "lambda": "CALLABLE"}],
        },
        "forbiddens[0].lambda",
    ),
    ("format_version", {"hyperparameters": [], "json_format_version": 0.5}, "json_format_version"),
]


def main() -> None:
    problems: list[str] = []
    validate_out = []
    for space, name, config, expect in VALIDATE:
        got = [[x.kind, x.name, x.path] for x in validate(SPACES[space], config).violations]
        if got != expect:
            problems.append(f"validate {space}/{name}: expected {expect}, got {got}")
        validate_out.append({"space": space, "name": name, "config": config, "violations": expect})
    sampling_out = []
    for space, n, seed in SAMPLING:
        r = sample(SPACES[space], n, seed)
        for s in r.samples:
            if not validate(SPACES[space], s).ok:
                problems.append(f"sample {space}/{seed} produced an invalid config {s}")
        sampling_out.append({"space": space, "n": n, "seed": seed, "attempts": r.attempts, "samples": r.samples})
    infeasible_out = []
    for name, doc, n, max_attempts, attempts in INFEASIBLE:
        try:
            sample(doc, n, 1, max_attempts=max_attempts)
            problems.append(f"infeasible {name}: no error")
        except FailedPreconditionError as exc:
            if exc.details["attempts"] != attempts:
                problems.append(f"infeasible {name}: attempts {exc.details['attempts']} != {attempts}")
        infeasible_out.append({"name": name, "space": doc, "n": n, "max_attempts": max_attempts, "attempts": attempts})
    malformed_out = []
    for name, doc, path in MALFORMED:
        try:
            compile_space(doc)
            problems.append(f"malformed {name}: accepted")
        except InvalidArgumentError as exc:
            if exc.parameter != path:
                problems.append(f"malformed {name}: path {exc.parameter!r} != {path!r} ({exc})")
        malformed_out.append({"name": name, "document": doc, "path": path})
    got = from_configspace(CS_IMPORT)
    if got != CS_IMPORT_EXPECT:
        problems.append(f"configspace import: {json.dumps(got)}")
    back = from_configspace(to_configspace(CS_IMPORT_EXPECT))
    if back != CS_IMPORT_EXPECT:
        problems.append(f"configspace round trip: {json.dumps(back)}")
    unmapped_out = []
    for name, doc, path in CS_UNMAPPED:
        try:
            from_configspace(doc)
            problems.append(f"configspace {name}: accepted")
        except InvalidArgumentError as exc:
            if exc.parameter != path:
                problems.append(f"configspace {name}: path {exc.parameter!r} != {path!r}")
        unmapped_out.append({"name": name, "document": doc, "path": path})
    if problems:
        raise SystemExit("refusing to write:\n" + "\n".join(problems))
    data = {
        "format": "dspy-bridge config-space vectors v1 (python/tests/config/make_vectors.py; docs/configuration.md)",
        "float_tolerance": {"log_scaled_relative": 1e-12, "other": 0},
        "spaces": SPACES,
        "validate": validate_out,
        "sampling": sampling_out,
        "infeasible": infeasible_out,
        "malformed": malformed_out,
        "configspace": {"import": CS_IMPORT, "expect": CS_IMPORT_EXPECT, "unmapped": unmapped_out},
    }
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
