"""Proto messages <-> the plain dicts and values DSPex's API returns."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from .._gen.dspy_bridge.v1 import variables_pb2
from ..errors import InvalidArgumentError
from ..core._message_attachments import decode_received
from ..values import decode_value
from ._update import VariableUpdate

__all__: list[str] = []

_PUT = variables_pb2.VariableChange.KIND_PUT
_DELETE = variables_pb2.VariableChange.KIND_DELETE


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000.0, tz=timezone.utc)


def decode(value: Any, vtype: str = "", path: str = "value", raw: list[memoryview] | None = None) -> Any:
    """A ``Value`` (or None) -> Python; an empty envelope is None. A ``float`` variable's
    value is always a Python float: the host (JavaScript) writes 1.0 as ``1`` on the wire.
    An undecodable one is a ``ValueDecodingError`` naming ``path``. `raw`: the attachments
    of the frame the value came in, when it came out of band (arrays view them)."""
    if value is None or not value.json:
        return None
    # Out of band (the worker's connection), the value's descriptors index `raw`.
    out = decode_received(value, path, raw) if len(value.external) else decode_value(value, path)
    if vtype == "float" and type(out) is int:
        return float(out)
    return out


def string_map(metadata: Mapping[str, Any] | None, parameter: str = "metadata") -> dict[str, str]:
    """Metadata travels as strings: other scalars are converted (``{'batch_num': 3}`` in
    DSPex's examples becomes ``{'batch_num': '3'}``)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidArgumentError(
            f"{parameter} must be a dict of strings, got {type(metadata).__name__}", parameter=parameter
        )
    out: dict[str, str] = {}
    for k, v in metadata.items():
        if not isinstance(k, str):
            raise InvalidArgumentError(f"{parameter} keys must be strings, got {k!r}", parameter=parameter)
        if isinstance(v, str):
            out[k] = v
        elif v is None:
            out[k] = ""
        elif isinstance(v, (bool, int, float)):
            out[k] = json.dumps(v) if isinstance(v, bool) else str(v)
        else:
            raise InvalidArgumentError(
                f"{parameter}[{k!r}] must be a string (or a number/bool, converted), got {type(v).__name__}",
                parameter=f"{parameter}.{k}",
            )
    return out


def access_rules_in(
    rules: Iterable[Mapping[str, Any]] | None, parameter: str = "access_rules"
) -> list[variables_pb2.AccessRule]:
    if rules is None:
        return []
    if isinstance(rules, (str, bytes, Mapping)):
        raise InvalidArgumentError(f"{parameter} must be a list of rule dicts", parameter=parameter)
    out: list[variables_pb2.AccessRule] = []
    for i, rule in enumerate(rules):
        if not isinstance(rule, Mapping):
            raise InvalidArgumentError(
                f"{parameter}[{i}] must be a dict with session_pattern and permissions", parameter=f"{parameter}[{i}]"
            )
        unknown = set(rule) - {"session_pattern", "permissions", "conditions"}
        if unknown:
            raise InvalidArgumentError(
                f"{parameter}[{i}] has unknown keys {sorted(unknown)}; a rule has session_pattern, permissions, conditions",
                parameter=f"{parameter}[{i}]",
            )
        perms = rule.get("permissions", [])
        if isinstance(perms, str) or not isinstance(perms, Iterable):
            raise InvalidArgumentError(
                f"{parameter}[{i}].permissions must be a list of strings", parameter=f"{parameter}[{i}].permissions"
            )
        out.append(
            variables_pb2.AccessRule(
                session_pattern=str(rule.get("session_pattern", "")),
                permissions=[str(p) for p in perms],
                conditions=string_map(rule.get("conditions"), f"{parameter}[{i}].conditions"),
            )
        )
    return out


def access_rules_out(rules: Iterable[variables_pb2.AccessRule]) -> list[dict[str, Any]]:
    return [
        {"session_pattern": r.session_pattern, "permissions": list(r.permissions), "conditions": dict(r.conditions)}
        for r in rules
    ]


def _glob(pattern: str) -> re.Pattern[str]:
    out = []
    for ch in pattern:
        out.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
    return re.compile("^" + "".join(out) + "$")


def allowed(rules: Iterable[variables_pb2.AccessRule], caller: str, permission: str) -> bool:
    """The host's rule (``ts/src/store/access.ts``): no rules = open; else some rule matching
    the caller must grant the permission."""
    rules = list(rules)
    if not rules:
        return True
    for r in rules:
        if permission in r.permissions and (
            r.session_pattern in ("any", "*") or _glob(r.session_pattern).match(caller) is not None
        ):
            return True
    return False


def variable_info(var: variables_pb2.Variable, value: Any) -> dict[str, Any]:
    """The full description of a variable (``get_variables(include_metadata=True)``)."""
    try:
        constraints = json.loads(var.constraints_json) if var.constraints_json else {}
    except ValueError:
        constraints = {"constraints_json": var.constraints_json}
    return {
        "value": value,
        "found": True,
        "id": var.id,
        "name": var.name,
        "type": var.type,
        "version": var.version,
        "constraints": constraints,
        "metadata": dict(var.metadata),
        "created_at": ms_to_datetime(var.created_at_ms),
        "updated_at": ms_to_datetime(var.updated_at_ms),
        "updated_by": var.updated_by,
        "create_revision": var.create_revision,
        "modify_revision": var.modify_revision,
        "access_rules": access_rules_out(var.access_rules),
        "dependencies": [{"name": d.variable, "type": d.type, "metadata": dict(d.metadata)} for d in var.dependencies],
    }


def change_to_update(
    change: variables_pb2.VariableChange, revision: int, initial: bool, raw: list[memoryview] | None = None
) -> VariableUpdate:
    deleted = change.kind == _DELETE
    return VariableUpdate(
        variable_id=change.id,
        name=change.name,
        value=None if deleted else decode(change.value, change.type, change.name, raw),
        old_value=decode(change.old_value, change.type, f"{change.name} (old value)", raw)
        if change.HasField("old_value")
        else None,
        metadata=dict(change.metadata),
        timestamp=ms_to_datetime(change.timestamp_ms),
        source=change.source,
        version=change.version,
        revision=revision,
        kind="delete" if deleted else "put",
        type=change.type,
        initial=initial,
    )


def snapshot_update(var: variables_pb2.Variable, revision: int, raw: list[memoryview] | None = None) -> VariableUpdate:
    return VariableUpdate(
        variable_id=var.id,
        name=var.name,
        value=decode(var.value, var.type, var.name, raw),
        old_value=None,
        metadata=dict(var.metadata),
        timestamp=ms_to_datetime(var.updated_at_ms),
        source=var.updated_by,
        version=var.version,
        revision=revision,
        kind="put",
        type=var.type,
        initial=True,
    )


def history_entry(
    entry: variables_pb2.HistoryEntry, include_metadata: bool, vtype: str = "", raw: list[memoryview] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "version": entry.version,
        "value": decode(entry.value, vtype, "value", raw),
        "updated_at": ms_to_datetime(entry.updated_at_ms),
        "updated_by": entry.updated_by,
        "revision": entry.revision,
    }
    if include_metadata:
        out["metadata"] = dict(entry.metadata)
    return out


def dependency_info(dep: variables_pb2.DependencyInfo) -> dict[str, Any]:
    return {"variable_id": dep.variable_id, "name": dep.variable, "type": dep.type, "depth": dep.depth}
