"""ConfigSpace JSON (``json_format_version`` 0.4) import/export where it maps.

Mapped: hyperparameters ``uniform_float``, ``uniform_int`` (``lower``/``upper``/``log``/
``default``), ``categorical`` (without ``weights``), ``constant``; conditions ``EQ``, ``NEQ``,
``LT``, ``GT``, ``IN``, ``AND``, ``OR`` (→ ``active_when``); forbiddens ``EQUALS``, ``IN``,
``AND`` and ``RELATION`` (``LESS``/``EQUALS``/``GREATER``) (→ a constraint ``not`` clause).
Anything else raises InvalidArgumentError naming the path: nothing is dropped silently.
TypeScript twin: ts/src/config/configspace.ts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..errors import InvalidArgumentError
from ._space import compile_space

__all__ = ["JSON_FORMAT_VERSION", "from_configspace", "to_configspace"]

JSON_FORMAT_VERSION = 0.4
_COND_OPS = {"EQ": "==", "NEQ": "!=", "LT": "<", "GT": ">"}
_REL_OPS = {"LESS": "<", "EQUALS": "==", "GREATER": ">"}


def _bad(path: str, message: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"{path}: {message}", parameter=path)


def _obj(node: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(node, Mapping):
        raise _bad(path, "expected an object")
    return node


def _hyperparameter(hp: Mapping[str, Any], path: str) -> dict[str, Any]:
    t = hp.get("type")
    name = hp.get("name")
    out: dict[str, Any] = {"name": name}
    if t in ("uniform_float", "uniform_int"):
        if hp.get("q") is not None:
            raise _bad(f"{path}.q", "quantized hyperparameters (q) do not map")
        out.update(type="float" if t == "uniform_float" else "integer", min=hp.get("lower"), max=hp.get("upper"))
        if hp.get("log"):
            out["log"] = True
    elif t == "categorical":
        if hp.get("weights") is not None:
            raise _bad(f"{path}.weights", "weighted categoricals do not map")
        out.update(type="choice", values=hp.get("choices"))
    elif t == "constant":
        out.update(type="constant", value=hp.get("value"))
    else:
        raise _bad(
            f"{path}.type",
            f"hyperparameter type {t!r} does not map (mapped: uniform_float, uniform_int, categorical, constant)",
        )
    if "default" in hp and hp["default"] is not None and t != "constant":
        out["default"] = hp["default"]
    return out


def _condition(c: Mapping[str, Any], path: str) -> dict[str, Any]:
    t = c.get("type")
    if t in ("AND", "OR"):
        subs = c.get("conditions")
        if not isinstance(subs, list):
            raise _bad(f"{path}.conditions", f"{t} needs `conditions`")
        return {
            t.lower(): [
                _condition(_obj(s, f"{path}.conditions[{i}]"), f"{path}.conditions[{i}]") for i, s in enumerate(subs)
            ]
        }
    parent = {"var": c.get("parent")}
    if t == "IN":
        return {"op": "in", "left": parent, "values": c.get("values")}
    if t in _COND_OPS:
        return {"op": _COND_OPS[t], "left": parent, "right": {"const": c.get("value")}}
    raise _bad(f"{path}.type", f"condition type {t!r} does not map (mapped: EQ, NEQ, LT, GT, IN, AND, OR)")


def _forbidden(f: Mapping[str, Any], path: str) -> dict[str, Any]:
    t = f.get("type")
    if t == "EQUALS":
        return {"op": "==", "left": {"var": f.get("name")}, "right": {"const": f.get("value")}}
    if t == "IN":
        return {"op": "in", "left": {"var": f.get("name")}, "values": f.get("values")}
    if t == "AND":
        clauses = f.get("clauses")
        if not isinstance(clauses, list):
            raise _bad(f"{path}.clauses", "AND needs `clauses`")
        return {
            "and": [_forbidden(_obj(s, f"{path}.clauses[{i}]"), f"{path}.clauses[{i}]") for i, s in enumerate(clauses)]
        }
    if t == "RELATION":
        lam = f.get("lambda")
        if lam not in _REL_OPS:
            raise _bad(f"{path}.lambda", f"relation {lam!r} does not map (mapped: LESS, EQUALS, GREATER)")
        return {"op": _REL_OPS[lam], "left": {"var": f.get("left")}, "right": {"var": f.get("right")}}
    raise _bad(f"{path}.type", f"forbidden type {t!r} does not map (mapped: EQUALS, IN, AND, RELATION)")


def _order(variables: list[dict[str, Any]], parents: dict[str, set[str]]) -> list[dict[str, Any]]:
    """Declaration order with every parent before its children (stable), as active_when needs."""
    done: set[str] = set()
    out: list[dict[str, Any]] = []
    pending = list(variables)
    while pending:
        rest = []
        for v in pending:
            if parents.get(v["name"], set()) <= done:
                out.append(v)
                done.add(v["name"])
            else:
                rest.append(v)
        if len(rest) == len(pending):
            raise _bad("conditions", f"conditions form a cycle through {sorted(v['name'] for v in rest)}")
        pending = rest
    return out


def _parents(node: Any, acc: set[str]) -> set[str]:
    if isinstance(node, Mapping):
        if "var" in node and isinstance(node["var"], str):
            acc.add(node["var"])
        for v in node.values():
            _parents(v, acc)
    elif isinstance(node, list):
        for v in node:
            _parents(v, acc)
    return acc


def from_configspace(document: Mapping[str, Any]) -> dict[str, Any]:
    """A space document from ConfigSpace JSON (a parsed object). Checked by compile_space."""
    doc = _obj(document, "configspace")
    version = doc.get("json_format_version")
    if version is not None and version != JSON_FORMAT_VERSION:
        raise _bad("json_format_version", f"only format {JSON_FORMAT_VERSION} is supported, got {version!r}")
    hps = doc.get("hyperparameters")
    if not isinstance(hps, list):
        raise _bad("hyperparameters", "expected an array")
    variables = [
        _hyperparameter(_obj(hp, f"hyperparameters[{i}]"), f"hyperparameters[{i}]") for i, hp in enumerate(hps)
    ]
    by_name = {v["name"]: v for v in variables}
    conditions: dict[str, list[dict[str, Any]]] = {}
    for i, c in enumerate(doc.get("conditions") or []):
        path = f"conditions[{i}]"
        c = _obj(c, path)
        child = c.get("child")
        if child not in by_name:
            raise _bad(f"{path}.child", f"unknown hyperparameter {child!r}")
        conditions.setdefault(child, []).append(_condition(c, path))
    parents: dict[str, set[str]] = {}
    for child, conds in conditions.items():
        by_name[child]["active_when"] = conds[0] if len(conds) == 1 else {"and": conds}
        parents[child] = _parents(by_name[child]["active_when"], set())
    constraints = []
    for i, f in enumerate(doc.get("forbiddens") or []):
        path = f"forbiddens[{i}]"
        constraints.append({"name": f"forbidden_{i}", "not": _forbidden(_obj(f, path), path)})
    space: dict[str, Any] = {"variables": _order(variables, parents), "constraints": constraints}
    if isinstance(doc.get("name"), str):
        space["name"] = doc["name"]
    compile_space(space)
    return space


# ---------------------------------------------------------------------------------------------
# Export


def _export_condition(c: Mapping[str, Any], child: str, path: str) -> dict[str, Any]:
    for op in ("and", "or"):
        if op in c:
            return {
                "child": child,
                "type": op.upper(),
                "conditions": [_export_condition(s, child, f"{path}.{op}[{i}]") for i, s in enumerate(c[op])],
            }
    op = c.get("op")
    left = c.get("left") or {}
    if "var" not in left:
        raise _bad(f"{path}.left", "only `variable op constant` conditions map to ConfigSpace")
    if op == "in":
        return {"child": child, "parent": left["var"], "type": "IN", "values": list(c["values"])}
    right = c.get("right") or {}
    inverse = {v: k for k, v in _COND_OPS.items()}
    if op in inverse and "const" in right:
        return {"child": child, "parent": left["var"], "type": inverse[op], "value": right["const"]}
    raise _bad(path, "only ==, !=, <, >, in, and, or conditions of a variable against constants map to ConfigSpace")


def _export_forbidden(c: Mapping[str, Any], path: str) -> dict[str, Any]:
    if "and" in c:
        clauses = [_export_forbidden(s, f"{path}.and[{i}]") for i, s in enumerate(c["and"])]
        return {"name": clauses[0].get("name", clauses[0].get("left")), "type": "AND", "clauses": clauses}
    op = c.get("op")
    left = c.get("left") or {}
    right = c.get("right") or {}
    if "var" in left and op == "in":
        return {"name": left["var"], "type": "IN", "values": list(c["values"])}
    if "var" in left and op == "==" and "const" in right:
        return {"name": left["var"], "type": "EQUALS", "value": right["const"]}
    inverse = {v: k for k, v in _REL_OPS.items()}
    if "var" in left and "var" in right and op in inverse:
        return {"left": left["var"], "right": right["var"], "type": "RELATION", "lambda": inverse[op]}
    raise _bad(
        path, "only forbidden clauses (==/in against constants, and, <, ==, > between two variables) map to ConfigSpace"
    )


def _default(v: Mapping[str, Any]) -> Any:
    if "default" in v:
        return v["default"]
    t = v["type"]
    if t == "float":
        if v.get("log"):
            return math.exp((math.log(v["min"]) + math.log(v["max"])) / 2)
        return (v["min"] + v["max"]) / 2
    if t == "integer":
        if v.get("log"):
            return int(round(math.exp((math.log(v["min"]) + math.log(v["max"])) / 2)))
        return int(round((v["min"] + v["max"]) / 2))
    return v["values"][0] if t == "choice" else False


def to_configspace(space: Mapping[str, Any]) -> dict[str, Any]:
    """ConfigSpace JSON (format 0.4) for a space document, or InvalidArgumentError naming the
    part that does not map. Booleans export as categorical [false, true]; constraints must be
    ``{"not": <forbidden clause>}``."""
    compile_space(space)
    hps: list[dict[str, Any]] = []
    conditions: list[dict[str, Any]] = []
    for i, v in enumerate(space["variables"]):
        t = v["type"]
        if t in ("float", "integer"):
            hps.append(
                {
                    "name": v["name"],
                    "type": "uniform_float" if t == "float" else "uniform_int",
                    "log": bool(v.get("log", False)),
                    "lower": v["min"],
                    "upper": v["max"],
                    "default": _default(v),
                }
            )
        elif t in ("choice", "boolean"):
            choices = list(v["values"]) if t == "choice" else [False, True]
            hps.append(
                {"name": v["name"], "type": "categorical", "choices": choices, "default": _default(v), "weights": None}
            )
        else:
            hps.append({"name": v["name"], "type": "constant", "value": v["value"]})
        if "active_when" in v:
            conditions.append(_export_condition(v["active_when"], v["name"], f"variables[{i}].active_when"))
    forbiddens = []
    for i, c in enumerate(space.get("constraints", [])):
        if "not" not in c:
            raise _bad(f"constraints[{i}]", "only `not` of a forbidden clause maps to a ConfigSpace forbidden")
        forbiddens.append(_export_forbidden(c["not"], f"constraints[{i}].not"))
    out: dict[str, Any] = {}
    if isinstance(space.get("name"), str):
        out["name"] = space["name"]
    out.update(
        hyperparameters=hps, conditions=conditions, forbiddens=forbiddens, json_format_version=JSON_FORMAT_VERSION
    )
    return out
