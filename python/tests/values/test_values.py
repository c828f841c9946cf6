"""Value envelope tests: the shared vectors in testdata/values.json plus Python-specific cases."""

from __future__ import annotations

import base64
import collections
import enum
import json
import math
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dspy_bridge._gen.dspy_bridge.v1 import values_pb2
from dspy_bridge.values import (
    DTYPE_NAMES,
    DTYPES,
    LONG_STRING_CHARS,
    Embedding,
    ExternalAttachment,
    ExternalTensor,
    ValueDecodingError,
    ValueEncodingError,
    decode_value,
    encode_value,
    encode_small_map_utf8,
    encode_value_parts,
    encode_value_raw,
)

# DSPY_BRIDGE_TEST_REPO names the repository when the tests run from a copy (the mutation runs).
ROOT = Path(os.environ.get("DSPY_BRIDGE_TEST_REPO") or Path(__file__).resolve().parents[3])
VECTORS = json.loads((ROOT / "testdata" / "values.json").read_text(encoding="utf-8"))
PROTO_BY_NAME = {name: code for code, name in DTYPE_NAMES.items()}
VALID = VECTORS["valid"]
INVALID = VECTORS["invalid"]


# ---- helpers ----------------------------------------------------------------------------------
def build_envelope(env: dict[str, Any]) -> values_pb2.Value:
    msg = values_pb2.Value(json=env["json"])
    for a in env["attachments"]:
        att = msg.attachments.add()
        if "bytes" in a:
            att.bytes = base64.b64decode(a["bytes"])
        elif "tensor" in a:
            t = a["tensor"]
            dt = t["dtype"]
            att.tensor.dtype = PROTO_BY_NAME[dt] if isinstance(dt, str) else dt
            att.tensor.shape.extend(t["shape"])
            att.tensor.data = base64.b64decode(t["data"])
    return msg


def expected_value(node: dict[str, Any]) -> Any:
    t = node["t"]
    if t == "null":
        return None
    if t in ("bool", "str"):
        return node["v"]
    if t == "int":
        return int(node["v"])
    if t == "float":
        return float(node["v"])
    if t == "bytes":
        return base64.b64decode(node["v"])
    if t == "list":
        return [expected_value(x) for x in node["v"]]
    if t == "map":
        return {k: expected_value(x) for k, x in node["v"].items()}
    if t in ("tensor", "embedding"):
        dtype = DTYPES[PROTO_BY_NAME[node["dtype"]]]
        shape = node["shape"] if t == "tensor" else [-1]
        arr = np.frombuffer(base64.b64decode(node["data"]), dtype=dtype).reshape(shape)
        return arr if t == "tensor" else arr.view(Embedding)
    raise AssertionError(f"unknown expected node {t}")


def check_values_list(arr: np.ndarray, dtype: str, values: list[Any]) -> None:
    flat = arr.ravel().tolist()
    assert len(flat) == len(values)
    for got, want in zip(flat, values):
        if dtype in ("int64", "uint64"):
            assert got == int(want)
        elif isinstance(want, str):
            assert math.isnan(got) if want == "NaN" else got == float(want)
        else:
            assert got == want


def assert_same(actual: Any, expected: Any, node: dict[str, Any], where: str = "value") -> None:
    """Strict comparison: types must match exactly (int vs float vs bool, ndarray vs Embedding)."""
    t = node["t"]
    if t == "null":
        assert actual is None, where
    elif t == "bool":
        assert type(actual) is bool and actual is expected, where
    elif t == "int":
        assert type(actual) is int and actual == expected, where
    elif t == "float":
        assert type(actual) is float, f"{where}: {type(actual)}"
        assert (math.isnan(actual) and math.isnan(expected)) or actual == expected, where
    elif t == "str":
        assert type(actual) is str and actual == expected, where
    elif t == "bytes":
        assert type(actual) is bytes and actual == expected, where
    elif t == "list":
        assert type(actual) is list and len(actual) == len(expected), where
        for i, (a, e, n) in enumerate(zip(actual, expected, node["v"])):
            assert_same(a, e, n, f"{where}[{i}]")
    elif t == "map":
        assert type(actual) is dict and list(actual) == list(expected), where
        for k, n in node["v"].items():
            assert_same(actual[k], expected[k], n, f"{where}.{k}")
    elif t in ("tensor", "embedding"):
        if t == "tensor":
            assert type(actual) is np.ndarray, f"{where}: {type(actual)}"
        else:
            assert type(actual) is Embedding and actual.ndim == 1, f"{where}: {type(actual)}"
        assert actual.dtype == expected.dtype and actual.shape == expected.shape, where
        assert actual.tobytes() == expected.tobytes(), where
        check_values_list(actual, node["dtype"], node["values"])
    else:
        raise AssertionError(t)


def envelope_json(msg: values_pb2.Value) -> Any:
    return json.loads(msg.json) if msg.json else None


def assert_same_envelope(actual: values_pb2.Value, expected: values_pb2.Value) -> None:
    assert envelope_json(actual) == envelope_json(expected)
    assert [a.SerializeToString() for a in actual.attachments] == [e.SerializeToString() for e in expected.attachments]


# ---- shared vectors ---------------------------------------------------------------------------
@pytest.mark.parametrize("case", VALID, ids=[c["name"] for c in VALID])
def test_vector_decodes_to_expected(case: dict[str, Any]) -> None:
    msg = build_envelope(case["envelope"])
    wire = msg.SerializeToString()
    assert base64.b64encode(wire).decode() == case["binary"], "protobuf bytes differ from the vector"
    parsed = values_pb2.Value.FromString(base64.b64decode(case["binary"]))
    assert parsed == msg
    decoded = decode_value(parsed)
    assert_same(decoded, expected_value(case["expected"]), case["expected"])


@pytest.mark.parametrize("case", VALID, ids=[c["name"] for c in VALID])
def test_vector_reencodes_to_same_envelope(case: dict[str, Any]) -> None:
    decoded = decode_value(build_envelope(case["envelope"]))
    target = build_envelope(case.get("reencoded", case["envelope"]))
    again = encode_value(decoded)
    assert_same_envelope(again, target)
    # Python's encoder is the one the vectors were written against: the text is byte-identical.
    assert again.json == target.json
    # ... and the serialized message survives a protobuf round trip unchanged.
    wire = again.SerializeToString()
    assert wire == target.SerializeToString()
    round_tripped = values_pb2.Value.FromString(wire)
    assert_same(decode_value(round_tripped), expected_value(case["expected"]), case["expected"])


def test_expected_value_encodes_to_envelope() -> None:
    """Encoding the natively built expected value (not the decoded one) gives the vector too."""
    for case in VALID:
        target = build_envelope(case.get("reencoded", case["envelope"]))
        assert_same_envelope(encode_value(expected_value(case["expected"])), target)


@pytest.mark.parametrize("case", INVALID, ids=[c["name"] for c in INVALID])
def test_invalid_vector_is_rejected(case: dict[str, Any]) -> None:
    assert case["error"] == "ValueDecodingError"
    msg = values_pb2.Value.FromString(base64.b64decode(case["binary"]))
    assert msg == build_envelope(case["envelope"])
    with pytest.raises(ValueDecodingError) as info:
        decode_value(msg)
    err = info.value
    assert err.path == case["path"]
    assert case["message_contains"] in str(err)
    assert err.reason == "invalid_argument"
    assert isinstance(err, ValueError)


def test_vectors_cover_the_required_cases() -> None:
    names = " | ".join(c["name"] for c in VALID)
    for needle in [
        "float32 2-D",
        "float64 3-D",
        "empty [0]",
        "scalar shape []",
        "int64 beyond 2^53",
        "embedding float32",
        "embedding float64",
        "NaN",
        "-Infinity",
        "unicode",
        "depth",
        "beyond 2^64",
        "bytes empty",
        "all 256",
        "$type key is escaped",
        "null",
    ]:
        assert needle in names, needle
    assert len(INVALID) >= 20


# ---- Python-specific encoding behaviour -------------------------------------------------------
def test_plain_values_take_the_fast_path_and_round_trip() -> None:
    obj = {"x": 1, "s": "hello", "l": [1.5, None, True], "t": (1, 2)}
    msg = encode_value(obj)
    assert msg.json == '{"x":1,"s":"hello","l":[1.5,null,true],"t":[1,2]}'
    assert len(msg.attachments) == 0
    assert decode_value(msg) == {"x": 1, "s": "hello", "l": [1.5, None, True], "t": [1, 2]}


def test_float_int_asymmetry_is_as_documented() -> None:
    assert encode_value(1.0).json == "1.0"
    assert type(decode_value(encode_value(1.0))) is float
    # what TypeScript sends for the number 1
    assert type(decode_value(values_pb2.Value(json="1"))) is int


def test_big_ints_and_non_finite_floats() -> None:
    assert json.loads(encode_value(2**53).json) == {"$type": "bigint", "value": str(2**53)}
    assert encode_value(2**53 - 1).json == str(2**53 - 1)
    assert decode_value(encode_value(-(10**30))) == -(10**30)
    out = decode_value(encode_value([float("nan"), float("inf"), -float("inf")]))
    assert math.isnan(out[0]) and out[1] == math.inf and out[2] == -math.inf


def test_bytes_like_inputs_decode_as_bytes() -> None:
    data = bytes(range(10))
    out = decode_value(encode_value([data, bytearray(data), memoryview(data)[::2]]))
    assert out == [data, data, data[::2]]
    assert all(type(x) is bytes for x in out)


def test_tensor_layout_non_contiguous_and_big_endian() -> None:
    base = np.arange(24, dtype=np.int32).reshape(4, 6)
    view = base[::2, 1::2]
    assert not view.flags.c_contiguous
    out = decode_value(values_pb2.Value.FromString(encode_value(view).SerializeToString()))
    np.testing.assert_array_equal(out, view)
    big = np.array([1.5, -2.0, 3.25], dtype=">f8")
    msg = encode_value(big)
    assert msg.attachments[0].tensor.data == np.array([1.5, -2.0, 3.25], dtype="<f8").tobytes()
    np.testing.assert_array_equal(decode_value(msg), big)
    fortran = np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    np.testing.assert_array_equal(decode_value(encode_value(fortran)), fortran)


def test_decoded_tensor_is_a_read_only_view() -> None:
    arr = decode_value(encode_value(np.arange(4, dtype=np.float64)))
    assert type(arr) is np.ndarray and not arr.flags.writeable
    with pytest.raises(ValueError):
        arr[0] = 1.0
    writable = arr.copy()
    writable[0] = 9.0
    assert writable[0] == 9.0


@pytest.mark.parametrize("code", sorted(DTYPES))
def test_every_dtype_round_trips(code: int) -> None:
    dtype = DTYPES[code]
    arr = (np.arange(6) % 2).astype(dtype).reshape(3, 2)
    msg = encode_value({"a": arr})
    assert msg.attachments[0].tensor.dtype == code
    out = decode_value(msg)["a"]
    assert out.dtype == dtype and out.shape == (3, 2)
    np.testing.assert_array_equal(out, arr)


def test_embedding_construction_and_round_trip() -> None:
    e = Embedding([0.1, 0.2])
    assert e.dtype == np.float64 and isinstance(e, np.ndarray)
    e32 = Embedding(np.array([1, 2], dtype=np.float32))
    assert e32.dtype == np.float32
    assert Embedding([1, 2], dtype=np.float32).dtype == np.float32
    assert Embedding(np.array([1, 2], dtype=np.int64)).dtype == np.float64
    with pytest.raises(ValueError):
        Embedding([[1.0, 2.0]])
    with pytest.raises(ValueError):
        Embedding([1.0], dtype=np.int32)
    msg = encode_value({"e": e32})
    assert json.loads(msg.json) == {"e": {"$type": "embedding", "ref": 0}}
    back = decode_value(msg)["e"]
    assert type(back) is Embedding and back.dtype == np.float32
    np.testing.assert_array_equal(back, e32)
    # a plain 1-D float array is a tensor, not an embedding
    assert json.loads(encode_value(np.array([1.0])).json)["$type"] == "tensor"


def test_numpy_scalars_encode_as_plain_numbers() -> None:
    assert decode_value(encode_value([np.int64(3), np.float32(0.5), np.bool_(True)])) == [3, 0.5, True]
    assert json.loads(encode_value(np.uint64(2**64 - 1)).json) == {"$type": "bigint", "value": str(2**64 - 1)}


def test_dollar_type_key_is_escaped_and_restored() -> None:
    obj = {"$type": "mine", "nested": {"$type": {"$type": 1}}}
    msg = encode_value(obj)
    assert json.loads(msg.json)["$type"] == "map"
    assert decode_value(msg) == obj


def test_lone_surrogate_strings_are_escaped() -> None:
    msg = encode_value({"s": "a\ud800b", "k": "漢"})
    assert "\\ud800" in msg.json
    assert decode_value(values_pb2.Value.FromString(msg.SerializeToString())) == {"s": "a\ud800b", "k": "漢"}


def test_encode_value_parts() -> None:
    text, atts = encode_value_parts({"b": b"xy"})
    assert text == '{"b":{"$type":"bytes","ref":0}}'
    assert len(atts) == 1 and atts[0].bytes == b"xy"


def test_empty_json_decodes_as_none() -> None:
    assert decode_value(values_pb2.Value()) is None


# ---- encoding errors name the path ------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "root", "path", "fragment"),
    [
        ({"items": [1, 2, 3, object()]}, "args", "args.items[3]", "object"),
        ({"a": {1: "x"}}, "value", "value.a", "dict key 1 has type int"),
        ({"s": {1, 2}}, "value", "value.s", "set"),
        ([{"odd key": [None, lambda: 1]}], "value", 'value[0]["odd key"][1]', "function"),
        ({"c": np.array([1 + 2j])}, "value", "value.c", "complex128"),
        ({"o": np.array(["a"], dtype=object)}, "value", "value.o", "object"),
        ({"e": Embedding([1.0, 2.0]).reshape(1, 2)}, "value", "value.e", "1-D"),
        ({"m": np.ma.masked_array([1, 2], mask=[0, 1])}, "value", "value.m", "masked"),
        ({"$type": "x", "bad": object()}, "value", "value.bad", "object"),
        ((1, (2, (3, Ellipsis))), "value", "value[1][1][1]", "ellipsis"),
    ],
)
def test_encoding_errors_name_path_and_type(value: Any, root: str, path: str, fragment: str) -> None:
    with pytest.raises(ValueEncodingError) as info:
        encode_value(value, root)
    err = info.value
    assert err.path == path
    assert fragment in str(err)
    assert err.reason == "invalid_argument"
    assert isinstance(err, ValueError)


def test_cycles_are_reported_with_path() -> None:
    a: list[Any] = [1]
    a.append({"back": a})
    with pytest.raises(ValueEncodingError) as info:
        encode_value({"x": a})
    assert "cycle" in str(info.value)
    assert info.value.path == "value.x[1].back"


@pytest.mark.parametrize(
    "obj",
    [
        {"fields": {"answer": "x", "n": 3}, "usage": {}, "latency_ms": 0.5, "lm": "scripted", "lm_calls": []},
        [{"a": [1, 2, {"b": None}]}, [], {}],
        {"deep": {"$type": "not a tag"}},  # a "$type" key below the top is still escaped
        {"deep": [1, 2**60]},  # a big int below the top is still tagged
        {"deep": {"x": float("nan")}},  # non-finite floats below the top are still tagged
        {"deep": {"t": (1, 2)}},  # a tuple below the top becomes a list
        {"a": {"b": {"c": {"d": {"e": 1}}}}},  # deeper than the quick check looks
        {str(i): list(range(10)) for i in range(10)},  # more items than the quick check looks at
        {"a": {"b": {"c": {"d": {"e": 2**60}}}}},  # a big int deeper than the quick check looks
        [*range(70), 2**60],  # a big int past the items the quick check looks at
    ],
)
def test_nested_results_encode_exactly_as_the_walk_does(obj: Any) -> None:
    """Results nested a few levels (a DSPy run's) skip the walker when they are plain; what
    comes out must be what the walker would have produced, and must round-trip."""
    from dspy_bridge.values import _encode

    walker = _encode._Walker()
    walked = walker.walk(obj)
    assert encode_value(obj).json == _encode._encode_json(walked)
    assert decode_value(encode_value(obj)) == decode_value(
        values_pb2.Value(json=_encode._encode_json(walked), attachments=walker.attachments)
    )


class _Color(enum.IntEnum):
    RED = 1


class _Key(str):
    pass


@pytest.mark.parametrize(
    "obj",
    [
        {"ok": True},
        {"s": "héllo", "f": 1.5, "z": None, "i": -3, "b": False},
        {"$type": "not a tag"},  # must be escaped, so not the quick path
        {"n": 2**60},  # a big int is tagged
        {"x": float("nan"), "y": float("-inf")},  # non-finite floats are tagged
        {"t": (1, 2)},  # a tuple becomes a list
        {1: "a"},  # a non-str key is the walker's to judge
        {str(i): i for i in range(9)},  # more keys than the quick check takes
        {"nested": {"a": 1}},
        {},
        {"e": _Color.RED},  # an int subclass goes to the walker
        {_Key("k"): _Key("v")},  # str subclasses, as key and as value
        {"f": np.float64(1.0), "i": np.int64(1)},  # numpy scalars
        collections.OrderedDict(a=1),  # a dict subclass
        {"z": -0.0, "big": 1e308},
        {"max": 2**53 - 1, "over": 2**53},
        {**{str(i): i for i in range(9)}, "over": 2**60},  # more keys than the quick check takes, one tagged
    ],
)
def test_flat_results_encode_exactly_as_the_walk_does(obj: Any) -> None:
    """Small flat dicts (most commands' results) take a quick check in encode_value_parts;
    what comes out, or the error, must be what the walker gives."""
    from dspy_bridge.values import _encode, encode_value_parts

    walker = _encode._Walker()
    try:
        walked = walker.walk(obj)
    except _encode._Fail:
        with pytest.raises(ValueEncodingError):
            encode_value_parts(obj, "result")
        return
    text, attachments = encode_value_parts(obj, "result")
    assert text == _encode._encode_json(walked)
    assert attachments == walker.attachments


# ---- the worker connection: raw attachments out, out-of-band attachments in ----------------------
def test_raw_encoding_sends_long_strings_as_utf8_attachments_from_exactly_long_string_chars() -> None:
    long = "é" * LONG_STRING_CHARS
    short = "x" * (LONG_STRING_CHARS - 1)
    text, atts = encode_value_raw([long, short, {"k": long}])
    assert json.loads(text) == [
        {"$type": "string", "ref": 0},
        short,
        {"k": {"$type": "string", "ref": 1}},
    ]
    assert [(kind, code, shape, bytes(data)) for kind, code, shape, data in atts] == [
        ("utf8", 0, (), long.encode("utf-8")),
        ("utf8", 0, (), long.encode("utf-8")),
    ]
    # encode_value (gRPC, the host's JSON) keeps every string in the text.
    assert json.loads(encode_value([long]).json) == [long]


def test_raw_encoding_keeps_a_long_string_with_a_lone_surrogate_in_the_text_escaped() -> None:
    odd = "a\ud800" + "b" * LONG_STRING_CHARS
    text, atts = encode_value_raw({"s": odd, "k": "漢"})
    assert atts == []
    # No UTF-8 form: the whole text falls back to ASCII escapes, which carry the same value.
    assert text.isascii() and "\\ud800" in text and "\\u6f22" in text
    assert json.loads(text) == {"s": odd, "k": "漢"}


def test_raw_encoding_of_plain_values_is_the_json_text_alone() -> None:
    assert encode_value_raw({"ok": True, "k": "漢"}) == ('{"ok":true,"k":"漢"}', [])
    assert encode_value_raw([1, "x", None]) == ('[1,"x",null]', [])
    # A flat dict that needs the walk (a tag-like key) is not taken as plain.
    assert encode_value_raw({"$type": 1}) == ('{"$type":"map","entries":{"$type":1}}', [])


class StrSubclass(str):
    pass


class IntSubclass(int):
    pass


def _random_flat_map(rng: random.Random) -> dict[Any, Any]:
    """A small map of the scalars a command returns, with the keys and values the fast path
    must decline or escape mixed in."""
    pool = 'ab"\\\n\x00\x1f\x7fé漢😀\u2028 $'

    def text() -> str:
        s = "".join(rng.choice(pool) for _ in range(rng.randrange(6)))
        return s + "\ud800" if rng.random() < 0.03 else s

    def scalar() -> Any:
        return rng.choice(
            [
                lambda: None,
                lambda: rng.random() < 0.5,
                lambda: rng.randrange(-(2**54), 2**54),
                lambda: rng.randrange(-1000, 1000),
                lambda: rng.choice([rng.uniform(-1e6, 1e6), rng.random() * 1e-300, 1e300 * 1e10, -0.0, math.nan]),
                text,
                lambda: b"x",
            ]
        )()

    def key() -> Any:
        return rng.choice([text, text, text, lambda: "$type", lambda: 1, lambda: True, lambda: None])()

    return {key(): scalar() for _ in range(rng.randrange(11))}


def test_small_map_fast_path_agrees_with_the_raw_encoding_on_any_flat_map() -> None:
    rng = random.Random(20261207)
    answered = 0
    for _ in range(3000):
        value = _random_flat_map(rng)
        got = encode_small_map_utf8(value)
        if got is None:
            continue
        answered += 1
        text, atts = encode_value_raw(value)
        assert atts == []
        assert got == text.encode("utf-8"), value
        assert json.loads(got) == value
    assert answered > 300  # the maps it must answer do come up


def test_small_map_fast_path_is_the_raw_encoding_or_none() -> None:
    # The worker answers most results through encode_small_map_utf8: where it answers, its
    # bytes must be exactly what encode_value_raw would have sent; elsewhere it must decline.
    for value in [
        {"ok": True},
        {},
        {"a": None, "b": False, "c": 1, "d": -2.5, "e": "漢字", "f": 2**53 - 1},
        {str(i): i for i in range(8)},
        # what the string escaper must handle, in keys and values alike
        {'q"uote': 'a"b', "back\\slash": "c\\d", "ctl\n\t\x00\x1f": "\x7f\u2028\u2029", "é漢😀": "😀"},
        {"": "", " ": " ", "1": -(2**53 - 1), "0": 0, "t": True},
        # what float repr writes, as the C encoder does
        {"a": -0.0, "b": 1e16, "c": 1e-7, "d": 0.1 + 0.2, "e": 1.7976931348623157e308, "f": 5e-324},
    ]:
        text, atts = encode_value_raw(value)
        assert atts == []
        assert encode_small_map_utf8(value) == text.encode("utf-8")
    for value in [
        {str(i): i for i in range(9)},  # more than eight keys
        {"$type": "x"},  # a reserved key
        {1: "x"},  # a key that is not a str
        {"n": 2**53},  # beyond the safe integers
        {"f": float("nan")},
        {"f": float("inf")},
        {"f": float("-inf")},
        {"n": -(2**53)},
        {"s": StrSubclass("x")},  # subclasses take the general walk
        {"i": IntSubclass(1)},
        {"b": b"x"},
        {"k": "x", "$type": "x"},  # a reserved key after a good one
        {"l": [1]},  # nested
        {"s": "x" * LONG_STRING_CHARS},  # a long string travels as an attachment
        {"s": "\ud800"},  # a lone surrogate (escaped by encode_value_raw)
        [1, 2],
        "text",
        None,
    ]:
        assert encode_small_map_utf8(value) is None, value


def test_raw_encoding_sends_arrays_as_views_of_their_memory() -> None:
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    text, atts = encode_value_raw({"t": arr, "b": b"xy"})
    assert json.loads(text) == {"t": {"$type": "tensor", "ref": 0}, "b": {"$type": "bytes", "ref": 1}}
    kind, code, shape, data = atts[0]
    assert (kind, code, shape) == ("tensor", values_pb2.DTYPE_FLOAT32, (2, 3))
    assert isinstance(data, memoryview) and bytes(data) == arr.tobytes()
    assert atts[1] == ("bytes", 0, (), b"xy")


def _out_of_band(kind: str, data: bytes, dtype: int = 0, shape: tuple[int, ...] = ()) -> ExternalAttachment:
    view = memoryview(data)
    return ExternalAttachment(kind, view, ExternalTensor(dtype, list(shape), view) if kind == "tensor" else None)


def test_out_of_band_attachments_decode_like_the_messages_own() -> None:
    floats = np.array([1.5, -2.0], dtype="<f8").tobytes()
    msg = values_pb2.Value(
        json='[{"$type":"bytes","ref":0},{"$type":"string","ref":1},{"$type":"tensor","ref":2},'
        '{"$type":"embedding","ref":2}]'
    )
    out = decode_value(
        msg,
        attachments=[
            _out_of_band("bytes", b"\x00\xff"),
            _out_of_band("utf8", "héllo".encode()),
            _out_of_band("tensor", floats, values_pb2.DTYPE_FLOAT64, (2,)),
        ],
    )
    assert out[0] == b"\x00\xff" and type(out[0]) is bytes
    assert out[1] == "héllo"
    assert type(out[2]) is np.ndarray and out[2].tolist() == [1.5, -2.0] and out[2].shape == (2,)
    assert type(out[3]) is Embedding and out[3].tolist() == [1.5, -2.0]
    # Each kind is what it says it is: a utf8 attachment is not bytes.
    with pytest.raises(ValueDecodingError) as info:
        decode_value(values_pb2.Value(json='{"$type":"bytes","ref":0}'), attachments=[_out_of_band("utf8", b"x")])
    assert info.value.path == "value" and "attachment 0 holds utf8, expected bytes" in str(info.value)


def test_external_references_without_the_frame_are_refused() -> None:
    msg = values_pb2.Value(json='{"$type":"bytes","ref":0}')
    msg.external.add()
    with pytest.raises(ValueDecodingError) as info:
        decode_value(msg)
    assert str(info.value) == (
        "cannot decode value: external attachments only travel on a worker connection (send them as attachments)"
    )
    # The frame reader passes them resolved: then they decode.
    assert decode_value(msg, attachments=[_out_of_band("bytes", b"ok")]) == b"ok"


def test_non_finite_constants_in_the_json_text_are_refused_by_name() -> None:
    for constant in ("NaN", "Infinity", "-Infinity"):
        with pytest.raises(ValueDecodingError) as info:
            decode_value(values_pb2.Value(json=f"[1, {constant}]"))
        assert info.value.path == "value"
        assert f"malformed JSON: {constant} is not valid JSON (non-finite floats must be tagged)" in str(info.value)


class _Opaque:
    pass


def test_encoding_errors_give_the_exact_message() -> None:
    import decimal

    with pytest.raises(ValueEncodingError) as info:
        encode_value({"d": decimal.Decimal(1)})
    assert str(info.value) == "cannot encode value.d: values of type decimal.Decimal are not supported"
    with pytest.raises(ValueEncodingError) as info:
        encode_value([_Opaque()], "args")
    assert str(info.value) == (f"cannot encode args[0]: values of type {__name__}._Opaque are not supported")
    # The default root is "value" on every entry point.
    with pytest.raises(ValueEncodingError) as info:
        encode_value_parts({1: 2})
    assert info.value.path == "value" and "dict key 1 has type int" in str(info.value)


def test_an_int_beyond_the_str_digit_limit_is_refused_by_name() -> None:
    import sys

    huge = 10 ** (sys.get_int_max_str_digits() + 1)
    with pytest.raises(ValueEncodingError) as info:
        encode_value({"n": huge})
    assert info.value.path == "value.n"
    assert "int too large to encode (Exceeds the limit" in str(info.value)


def test_a_str_subclass_key_is_sent_as_a_plain_key_and_the_keys_after_it_are_walked() -> None:
    msg = encode_value({_Key("k"): 2**60, "z": 2**61})
    assert msg.json == (
        '{"k":{"$type":"bigint","value":"1152921504606846976"},"z":{"$type":"bigint","value":"2305843009213693952"}}'
    )
    assert decode_value(msg) == {"k": 2**60, "z": 2**61}


def test_non_list_containers_take_the_walk_not_the_quick_dict_path() -> None:
    assert encode_value_parts([1, 2]) == ("[1,2]", [])
    assert encode_value_parts((1, "a")) == ('[1,"a"]', [])
    assert encode_value_parts("x") == ('"x"', [])


def _nested(depth: int, leaf: Any) -> Any:
    out: Any = leaf
    for _ in range(depth):
        out = [out]
    return out


def test_a_value_nested_too_deeply_is_refused_at_the_root_and_a_shared_object_is_no_cycle() -> None:
    shared = {"a": 1}
    deep = [shared, shared, _nested(5000, 0)]
    with pytest.raises(ValueEncodingError) as info:
        encode_value(deep, "args")
    assert info.value.path == "args"
    assert str(info.value) == "cannot encode args: value is nested too deeply"


def test_a_cycle_is_named_by_the_type_that_contains_itself() -> None:
    loop: dict[str, Any] = {}
    loop["self"] = [loop]
    with pytest.raises(ValueEncodingError) as info:
        encode_value({"x": loop})
    assert str(info.value) == "cannot encode value.x.self[0]: reference cycle (dict contains itself)"


def test_the_largest_safe_integers_are_plain_numbers_on_every_path() -> None:
    edge = [-(2**53 - 1), 2**53 - 1]
    assert encode_value(edge).json == "[-9007199254740991,9007199254740991]"
    # Beside an attachment the walk decides, and decides the same.
    assert encode_value([b"", *edge]).json == '[{"$type":"bytes","ref":0},-9007199254740991,9007199254740991]'
    assert json.loads(encode_value([b"", -(2**53)]).json)[1] == {"$type": "bigint", "value": str(-(2**53))}


def test_subclasses_of_the_json_types_and_numpy_scalars_are_sent_as_the_plain_values() -> None:
    msg = encode_value([_Key("v"), _Color.RED, np.float64(1.5), np.bool_(True), np.int32(7), np.float32(2.0), b""])
    assert msg.json == '["v",1,1.5,true,7,2.0,{"$type":"bytes","ref":0}]'
    with pytest.raises(ValueEncodingError) as info:
        encode_value([np.complex128(1j)])
    assert str(info.value) == "cannot encode value[0]: numpy scalar of type numpy.complex128 is not supported"
    with pytest.raises(ValueEncodingError) as info:
        encode_value({"s": {1}})
    assert str(info.value) == (
        "cannot encode value.s: values of type set are not supported (sets are not supported; convert to a sorted list)"
    )


def test_array_refusals_give_the_exact_message() -> None:
    with pytest.raises(ValueEncodingError) as info:
        encode_value(np.array([1 + 2j]))
    assert str(info.value) == (
        "cannot encode value: tensor dtype complex128 is not supported (use float16/32/64, (u)int8/16/32/64 or bool)"
    )
    with pytest.raises(ValueEncodingError) as info:
        encode_value(Embedding([1.0, 2.0]).reshape(1, 2))
    assert str(info.value) == (
        "cannot encode value: an Embedding must be 1-D float32/float64, got shape (1, 2) dtype float64; "
        "use np.asarray(x) to send it as a tensor"
    )
    with pytest.raises(ValueEncodingError) as info:
        encode_value(np.ma.masked_array([1, 2], mask=[0, 1]))
    assert str(info.value) == "cannot encode value: masked arrays are not supported (the mask would be lost)"


def test_big_endian_integer_arrays_travel_little_endian() -> None:
    big = np.array([1, -2, 70000], dtype=">i4")
    msg = encode_value(big)
    assert msg.attachments[0].tensor.dtype == values_pb2.DTYPE_INT32
    assert msg.attachments[0].tensor.data == np.array([1, -2, 70000], dtype="<i4").tobytes()
    back = decode_value(msg)
    assert back.dtype == np.dtype("<i4") and back.tolist() == [1, -2, 70000]


def test_raw_attachments_become_the_messages_own() -> None:
    from dspy_bridge.values._encode import raw_to_attachment

    assert raw_to_attachment(("utf8", 0, (), memoryview(b"hi"))) == values_pb2.Attachment(utf8=b"hi")
    assert raw_to_attachment(("bytes", 0, (), bytearray(b"\x00"))) == values_pb2.Attachment(bytes=b"\x00")
    tensor = raw_to_attachment(("tensor", values_pb2.DTYPE_UINT8, (2,), memoryview(b"\x01\x02")))
    assert tensor == values_pb2.Attachment(
        tensor=values_pb2.Tensor(dtype=values_pb2.DTYPE_UINT8, shape=[2], data=b"\x01\x02")
    )


def test_json_text_edges_decode_as_json_does() -> None:
    assert decode_value(values_pb2.Value(json="12")) == 12
    assert decode_value(values_pb2.Value(json=" [1] ")) == [1]
    with pytest.raises(ValueDecodingError) as info:
        decode_value(values_pb2.Value(json='{"a":1} x'))
    assert info.value.path == "value" and "malformed JSON: Extra data" in str(info.value)
    with pytest.raises(ValueDecodingError) as info:
        decode_value(values_pb2.Value(json="[" * 100_000 + "]" * 100_000), "result")
    assert str(info.value) == "cannot decode result: JSON is nested too deeply"


def test_string_attachments_of_the_message_decode_and_bad_utf8_is_named() -> None:
    msg = values_pb2.Value(json='{"s":{"$type":"string","ref":0}}')
    msg.attachments.add().utf8 = "héllo".encode()
    assert decode_value(msg) == {"s": "héllo"}
    bad = values_pb2.Value(json='[{"$type":"string","ref":0}]')
    bad.attachments.add().utf8 = b"\xff"
    with pytest.raises(ValueDecodingError) as info:
        decode_value(bad)
    assert (
        str(info.value)
        == "cannot decode value[0]: string attachment 0 is not valid UTF-8 (invalid start byte at byte 0)"
    )


@pytest.mark.parametrize(
    ("tag", "key"),
    [
        ("bytes", "ref"),
        ("string", "ref"),
        ("tensor", "ref"),
        ("embedding", "ref"),
        ("bigint", "value"),
        ("map", "entries"),
    ],
)
def test_a_tag_with_an_extra_key_names_the_key_it_needs_and_the_ones_it_got(tag: str, key: str) -> None:
    with pytest.raises(ValueDecodingError) as info:
        decode_value(values_pb2.Value(json=json.dumps({"$type": tag, key: 0, "x": 1})))
    assert (
        str(info.value)
        == f"cannot decode value: {tag!r} tag must have exactly the key {key!r}, got {sorted([key, 'x'])}"
    )


def test_refs_a_float_that_is_whole_is_an_index_and_an_empty_attachment_holds_nothing() -> None:
    msg = values_pb2.Value(json='[{"$type":"bytes","ref":1.0}]')
    msg.attachments.add().bytes = b"a"
    msg.attachments.add().bytes = b"b"
    assert decode_value(msg) == [b"b"]
    empty = values_pb2.Value(json='{"$type":"bytes","ref":0}')
    empty.attachments.add()
    with pytest.raises(ValueDecodingError) as info:
        decode_value(empty)
    assert str(info.value) == "cannot decode value: attachment 0 holds nothing, expected bytes"


def test_a_bigint_tag_beyond_the_str_digit_limit_is_refused_by_name() -> None:
    import sys

    digits = "1" + "0" * (sys.get_int_max_str_digits() + 1)
    with pytest.raises(ValueDecodingError) as info:
        decode_value(values_pb2.Value(json=json.dumps({"n": {"$type": "bigint", "value": digits}})))
    assert info.value.path == "value.n" and "bigint too large (Exceeds the limit" in str(info.value)


def test_a_bool_tensor_with_a_byte_other_than_0_or_1_is_refused_by_name() -> None:
    msg = values_pb2.Value(json='{"$type":"tensor","ref":0}')
    msg.attachments.add().tensor.CopyFrom(values_pb2.Tensor(dtype=values_pb2.DTYPE_BOOL, shape=[2], data=b"\x01\x02"))
    with pytest.raises(ValueDecodingError) as info:
        decode_value(msg)
    assert str(info.value) == "cannot decode value: bool tensor bytes must be 0 or 1"
