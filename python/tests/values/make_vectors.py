"""Regenerates testdata/values.json (the shared value-envelope test vectors).

Run: .venv/bin/python python/tests/values/make_vectors.py

Envelopes are built by hand here (tag objects written out literally, tensor bytes produced with
explicit little-endian numpy dtypes) and deliberately do NOT use dspy_bridge.values, so the
vectors are an independent statement of the wire format that both implementations must meet.
Format: see testdata/README.md ("values.json").
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np

from dspy_bridge._gen.dspy_bridge.v1 import values_pb2

ROOT = Path(__file__).resolve().parents[3]
OUT = ROOT / "testdata" / "values.json"

NP = {
    "float32": "<f4",
    "float64": "<f8",
    "int32": "<i4",
    "int64": "<i8",
    "uint8": "u1",
    "int8": "i1",
    "int16": "<i2",
    "uint16": "<u2",
    "uint32": "<u4",
    "uint64": "<u8",
    "bool": "?",
    "float16": "<f2",
}
PROTO = {name: getattr(values_pb2, f"DTYPE_{name.upper()}") for name in NP}


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


# ---- expected-value description nodes -------------------------------------------------------
def N() -> dict:
    return {"t": "null"}


def B(v: bool) -> dict:
    return {"t": "bool", "v": v}


def I(v: int) -> dict:
    return {"t": "int", "v": str(v)}


def F(v: float | str) -> dict:
    return {"t": "float", "v": v}


def S(v: str) -> dict:
    return {"t": "str", "v": v}


def L(*items: dict) -> dict:
    return {"t": "list", "v": list(items)}


def M(**kw: dict) -> dict:
    return {"t": "map", "v": kw}


def Md(d: dict) -> dict:
    return {"t": "map", "v": d}


def BY(b: bytes) -> dict:
    return {"t": "bytes", "v": b64(b)}


def _flat_values(dtype: str, arr: np.ndarray) -> list:
    out = []
    for x in arr.ravel().tolist():
        if dtype in ("int64", "uint64"):
            out.append(str(x))
        elif isinstance(x, float) and not np.isfinite(x):
            out.append("NaN" if x != x else ("Infinity" if x > 0 else "-Infinity"))
        else:
            out.append(x)
    return out


def tensor(dtype: str, shape: list[int], values: list) -> tuple[dict, dict]:
    """(attachment description, expected node) for a tensor."""
    arr = np.array(values, dtype=NP[dtype]).reshape(shape)
    data = b64(arr.tobytes())
    att = {"tensor": {"dtype": dtype, "shape": shape, "data": data}}
    return att, {"t": "tensor", "dtype": dtype, "shape": shape, "data": data, "values": _flat_values(dtype, arr)}


def embedding(dtype: str, values: list[float]) -> tuple[dict, dict]:
    arr = np.array(values, dtype=NP[dtype])
    data = b64(arr.tobytes())
    att = {"tensor": {"dtype": dtype, "shape": [len(values)], "data": data}}
    return att, {"t": "embedding", "dtype": dtype, "data": data, "values": _flat_values(dtype, arr)}


def raw_tensor(dtype: str | int, shape: list[int], data: bytes) -> dict:
    return {"tensor": {"dtype": dtype, "shape": shape, "data": b64(data)}}


def binary(envelope: dict) -> str:
    msg = values_pb2.Value(json=envelope["json"])
    for a in envelope.get("attachments", []):
        att = msg.attachments.add()
        if "bytes" in a:
            att.bytes = base64.b64decode(a["bytes"])
        elif "tensor" in a:
            t = a["tensor"]
            dt = t["dtype"]
            att.tensor.dtype = PROTO[dt] if isinstance(dt, str) else dt
            att.tensor.shape.extend(t["shape"])
            att.tensor.data = base64.b64decode(t["data"])
    return b64(msg.SerializeToString())


valid: list[dict] = []
invalid: list[dict] = []


def ok(
    name: str,
    obj_or_text: Any,
    expected: dict,
    attachments: list | None = None,
    *,
    text: bool = False,
    reencoded: Any = None,
    note: str | None = None,
) -> None:
    env = {"json": obj_or_text if text else dumps(obj_or_text), "attachments": attachments or []}
    case: dict = {"name": name}
    if note:
        case["note"] = note
    case["envelope"] = env
    case["binary"] = binary(env)
    case["expected"] = expected
    if reencoded is not None:
        re_env = {"json": dumps(reencoded), "attachments": env["attachments"]}
        case["reencoded"] = re_env
    valid.append(case)


def bad(
    name: str, obj_or_text: Any, path: str, contains: str, attachments: list | None = None, *, text: bool = False
) -> None:
    env = {"json": obj_or_text if text else dumps(obj_or_text), "attachments": attachments or []}
    invalid.append(
        {
            "name": name,
            "envelope": env,
            "binary": binary(env),
            "error": "ValueDecodingError",
            "path": path,
            "message_contains": contains,
        }
    )


def tag(kind: str, **kw: Any) -> dict:
    return {"$type": kind, **kw}


# ---- valid ------------------------------------------------------------------------------------
ok("null", None, N())
ok("empty json text means null", "", N(), text=True, reencoded=None, note='re-encodes as "null"')
valid[-1]["reencoded"] = {"json": "null", "attachments": []}
ok("booleans", [True, False], L(B(True), B(False)))
ok(
    "safe integers (plain JSON numbers)",
    [0, 1, -1, 42, 2**53 - 1, -(2**53 - 1)],
    L(I(0), I(1), I(-1), I(42), I(2**53 - 1), I(-(2**53 - 1))),
)
ok(
    "finite floats",
    [1.5, -2.25, 0.1, 1e-07, 1e300, 5e-324, 1.7976931348623157e308],
    L(F(1.5), F(-2.25), F(0.1), F(1e-07), F(1e300), F(5e-324), F(1.7976931348623157e308)),
)
ok(
    "integral float",
    1.0,
    F(1.0),
    note='Python decodes 1.0 as float and re-encodes "1.0"; TypeScript has one number type and re-encodes "1" (same JSON value)',
)
ok("bigint 2^53", tag("bigint", value=str(2**53)), I(2**53))
ok("bigint -(2^53)", tag("bigint", value=str(-(2**53))), I(-(2**53)))
ok(
    "bigints nested, beyond 2^64",
    {
        "u64max_plus_1": tag("bigint", value=str(2**64)),
        "neg": tag("bigint", value=str(-(2**70))),
        "huge": tag("bigint", value=str(10**40)),
        "i64": [tag("bigint", value=str(2**63 - 1)), tag("bigint", value=str(-(2**63)))],
        "safe": 7,
    },
    M(u64max_plus_1=I(2**64), neg=I(-(2**70)), huge=I(10**40), i64=L(I(2**63 - 1), I(-(2**63))), safe=I(7)),
)
ok("NaN at top level", tag("float", value="NaN"), F("NaN"))
ok("Infinity at top level", tag("float", value="Infinity"), F("Infinity"))
ok("-Infinity at top level", tag("float", value="-Infinity"), F("-Infinity"))
ok(
    "non-finite floats nested",
    {
        "a": [
            1.5,
            tag("float", value="NaN"),
            {"b": tag("float", value="-Infinity"), "c": [tag("float", value="Infinity")]},
        ]
    },
    M(a=L(F(1.5), F("NaN"), M(b=F("-Infinity"), c=L(F("Infinity"))))),
)
strings = [
    "",
    "plain ascii",
    "漢字かな한국어",
    "😀👍🏽👨‍👩‍👧",
    "e\u0301 n\u0303 \u0915\u094d\u0937",
    "\u0000",
    "a\u0000b",
    "\u0001\u0002\u001f\u007f",
    "\t\n\r\b\f",
    "\u2028\u2029",
    '"\\/',
    "\ufeff\uffff",
    "\U0010ffff\U0001d11e",
    "<script>&amp;</script>",
]
ok("unicode strings", strings, L(*[S(s) for s in strings]))
ok(
    "unicode and odd map keys",
    {"キー": 1, "🔑": "v", "": "empty key", "a\u0000b": True, "\u2028": None, "with space": [], "1": 2},
    Md(
        {
            "キー": I(1),
            "🔑": S("v"),
            "": S("empty key"),
            "a\u0000b": B(True),
            "\u2028": N(),
            "with space": L(),
            "1": I(2),
        }
    ),
)
ok(
    "lone surrogates (as JSON escapes)",
    '["\\ud800","a\\udfffb"]',
    L(S("\ud800"), S("a\udfffb")),
    text=True,
    note="a proto string must be UTF-8, so encoders emit lone surrogates as \\u escapes",
)
ok(
    "escaped $type key is still a tag",
    '{"\\u0024type":"bigint","value":"9007199254740993"}',
    I(9007199254740993),
    text=True,
    reencoded=tag("bigint", value="9007199254740993"),
)
ok(
    "string that mentions $type is just a string",
    {"s": '{"$type":"bigint","value":"1"}'},
    M(s=S('{"$type":"bigint","value":"1"}')),
)
ok(
    "nested maps and lists (depth 8)",
    {"a": {"b": [{"c": [[{"d": {"e": [1, "x", None, True, {"f": []}]}}]]}]}, "g": {}},
    M(a=M(b=L(M(c=L(L(M(d=M(e=L(I(1), S("x"), N(), B(True), M(f=L()))))))))), g=M()),
)
ok(
    "map with a $type key is escaped",
    tag("map", entries={"$type": "user-data", "x": 1}),
    Md({"$type": S("user-data"), "x": I(1)}),
)
ok(
    "map escapes nested, with tags inside",
    {
        "outer": tag(
            "map",
            entries={
                "$type": tag("bigint", value=str(-(2**53))),
                "inner": tag("map", entries={"$type": "map", "entries": [tag("float", value="NaN")]}),
            },
        )
    },
    M(outer=Md({"$type": I(-(2**53)), "inner": Md({"$type": S("map"), "entries": L(F("NaN"))})})),
)
ok(
    "__proto__ is an ordinary key",
    {"__proto__": {"x": 1}, "y": {"__proto__": tag("bigint", value="9007199254740993")}},
    Md({"__proto__": M(x=I(1)), "y": Md({"__proto__": I(9007199254740993)})}),
)
ok("bytes empty", tag("bytes", ref=0), BY(b""), [{"bytes": ""}])
all_bytes = bytes(range(256))
ok("bytes all 256 values", tag("bytes", ref=0), BY(all_bytes), [{"bytes": b64(all_bytes)}])
ok(
    "several bytes in order",
    [tag("bytes", ref=0), {"k": tag("bytes", ref=1)}, tag("bytes", ref=2)],
    L(BY(b"hello"), M(k=BY(b"")), BY(b"\x00\xff")),
    [{"bytes": b64(b"hello")}, {"bytes": ""}, {"bytes": b64(b"\x00\xff")}],
)

tensor_cases = [
    ("tensor float32 2-D", "float32", [2, 3], [1, 2, 3, 4, 5, 6.5]),
    ("tensor float64 3-D", "float64", [2, 2, 2], [0.1, -0.2, 0.3, 1e100, -1e-100, 2.5, 0, 7]),
    ("tensor float32 empty [0]", "float32", [0], []),
    ("tensor float64 empty [2,0,3]", "float64", [2, 0, 3], []),
    ("tensor float64 scalar shape []", "float64", [], [3.25]),
    ("tensor float64 non-finite elements", "float64", [3], [float("nan"), float("inf"), float("-inf")]),
    ("tensor int64 beyond 2^53", "int64", [2, 2], [2**60, -(2**62), 2**63 - 1, -(2**63)]),
    ("tensor uint64 max", "uint64", [2], [0, 2**64 - 1]),
    ("tensor int32", "int32", [2, 2], [-(2**31), 2**31 - 1, 0, -1]),
    ("tensor uint8", "uint8", [3], [0, 128, 255]),
    ("tensor int8", "int8", [3], [-128, 0, 127]),
    ("tensor int16", "int16", [2], [-32768, 32767]),
    ("tensor uint16", "uint16", [2], [0, 65535]),
    ("tensor uint32", "uint32", [2], [0, 2**32 - 1]),
    ("tensor bool", "bool", [2, 2], [True, False, False, True]),
    ("tensor float16", "float16", [4], [1.0, -2.0, 0.5, 65504.0]),
]
for name, dtype, shape, values in tensor_cases:
    att, exp = tensor(dtype, shape, values)
    ok(name, tag("tensor", ref=0), exp, [att])

att, exp = embedding("float32", [0.25, -1.5, 3.0, 0.125])
ok("embedding float32", tag("embedding", ref=0), exp, [att])
att, exp = embedding("float64", [0.1, 0.2, 0.3])
ok("embedding float64", tag("embedding", ref=0), exp, [att])
att, exp = embedding("float64", [])
ok("embedding empty", tag("embedding", ref=0), exp, [att])

emb_att, emb_exp = embedding("float32", [1.0, 0.5])
ten_att, ten_exp = tensor("int32", [2, 1], [7, -7])
ok(
    "mixed call arguments",
    {
        "question": "What is 2+2?",
        "k": 3,
        "image": tag("bytes", ref=0),
        "query_emb": tag("embedding", ref=1),
        "features": tag("tensor", ref=2),
        "seed": tag("bigint", value=str(2**64 + 1)),
        "score": tag("float", value="NaN"),
        "tags": ["a", "b"],
        "meta": None,
    },
    M(
        question=S("What is 2+2?"),
        k=I(3),
        image=BY(b"\x89PNG"),
        query_emb=emb_exp,
        features=ten_exp,
        seed=I(2**64 + 1),
        score=F("NaN"),
        tags=L(S("a"), S("b")),
        meta=N(),
    ),
    [{"bytes": b64(b"\x89PNG")}, emb_att, ten_att],
)
ok(
    "non-canonical: bigint tag inside the safe range",
    tag("bigint", value="5"),
    I(5),
    reencoded=5,
    note="decoders accept it; canonical encoders emit a plain number",
)
ok("non-canonical: whitespace", '  { "a" : [ 1 , 2 ] }\n', M(a=L(I(1), I(2))), text=True, reencoded={"a": [1, 2]})

# ---- invalid ----------------------------------------------------------------------------------
bad("malformed JSON", '{"a":', "value", "malformed JSON", text=True)
bad("NaN literal is not JSON", "[NaN]", "value", "malformed JSON", text=True)
bad("Infinity literal is not JSON", "Infinity", "value", "malformed JSON", text=True)
bad("unknown $type", tag("date", value="2020-01-01"), "value", "unknown $type")
bad("unknown $type nested", {"a": [1, tag("bogus")]}, "value.a[1]", "unknown $type")
bad("$type not a string", {"$type": 5}, "value", "unknown $type")
for digits in ["12a", "+5", " 5", "1.5", "007", "", "1e3"]:
    bad(f"bigint value {digits!r}", tag("bigint", value=digits), "value", "bigint value")
bad("bigint value not a string", tag("bigint", value=5), "value", "bigint value")
bad("float tag value 'nan'", tag("float", value="nan"), "value", "float value")
bad("float tag value '1.5'", tag("float", value="1.5"), "value", "float value")
bad("tag with an extra key", tag("float", value="NaN", extra=1), "value", "exactly the key")
bad("tag missing its key", tag("bytes"), "value", "exactly the key")
bad("ref out of range", [tag("bytes", ref=1)], "value[0]", "out of range", [{"bytes": ""}])
bad("ref with no attachments", tag("tensor", ref=0), "value", "out of range")
bad("ref negative", tag("bytes", ref=-1), "value", "ref must be", [{"bytes": ""}])
bad("ref not an integer", tag("bytes", ref=0.5), "value", "ref must be", [{"bytes": ""}])
bad("ref a string", tag("bytes", ref="0"), "value", "ref must be", [{"bytes": ""}])
f32 = np.array([1, 2], dtype="<f4").tobytes()
bad("bytes tag pointing at a tensor", tag("bytes", ref=0), "value", "expected bytes", [raw_tensor("float32", [2], f32)])
bad("tensor tag pointing at bytes", {"t": tag("tensor", ref=0)}, "value.t", "expected tensor", [{"bytes": b64(f32)}])
bad("tensor tag pointing at an empty attachment", tag("tensor", ref=0), "value", "expected tensor", [{}])
bad("tensor data too short", tag("tensor", ref=0), "value", "needs 12", [raw_tensor("float32", [3], f32)])
bad("tensor data too long", tag("tensor", ref=0), "value", "needs 4", [raw_tensor("float32", [1], f32)])
bad("tensor scalar with no data", tag("tensor", ref=0), "value", "needs 8", [raw_tensor("float64", [], b"")])
bad("tensor dtype unspecified", tag("tensor", ref=0), "value", "dtype", [raw_tensor(0, [2], f32)])
bad("tensor dtype unknown enum value", tag("tensor", ref=0), "value", "dtype", [raw_tensor(99, [2], f32)])
bad("bool tensor byte other than 0/1", tag("tensor", ref=0), "value", "bool", [raw_tensor("bool", [2], b"\x01\x02")])
bad("embedding 2-D", tag("embedding", ref=0), "value", "1-D", [raw_tensor("float32", [1, 2], f32)])
bad(
    "embedding int32",
    tag("embedding", ref=0),
    "value",
    "float32 or float64",
    [raw_tensor("int32", [2], np.array([1, 2], dtype="<i4").tobytes())],
)
bad(
    "embedding float16",
    tag("embedding", ref=0),
    "value",
    "float32 or float64",
    [raw_tensor("float16", [2], np.array([1, 2], dtype="<f2").tobytes())],
)
bad("map entries an array", tag("map", entries=[1]), "value", "entries must be an object")
bad("map entries null", tag("map", entries=None), "value", "entries must be an object")
bad("map entries missing", tag("map"), "value", "exactly the key")
bad(
    "error inside map escape entries",
    tag("map", entries={"$type": "x", "k": tag("nope")}),
    "value.entries.k",
    "unknown $type",
)
bad("error path with odd key", {"a b": [tag("float", value="nan")]}, 'value["a b"][0]', "float value")

doc = {
    "format": "dspy-bridge value envelope test vectors",
    "version": 1,
    "generator": "python/tests/values/make_vectors.py",
    "readme": "testdata/README.md",
    "valid": valid,
    "invalid": invalid,
}
OUT.write_text(json.dumps(doc, indent=1, ensure_ascii=True) + "\n", encoding="utf-8")
print(f"wrote {OUT} ({len(valid)} valid, {len(invalid)} invalid)")
