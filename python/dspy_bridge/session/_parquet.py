"""``export_variables(format="parquet")`` and its import, on the client with pyarrow (an optional
dependency: ``pip install pyarrow``).

The host exports and imports JSON documents (docs/variables.md); a Parquet export is the same
document as a table, one row per record, so it reads well in analytics tools and round-trips
exactly:

========================  ======================================================================
column                    meaning
========================  ======================================================================
``record``                ``"document"`` (one row: format, version, session_id, revision,
                          exported_at_ms), ``"variable"``, ``"history"`` (one row per kept
                          version of a variable, after that variable's row) or ``"dependency"``
``name``                  the variable (a dependency: the variable that depends)
``type``                  the variable's type
``version``               the variable's (or the history entry's) version
``value``                 the value as the export's JSON envelope (``{"json", "attachments"}``)
``value_json``            the envelope's ``json`` text alone (a scalar or list reads as is)
``constraints``,          JSON text
``metadata``,
``access_rules``
``updated_at_ms``,        history rows
``updated_by``
``target``,               dependency rows: the variable depended upon, the dependency's type
``dependency_type``
``extra``                 JSON text of any other field of the record, so nothing is lost
========================  ======================================================================
"""

from __future__ import annotations

import io
import json
from typing import Any

from ..errors import FailedPreconditionError, InvalidArgumentError

__all__ = ["MissingDependencyError", "document_to_parquet", "parquet_to_document"]


class MissingDependencyError(FailedPreconditionError, ImportError):
    """An optional package a feature needs is not installed (also an ``ImportError``)."""


_COLUMNS = (
    "record",
    "name",
    "type",
    "version",
    "value",
    "value_json",
    "constraints",
    "metadata",
    "access_rules",
    "updated_at_ms",
    "updated_by",
    "target",
    "dependency_type",
    "extra",
)
_INT_COLUMNS = {"version", "updated_at_ms"}
_VARIABLE_KEYS = {"name", "type", "value", "constraints", "metadata", "access_rules", "version", "history"}
_HISTORY_KEYS = {"version", "value", "updated_at_ms", "updated_by", "metadata"}
_DEPENDENCY_KEYS = {"from", "to", "type", "metadata"}


def _pyarrow() -> Any:
    try:
        # pyarrow (an optional extra, slow to import) loads only when Parquet is asked for.
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise MissingDependencyError(
            "format='parquet' needs the optional package 'pyarrow', which is not installed: pip install pyarrow (or the dspy_bridge[parquet] extra)"
            " ('json' and 'yaml' need nothing more)",
            details={"package": "pyarrow"},
        ) from None
    return pyarrow


def _text(value: Any) -> Any:
    return None if value is None else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _extra(obj: dict[str, Any], known: set[str]) -> Any:
    rest = {k: v for k, v in obj.items() if k not in known}
    return _text(rest) if rest else None


def _row(**fields: Any) -> dict[str, Any]:
    return {c: fields.get(c) for c in _COLUMNS}


def document_to_parquet(document: dict[str, Any]) -> bytes:
    """The export document (as the host's JSON export) as Parquet bytes."""
    pa = _pyarrow()
    rows = [
        _row(
            record="document",
            extra=_text({k: v for k, v in document.items() if k not in ("variables", "dependencies")}),
        )
    ]
    for var in document.get("variables") or []:
        value = var.get("value")
        rows.append(
            _row(
                record="variable",
                name=var.get("name"),
                type=var.get("type"),
                version=var.get("version"),
                value=_text(value),
                value_json=(value or {}).get("json") if isinstance(value, dict) else None,
                constraints=_text(var.get("constraints")),
                metadata=_text(var.get("metadata")),
                access_rules=_text(var.get("access_rules")),
                extra=_extra(var, _VARIABLE_KEYS),
            )
        )
        for entry in var.get("history") or []:
            hvalue = entry.get("value")
            rows.append(
                _row(
                    record="history",
                    name=var.get("name"),
                    type=var.get("type"),
                    version=entry.get("version"),
                    value=_text(hvalue),
                    value_json=(hvalue or {}).get("json") if isinstance(hvalue, dict) else None,
                    metadata=_text(entry.get("metadata")),
                    updated_at_ms=entry.get("updated_at_ms"),
                    updated_by=entry.get("updated_by"),
                    extra=_extra(entry, _HISTORY_KEYS),
                )
            )
    for dep in document.get("dependencies") or []:
        rows.append(
            _row(
                record="dependency",
                name=dep.get("from"),
                target=dep.get("to"),
                dependency_type=dep.get("type"),
                metadata=_text(dep.get("metadata")),
                extra=_extra(dep, _DEPENDENCY_KEYS),
            )
        )
    schema = pa.schema([(c, pa.int64() if c in _INT_COLUMNS else pa.string()) for c in _COLUMNS])
    table = pa.Table.from_pylist(rows, schema=schema)
    buf = io.BytesIO()
    pa.parquet.write_table(table, buf)
    return buf.getvalue()


def _load(text: Any, default: Any) -> Any:
    return default if text is None else json.loads(text)


def parquet_to_document(data: bytes) -> dict[str, Any]:
    """Parquet bytes of ``document_to_parquet`` -> the export document. ``InvalidArgumentError``
    when the bytes are not such a table."""
    pa = _pyarrow()
    try:
        table = pa.parquet.read_table(io.BytesIO(bytes(data)))
    except Exception as exc:  # noqa: BLE001 - pyarrow's ArrowInvalid and friends
        raise InvalidArgumentError(f"the data is not a Parquet file: {exc}", parameter="data") from None
    missing = [c for c in ("record", "name", "value", "extra") if c not in table.column_names]
    if missing:
        raise InvalidArgumentError(
            f"the Parquet file is not a variables export (no column {', '.join(missing)}); see docs/variables.md",
            parameter="data",
        )
    document: dict[str, Any] = {}
    variables: list[dict[str, Any]] = []
    dependencies: list[dict[str, Any]] = []
    by_name: dict[str, dict[str, Any]] = {}
    try:
        for row in table.to_pylist():
            kind = row.get("record")
            if kind == "document":
                document.update(_load(row.get("extra"), {}))
            elif kind == "variable":
                var = {
                    "name": row["name"],
                    "type": row.get("type"),
                    "value": _load(row.get("value"), None),
                    "constraints": _load(row.get("constraints"), {}),
                    "metadata": _load(row.get("metadata"), {}),
                    "access_rules": _load(row.get("access_rules"), []),
                    **({"version": row["version"]} if row.get("version") is not None else {}),
                    **_load(row.get("extra"), {}),
                }
                variables.append(var)
                by_name[row["name"]] = var
            elif kind == "history":
                owner = by_name.get(row["name"])
                if owner is None:
                    raise InvalidArgumentError(
                        f"a history row of {row['name']!r} comes before its variable's row", parameter="data"
                    )
                entry = {
                    "version": row.get("version"),
                    "value": _load(row.get("value"), None),
                    "updated_at_ms": row.get("updated_at_ms"),
                    "updated_by": row.get("updated_by"),
                    "metadata": _load(row.get("metadata"), {}),
                    **_load(row.get("extra"), {}),
                }
                owner.setdefault("history", []).append(entry)
            elif kind == "dependency":
                dependencies.append(
                    {
                        "from": row["name"],
                        "to": row.get("target"),
                        "type": row.get("dependency_type"),
                        "metadata": _load(row.get("metadata"), {}),
                        **_load(row.get("extra"), {}),
                    }
                )
            else:
                raise InvalidArgumentError(f"unknown record kind {kind!r} in the Parquet export", parameter="data")
    except (ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, InvalidArgumentError):
            raise
        raise InvalidArgumentError(f"the Parquet export is malformed: {exc}", parameter="data") from None
    document["variables"] = variables
    document["dependencies"] = dependencies
    return document
