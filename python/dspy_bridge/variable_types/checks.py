"""The variable type system: accepted values, constraints and validation per variable type.

Twin of ``ts/src/store/types/`` (TypeScript); both are checked against the shared vectors
``testdata/variable-types.json``. Reference: ``docs/variables-types.md``.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from dspy_bridge.errors import ConstraintViolationError, InvalidArgumentError, VariableTypeError
from dspy_bridge.values import DTYPE_NAMES, DTYPES, Embedding

__all__ = [
    "CONSTRAINTS_BY_TYPE",
    "DEFAULT_NORM_TOLERANCE",
    "LIST_ITEM_TYPES",
    "TYPE_ALIASES",
    "VARIABLE_TYPES",
    "canonical_type",
    "infer_type",
    "validate_constraints",
    "validate_value",
]

VARIABLE_TYPES: tuple[str, ...] = (
    "float",
    "integer",
    "string",
    "boolean",
    "choice",
    "module",
    "list",
    "map",
    "embedding",
    "tensor",
)
"""The canonical variable type names."""

TYPE_ALIASES: Mapping[str, str] = MappingProxyType(
    {"int": "integer", "str": "string", "bool": "boolean", "dict": "map"}
)
"""Accepted alternative spellings → canonical name."""

CONSTRAINTS_BY_TYPE: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "float": ("min", "max"),
        "integer": ("min", "max"),
        "string": ("min_length", "max_length", "pattern"),
        "boolean": (),
        "choice": ("choices",),
        "module": ("choices",),
        "list": ("min_length", "max_length", "item_type"),
        "map": ("required_keys", "max_keys"),
        "embedding": ("dimensions", "dtype", "normalize", "norm", "norm_tolerance", "range"),
        "tensor": ("shape", "dtype", "range", "min_value", "max_value"),
    }
)
"""The constraint names each type accepts."""

LIST_ITEM_TYPES: tuple[str, ...] = ("float", "integer", "string", "boolean")
DEFAULT_NORM_TOLERANCE = 1e-6
"""Default relative tolerance of the embedding ``norm`` constraint."""

NORM_NAMES = ("unit", "l2", "l1")
"""The embedding ``norm`` constraint's names (DSPex's): "unit" and "l2" are L2
norm 1, "l1" is L1 norm 1."""

_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_DTYPE_BY_KIND_SIZE = {(dt.kind, dt.itemsize): DTYPE_NAMES[code] for code, dt in DTYPES.items()}
_TENSOR_DTYPES = frozenset(DTYPE_NAMES.values())
_MAX_PREVIEW = 60

MAX_PATTERN_LENGTH = 1_000
"""The longest ``pattern`` accepted, in characters (code points), as on the host."""


# --- names ----------------------------------------------------------------------------------


def canonical_type(name: str) -> str:
    """The canonical name of a type name or alias; ``InvalidArgumentError`` (parameter ``type``) otherwise."""
    if isinstance(name, str):
        if name in VARIABLE_TYPES:
            return name
        if name in TYPE_ALIASES:
            return TYPE_ALIASES[name]
    shown = json.dumps(name) if isinstance(name, str) else f"a {type(name).__name__}"
    aliases = ", ".join(f"{a} = {c}" for a, c in TYPE_ALIASES.items())
    raise InvalidArgumentError(
        f"unknown variable type {shown}; known types: {', '.join(VARIABLE_TYPES)} (aliases: {aliases})",
        parameter="type",
    )


# --- descriptions for messages ----------------------------------------------------------------


def _type_name(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, Embedding):
        return f"Embedding({value.dtype.name})"
    if isinstance(value, np.ndarray):
        return f"ndarray({value.dtype.name})"
    return type(value).__name__


def _clip(text: str, limit: int = _MAX_PREVIEW) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _preview(value: Any) -> str:
    if isinstance(value, str) and len(value) > 2 * _MAX_PREVIEW:
        # Only the start is rendered: a 100 MiB string costs no more than a short one.
        return _clip(repr(value[: 2 * _MAX_PREVIEW]))
    if isinstance(value, Embedding):
        if value.size <= 8:
            return f"Embedding({value.dtype.name}, {np.asarray(value).tolist()!r})"
        return f"Embedding({value.dtype.name}, {value.size} elements)"
    if isinstance(value, np.ndarray):
        return f"ndarray({value.dtype.name}, shape {list(value.shape)})"
    if isinstance(value, (list, tuple)) and len(value) > 8:
        return f"{type(value).__name__} of {len(value)} items"
    if isinstance(value, dict) and len(value) > 4:
        return f"dict with {len(value)} keys"
    return _clip(repr(value))


def _show_limit(limit: Any) -> str:
    try:
        return _clip(json.dumps(limit))
    except (TypeError, ValueError):
        return _clip(repr(limit))


def _show(v: Any) -> str:
    try:
        return _clip(json.dumps(v), 100)
    except (TypeError, ValueError, RecursionError):
        return type(v).__name__


# --- patterns (RE2) -----------------------------------------------------------------------


def _re2() -> Any:
    try:
        import re2  # here: loaded when a pattern constraint is first checked
    except ImportError as exc:  # pragma: no cover - a dependency of dspy_bridge
        raise ImportError(
            "the 'pattern' constraint needs the google-re2 package (a dependency of dspy_bridge): pip install google-re2"
        ) from exc
    return re2


def _any_byte_escape(pattern: str) -> bool:
    """True if the pattern uses ``\\C`` (any byte), which RE2 in C++ knows and the host's RE2 does not."""
    i = 0
    quoted = False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if quoted:
                if nxt == "E":
                    quoted = False
            elif nxt == "Q":
                quoted = True
            elif nxt == "C":
                return True
            i += 2
            continue
        i += 1
    return False


@functools.lru_cache(maxsize=256)
def _compile_pattern(pattern: str) -> Any:
    """RE2, as on the host (TypeScript: re2js): linear-time matching, no backreferences or
    lookaround. ``InvalidArgumentError`` (``constraints.pattern``) naming the problem."""
    what = "string constraint 'pattern'"
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise _bad("pattern", f"{what} is {len(pattern)} characters long, over the limit of {MAX_PATTERN_LENGTH}")
    shown = _clip(json.dumps(pattern[:200]), 100)
    if _any_byte_escape(pattern):
        raise _bad(
            "pattern",
            f"{what} {shown} is not a valid RE2 regular expression: invalid escape sequence: \\C (RE2 syntax: no backreferences, no lookahead or lookbehind)",
        )
    re2 = _re2()
    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        why = exc.args[0] if exc.args else str(exc)
        if isinstance(why, bytes):
            why = why.decode("utf-8", "replace")
        raise _bad(
            "pattern",
            f"{what} {shown} is not a valid RE2 regular expression: {_clip(str(why), 200)} (RE2 syntax: no backreferences, no lookahead or lookbehind)",
        ) from None


def _pattern_matches(pattern: str, value: str) -> bool:
    # Searched as UTF-8 bytes (what RE2 reads); a lone surrogate is carried, not refused.
    return _compile_pattern(pattern).search(value.encode("utf-8", "surrogatepass")) is not None


# --- constraints ------------------------------------------------------------------------------


def _bad(name: str, message: str) -> InvalidArgumentError:
    return InvalidArgumentError(message, parameter=f"constraints.{name}" if name else "constraints")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _finite_number(t: str, name: str, v: Any) -> int | float:
    if not _is_number(v) or (isinstance(v, float) and not math.isfinite(v)):
        raise _bad(name, f"{t} constraint '{name}' must be a finite number, got {_show(v)}")
    return v


def _count(t: str, name: str, v: Any, least: int = 0) -> int:
    # 3.0 is accepted as 3: JSON written by TypeScript cannot tell them apart.
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if not isinstance(v, int) or isinstance(v, bool) or v < least or v > 2**53 - 1:
        what = "a non-negative integer" if least == 0 else f"an integer >= {least}"
        raise _bad(name, f"{t} constraint '{name}' must be {what}, got {_show(v)}")
    return v


def _string_list(t: str, name: str, v: Any, non_empty: bool) -> list[str]:
    if not isinstance(v, (list, tuple)) or not all(isinstance(s, str) for s in v) or (non_empty and not v):
        kind = "non-empty list" if non_empty else "list"
        raise _bad(name, f"{t} constraint '{name}' must be a {kind} of strings, got {_show(v)}")
    return list(v)


def _range(t: str, v: Any) -> list[int | float]:
    if (
        not isinstance(v, (list, tuple))
        or len(v) != 2
        or not all(_is_number(x) and math.isfinite(x) for x in v)
        or v[0] > v[1]
    ):
        raise _bad("range", f"{t} constraint 'range' must be [lo, hi] with finite numbers lo <= hi, got {_show(v)}")
    return [v[0], v[1]]


def _parse(constraints: Any) -> dict[str, Any]:
    if constraints is None or (isinstance(constraints, str) and constraints == ""):
        return {}
    value = constraints
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise InvalidArgumentError(f"constraints are not valid JSON: {exc}", parameter="constraints") from exc
        if value is None:
            return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise _bad("", f"constraints must be a JSON object, got {_show(value)}")
    return dict(value)


def validate_constraints(type: str, constraints: Any) -> dict[str, Any]:  # noqa: A002
    """Check ``constraints`` (a dict, a JSON object text, or None for none) for a type and return
    them normalized (a new dict): aliases resolved (``item_type``), ``-1`` in a tensor shape
    written as ``None``, integral floats of counts as ints. Unknown constraints, wrong value
    types, min > max, … raise ``InvalidArgumentError`` whose ``parameter`` is ``constraints.<name>``.
    """
    t = canonical_type(type)
    given = _parse(constraints)
    allowed = CONSTRAINTS_BY_TYPE[t]
    for key in given:
        if key not in allowed:
            known = f"known: {', '.join(allowed)}" if allowed else "it takes none"
            raise _bad(key, f"unknown constraint '{key}' for type {t} ({known})")
    out: dict[str, Any] = {}
    if t in ("float", "integer"):
        for key in ("min", "max"):
            if key in given:
                out[key] = _finite_number(t, key, given[key])
        if "min" in out and "max" in out and out["min"] > out["max"]:
            raise _bad("min", f"{t} constraint 'min' ({_show(out['min'])}) is greater than 'max' ({_show(out['max'])})")
    elif t in ("string", "list"):
        for key in ("min_length", "max_length"):
            if key in given:
                out[key] = _count(t, key, given[key])
        if "min_length" in out and "max_length" in out and out["min_length"] > out["max_length"]:
            raise _bad(
                "min_length",
                f"{t} constraint 'min_length' ({out['min_length']}) is greater than 'max_length' ({out['max_length']})",
            )
        if t == "string" and "pattern" in given:
            pattern = given["pattern"]
            if not isinstance(pattern, str):
                raise _bad(
                    "pattern", f"string constraint 'pattern' must be a regular expression string, got {_show(pattern)}"
                )
            _compile_pattern(pattern)
            out["pattern"] = pattern
        if t == "list" and "item_type" in given:
            item = given["item_type"]
            canon = TYPE_ALIASES.get(item, item) if isinstance(item, str) else None
            if canon not in LIST_ITEM_TYPES:
                raise _bad(
                    "item_type",
                    f"list constraint 'item_type' must be one of {', '.join(LIST_ITEM_TYPES)}, got {_show(item)}",
                )
            out["item_type"] = canon
    elif t == "choice":
        if "choices" not in given:
            raise _bad("choices", "choice variables need a 'choices' constraint (a non-empty list of strings)")
        out["choices"] = _string_list(t, "choices", given["choices"], True)
    elif t == "module":
        if "choices" in given:
            out["choices"] = _string_list(t, "choices", given["choices"], True)
    elif t == "map":
        if "required_keys" in given:
            out["required_keys"] = _string_list(t, "required_keys", given["required_keys"], False)
        if "max_keys" in given:
            out["max_keys"] = _count(t, "max_keys", given["max_keys"])
        if "required_keys" in out and "max_keys" in out and len(set(out["required_keys"])) > out["max_keys"]:
            raise _bad(
                "max_keys",
                f"map constraint 'max_keys' ({out['max_keys']}) is less than the {len(set(out['required_keys']))} required keys",
            )
    elif t == "embedding":
        if "dimensions" in given:
            out["dimensions"] = _count(t, "dimensions", given["dimensions"], 1)
        if "dtype" in given:
            if given["dtype"] not in ("float32", "float64"):
                raise _bad(
                    "dtype",
                    f'embedding constraint \'dtype\' must be "float32" or "float64", got {_show(given["dtype"])}',
                )
            out["dtype"] = given["dtype"]
        if "normalize" in given:
            if not isinstance(given["normalize"], bool):
                raise _bad(
                    "normalize",
                    f"embedding constraint 'normalize' must be true or false, got {_show(given['normalize'])}",
                )
            out["normalize"] = given["normalize"]
        if "norm" in given and isinstance(given["norm"], str):
            # DSPex's names: "unit" and "l2" (L2 norm 1), "l1" (L1 norm 1)
            if given["norm"] not in NORM_NAMES:
                names = ", ".join(f'"{n}"' for n in NORM_NAMES)
                raise _bad(
                    "norm",
                    f"embedding constraint 'norm' must be a number >= 0 or one of {names}, got {_show(given['norm'])}",
                )
            if out.get("normalize") is True and given["norm"] == "l1":
                raise _bad(
                    "norm",
                    'embedding constraint \'norm\' must be 1, "unit" or "l2" when \'normalize\' is true (it scales to unit L2 norm), got "l1"',
                )
            out["norm"] = given["norm"]
        elif "norm" in given:
            norm = _finite_number(t, "norm", given["norm"])
            if norm < 0:
                raise _bad("norm", f"embedding constraint 'norm' must be >= 0, got {_show(norm)}")
            if out.get("normalize") is True and norm != 1:
                raise _bad("norm", f"embedding constraint 'norm' must be 1 when 'normalize' is true, got {_show(norm)}")
            out["norm"] = norm
        if "norm_tolerance" in given:
            tol = _finite_number(t, "norm_tolerance", given["norm_tolerance"])
            if tol < 0:
                raise _bad("norm_tolerance", f"embedding constraint 'norm_tolerance' must be >= 0, got {_show(tol)}")
            out["norm_tolerance"] = tol
        if "range" in given:
            out["range"] = _range(t, given["range"])
    elif t == "tensor":
        if "shape" in given:
            shape = given["shape"]
            dims: list[int | None] = []
            ok = isinstance(shape, (list, tuple))
            for d in shape if ok else ():
                if isinstance(d, float) and d.is_integer():
                    d = int(d)
                if d is None or d == -1:
                    dims.append(None)
                elif isinstance(d, int) and not isinstance(d, bool) and d >= 0:
                    dims.append(d)
                else:
                    ok = False
            if not ok:
                raise _bad(
                    "shape",
                    f"tensor constraint 'shape' must be a list of non-negative integers (null or -1 = any size), got {_show(shape)}",
                )
            out["shape"] = dims
        if "dtype" in given:
            if given["dtype"] not in _TENSOR_DTYPES:
                raise _bad(
                    "dtype",
                    f"tensor constraint 'dtype' must be a dtype name such as \"float32\", got {_show(given['dtype'])}",
                )
            out["dtype"] = given["dtype"]
        if "range" in given:
            if out.get("dtype") == "bool":
                raise _bad("range", "tensor constraint 'range' applies to numeric dtypes only, not bool")
            out["range"] = _range(t, given["range"])
        # DSPex's element bounds (either or both; `range` is both at once)
        for key in ("min_value", "max_value"):
            if key in given:
                if out.get("dtype") == "bool":
                    raise _bad(key, f"tensor constraint '{key}' applies to numeric dtypes only, not bool")
                out[key] = _finite_number(t, key, given[key])
        if "min_value" in out and "max_value" in out and out["min_value"] > out["max_value"]:
            raise _bad(
                "max_value",
                f"tensor constraint 'max_value' ({_show(out['max_value'])}) is less than 'min_value' ({_show(out['min_value'])})",
            )
    return out


# --- values -----------------------------------------------------------------------------------


class _Ctx:
    __slots__ = ("type", "variable", "label")

    def __init__(self, t: str, variable: str | None, label: str) -> None:
        self.type = t
        self.variable = variable
        self.label = label

    def item(self, index: int) -> _Ctx:
        return _Ctx(self.type, self.variable, f"{self.label}[{index}]")

    def mismatch(self, value: Any, expected: str) -> VariableTypeError:
        got = _type_name(value)
        return VariableTypeError(
            f"{self.label} must be {expected}, got {got} {_preview(value)}",
            variable=self.variable,
            type=self.type,
            got=got,
        )

    def violation(self, shown: str, constraint: str, limit: Any, why: str = "") -> ConstraintViolationError:
        suffix = f" ({why})" if why else ""
        return ConstraintViolationError(
            f"{self.label} = {shown} violates {constraint} = {_show_limit(limit)}{suffix}",
            variable=self.variable,
            type=self.type,
            constraint=constraint,
            limit=limit,
        )

    def not_finite(self, shown: str) -> ConstraintViolationError:
        return self.violation(
            shown, "finite", True, "NaN and Infinity are not allowed in float, embedding and tensor values"
        )


def _check_bounds(ctx: _Ctx, v: int | float, c: Mapping[str, Any]) -> None:
    if "min" in c and v < c["min"]:
        raise ctx.violation(_preview(v), "min", c["min"])
    if "max" in c and v > c["max"]:
        raise ctx.violation(_preview(v), "max", c["max"])


def _check_length(ctx: _Ctx, shown: str, length: int, c: Mapping[str, Any]) -> None:
    if "min_length" in c and length < c["min_length"]:
        raise ctx.violation(shown, "min_length", c["min_length"], f"length {length}")
    if "max_length" in c and length > c["max_length"]:
        raise ctx.violation(shown, "max_length", c["max_length"], f"length {length}")


def _scalar(t: str, ctx: _Ctx, value: Any, c: Mapping[str, Any]) -> Any:
    if t == "float":
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ctx.mismatch(value, "a number")
        try:
            v = float(value)
        except OverflowError:
            v = math.inf
        if not math.isfinite(v):
            raise ctx.not_finite(_preview(value))
        _check_bounds(ctx, v, c)
        return v
    if t == "integer":
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise ctx.mismatch(value, "an integer")
        iv = int(value)
        _check_bounds(ctx, iv, c)
        return iv
    if t == "boolean":
        if not isinstance(value, (bool, np.bool_)):
            raise ctx.mismatch(value, "a boolean")
        return bool(value)
    if t == "string":
        if not isinstance(value, str):
            raise ctx.mismatch(value, "a string")
        _check_length(ctx, _preview(value), len(value), c)
        if "pattern" in c and not _pattern_matches(c["pattern"], value):
            raise ctx.violation(_preview(value), "pattern", c["pattern"])
        return value
    raise AssertionError(t)


def _l2(arr: np.ndarray) -> float:
    # Summed in element order in float64, the same arithmetic as the TypeScript side (numpy's
    # pairwise summation could differ in the last bit).
    total = 0.0
    for x in arr.tolist():
        total += x * x
    return math.sqrt(total)


def _embedding(ctx: _Ctx, value: Any, c: Mapping[str, Any]) -> Embedding:
    wanted = c.get("dtype")
    if isinstance(value, np.ndarray):
        if value.ndim != 1 or value.dtype.kind != "f" or value.dtype.itemsize not in (4, 8):
            raise ctx.mismatch(value, "a 1-D float32/float64 vector")
        vec = value if isinstance(value, Embedding) else Embedding(value)
    elif isinstance(value, (list, tuple)):
        for i, x in enumerate(value):
            if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer, np.floating)):
                raise ctx.item(i).mismatch(x, "a number (embedding element)")
        try:
            vec = Embedding([float(x) for x in value], dtype=np.float64 if wanted is None else wanted)
        except OverflowError:
            raise ctx.not_finite(_preview(value)) from None
    else:
        raise ctx.mismatch(value, "a 1-D float vector (Embedding, float ndarray or list of numbers)")
    dtype = "float32" if vec.dtype.itemsize == 4 else "float64"
    if wanted is not None and dtype != wanted:
        raise ctx.violation(_preview(vec), "dtype", wanted, f"dtype {dtype}")
    finite = np.isfinite(vec)
    if not finite.all():
        i = int(np.argmin(finite))
        raise ctx.item(i).not_finite(repr(float(vec[i])))
    if "dimensions" in c and vec.size != c["dimensions"]:
        raise ctx.violation(_preview(vec), "dimensions", c["dimensions"], f"{vec.size} dimensions")
    if c.get("normalize") is True:
        n = _l2(vec)
        if n == 0:
            raise ctx.violation(_preview(vec), "normalize", True, "a zero vector cannot be scaled to unit length")
        vec = Embedding((np.asarray(vec, dtype=np.float64) / n).astype(vec.dtype))
    if "norm" in c and isinstance(c["norm"], str):
        # "unit" / "l2": L2 norm 1; "l1": the absolute values sum to 1 (summed in order, in float64)
        tol = c.get("norm_tolerance", DEFAULT_NORM_TOLERANCE)
        if c["norm"] == "l1":
            n = 0.0
            for x in vec.tolist():
                n += abs(x)
        else:
            n = _l2(vec)
        if not abs(n - 1) <= tol:
            raise ctx.violation(_preview(vec), "norm", c["norm"], f"{'L1' if c['norm'] == 'l1' else 'L2'} norm {n!r}")
    elif "norm" in c:
        n = _l2(vec)
        tol = c.get("norm_tolerance", DEFAULT_NORM_TOLERANCE)
        if not abs(n - c["norm"]) <= tol * c["norm"]:
            raise ctx.violation(_preview(vec), "norm", c["norm"], f"L2 norm {n!r}")
    if "range" in c:
        lo, hi = c["range"]
        outside = (vec < lo) | (vec > hi)
        if outside.any():
            i = int(np.argmax(outside))
            raise ctx.item(i).violation(repr(float(vec[i])), "range", c["range"])
    return vec


def _tensor(ctx: _Ctx, value: Any, c: Mapping[str, Any]) -> np.ndarray:
    if not isinstance(value, np.ndarray) or isinstance(value, np.ma.MaskedArray):
        raise ctx.mismatch(value, "a numpy ndarray (tensor)")
    dtype = _DTYPE_BY_KIND_SIZE.get((value.dtype.kind, value.dtype.itemsize))
    if dtype is None:
        raise ctx.mismatch(value, f"a tensor of one of the dtypes {', '.join(sorted(_TENSOR_DTYPES))}")
    arr = value.view(np.ndarray) if type(value) is not np.ndarray else value
    shown = _preview(arr)
    if "dtype" in c and dtype != c["dtype"]:
        raise ctx.violation(shown, "dtype", c["dtype"], f"dtype {dtype}")
    if "shape" in c:
        want = c["shape"]
        if len(want) != arr.ndim or any(d is not None and d != s for d, s in zip(want, arr.shape)):
            raise ctx.violation(shown, "shape", want, f"shape {list(arr.shape)}")
    if arr.dtype.kind == "f" and arr.size:
        finite = np.isfinite(arr)
        if not finite.all():
            i = int(np.argmin(finite.ravel()))
            raise ctx.not_finite(f"{shown} with element {i} = {arr.ravel()[i].item()!r}")
    if "range" in c and arr.size:
        lo, hi = c["range"]
        flat = arr.ravel()
        # Python scalars compare ints and floats exactly (no float64 rounding of int64).
        for i in (int(np.argmin(flat)), int(np.argmax(flat))):
            v = flat[i].item()
            if v < lo or v > hi:
                raise ctx.violation(f"{shown} with element {i} = {v!r}", "range", c["range"])
    if ("min_value" in c or "max_value" in c) and arr.size:
        flat = arr.ravel()
        # in element order, as the TypeScript twin reports the first element out of bounds
        for i, v in enumerate(flat.tolist()):
            if "min_value" in c and v < c["min_value"]:
                raise ctx.violation(f"{shown} with element {i} = {v!r}", "min_value", c["min_value"])
            if "max_value" in c and v > c["max_value"]:
                raise ctx.violation(f"{shown} with element {i} = {v!r}", "max_value", c["max_value"])
    return arr


def validate_value(type: str, value: Any, constraints: Any, variable: str | None = None) -> Any:  # noqa: A002
    """Check ``value`` against a variable type and its constraints; return the value to store.

    Normalization: float → ``float`` (ints converted), integer → ``int``, boolean → ``bool``,
    list/tuple → a new ``list`` (items normalized by ``item_type``), embedding → ``Embedding``
    (lists of numbers → float64, or the constrained ``dtype``; ``normalize`` scales to unit L2
    norm), tensor → plain ``np.ndarray`` (an ``Embedding`` becomes a 1-D tensor).

    Raises ``VariableTypeError`` (wrong type; also a TypeError), ``ConstraintViolationError``
    (a constraint, or the implicit ``finite`` / ``identifier`` checks, fails) and
    ``InvalidArgumentError`` (bad type name or constraints; see :func:`validate_constraints`).
    """
    t = canonical_type(type)
    c = validate_constraints(t, constraints)
    ctx = _Ctx(t, variable, variable if variable is not None else "value")
    if t in ("float", "integer", "boolean", "string"):
        return _scalar(t, ctx, value, c)
    if t in ("choice", "module"):
        if not isinstance(value, str):
            raise ctx.mismatch(value, f"a string ({t})")
        if t == "module" and _MODULE_NAME.fullmatch(value) is None:
            raise ctx.violation(_preview(value), "identifier", True, "a module name is a (dotted) Python identifier")
        if "choices" in c and value not in c["choices"]:
            raise ctx.violation(_preview(value), "choices", c["choices"])
        return value
    if t == "list":
        if not isinstance(value, (list, tuple)):
            raise ctx.mismatch(value, "a list")
        _check_length(ctx, _preview(value), len(value), c)
        item_type = c.get("item_type")
        if item_type is None:
            return list(value)
        return [_scalar(item_type, ctx.item(i), x, {}) for i, x in enumerate(value)]
    if t == "map":
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise ctx.mismatch(value, "a map (dict with str keys)")
        if "required_keys" in c:
            missing = [k for k in c["required_keys"] if k not in value]
            if missing:
                raise ctx.violation(
                    _preview(value),
                    "required_keys",
                    c["required_keys"],
                    "missing " + ", ".join(json.dumps(k) for k in missing),
                )
        if "max_keys" in c and len(value) > c["max_keys"]:
            raise ctx.violation(_preview(value), "max_keys", c["max_keys"], f"{len(value)} keys")
        return value
    if t == "embedding":
        return _embedding(ctx, value, c)
    return _tensor(ctx, value, c)


def infer_type(value: Any) -> str:
    """The type a value implies when a variable is created without a type: bool → boolean,
    int → integer, float → float, str → string, list/tuple → list, ``Embedding`` → embedding,
    other ndarray → tensor, dict with str keys → map. Anything else (None, bytes, objects) →
    ``VariableTypeError``."""
    if isinstance(value, (bool, np.bool_)):
        return "boolean"
    if isinstance(value, (int, np.integer)):
        return "integer"
    if isinstance(value, (float, np.floating)):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, Embedding):
        return "embedding"
    if isinstance(value, np.ndarray):
        return "tensor"
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return "map"
    got = _type_name(value)
    raise VariableTypeError(
        f"cannot infer a variable type for {got} {_preview(value)}; give the type explicitly", got=got
    )
