"""The constraint language: compile JSON documents into a checked tree, and evaluate it.

Format and semantics: docs/configuration.md. The TypeScript twin is ts/src/config/lang.ts;
both must agree on every rule here (the shared vectors in testdata/config-spaces.json check it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidArgumentError

__all__ = [
    "COMPARISONS",
    "Arith",
    "Cmp",
    "Cond",
    "Const",
    "EvalError",
    "Expr",
    "Implies",
    "In",
    "Junction",
    "Lookup",
    "Not",
    "Var",
    "compile_condition",
    "evaluate",
    "holds",
    "kind_of",
    "lookup_key",
    "same_value",
]

COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
_ARITH = ("+", "-", "*", "/")
_ORDERING = ("<", "<=", ">", ">=")

Scalar = str | int | float | bool


class EvalError(Exception):
    """A clause could not be evaluated (division by zero, a non-number in arithmetic, …)."""


@dataclass(frozen=True)
class Var:
    name: str


@dataclass(frozen=True)
class Const:
    value: Scalar


@dataclass(frozen=True)
class Arith:
    op: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Lookup:
    key: Expr
    table: dict[str, Scalar]
    has_default: bool
    default: Scalar | None


Expr = Var | Const | Arith | Lookup


@dataclass(frozen=True)
class Cmp:
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class In:
    left: Expr
    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class Junction:
    op: str  # "and" | "or"
    items: tuple[Cond, ...]


@dataclass(frozen=True)
class Not:
    item: Cond


@dataclass(frozen=True)
class Implies:
    cond: Cond
    then: Cond


Cond = Cmp | In | Junction | Not | Implies


def kind_of(value: Any) -> str | None:
    """``"number" | "string" | "boolean"`` for a JSON scalar allowed in the language, else None."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number" if math.isfinite(value) else None
    if isinstance(value, str):
        return "string"
    return None


def _describe(value: Any) -> str:
    return "null" if value is None else type(value).__name__


@dataclass
class _Ctx:
    """What the compiler needs: the declared variables' kinds and which names are allowed."""

    kinds: Mapping[str, frozenset[str]]
    allowed: Mapping[str, Any] | None = None  # names allowed (active_when: earlier only)
    why_not: str = "is not declared"
    refs: set[str] = field(default_factory=set)


def _bad(path: str, message: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"{path}: {message}", parameter=path)


def _keys(node: Mapping[str, Any], path: str, allowed: tuple[str, ...], what: str) -> None:
    extra = sorted(k for k in node if k not in allowed)
    if extra:
        raise _bad(path, f"unknown key {extra[0]!r} in {what} (allowed: {', '.join(allowed)})")


def _scalar(value: Any, path: str) -> Scalar:
    if kind_of(value) is None:
        raise _bad(path, f"expected a string, finite number or boolean, got {_describe(value)}")
    return value  # type: ignore[no-any-return]


def compile_expr(node: Any, path: str, ctx: _Ctx) -> tuple[Expr, frozenset[str]]:
    """Compile an expression; returns it and the kinds of value it can produce."""
    if not isinstance(node, Mapping):
        raise _bad(path, f"an expression must be an object, got {_describe(node)}")
    if "var" in node:
        _keys(node, path, ("var",), "a variable reference")
        name = node["var"]
        if not isinstance(name, str):
            raise _bad(f"{path}.var", "a variable name must be a string")
        if name not in ctx.kinds:
            raise _bad(f"{path}.var", f"unknown variable {name!r}")
        if ctx.allowed is not None and name not in ctx.allowed:
            raise _bad(f"{path}.var", f"variable {name!r} {ctx.why_not}")
        ctx.refs.add(name)
        return Var(name), ctx.kinds[name]
    if "const" in node:
        _keys(node, path, ("const",), "a constant")
        value = _scalar(node["const"], f"{path}.const")
        return Const(value), frozenset({kind_of(value) or ""})
    if "lookup" in node:
        _keys(node, path, ("lookup", "table", "default"), "a lookup")
        key, _ = compile_expr(node["lookup"], f"{path}.lookup", ctx)
        table = node.get("table")
        if not isinstance(table, Mapping) or not table:
            raise _bad(f"{path}.table", "a lookup needs a non-empty object `table`")
        kinds: set[str] = set()
        out: dict[str, Scalar] = {}
        for k, v in table.items():
            out[str(k)] = _scalar(v, f"{path}.table.{k}")
            kinds.add(kind_of(v) or "")
        has_default = "default" in node
        default = _scalar(node["default"], f"{path}.default") if has_default else None
        if has_default:
            kinds.add(kind_of(default) or "")
        return Lookup(key, out, has_default, default), frozenset(kinds)
    if "op" in node:
        op = node["op"]
        if op not in _ARITH:
            if op in COMPARISONS or op == "in":
                raise _bad(f"{path}.op", f"{op!r} is a condition, not an expression")
            raise _bad(f"{path}.op", f"unknown operator {op!r} (expressions: {', '.join(_ARITH)})")
        _keys(node, path, ("op", "args"), "an arithmetic expression")
        args = node.get("args")
        if not isinstance(args, list):
            raise _bad(f"{path}.args", f"{op!r} needs an `args` array")
        if op in ("-", "/") and len(args) != 2:
            raise _bad(f"{path}.args", f"{op!r} takes exactly 2 arguments, got {len(args)}")
        if len(args) < 2:
            raise _bad(f"{path}.args", f"{op!r} takes at least 2 arguments, got {len(args)}")
        compiled = []
        for i, a in enumerate(args):
            e, k = compile_expr(a, f"{path}.args[{i}]", ctx)
            if "number" not in k:
                raise _bad(f"{path}.args[{i}]", f"{op!r} needs numbers, but this is always {'/'.join(sorted(k))}")
            compiled.append(e)
        return Arith(op, tuple(compiled)), frozenset({"number"})
    raise _bad(path, "unknown expression (expected one of: var, const, op with args, lookup)")


def compile_condition(node: Any, path: str, ctx: _Ctx, *, top: bool = False) -> Cond:
    """Compile a condition (a top-level one may also carry ``name`` and ``description``)."""
    if not isinstance(node, Mapping):
        raise _bad(path, f"a condition must be an object, got {_describe(node)}")
    extra: tuple[str, ...] = ("name", "description") if top else ()
    if "and" in node or "or" in node:
        op = "and" if "and" in node else "or"
        _keys(node, path, (op, *extra), f"an {op!r} condition")
        items = node[op]
        if not isinstance(items, list) or not items:
            raise _bad(f"{path}.{op}", f"{op!r} needs a non-empty array of conditions")
        return Junction(op, tuple(compile_condition(c, f"{path}.{op}[{i}]", ctx) for i, c in enumerate(items)))
    if "not" in node:
        _keys(node, path, ("not", *extra), "a 'not' condition")
        return Not(compile_condition(node["not"], f"{path}.not", ctx))
    if "if" in node:
        _keys(node, path, ("if", "then", *extra), "an 'if' condition")
        if "then" not in node:
            raise _bad(path, "'if' needs 'then'")
        return Implies(
            compile_condition(node["if"], f"{path}.if", ctx), compile_condition(node["then"], f"{path}.then", ctx)
        )
    if "op" in node:
        op = node["op"]
        if op == "in":
            _keys(node, path, ("op", "left", "values", *extra), "an 'in' condition")
            if "left" not in node:
                raise _bad(path, "'in' needs 'left'")
            left, _ = compile_expr(node["left"], f"{path}.left", ctx)
            values = node.get("values")
            if not isinstance(values, list) or not values:
                raise _bad(f"{path}.values", "'in' needs a non-empty `values` array")
            return In(left, tuple(_scalar(v, f"{path}.values[{i}]") for i, v in enumerate(values)))
        if op in COMPARISONS:
            _keys(node, path, ("op", "left", "right", *extra), f"a {op!r} comparison")
            for side in ("left", "right"):
                if side not in node:
                    raise _bad(path, f"{op!r} needs '{side}'")
            left, lk = compile_expr(node["left"], f"{path}.left", ctx)
            right, rk = compile_expr(node["right"], f"{path}.right", ctx)
            if op in _ORDERING:
                for side, k in (("left", lk), ("right", rk)):
                    if "number" not in k:
                        raise _bad(
                            f"{path}.{side}", f"{op!r} compares numbers, but this is always {'/'.join(sorted(k))}"
                        )
            return Cmp(op, left, right)
        if op in _ARITH:
            raise _bad(f"{path}.op", f"{op!r} is an expression, not a condition (compare it with something)")
        raise _bad(f"{path}.op", f"unknown operator {op!r} (conditions: {', '.join(COMPARISONS)}, in)")
    raise _bad(path, "unknown condition (expected one of: op, and, or, not, if)")


# ---------------------------------------------------------------------------------------------
# Evaluation


def same_value(a: Any, b: Any) -> bool:
    """Equality of the language: numbers by value (1 == 1.0), never a boolean equal to a number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return False


def lookup_key(value: Any) -> str | None:
    """The table key of a value: strings as they are, booleans "true"/"false", integral numbers
    (|x| < 2**53) in decimal; anything else has no key."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and math.isfinite(value) and float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return None


def _num(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EvalError(f"{what} needs a number, got {value!r}")
    return float(value)


def evaluate(expr: Expr, values: Mapping[str, Any]) -> Any:
    if isinstance(expr, Var):
        if expr.name not in values:
            raise EvalError(f"variable {expr.name!r} has no value")
        return values[expr.name]
    if isinstance(expr, Const):
        return expr.value
    if isinstance(expr, Arith):
        op = expr.op
        acc = _num(evaluate(expr.args[0], values), f"{op!r}")
        for a in expr.args[1:]:
            x = _num(evaluate(a, values), f"{op!r}")
            if op == "+":
                acc = acc + x
            elif op == "-":
                acc = acc - x
            elif op == "*":
                acc = acc * x
            else:
                if x == 0.0:
                    raise EvalError("division by zero")
                acc = acc / x
        if not math.isfinite(acc):
            raise EvalError(f"{op!r} overflowed")
        return acc
    # Lookup
    key = lookup_key(evaluate(expr.key, values))
    if key is not None and key in expr.table:
        return expr.table[key]
    if expr.has_default:
        return expr.default
    raise EvalError(f"no table entry for {key!r} and no default")


def holds(cond: Cond, values: Mapping[str, Any]) -> bool:
    """Whether a condition holds; raises EvalError when it cannot be evaluated."""
    if isinstance(cond, Cmp):
        left = evaluate(cond.left, values)
        right = evaluate(cond.right, values)
        op = cond.op
        if op == "==":
            return same_value(left, right)
        if op == "!=":
            return not same_value(left, right)
        lf = _num(left, f"{op!r}")
        rf = _num(right, f"{op!r}")
        if op == "<":
            return lf < rf
        if op == "<=":
            return lf <= rf
        if op == ">":
            return lf > rf
        return lf >= rf
    if isinstance(cond, In):
        left = evaluate(cond.left, values)
        return any(same_value(left, v) for v in cond.values)
    if isinstance(cond, Junction):
        if cond.op == "and":
            return all(holds(c, values) for c in cond.items)
        return any(holds(c, values) for c in cond.items)
    if isinstance(cond, Not):
        return not holds(cond.item, values)
    return (not holds(cond.cond, values)) or holds(cond.then, values)
