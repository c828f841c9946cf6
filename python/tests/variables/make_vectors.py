"""Regenerates testdata/variable-types.json (the shared variable-type test vectors).

Run: .venv/bin/python python/tests/variables/make_vectors.py

Every case states its expectation explicitly here (it is not computed by the implementation);
values are encoded with dspy_bridge.values.encode_value so both languages decode the same
envelope. The script then checks that the Python implementation agrees and refuses to write
the file otherwise. Format: docs/variables-types.md ("Shared vectors").
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from dspy_bridge.values import Embedding, encode_value

ROOT = Path(__file__).resolve().parents[3]
OUT = ROOT / "testdata" / "variable-types.json"
NAN, INF = float("nan"), float("inf")


def b64(value: Any) -> str:
    return base64.b64encode(encode_value(value).SerializeToString()).decode("ascii")


CASES: list[dict[str, Any]] = []


def ok(
    name: str, type_: str, constraints: dict[str, Any], value: Any, normalized: Any = None, *, has_norm: bool = False
) -> None:
    expect: dict[str, Any] = {"ok": True}
    if has_norm or normalized is not None:
        expect["normalized_b64"] = b64(normalized)
    CASES.append({"name": name, "type": type_, "constraints": constraints, "value_b64": b64(value), "expect": expect})


def err(name: str, type_: str, constraints: dict[str, Any], value: Any, error: str, key: str | None = None) -> None:
    expect: dict[str, Any] = {"error": error}
    if error == "constraint_violation":
        assert key
        expect["constraint"] = key
    elif error == "invalid_argument":
        expect["parameter"] = key or "type"
    CASES.append({"name": name, "type": type_, "constraints": constraints, "value_b64": b64(value), "expect": expect})


def mismatch(name: str, type_: str, constraints: dict[str, Any], value: Any) -> None:
    err(name, type_, constraints, value, "type_mismatch")


def cv(name: str, type_: str, constraints: dict[str, Any], value: Any, key: str) -> None:
    err(name, type_, constraints, value, "constraint_violation", key)


def bad(name: str, type_: str, constraints: dict[str, Any], value: Any, parameter: str) -> None:
    err(name, type_, constraints, value, "invalid_argument", parameter)


# ---- float ----------------------------------------------------------------------------------
ok("float accepts a float", "float", {}, 0.7)
ok("float accepts an int and stores a float", "float", {}, 1, 1.0)
ok("float within min/max (inclusive)", "float", {"min": 0.0, "max": 2.0}, 2.0)
ok("float at min", "float", {"min": 0, "max": 2}, 0.0)
ok("float accepts a big int", "float", {}, 2**60, float(2**60))
cv("float above max", "float", {"min": 0.0, "max": 2.0}, 2.5, "max")
cv("float below min", "float", {"min": 0.0}, -0.1, "min")
cv("float NaN", "float", {}, NAN, "finite")
cv("float Infinity", "float", {}, INF, "finite")
cv("float -Infinity", "float", {"min": 0}, -INF, "finite")
mismatch("float rejects a string", "float", {}, "0.7")
mismatch("float rejects a boolean", "float", {}, True)
mismatch("float rejects null", "float", {}, None)
mismatch("float rejects a list", "float", {}, [1.0])

# ---- integer --------------------------------------------------------------------------------
ok("integer accepts an int", "integer", {}, 42)
ok("integer alias int", "int", {"min": 1, "max": 100}, 100)
ok("integer negative", "integer", {"min": -5}, -5)
ok("integer beyond 2^53 (bigint)", "integer", {"min": 0}, 2**60)
cv("integer above max", "integer", {"max": 10}, 11, "max")
cv("integer below min", "integer", {"min": 1}, 0, "min")
cv("integer beyond 2^53 above max", "integer", {"max": 9007199254740991}, 2**60, "max")
mismatch("integer rejects a float", "integer", {}, 2.5)
mismatch("integer rejects a boolean", "integer", {}, True)
mismatch("integer rejects false", "int", {}, False)
mismatch("integer rejects a numeric string", "integer", {}, "3")
mismatch("integer rejects NaN", "integer", {}, NAN)
mismatch("integer rejects Infinity", "integer", {}, INF)
mismatch("integer rejects null", "integer", {}, None)

# ---- string ---------------------------------------------------------------------------------
ok("string accepts a string", "string", {}, "hello")
ok("string alias str", "str", {"min_length": 0, "max_length": 5}, "")
ok("string length counts code points", "string", {"min_length": 2, "max_length": 2}, "😀é")
ok("string pattern (search)", "string", {"pattern": "b+"}, "abbbc")
ok("string anchored pattern", "string", {"pattern": "^[a-z]+_[0-9]{2}$"}, "model_01")
cv("string too short", "string", {"min_length": 3}, "ab", "min_length")
cv("string too long (code points)", "string", {"max_length": 2}, "😀😀😀", "max_length")
cv("string pattern mismatch", "string", {"pattern": "^[a-z]+$"}, "abc1", "pattern")
# Patterns are RE2 in both languages (linear time): the same syntax, the same answers.
cv(
    "pattern that backtracks exponentially elsewhere is checked at once",
    "string",
    {"pattern": "^(a+)+$"},
    "a" * 30 + "!",
    "pattern",
)
ok("pattern . matches one code point", "string", {"pattern": "^.$"}, "😀")
cv("pattern $ does not match before a trailing newline", "string", {"pattern": "^x$"}, "x\n", "pattern")
ok("pattern inline flag (?i)", "string", {"pattern": "(?i)^abc$"}, "ABC")
ok("pattern named group (?P<n>)", "string", {"pattern": "^(?P<word>[a-z]+)$"}, "abc")
ok("pattern Unicode class \\p{Greek}", "string", {"pattern": "^\\p{Greek}+$"}, "αβγ")
ok("pattern \\z and \\A", "string", {"pattern": "\\Aab\\z"}, "ab")
cv("pattern \\d is ASCII digits", "string", {"pattern": "^\\d+$"}, "١٢", "pattern")
ok("pattern needless escape \\- is fine", "string", {"pattern": "^a\\-b$"}, "a-b")
mismatch("string rejects a number", "string", {}, 5)
mismatch("string rejects a boolean", "string", {}, False)
mismatch("string rejects null", "string", {}, None)
mismatch("string rejects a list", "string", {}, ["a"])

# ---- boolean --------------------------------------------------------------------------------
ok("boolean true", "boolean", {}, True)
ok("boolean alias bool false", "bool", {}, False)
mismatch("boolean rejects 1", "boolean", {}, 1)
mismatch("boolean rejects 0", "boolean", {}, 0)
mismatch("boolean rejects a string", "boolean", {}, "true")
mismatch("boolean rejects null", "boolean", {}, None)

# ---- choice ---------------------------------------------------------------------------------
ok("choice in choices", "choice", {"choices": ["fast", "accurate"]}, "fast")
cv("choice not in choices", "choice", {"choices": ["fast", "accurate"]}, "slow", "choices")
cv("choice is case-sensitive", "choice", {"choices": ["fast"]}, "Fast", "choices")
mismatch("choice rejects a number", "choice", {"choices": ["1"]}, 1)
mismatch("choice rejects null", "choice", {"choices": ["a"]}, None)

# ---- module ---------------------------------------------------------------------------------
ok("module name", "module", {}, "ChainOfThought")
ok("module dotted name", "module", {}, "dspy.ChainOfThought")
ok("module in choices", "module", {"choices": ["Predict", "ChainOfThought"]}, "Predict")
cv("module not in choices", "module", {"choices": ["Predict"]}, "ReAct", "choices")
cv("module empty name", "module", {}, "", "identifier")
cv("module not an identifier", "module", {}, "Chain Of Thought", "identifier")
mismatch("module rejects a number", "module", {}, 3)

# ---- list -----------------------------------------------------------------------------------
ok("list of anything", "list", {}, [1, "a", None, [True]])
ok("list empty", "list", {"min_length": 0, "max_length": 0}, [])
ok("list item_type float normalizes ints", "list", {"item_type": "float"}, [1, 2.5], [1.0, 2.5])
ok("list item_type alias str", "list", {"item_type": "str", "min_length": 2}, ["a", "b"])
ok("list item_type integer", "list", {"item_type": "int"}, [1, -2, 2**60])
ok("list item_type boolean", "list", {"item_type": "boolean"}, [True, False])
cv("list too short", "list", {"min_length": 2}, [1], "min_length")
cv("list too long", "list", {"max_length": 2}, [1, 2, 3], "max_length")
cv("list float item NaN", "list", {"item_type": "float"}, [1.0, NAN], "finite")
mismatch("list item of wrong type", "list", {"item_type": "integer"}, [1, 2, "3"])
mismatch("list item bool for integer", "list", {"item_type": "integer"}, [1, True])
mismatch("list item int for boolean", "list", {"item_type": "boolean"}, [True, 1])
mismatch("list item float for integer", "list", {"item_type": "integer"}, [1, 2.5])
mismatch("list nested list for string items", "list", {"item_type": "string"}, ["a", ["b"]])
mismatch("list rejects a string", "list", {}, "abc")
mismatch("list rejects a map", "list", {}, {"a": 1})

# ---- map ------------------------------------------------------------------------------------
ok("map accepts an object", "map", {}, {"a": 1, "b": [1, 2]})
ok("map alias dict", "dict", {"required_keys": ["a"], "max_keys": 2}, {"a": None, "b": 2})
ok("map empty", "map", {"max_keys": 0}, {})
ok("map with a $type key", "map", {"required_keys": ["$type"]}, {"$type": "x"})
cv("map missing a required key", "map", {"required_keys": ["a", "b"]}, {"a": 1}, "required_keys")
cv("map too many keys", "map", {"max_keys": 1}, {"a": 1, "b": 2}, "max_keys")
mismatch("map rejects a list", "map", {}, [["a", 1]])
mismatch("map rejects a string", "map", {}, "{}")
mismatch("map rejects null", "map", {}, None)

# ---- embedding ------------------------------------------------------------------------------
E64 = Embedding([0.6, 0.8])
E32 = Embedding([0.5, -0.25, 0.125], dtype=np.float32)
ok("embedding float64", "embedding", {"dimensions": 2}, E64)
ok("embedding float32", "embedding", {"dtype": "float32", "dimensions": 3}, E32)
ok("embedding from a list becomes float64", "embedding", {}, [1, 0.5, -2], Embedding([1.0, 0.5, -2.0]))
ok(
    "embedding from a list takes the constrained dtype",
    "embedding",
    {"dtype": "float32"},
    [0.1, 0.2],
    Embedding([0.1, 0.2], dtype=np.float32),
)
ok("embedding normalize float64", "embedding", {"normalize": True}, Embedding([3.0, 4.0]), Embedding([0.6, 0.8]))
ok(
    "embedding normalize list",
    "embedding",
    {"normalize": True, "dimensions": 3},
    [1, 2, 2],
    Embedding(np.array([1.0, 2.0, 2.0]) / 3.0),
)
ok(
    "embedding normalize float32",
    "embedding",
    {"normalize": True, "dtype": "float32"},
    Embedding([1.0, 1.0, 1.0, 1.0], dtype=np.float32),
    Embedding([0.5, 0.5, 0.5, 0.5], dtype=np.float32),
)
ok("embedding norm within tolerance", "embedding", {"norm": 1.0}, Embedding([0.6, 0.8]))
ok(
    "embedding norm with explicit tolerance",
    "embedding",
    {"norm": 1.0, "norm_tolerance": 0.01},
    Embedding([0.6, 0.805]),
)
ok("embedding range", "embedding", {"range": [-1, 1]}, Embedding([-1.0, 0.0, 1.0]))
ok(
    "embedding from a 1-D float32 tensor",
    "embedding",
    {},
    np.array([1.0, 2.0], dtype=np.float32),
    Embedding([1.0, 2.0], dtype=np.float32),
)
ok("embedding empty", "embedding", {}, Embedding(np.zeros(0)))
cv("embedding wrong dimensions", "embedding", {"dimensions": 3}, E64, "dimensions")
cv("embedding wrong dtype", "embedding", {"dtype": "float64"}, E32, "dtype")
cv("embedding normalize zero vector", "embedding", {"normalize": True}, Embedding([0.0, 0.0]), "normalize")
cv("embedding norm off", "embedding", {"norm": 1.0}, Embedding([3.0, 4.0]), "norm")
cv("embedding norm off by more than the tolerance", "embedding", {"norm": 1.0}, Embedding([0.6, 0.8001]), "norm")
cv("embedding element out of range", "embedding", {"range": [-1, 1]}, Embedding([0.5, 1.5]), "range")
cv("embedding NaN", "embedding", {}, Embedding([0.1, NAN]), "finite")
cv("embedding Infinity in a list", "embedding", {}, [0.1, INF], "finite")
# DSPex's norm names: "unit" / "l2" (L2 norm 1), "l1" (L1 norm 1)
ok("embedding norm unit", "embedding", {"norm": "unit"}, Embedding([0.6, 0.8]))
ok("embedding norm l2", "embedding", {"norm": "l2", "dimensions": 2}, [0.6, 0.8], Embedding([0.6, 0.8]))
ok("embedding norm l1", "embedding", {"norm": "l1"}, Embedding([0.25, -0.25, 0.5]))
ok(
    "embedding normalize with norm unit",
    "embedding",
    {"normalize": True, "norm": "unit"},
    Embedding([3.0, 4.0]),
    Embedding([0.6, 0.8]),
)
cv("embedding norm unit off", "embedding", {"norm": "unit"}, Embedding([3.0, 4.0]), "norm")
cv("embedding norm l1 off (an L2 unit vector)", "embedding", {"norm": "l1"}, Embedding([0.6, 0.8]), "norm")
mismatch("embedding list with a string", "embedding", {}, [0.1, "0.2"])
mismatch("embedding list with a boolean", "embedding", {}, [0.1, True])
mismatch("embedding rejects a 2-D tensor", "embedding", {}, np.zeros((2, 2), dtype=np.float32))
mismatch("embedding rejects an int tensor", "embedding", {}, np.array([1, 2], dtype=np.int32))
mismatch("embedding rejects a number", "embedding", {}, 0.5)
mismatch("embedding rejects a map", "embedding", {}, {"data": [1.0]})

# ---- tensor ---------------------------------------------------------------------------------
T = np.arange(6, dtype=np.float32).reshape(2, 3)
ok("tensor float32 2x3", "tensor", {"shape": [2, 3], "dtype": "float32"}, T)
ok("tensor shape wildcards", "tensor", {"shape": [None, 3]}, T)
ok("tensor shape -1 wildcard", "tensor", {"shape": [-1, -1]}, T)
ok("tensor int64 range", "tensor", {"dtype": "int64", "range": [0, 10]}, np.array([0, 5, 10], dtype=np.int64))
ok("tensor bool", "tensor", {"dtype": "bool"}, np.array([True, False]))
ok("tensor float16 range", "tensor", {"range": [-1, 1]}, np.array([0.5, -1.0], dtype=np.float16))
ok("tensor scalar shape []", "tensor", {"shape": []}, np.array(3.5))
ok("tensor from an embedding", "tensor", {"shape": [2]}, E64, np.array([0.6, 0.8]))
cv("tensor wrong shape", "tensor", {"shape": [3, 2]}, T, "shape")
cv("tensor wrong rank", "tensor", {"shape": [None]}, T, "shape")
cv("tensor wrong dtype", "tensor", {"dtype": "float64"}, T, "dtype")
cv("tensor element out of range", "tensor", {"range": [0, 4]}, T, "range")
cv("tensor int element below range", "tensor", {"range": [0, 4]}, np.array([1, -1], dtype=np.int8), "range")
cv("tensor NaN", "tensor", {}, np.array([1.0, NAN]), "finite")
cv("tensor float16 Infinity", "tensor", {}, np.array([INF], dtype=np.float16), "finite")
# DSPex's element bounds
ok("tensor min_value and max_value", "tensor", {"min_value": 0, "max_value": 6}, T)
ok("tensor max_value alone on ints", "tensor", {"max_value": 10}, np.array([0, 5, 10], dtype=np.int64))
cv("tensor element below min_value", "tensor", {"min_value": 2}, T, "min_value")
cv("tensor element above max_value", "tensor", {"max_value": 4.5}, T, "max_value")
mismatch("tensor rejects a list", "tensor", {}, [[1.0, 2.0]])
mismatch("tensor rejects a number", "tensor", {}, 1.0)
mismatch("tensor rejects bytes", "tensor", {}, b"\x00\x01")

# ---- bad type names and constraints -----------------------------------------------------------
bad("unknown type", "number", {}, 1, "type")
bad("type names are case-sensitive", "Float", {}, 1.0, "type")
bad("unknown constraint for the type", "float", {"max_length": 3}, 1.0, "constraints.max_length")
bad("boolean takes no constraints", "boolean", {"choices": ["true"]}, True, "constraints.choices")
bad("min greater than max", "float", {"min": 2, "max": 1}, 1.5, "constraints.min")
bad("integer min greater than max", "integer", {"min": 5, "max": 1}, 3, "constraints.min")
bad("max not a number", "float", {"max": "2"}, 1.0, "constraints.max")
bad("max a boolean", "integer", {"max": True}, 1, "constraints.max")
bad("choice without choices", "choice", {}, "a", "constraints.choices")
bad("choice with empty choices", "choice", {"choices": []}, "a", "constraints.choices")
bad("choice with non-string choices", "choice", {"choices": ["a", 1]}, "a", "constraints.choices")
bad("module choices not a list", "module", {"choices": "Predict"}, "Predict", "constraints.choices")
bad("negative min_length", "string", {"min_length": -1}, "a", "constraints.min_length")
bad("fractional max_length", "list", {"max_length": 1.5}, [], "constraints.max_length")
bad("min_length greater than max_length", "string", {"min_length": 3, "max_length": 2}, "abc", "constraints.min_length")
bad("malformed pattern", "string", {"pattern": "([a-z"}, "a", "constraints.pattern")
bad("pattern not a string", "string", {"pattern": 5}, "a", "constraints.pattern")
bad("pattern lookahead (not RE2)", "string", {"pattern": "^(?=a)a$"}, "a", "constraints.pattern")
bad("pattern lookbehind (not RE2)", "string", {"pattern": "(?<=a)b"}, "ab", "constraints.pattern")
bad("pattern backreference (not RE2)", "string", {"pattern": "^(a)\\1$"}, "aa", "constraints.pattern")
bad("pattern \\Z (RE2 has \\z)", "string", {"pattern": "a\\Z"}, "a", "constraints.pattern")
bad("pattern \\C (any byte)", "string", {"pattern": "a\\C"}, "ab", "constraints.pattern")
bad("pattern repetition over 1000", "string", {"pattern": "a{1001}"}, "a", "constraints.pattern")
bad("pattern longer than 1000 characters", "string", {"pattern": "a" * 1001}, "a", "constraints.pattern")
bad("list item_type not scalar", "list", {"item_type": "map"}, [], "constraints.item_type")
bad("list item_type unknown", "list", {"item_type": "number"}, [], "constraints.item_type")
bad("map required_keys not strings", "map", {"required_keys": [1]}, {}, "constraints.required_keys")
bad("map max_keys negative", "map", {"max_keys": -1}, {}, "constraints.max_keys")
bad(
    "map fewer max_keys than required keys",
    "map",
    {"required_keys": ["a", "b"], "max_keys": 1},
    {"a": 1, "b": 2},
    "constraints.max_keys",
)
bad("embedding dimensions zero", "embedding", {"dimensions": 0}, [], "constraints.dimensions")
bad("embedding dtype int32", "embedding", {"dtype": "int32"}, [1.0], "constraints.dtype")
bad("embedding normalize not boolean", "embedding", {"normalize": 1}, [1.0], "constraints.normalize")
bad("embedding negative norm", "embedding", {"norm": -1}, [1.0], "constraints.norm")
bad("embedding normalize with norm 2", "embedding", {"normalize": True, "norm": 2}, [1.0], "constraints.norm")
bad("embedding norm unknown name", "embedding", {"norm": "l3"}, [1.0], "constraints.norm")
bad("embedding normalize with norm l1", "embedding", {"normalize": True, "norm": "l1"}, [1.0], "constraints.norm")
bad("embedding range reversed", "embedding", {"range": [1, -1]}, [0.0], "constraints.range")
bad("embedding range wrong length", "embedding", {"range": [0]}, [0.0], "constraints.range")
bad("tensor shape not a list", "tensor", {"shape": 3}, T, "constraints.shape")
bad("tensor shape negative", "tensor", {"shape": [2, -2]}, T, "constraints.shape")
bad("tensor dtype unknown", "tensor", {"dtype": "complex64"}, T, "constraints.dtype")
bad("tensor range on bool", "tensor", {"dtype": "bool", "range": [0, 1]}, np.array([True]), "constraints.range")
bad("tensor min_value on bool", "tensor", {"dtype": "bool", "min_value": 0}, np.array([True]), "constraints.min_value")
bad("tensor min_value above max_value", "tensor", {"min_value": 2, "max_value": 1}, T, "constraints.max_value")
bad("tensor max_value not a number", "tensor", {"max_value": "5"}, T, "constraints.max_value")

# ---- infer_type ------------------------------------------------------------------------------
INFER: list[dict[str, Any]] = []


def infer(name: str, value: Any, expected: str | None) -> None:
    INFER.append({"name": name, "value_b64": b64(value), "type": expected})


infer("integer number", 3, "integer")
infer("fractional number", 0.5, "float")
infer("big integer", 2**60, "integer")
infer("string", "x", "string")
infer("boolean", True, "boolean")
infer("list", [1, "a"], "list")
infer("map", {"a": 1}, "map")
infer("embedding", E32, "embedding")
infer("tensor", T, "tensor")
infer("null cannot be inferred", None, None)
infer("bytes cannot be inferred", b"ab", None)


# ---- check against the Python implementation, then write --------------------------------------
def _check() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_types import check_case, check_infer  # the same checks the test suite runs

    for case in CASES:
        check_case(case)
    for case in INFER:
        check_infer(case)


def main() -> None:
    names = [c["name"] for c in CASES + INFER]
    assert len(names) == len(set(names)), "case names must be unique"
    _check()
    doc = {
        "$comment": "Shared variable-type vectors, regenerated by python/tests/variables/make_vectors.py; read by "
        "ts/test/variable-types.test.ts and python/tests/variables/test_types.py. Format: docs/variables-types.md.",
        "cases": CASES,
        "infer": INFER,
    }
    OUT.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {len(CASES)} cases and {len(INFER)} infer cases to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    assert not math.isnan(0.0)
    main()
