"""JSON Schema of a Python function's arguments, from its signature, type hints and docstring.

The mapping (``docs/tools-python.md``)::

    str -> string        int -> integer      float -> number      bool -> boolean
    list[X] / tuple[X, ...] / Sequence[X] / set[X] -> {"type": "array", "items": <X>}
    dict[str, V] / Mapping -> {"type": "object", "additionalProperties": <V>}
    X | None, Optional[X]  -> {"type": [<x>, "null"]} for a plain type, else {"anyOf": [<X>, {"type": "null"}]}
    A | B                  -> {"anyOf": [<A>, <B>]}
    Literal["a", "b"]      -> {"type": "string", "enum": ["a", "b"]};  Enum subclasses likewise (their values)
    pydantic models        -> their model_json_schema()
    Any / no annotation    -> {} (anything)

A parameter's default is recorded as ``"default"`` when it is JSON data, its description
comes from a Google-style ``Args:`` section of the docstring. Parameters without a default
are ``required``. ``**kwargs`` allows additional properties; otherwise none are allowed.
"""

from __future__ import annotations

import enum
import inspect
import json
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Union

from ..core.registry import CommandContext, _type_hints

__all__ = ["function_schema", "json_schema_for", "parse_docstring"]

JSONSchema = dict[str, Any]

_SCALARS: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
_ARRAYS = {list, tuple, set, frozenset, Sequence, list, tuple, set, typing.Sequence}
_OBJECTS = {dict, Mapping, dict, typing.Mapping}
_SECTION = re.compile(r"^(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments)\s*:\s*$")
_OTHER_SECTION = re.compile(r"^[A-Z][A-Za-z ]*:\s*$")
_ARG_LINE = re.compile(r"^\*{0,2}(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(\([^)]*\))?\s*:\s*(?P<desc>.*)$")


def _is_union(origin: Any) -> bool:
    return origin is Union or (hasattr(types, "UnionType") and origin is types.UnionType)


def _is_context(annotation: Any) -> bool:
    if annotation is CommandContext:
        return True
    if _is_union(typing.get_origin(annotation)):
        return [a for a in typing.get_args(annotation) if a is not type(None)] == [CommandContext]
    return False


def _literal_schema(values: Sequence[Any]) -> JSONSchema:
    schema: JSONSchema = {"enum": list(values)}
    kinds = {_SCALARS.get(type(v)) for v in values}
    if len(kinds) == 1 and None not in kinds:
        schema = {"type": kinds.pop(), **schema}
    return schema


def json_schema_for(annotation: Any) -> JSONSchema:
    """The JSON Schema of one type annotation ({} for Any or an unknown type)."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return {}
    if annotation is None:
        return {"type": "null"}
    if isinstance(annotation, str):  # an unresolved forward reference: accept anything
        return {}
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        schema = json_schema_for(args[0])
        for extra in args[1:]:
            if isinstance(extra, str):
                schema["description"] = extra
        return schema
    if _is_union(origin):
        options = [a for a in args if a is not type(None)]
        nullable = len(options) < len(args)
        schemas = [json_schema_for(a) for a in options]
        if any(s == {} for s in schemas):
            return {}
        if nullable and len(schemas) == 1:
            only = schemas[0]
            if set(only) <= {"type", "items", "additionalProperties", "description"} and isinstance(
                only.get("type"), str
            ):
                return {**only, "type": [only["type"], "null"]}
            return {"anyOf": [only, {"type": "null"}]}
        if nullable:
            schemas.append({"type": "null"})
        return {"anyOf": schemas}
    if origin is typing.Literal:
        return _literal_schema(args)
    if annotation in _SCALARS:
        return {"type": _SCALARS[annotation]}
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return _literal_schema([m.value for m in annotation])
    base = origin or annotation
    if base in _ARRAYS or (isinstance(base, type) and base in (list, tuple, set, frozenset)):
        schema: JSONSchema = {"type": "array"}
        if base is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            schema["prefixItems"] = [json_schema_for(a) for a in args]
            schema["minItems"] = schema["maxItems"] = len(args)
        elif args:
            item = json_schema_for(args[0])
            if item:
                schema["items"] = item
        return schema
    if base in _OBJECTS:
        schema = {"type": "object"}
        if len(args) == 2:
            value = json_schema_for(args[1])
            if value:
                schema["additionalProperties"] = value
        return schema
    if base is bytes:
        return {"type": "string", "contentEncoding": "base64"}
    model_schema = getattr(annotation, "model_json_schema", None)
    if callable(model_schema):  # pydantic models
        try:
            result = model_schema()
        except Exception:  # noqa: BLE001 - a model that cannot describe itself: accept any object
            return {"type": "object"}
        return result if isinstance(result, dict) else {"type": "object"}
    if typing.is_typeddict(annotation):
        hints = typing.get_type_hints(annotation)
        required = sorted(getattr(annotation, "__required_keys__", hints))
        return {"type": "object", "properties": {k: json_schema_for(v) for k, v in hints.items()}, "required": required}
    return {}


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """(first paragraph, {parameter: description}) of a docstring with an optional Google-style
    ``Args:`` section."""
    text = inspect.cleandoc(doc or "")
    if not text:
        return "", {}
    lines = text.splitlines()
    summary: list[str] = []
    for line in lines:
        if not line.strip() or _SECTION.match(line.strip()) or _OTHER_SECTION.match(line.strip()):
            break
        summary.append(line.strip())
    params: dict[str, str] = {}
    in_args = False
    section_indent = 0
    current: str | None = None
    entry_indent = -1
    for line in lines:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if _SECTION.match(stripped):
            in_args, section_indent, current, entry_indent = True, indent, None, -1
            continue
        if not in_args:
            continue
        if not stripped:
            continue
        if indent <= section_indent:  # the next section (or text) at the section's level
            in_args = False
            current = None
            continue
        match = _ARG_LINE.match(stripped)
        if match and (entry_indent < 0 or indent <= entry_indent):
            entry_indent = indent
            current = match.group("name")
            params[current] = match.group("desc").strip()
        elif current is not None:
            params[current] = f"{params[current]} {stripped}".strip()
    return " ".join(summary), params


def _json_default(value: Any) -> tuple[bool, Any]:
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, tuple):
        value = list(value)
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False, None
    return True, value


def function_schema(fn: Callable[..., Any], *, param_docs: Mapping[str, str] | None = None) -> JSONSchema:
    """The object schema of ``fn``'s arguments (a ``CommandContext`` parameter is left out)."""
    sig = inspect.signature(fn)
    try:
        hints = _type_hints(fn, include_extras=True)
    except Exception:  # noqa: BLE001 - unresolvable forward references: raw annotations
        hints = {}
    if param_docs is None:
        param_docs = parse_docstring(inspect.getdoc(fn))[1]
    properties: dict[str, JSONSchema] = {}
    required: list[str] = []
    var_kwargs = False
    for p in sig.parameters.values():
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            var_kwargs = True
            continue
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        annotation = hints.get(p.name, p.annotation)
        if _is_context(annotation):
            continue
        schema = dict(json_schema_for(annotation))
        if p.name in param_docs and param_docs[p.name]:
            schema["description"] = param_docs[p.name]
        if p.default is inspect.Parameter.empty:
            required.append(p.name)
        else:
            ok, default = _json_default(p.default)
            if ok:
                schema["default"] = default
        properties[p.name] = schema
    result: JSONSchema = {"type": "object", "properties": properties, "required": required}
    if not var_kwargs:
        result["additionalProperties"] = False
    return result
