"""The variable type system against the shared vectors testdata/variable-types.json, plus messages."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dspy_bridge._gen.dspy_bridge.v1 import values_pb2
from dspy_bridge.errors import (
    ConstraintViolationError,
    InvalidArgumentError,
    VariableTypeError,
    error_from_detail,
    error_to_detail,
)
from dspy_bridge.values import Embedding, decode_value, encode_value
from dspy_bridge.variables import (
    VARIABLE_TYPES,
    canonical_type,
    infer_type,
    types,
    validate_constraints,
    validate_value,
)

VECTORS_PATH = Path(__file__).resolve().parents[3] / "testdata" / "variable-types.json"

REASON_CLASS = {
    "type_mismatch": VariableTypeError,
    "constraint_violation": ConstraintViolationError,
    "invalid_argument": InvalidArgumentError,
}


def _decode(b64: str) -> Any:
    return decode_value(values_pb2.Value.FromString(base64.b64decode(b64)))


def same(a: Any, b: Any) -> bool:
    """Equal values of the same Python types (an Embedding is not a plain ndarray, 1.0 is not 1)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            type(a) is type(b)
            and a.dtype.newbyteorder("=") == b.dtype.newbyteorder("=")
            and a.shape == b.shape
            and bool(np.array_equal(a, b))
        )
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def check_case(case: dict[str, Any]) -> None:
    """Validate one vector and compare the outcome (also used by make_vectors.py)."""
    value = _decode(case["value_b64"])
    expect = case["expect"]
    name = case["name"]
    if expect.get("ok"):
        got = validate_value(case["type"], value, case["constraints"], "v")
        want = _decode(expect["normalized_b64"]) if "normalized_b64" in expect else value
        # Re-encoding the stored value must give back the same value (it is what travels).
        again = decode_value(encode_value(got))
        assert same(again, want), f"{name}: stored {got!r}, expected {want!r}"
        return
    with pytest.raises(InvalidArgumentError) as info:
        validate_value(case["type"], value, case["constraints"], "v")
    err = info.value
    assert type(err) is REASON_CLASS[expect["error"]], f"{name}: got {type(err).__name__}: {err}"
    assert err.reason == expect["error"], name
    if expect["error"] == "constraint_violation":
        assert isinstance(err, ConstraintViolationError)
        assert err.constraint == expect["constraint"], f"{name}: {err}"
        assert err.variable == "v" and err.type == canonical_type(case["type"])
        assert "v" in err.message and expect["constraint"] in err.message
    elif expect["error"] == "type_mismatch":
        assert isinstance(err, VariableTypeError)
        assert err.variable == "v" and err.type == canonical_type(case["type"]) and err.got
    else:
        assert err.parameter == expect["parameter"], f"{name}: {err.parameter} ({err})"


def check_infer(case: dict[str, Any]) -> None:
    value = _decode(case["value_b64"])
    if case["type"] is None:
        with pytest.raises(VariableTypeError):
            infer_type(value)
    else:
        assert infer_type(value) == case["type"], case["name"]


# make_vectors.py imports this module before the file exists; the coverage test fails if it is missing.
VECTORS = json.loads(VECTORS_PATH.read_text()) if VECTORS_PATH.exists() else {"cases": [], "infer": []}


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["name"])
def test_vector(case: dict[str, Any]) -> None:
    check_case(case)


@pytest.mark.parametrize("case", VECTORS["infer"], ids=lambda c: c["name"])
def test_infer_vector(case: dict[str, Any]) -> None:
    check_infer(case)


def test_vectors_cover_every_type_and_constraint() -> None:
    cases = VECTORS["cases"]
    for t in VARIABLE_TYPES:
        kinds = {
            ("ok" if c["expect"].get("ok") else c["expect"]["error"])
            for c in cases
            if canonical_type_or_none(c["type"]) == t
        }
        assert "ok" in kinds, t
        assert "type_mismatch" in kinds, t
    violated = {
        (canonical_type(c["type"]), c["expect"]["constraint"])
        for c in cases
        if c["expect"].get("error") == "constraint_violation"
    }
    for t, names in types.CONSTRAINTS_BY_TYPE.items():
        for n in names:
            if n in ("norm_tolerance", "item_type"):
                continue  # a modifier of norm; item_type failures are type_mismatch (vectors above)
            assert (t, n) in violated, f"no vector violates {t}.{n}"


def canonical_type_or_none(name: str) -> str | None:
    try:
        return canonical_type(name)
    except InvalidArgumentError:
        return None


# --- messages and details ---------------------------------------------------------------------


def test_constraint_violation_message_names_variable_constraint_value_and_limit() -> None:
    with pytest.raises(ConstraintViolationError) as info:
        validate_value("float", 2.5, {"min": 0.0, "max": 2.0}, "temperature")
    err = info.value
    assert str(err) == "temperature = 2.5 violates max = 2.0"
    assert err.details == {"variable": "temperature", "type": "float", "constraint": "max", "limit": 2.0}
    assert isinstance(err, ValueError) and err.code == 3
    # The details travel.
    back = error_from_detail(error_to_detail(err))
    assert type(back) is ConstraintViolationError and back.limit == 2.0 and back.constraint == "max"


def test_messages_for_lengths_choices_and_embeddings() -> None:
    with pytest.raises(ConstraintViolationError, match=r"^name = 'abcdef' violates max_length = 3 \(length 6\)$"):
        validate_value("string", "abcdef", {"max_length": 3}, "name")
    with pytest.raises(ConstraintViolationError, match=r"mode = 'slow' violates choices = \[\"fast\", \"accurate\"\]"):
        validate_value("choice", "slow", {"choices": ["fast", "accurate"]}, "mode")
    with pytest.raises(ConstraintViolationError, match=r"^emb = .* violates dimensions = 3 \(2 dimensions\)$"):
        validate_value("embedding", [0.1, 0.2], {"dimensions": 3}, "emb")
    with pytest.raises(ConstraintViolationError, match=r"^t = nan violates finite = true \(NaN and Infinity"):
        validate_value("float", float("nan"), {}, "t")
    with pytest.raises(ConstraintViolationError, match=r"^value = 11 violates max = 10$"):
        validate_value("integer", 11, {"max": 10})


def test_type_mismatch_message_and_details() -> None:
    with pytest.raises(VariableTypeError) as info:
        validate_value("integer", True, {}, "max_tokens")
    err = info.value
    assert str(err) == "max_tokens must be an integer, got bool True"
    assert err.details == {"variable": "max_tokens", "type": "integer", "got": "bool"}
    assert isinstance(err, TypeError) and isinstance(err, ValueError)
    with pytest.raises(VariableTypeError, match=r"^tags\[2\] must be a string, got int 3$"):
        validate_value("list", ["a", "b", 3], {"item_type": "string"}, "tags")
    with pytest.raises(VariableTypeError) as unnamed:
        validate_value("float", "x", {})
    assert "variable" not in unnamed.value.details and str(unnamed.value).startswith("value must be")


def test_bad_type_and_constraints_name_the_parameter() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        canonical_type("number")
    assert info.value.parameter == "type" and "known types: float, integer" in str(info.value)
    with pytest.raises(InvalidArgumentError) as bad:
        validate_constraints("float", {"min": 3, "max": 1})
    assert type(bad.value) is InvalidArgumentError and bad.value.parameter == "constraints.min"
    with pytest.raises(InvalidArgumentError, match="unknown constraint 'pattern' for type float"):
        validate_constraints("float", {"pattern": "x"})
    with pytest.raises(InvalidArgumentError) as text:
        validate_constraints("float", "{not json")
    assert text.value.parameter == "constraints"


def test_constraints_normalization() -> None:
    assert validate_constraints("list", {"item_type": "int"}) == {"item_type": "integer"}
    assert validate_constraints("tensor", {"shape": [-1, 3.0]}) == {"shape": [None, 3]}
    assert validate_constraints("string", '{"max_length": 4.0}') == {"max_length": 4}
    assert validate_constraints("float", None) == {} == validate_constraints("float", "")
    assert canonical_type("dict") == "map" and canonical_type("bool") == "boolean"


def test_python_only_inputs_are_normalized() -> None:
    assert validate_value("list", (1, 2), {}) == [1, 2]
    assert validate_value("float", np.float32(0.5), {}) == 0.5
    assert validate_value("integer", np.int64(7), {}) == 7 and type(validate_value("integer", np.int64(7), {})) is int
    emb = validate_value("embedding", np.array([1.0, 2.0]), {})
    assert type(emb) is Embedding
    assert type(validate_value("tensor", Embedding([1.0]), {})) is np.ndarray
    with pytest.raises(VariableTypeError):
        validate_value("map", {1: "a"}, {})
    with pytest.raises(VariableTypeError):
        validate_value("tensor", np.array(["a"]), {})
    assert (
        infer_type((1,)) == "list"
        and infer_type(np.array([1.0])) == "tensor"
        and infer_type(np.bool_(True)) == "boolean"
    )


def test_embedding_normalize_scales_to_unit_length() -> None:
    out = validate_value("embedding", Embedding([3.0, 4.0], dtype=np.float32), {"normalize": True})
    assert out.dtype == np.float32 and np.allclose(out, [0.6, 0.8])


def test_public_names() -> None:
    from dspy_bridge import variables

    assert set(types.__all__) <= set(variables.__all__)
