"""Configuration spaces: typed variables with domains, conditional activity, constraints;
validation with structured results and seeded sampling (narrowing, then bounded rejection).

Format and semantics: docs/configuration.md. TypeScript twin: ts/src/config/space.ts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConstraintViolationError, FailedPreconditionError, InvalidArgumentError
from ._lang import (
    Cmp,
    Cond,
    EvalError,
    Junction,
    Var,
    _Ctx,
    _keys,
    compile_condition,
    evaluate,
    holds,
    kind_of,
    same_value,
)
from ._rng import Rng

__all__ = [
    "VARIABLE_TYPES",
    "Constraint",
    "SampleResult",
    "Space",
    "ValidationResult",
    "Variable",
    "Violation",
    "assert_valid",
    "compile_space",
    "is_active",
    "sample",
    "validate",
]

VARIABLE_TYPES = ("float", "integer", "choice", "boolean", "constant")
_VAR_KEYS: dict[str, tuple[str, ...]] = {
    "float": ("min", "max", "log"),
    "integer": ("min", "max", "log"),
    "choice": ("values",),
    "boolean": (),
    "constant": ("value",),
}
_COMMON_KEYS = ("name", "type", "default", "description", "active_when")
_SAFE_INT = 2**53 - 1


@dataclass(frozen=True)
class Variable:
    name: str
    type: str
    index: int
    min: float = 0.0
    max: float = 0.0
    log: bool = False
    values: tuple[Any, ...] = ()
    value: Any = None
    default: Any = None
    has_default: bool = False
    active_when: Cond | None = None
    active_refs: frozenset[str] = frozenset()


@dataclass(frozen=True)
class _Narrower:
    """A conjunct of constraint ``source`` that bounds ``var`` once ``needs`` are sampled."""

    source: int
    cond: Cond
    needs: frozenset[str]  # variables sampled before `var` that must be active
    op: str = ""  # numeric bound: op with `var` on the left; "" = filter choices
    other: Any = None  # the expression on the other side (numeric bound)


@dataclass(frozen=True)
class Constraint:
    name: str | None
    path: str
    cond: Cond
    refs: tuple[str, ...]  # referenced variables, in declaration order


@dataclass(frozen=True)
class Space:
    """A compiled, checked space (build it with :func:`compile_space`)."""

    variables: tuple[Variable, ...]
    constraints: tuple[Constraint, ...]
    document: Mapping[str, Any]
    by_name: Mapping[str, Variable] = field(default_factory=dict)
    narrowers: Mapping[str, tuple[_Narrower, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Violation:
    """One problem of a configuration. ``kind``: ``unknown`` (a key that is no variable),
    ``missing`` (an active variable without a value), ``inactive`` (a value for an inactive
    variable), ``domain`` (outside its variable's domain; ``name`` is the facet: type, integer,
    min, max, values, value), ``constraint`` (``name`` is the constraint's name or None)."""

    kind: str
    name: str | None
    path: str | None
    variables: dict[str, Any]
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "path": self.path,
            "variables": dict(self.variables),
            "message": self.message,
        }


@dataclass(frozen=True)
class ValidationResult:
    ok: bool
    violations: tuple[Violation, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "violations": [v.to_dict() for v in self.violations]}


@dataclass(frozen=True)
class SampleResult:
    samples: list[dict[str, Any]]
    attempts: int
    accepted: int
    acceptance_rate: float


# ---------------------------------------------------------------------------------------------
# Compiling


def _bad(path: str, message: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"{path}: {message}", parameter=path)


def _is_num(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)


def _is_int(v: Any) -> bool:
    return _is_num(v) and float(v).is_integer() and abs(v) <= _SAFE_INT


def _domain_problem(var: Variable, value: Any) -> tuple[str, str] | None:
    """(facet, message) if ``value`` is outside the variable's domain."""
    t = var.type
    if t in ("float", "integer"):
        if not _is_num(value):
            return "type", f"{var.name} must be a finite number, got {value!r}"
        if t == "integer" and not _is_int(value):
            return "integer", f"{var.name} must be an integer, got {value!r}"
        if value < var.min:
            return "min", f"{var.name} = {value!r} is below min {_fmt(var.min)}"
        if value > var.max:
            return "max", f"{var.name} = {value!r} is above max {_fmt(var.max)}"
        return None
    if t == "boolean":
        return None if isinstance(value, bool) else ("type", f"{var.name} must be a boolean, got {value!r}")
    if t == "choice":
        if any(same_value(value, v) for v in var.values):
            return None
        return "values", f"{var.name} = {value!r} is not one of {list(var.values)!r}"
    if same_value(value, var.value):
        return None
    return "value", f"{var.name} is the constant {var.value!r}, got {value!r}"


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def _compile_variable(node: Any, i: int, kinds: dict[str, frozenset[str]]) -> Variable:
    path = f"variables[{i}]"
    if not isinstance(node, Mapping):
        raise _bad(path, "a variable must be an object")
    name = node.get("name")
    if not isinstance(name, str) or not name:
        raise _bad(f"{path}.name", "a variable needs a non-empty string `name`")
    if name in kinds:
        raise _bad(f"{path}.name", f"duplicate variable {name!r}")
    t = node.get("type")
    if t not in VARIABLE_TYPES:
        raise _bad(f"{path}.type", f"unknown type {t!r} (one of: {', '.join(VARIABLE_TYPES)})")
    _keys(node, path, (*_COMMON_KEYS, *_VAR_KEYS[t]), f"a {t} variable")
    fields: dict[str, Any] = {}
    if t in ("float", "integer"):
        check = _is_int if t == "integer" else _is_num
        for k in ("min", "max"):
            if k not in node or not check(node[k]):
                raise _bad(
                    f"{path}.{k}", f"a {t} variable needs {'an integer' if t == 'integer' else 'a finite number'} `{k}`"
                )
        lo, hi = node["min"], node["max"]
        if lo > hi:
            raise _bad(f"{path}.min", f"min {lo!r} is greater than max {hi!r}")
        log = node.get("log", False)
        if not isinstance(log, bool):
            raise _bad(f"{path}.log", "`log` must be a boolean")
        if log and lo <= 0:
            raise _bad(f"{path}.min", "a log-scaled variable needs min > 0")
        fields.update(min=lo, max=hi, log=log)
        kind = frozenset({"number"})
    elif t == "choice":
        values = node.get("values")
        if not isinstance(values, list) or not values:
            raise _bad(f"{path}.values", "a choice variable needs a non-empty `values` array")
        for j, v in enumerate(values):
            if kind_of(v) is None:
                raise _bad(f"{path}.values[{j}]", f"choices must be strings, finite numbers or booleans, got {v!r}")
            if any(same_value(v, w) for w in values[:j]):
                raise _bad(f"{path}.values[{j}]", f"duplicate choice {v!r}")
        fields["values"] = tuple(values)
        kind = frozenset(kind_of(v) or "" for v in values)
    elif t == "boolean":
        fields["values"] = (False, True)
        kind = frozenset({"boolean"})
    else:
        if "value" not in node or kind_of(node["value"]) is None:
            raise _bad(f"{path}.value", "a constant needs a string, finite number or boolean `value`")
        fields["value"] = node["value"]
        kind = frozenset({kind_of(node["value"]) or ""})
    var = Variable(name=name, type=t, index=i, **fields)
    if "default" in node:
        problem = _domain_problem(var, node["default"])
        if problem is not None:
            raise _bad(f"{path}.default", f"default is outside the domain: {problem[1]}")
        var = Variable(name=name, type=t, index=i, default=node["default"], has_default=True, **fields)
    if "active_when" in node:
        cond = _compile_active_when(node["active_when"], f"{path}.active_when", kinds, name)
        var = Variable(
            name=name,
            type=t,
            index=i,
            default=var.default,
            has_default=var.has_default,
            active_when=cond[0],
            active_refs=cond[1],
            **fields,
        )
    kinds[name] = kind
    return var


def _compile_active_when(
    node: Any, path: str, earlier: dict[str, frozenset[str]], name: str
) -> tuple[Cond, frozenset[str]]:
    ctx = _Ctx(
        kinds={**earlier, name: frozenset()},
        allowed=earlier,
        why_not="must be declared before the variable it activates",
    )
    cond = compile_condition(node, path, ctx)
    return cond, frozenset(ctx.refs)


def _conjuncts(cond: Cond) -> list[Cond]:
    if isinstance(cond, Junction) and cond.op == "and":
        out: list[Cond] = []
        for c in cond.items:
            out.extend(_conjuncts(c))
        return out
    return [cond]


def _refs_of(cond: Any, acc: set[str]) -> set[str]:
    """Variables a compiled node refers to."""
    if isinstance(cond, Var):
        acc.add(cond.name)
        return acc
    for attr in ("left", "right", "item", "cond", "then", "key"):
        sub = getattr(cond, attr, None)
        if sub is not None and not isinstance(sub, (str, int, float, bool)):
            _refs_of(sub, acc)
    for attr in ("items", "args"):
        for sub in getattr(cond, attr, ()) or ():
            _refs_of(sub, acc)
    return acc


_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "=="}


def _build_narrowers(
    variables: tuple[Variable, ...], constraints: tuple[Constraint, ...]
) -> dict[str, tuple[_Narrower, ...]]:
    index = {v.name: v.index for v in variables}
    by_name = {v.name: v for v in variables}
    out: dict[str, list[_Narrower]] = {v.name: [] for v in variables}
    for ci, con in enumerate(constraints):
        for conj in _conjuncts(con.cond):
            refs = _refs_of(conj, set())
            for x in refs:
                xi = index[x]
                others = refs - {x}
                if any(index[o] > xi for o in others):
                    continue  # needs a variable sampled later
                # The whole constraint applies only when all its variables are active: the
                # earlier ones are checked at sampling time, later ones must be unconditional.
                later = [r for r in con.refs if r != x and index[r] > xi]
                if any(by_name[r].active_when is not None for r in later):
                    continue
                needs = frozenset(r for r in con.refs if r != x and index[r] < xi)
                var = by_name[x]
                if var.type in ("choice", "boolean"):
                    out[x].append(_Narrower(ci, conj, needs))
                elif var.type in ("float", "integer") and isinstance(conj, Cmp) and conj.op in _FLIP:
                    if conj.left == Var(x) and x not in _refs_of(conj.right, set()):
                        out[x].append(_Narrower(ci, conj, needs, conj.op, conj.right))
                    elif conj.right == Var(x) and x not in _refs_of(conj.left, set()):
                        out[x].append(_Narrower(ci, conj, needs, _FLIP[conj.op], conj.left))
    return {k: tuple(v) for k, v in out.items()}


def compile_space(document: Mapping[str, Any] | Space) -> Space:
    """Check a space document and compile it. Raises InvalidArgumentError naming the path."""
    if isinstance(document, Space):
        return document
    if not isinstance(document, Mapping):
        raise _bad("space", "a space must be an object")
    _keys(document, "space", ("name", "description", "variables", "constraints"), "a space")
    raw_vars = document.get("variables")
    if not isinstance(raw_vars, list) or not raw_vars:
        raise _bad("variables", "a space needs a non-empty `variables` array")
    kinds: dict[str, frozenset[str]] = {}
    variables = tuple(_compile_variable(v, i, kinds) for i, v in enumerate(raw_vars))
    raw_cons = document.get("constraints", [])
    if not isinstance(raw_cons, list):
        raise _bad("constraints", "`constraints` must be an array")
    constraints: list[Constraint] = []
    names: set[str] = set()
    order = {v.name: v.index for v in variables}
    for i, node in enumerate(raw_cons):
        path = f"constraints[{i}]"
        ctx = _Ctx(kinds=kinds)
        cond = compile_condition(node, path, ctx, top=True)
        name = node.get("name")
        if name is not None:
            if not isinstance(name, str) or not name:
                raise _bad(f"{path}.name", "a constraint name must be a non-empty string")
            if name in names:
                raise _bad(f"{path}.name", f"duplicate constraint name {name!r}")
            names.add(name)
        constraints.append(Constraint(name, path, cond, tuple(sorted(ctx.refs, key=order.__getitem__))))
    cons = tuple(constraints)
    return Space(
        variables=variables,
        constraints=cons,
        document=document,
        by_name={v.name: v for v in variables},
        narrowers=_build_narrowers(variables, cons),
    )


# ---------------------------------------------------------------------------------------------
# Validation


def is_active(var: Variable, values: Mapping[str, Any]) -> bool:
    """Whether ``var`` takes part in the configuration ``values`` (its ``active_when`` holds;
    a condition that names a variable missing from ``values`` does not)."""
    if var.active_when is None:
        return True
    if any(r not in values for r in var.active_refs):
        return False
    try:
        return holds(var.active_when, values)
    except EvalError:
        return False


def _check_constraints(space: Space, values: Mapping[str, Any], skip: set[str], out: list[Violation] | None) -> bool:
    ok = True
    for con in space.constraints:
        if any(r not in values or r in skip for r in con.refs):
            continue  # a constraint over an inactive (or already invalid) variable is skipped
        try:
            good = holds(con.cond, values)
            why = "is violated"
        except EvalError as exc:
            good = False
            why = f"cannot be evaluated ({exc})"
        if not good:
            ok = False
            if out is None:
                return False
            label = f"constraint {con.name!r}" if con.name else f"constraint {con.path}"
            involved = {r: values[r] for r in con.refs}
            shown = ", ".join(f"{k}={v!r}" for k, v in involved.items())
            out.append(
                Violation(
                    "constraint", con.name, con.path, involved, f"{label} {why}" + (f" by {shown}" if shown else "")
                )
            )
    return ok


def validate(space: Mapping[str, Any] | Space, config: Mapping[str, Any]) -> ValidationResult:
    """Check a configuration against a space; never raises for a bad configuration (only for a
    bad space document or a config that is not an object)."""
    sp = compile_space(space)
    if not isinstance(config, Mapping):
        raise InvalidArgumentError("a configuration must be an object", parameter="config")
    out: list[Violation] = []
    for key in sorted(k for k in config if k not in sp.by_name):
        out.append(Violation("unknown", None, None, {key: config[key]}, f"{key!r} is not a variable of this space"))
    values: dict[str, Any] = {}
    bad: set[str] = set()
    for var in sp.variables:
        path = f"variables[{var.index}]"
        active = is_active(var, values)
        present = var.name in config
        if not active:
            if present:
                out.append(
                    Violation(
                        "inactive",
                        None,
                        path,
                        {var.name: config[var.name]},
                        f"{var.name} is inactive (its active_when does not hold) but has a value",
                    )
                )
            continue
        if not present:
            out.append(Violation("missing", None, path, {}, f"{var.name} is active but has no value"))
            continue
        value = config[var.name]
        values[var.name] = value
        problem = _domain_problem(var, value)
        if problem is not None:
            bad.add(var.name)
            out.append(Violation("domain", problem[0], path, {var.name: value}, problem[1]))
    _check_constraints(sp, values, bad, out)
    return ValidationResult(not out, tuple(out))


def _limit(var: Variable, facet: str | None) -> Any:
    return {"min": var.min, "max": var.max, "values": list(var.values), "value": var.value}.get(facet or "")


def assert_valid(space: Mapping[str, Any] | Space, config: Mapping[str, Any]) -> None:
    """Raise ConstraintViolationError (details: ``violations``) if ``config`` is not valid."""
    sp = compile_space(space)
    result = validate(sp, config)
    if result.ok:
        return
    first = result.violations[0]
    var_name = next(iter(first.variables), None)
    var = sp.by_name.get(var_name) if var_name is not None else None
    more = len(result.violations) - 1
    raise ConstraintViolationError(
        first.message + (f" (and {more} more)" if more else ""),
        variable=var_name,
        type=var.type if var is not None else None,
        constraint=first.name or first.path or first.kind,
        limit=_limit(var, first.name) if var is not None and first.kind == "domain" else None,
        details={"violations": [v.to_dict() for v in result.violations]},
    )


# ---------------------------------------------------------------------------------------------
# Sampling


def _draw(var: Variable, rng: Rng, values: dict[str, Any], space: Space) -> tuple[bool, Any]:
    """Narrow the variable's domain given the values sampled so far, then draw. (False, None)
    if the narrowed domain is empty."""
    narrowers = space.narrowers[var.name]
    t = var.type
    if t == "constant":
        return True, var.value
    if t in ("choice", "boolean"):
        choices = list(var.values)
        for nw in narrowers:
            if any(r not in values for r in nw.needs):
                continue
            kept = []
            for c in choices:
                values[var.name] = c
                try:
                    if holds(nw.cond, values):
                        kept.append(c)
                except EvalError:
                    pass
            del values[var.name]
            choices = kept
            if not choices:
                return False, None
        return True, choices[rng.next_below(len(choices))]
    lo: float = var.min
    hi: float = var.max
    for nw in narrowers:
        if any(r not in values for r in nw.needs):
            continue
        try:
            bound = evaluate(nw.other, values)
        except EvalError:
            return False, None
        if isinstance(bound, bool) or not isinstance(bound, (int, float)):
            return False, None
        op = nw.op
        if t == "integer":
            if op == "<=":
                hi = min(hi, math.floor(bound))
            elif op == "<":
                hi = min(hi, math.ceil(bound) - 1)
            elif op == ">=":
                lo = max(lo, math.ceil(bound))
            elif op == ">":
                lo = max(lo, math.floor(bound) + 1)
            elif float(bound).is_integer():
                lo, hi = max(lo, bound), min(hi, bound)
            else:
                return False, None
        else:
            if op in ("<=", "<"):
                hi = min(hi, bound)
            elif op in (">=", ">"):
                lo = max(lo, bound)
            else:
                lo, hi = max(lo, bound), min(hi, bound)
        if lo > hi:
            return False, None
    u = rng.next_float()
    if t == "float":
        if var.log:
            llo = math.log(lo)
            x = math.exp(llo + u * (math.log(hi) - llo))
        else:
            x = lo + u * (hi - lo)
        return True, min(max(x, lo), hi)
    ilo, ihi = int(lo), int(hi)
    if var.log:
        llo = math.log(ilo)
        k = math.floor(math.exp(llo + u * (math.log(ihi + 1) - llo)))
    else:
        k = ilo + math.floor(u * (ihi - ilo + 1))
    return True, int(min(max(k, ilo), ihi))


def _attempt(space: Space, rng: Rng) -> dict[str, Any] | None:
    values: dict[str, Any] = {}
    for var in space.variables:
        if not is_active(var, values):
            continue
        ok, value = _draw(var, rng, values, space)
        if not ok:
            return None
        values[var.name] = value
    return values


def _statically_infeasible(space: Space) -> str | None:
    """A variable that is always active and whose domain is empty before anything is sampled."""
    probe = Rng(0)
    for var in space.variables:
        if var.active_when is not None:
            continue
        ok, _ = _draw(var, probe, {}, space)
        if not ok:
            return var.name
    return None


def sample(space: Mapping[str, Any] | Space, n: int, seed: int, *, max_attempts: int | None = None) -> SampleResult:
    """``n`` valid configurations, deterministic for ``seed`` (identical to TypeScript's
    ``sample``). Raises FailedPreconditionError (details: attempts, accepted, acceptance_rate,
    requested) when fewer than ``n`` are found within ``max_attempts`` (default ``100 * n``)."""
    sp = compile_space(space)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise InvalidArgumentError(f"n must be a non-negative integer, got {n!r}", parameter="n")
    limit = max(100 * n, 1) if max_attempts is None else max_attempts
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidArgumentError(
            f"max_attempts must be a positive integer, got {max_attempts!r}", parameter="max_attempts"
        )
    rng = Rng(seed)
    samples: list[dict[str, Any]] = []
    attempts = 0
    empty = _statically_infeasible(sp) if n > 0 else None
    if empty is not None:
        limit = 0
    while len(samples) < n:
        if attempts >= limit:
            rate = len(samples) / attempts if attempts else 0.0
            why = (
                f"the domain of {empty!r} is empty under the constraints"
                if empty is not None
                else f"{len(samples)} of {n} found in {attempts} attempts (acceptance rate {rate:.4g})"
            )
            raise FailedPreconditionError(
                f"infeasible space: {why}",
                details={
                    "attempts": attempts,
                    "accepted": len(samples),
                    "acceptance_rate": rate,
                    "requested": n,
                    **({"variable": empty} if empty else {}),
                },
            )
        attempts += 1
        cand = _attempt(sp, rng)
        if cand is not None and _check_constraints(sp, cand, set(), None):
            samples.append(cand)
    return SampleResult(samples, attempts, len(samples), len(samples) / attempts if attempts else 0.0)
