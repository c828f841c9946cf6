"""Plausible, deterministic values for output fields, and the default answering policy.

Types come from the prompt as text (``int``, ``list[str]``, ``Literal['a', 'b']``,
``dict[str, Any]``, ``Optional[int]``, ``Person`` ...): they are parsed with :mod:`ast`; a
type the parser does not know (a pydantic model, an enum, a DSPy type) is generated from the
adapter's note instead (its JSON schema, or its "one of: ..." values).
"""

from __future__ import annotations

import ast
import json
import operator
import re
from typing import Any

from ._prompt import FieldSpec, ParsedPrompt, ToolSpec

_BUILTINS = {
    "str",
    "int",
    "float",
    "bool",
    "list",
    "dict",
    "tuple",
    "set",
    "frozenset",
    "Any",
    "NoneType",
    "None",
    "Literal",
    "Optional",
    "Union",
    "List",
    "Dict",
    "Tuple",
    "Set",
    "object",
}
_REASONING_NAMES = {"reasoning", "rationale", "thought", "next_thought", "discussion", "explanation", "analysis"}
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_EXPR = re.compile(r"[-+(]*\s*\d+(?:\.\d+)?(?:\s*(?:\*\*|//|[-+*/%])\s*[-+(]*\s*\d+(?:\.\d+)?\s*\)*)+")
_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}


# -- arithmetic found in the inputs --------------------------------------------------------


def _eval_arith(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _eval_arith(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _eval_arith(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _eval_arith(node.left), _eval_arith(node.right)
        if isinstance(node.op, ast.Pow) and (abs(right) > 64 or abs(left) > 10**6):
            raise ValueError("exponent too large")
        return _OPS[type(node.op)](left, right)
    raise ValueError("not arithmetic")


def find_arithmetic(text: str) -> tuple[str, int | float] | None:
    """The first arithmetic expression in ``text`` (``17 * 3``, ``(2+3)**2``) and its value."""
    for m in _EXPR.finditer(text.replace("×", "*").replace("÷", "/")):
        source = m.group(0).strip()
        while source.count("(") > source.count(")") and source.startswith(("(", "-(", "+(")):
            source = source[source.index("(") + 1 :].strip()
        while source.count(")") > source.count("(") and source.endswith(")"):
            source = source[:-1].strip()
        try:
            value = _eval_arith(ast.parse(source, mode="eval"))
        except (ValueError, SyntaxError, ZeroDivisionError, OverflowError, TypeError):
            continue
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return source, value
    return None


# -- the type expression ---------------------------------------------------------------------


def parse_type(type_name: str) -> Any:
    """``"dict[str, list[int]]"`` -> ``("dict", [("str",), ("list", [("int",)])])``;
    ``Literal[...]`` -> ``("Literal", [values])``; unparseable -> ``("?", type_name)``."""
    try:
        tree = ast.parse(type_name.strip(), mode="eval").body
    except SyntaxError:
        return ("?", type_name)

    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Name):
            return (node.id,)
        if isinstance(node, ast.Attribute):
            return (node.attr,)
        if isinstance(node, ast.Constant) and node.value is None:
            return ("None",)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return ("Union", [walk(node.left), walk(node.right)])
        if isinstance(node, ast.Subscript):
            base = walk(node.value)[0]
            elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            if base == "Literal":
                values = []
                for e in elts:
                    try:
                        values.append(ast.literal_eval(e))
                    except ValueError:
                        values.append(ast.unparse(e))
                return ("Literal", values)
            return (
                base,
                [walk(e) if not isinstance(e, ast.Constant) or e.value is not Ellipsis else ("...",) for e in elts],
            )
        return ("?", ast.unparse(node))

    return walk(tree)


def _has_unknown(node: Any) -> bool:
    if node[0] == "Literal":
        return False
    if node[0] not in _BUILTINS and node[0] != "...":
        return True
    return any(_has_unknown(a) for a in (node[1] if len(node) > 1 and isinstance(node[1], list) else []))


# -- generation context --------------------------------------------------------------------


class Context:
    """What values are derived from: the call's inputs, and which variant (choice / rollout)."""

    def __init__(self, parsed: ParsedPrompt, variant: int = 0):
        self.parsed = parsed
        self.variant = variant
        inputs = {k: v for k, v in parsed.raw_inputs.items() if k not in ("trajectory", "hint_")}
        self.primary = next((v for v in inputs.values() if v.strip()), "")
        self.text = " ".join(v for v in inputs.values() if v)
        self.arith = find_arithmetic(self.text)
        self.numbers = [float(n) for n in _NUMBER.findall(self.text)]

    def snippet(self, limit: int = 80) -> str:
        text = " ".join(self.primary.split())
        return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."

    def suffix(self) -> str:
        return f" (variant {self.variant + 1})" if self.variant else ""

    def text_for(self, name: str) -> str:
        about = self.snippet()
        if name in _REASONING_NAMES:
            base = f"Let me think step by step about: {about}" if about else "Let me think step by step."
            if self.arith:
                base += f" Computing {self.arith[0]} gives {self.arith[1]}."
            return base + self.suffix()
        if self.arith:
            return str(self.arith[1])
        return (f"Scripted {name} for: {about}" if about else f"Scripted {name}") + self.suffix()

    def int_value(self) -> int:
        if self.arith:
            return int(self.arith[1])
        if self.numbers:
            return int(self.numbers[0])
        return len(self.text.split()) + self.variant

    def float_value(self) -> float:
        if self.arith:
            return float(self.arith[1])
        if self.numbers:
            return float(self.numbers[0])
        return 0.5 + self.variant

    def words(self, k: int = 3) -> list[str]:
        seen: list[str] = []
        for w in re.findall(r"[A-Za-z][A-Za-z'-]*", self.text):
            if w.lower() not in (s.lower() for s in seen):
                seen.append(w)
            if len(seen) == k:
                break
        return seen or ["alpha", "beta"]


def value_for_type(node: Any, name: str, ctx: Context) -> Any:
    kind = node[0]
    args = node[1] if len(node) > 1 else []
    if kind in ("str", "object", "?"):
        return ctx.text_for(name)
    if kind == "int":
        return ctx.int_value()
    if kind == "float":
        return ctx.float_value()
    if kind == "bool":
        return True
    if kind in ("None", "NoneType"):
        return None
    if kind == "Any":
        return ctx.text_for(name)
    if kind == "Literal":
        return args[ctx.variant % len(args)] if args else ""
    if kind in ("Optional", "Union"):
        choices = [a for a in args if a[0] not in ("None", "NoneType")]
        return value_for_type(choices[0], name, ctx) if choices else None
    if kind in ("list", "List", "set", "Set", "frozenset"):
        item = args[0] if args else ("str",)
        if item[0] == "str":
            return ctx.words()
        if item[0] == "int" and ctx.numbers:
            return [int(n) for n in ctx.numbers[:3]]
        return [value_for_type(item, name, ctx) for _ in range(2)]
    if kind in ("tuple", "Tuple"):
        if len(args) == 2 and args[1][0] == "...":
            return [value_for_type(args[0], name, ctx)]
        return [value_for_type(a, name, ctx) for a in args]
    if kind in ("dict", "Dict"):
        key = args[0] if args else ("str",)
        val = args[1] if len(args) > 1 else ("str",)
        k = value_for_type(key, "key", ctx) if key[0] != "str" else "key"
        return {k if isinstance(k, (str, int, float, bool)) else str(k): value_for_type(val, name, ctx)}
    return ctx.text_for(name)


def value_for_schema(schema: Any, name: str, ctx: Context, defs: dict[str, Any] | None = None, depth: int = 0) -> Any:
    if not isinstance(schema, dict) or depth > 12:
        return ctx.text_for(name)
    defs = {**(defs or {}), **schema.get("$defs", {}), **schema.get("definitions", {})}
    if "$ref" in schema:
        target = defs.get(schema["$ref"].rsplit("/", 1)[-1])
        return value_for_schema(target or {}, name, ctx, defs, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            options = [s for s in schema[key] if not (isinstance(s, dict) and s.get("type") == "null")]
            return value_for_schema((options or schema[key])[0], name, ctx, defs, depth + 1)
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged.update(part if isinstance(part, dict) else {})
        return value_for_schema(merged, name, ctx, defs, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        props = schema.get("properties") or {}
        if props:
            return {p: value_for_schema(s, p, ctx, defs, depth + 1) for p, s in props.items()}
        extra = schema.get("additionalProperties")
        return {
            "key": value_for_schema(extra, name, ctx, defs, depth + 1)
            if isinstance(extra, dict)
            else ctx.text_for(name)
        }
    if kind == "array":
        count = max(int(schema.get("minItems", 0) or 0), 1 if schema.get("maxItems") == 1 else 2)
        if isinstance(schema.get("prefixItems"), list):
            return [value_for_schema(s, name, ctx, defs, depth + 1) for s in schema["prefixItems"]]
        items = schema.get("items", {"type": "string"})
        if isinstance(items, dict) and items.get("type") == "string" and not items.get("enum"):
            return ctx.words(count)[:count] if len(ctx.words(count)) >= count else ctx.words(count) * count
        return [value_for_schema(items, name, ctx, defs, depth + 1) for _ in range(count)]
    if kind == "integer":
        value = ctx.int_value()
        lo, hi = schema.get("minimum"), schema.get("maximum")
        if lo is not None:
            value = max(value, int(lo))
        if hi is not None:
            value = min(value, int(hi))
        return value
    if kind == "number":
        value = ctx.float_value()
        lo, hi = schema.get("minimum"), schema.get("maximum")
        if lo is not None:
            value = max(value, float(lo))
        if hi is not None:
            value = min(value, float(hi))
        return value
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    fmt = schema.get("format")
    if fmt == "date-time":
        return "2024-01-01T00:00:00Z"
    if fmt == "date":
        return "2024-01-01"
    if fmt == "time":
        return "12:00:00"
    if fmt in ("uri", "url"):
        return "https://example.com/"
    if fmt == "email":
        return "user@example.com"
    text = ctx.text_for(name)
    if schema.get("maxLength"):
        text = text[: int(schema["maxLength"])]
    return text


def value_for_field(spec: FieldSpec, ctx: Context) -> Any:
    node = parse_type(spec.type_name)
    note = spec.note or ""
    if note.startswith("must be one of:"):
        options = [o.strip() for o in note.split(":", 1)[1].split(";") if o.strip()]
        if options:
            return options[0]
    if _has_unknown(node) and "JSON schema:" in note:
        try:
            schema = json.loads(note.split("JSON schema:", 1)[1].strip())
        except ValueError:
            schema = None
        if schema is not None:
            return value_for_schema(schema, spec.name, ctx)
    return value_for_type(node, spec.name, ctx)


# -- formatting a completion in the adapter's format ---------------------------------------


def _format_chat_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def format_completion(adapter: str, outputs: dict[str, Any]) -> str:
    if adapter == "json":
        return json.dumps(outputs, ensure_ascii=False, default=str)
    if adapter == "xml":
        # Lists and dicts as JSON text inside the tag: XMLAdapter parses that with their types
        # intact, where nested elements would turn every leaf into a string.
        return "\n".join(f"<{k}>{_xml_escape(_format_chat_value(v))}</{k}>" for k, v in outputs.items())
    parts = [f"[[ ## {k} ## ]]\n{_format_chat_value(v)}" for k, v in outputs.items()]
    return "\n\n".join(parts + ["[[ ## completed ## ]]"])


# -- special policies: ReAct, ProgramOfThought ---------------------------------------------


def _tool_args(tool: ToolSpec, ctx: Context) -> dict[str, Any]:
    args = {}
    for arg, schema in tool.args.items():
        if isinstance(schema, dict) and "default" in schema:
            continue
        if isinstance(schema, dict) and schema.get("type") == "string" and not schema.get("enum"):
            args[arg] = ctx.snippet(200) or arg
        else:
            args[arg] = value_for_schema(schema, arg, ctx)
    return args


def react_step(parsed: ParsedPrompt, ctx: Context) -> dict[str, Any]:
    """Call the first tool once, then ``finish``."""
    tool_field = parsed.output_fields["next_tool_name"]
    node = parse_type(tool_field.type_name)
    names = [n for n in (node[1] if node[0] == "Literal" else []) if isinstance(n, str)]
    names = names or [t.name for t in parsed.tools]
    trajectory = parsed.raw_inputs.get("trajectory", "")
    already_called = (
        re.search(r"^(?:\[\[ ## tool_name_\d+ ## \]\]|<tool_name_\d+>)", trajectory, flags=re.M) is not None
    )
    candidates = [n for n in names if n != "finish"]
    if already_called or not candidates:
        return {
            "next_thought": "I have the information I need, so I will finish." + ctx.suffix(),
            "next_tool_name": "finish",
            "next_tool_args": {},
        }
    name = candidates[0]
    tool = next((t for t in parsed.tools if t.name == name), ToolSpec(name))
    return {
        "next_thought": f"I should call {name} to gather the information I need." + ctx.suffix(),
        "next_tool_name": name,
        "next_tool_args": _tool_args(tool, ctx),
    }


def _pot_final_fields(parsed: ParsedPrompt) -> list[str]:
    m = re.search(r"for the field\(s\): (.+?)\.\s*$", parsed.instructions, flags=re.M)
    names = re.findall(r"`(\w+)`", m.group(1)) if m else []
    return names or ["answer"]


def program_code(parsed: ParsedPrompt, ctx: Context) -> str:
    """Python that computes an answer from the inputs and SUBMITs it (ProgramOfThought)."""
    fields = _pot_final_fields(parsed)
    submit = "SUBMIT({" + ", ".join(f"{f!r}: result" for f in fields) + "})"
    retry = "error" in parsed.raw_inputs and "previous_code" in parsed.raw_inputs
    if ctx.arith and not retry:
        return "\n".join(
            [
                "# Evaluate the arithmetic in the question.",
                f"result = {ctx.arith[0]}",
                "if isinstance(result, float) and result.is_integer():",
                "    result = int(result)",
                submit,
            ]
        )
    return "\n".join(
        [
            "import re",
            f"text = {ctx.text!r}",
            "numbers = [float(n) for n in re.findall(r'-?\\d+(?:\\.\\d+)?', text)]",
            "result = sum(numbers) if numbers else len(text.split())",
            "if isinstance(result, float) and result.is_integer():",
            "    result = int(result)",
            submit,
        ]
    )


def _coerce(value: Any, spec: FieldSpec, ctx: Context) -> Any:
    node = parse_type(spec.type_name)
    kind = node[0]
    try:
        if kind == "str":
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            return (
                value
                if isinstance(value, str)
                else json.dumps(value)
                if isinstance(value, (dict, list))
                else str(value)
            )
        if kind == "int":
            return int(float(value))
        if kind == "float":
            return float(value)
        if kind == "bool":
            return value if isinstance(value, bool) else str(value).strip().lower() in ("true", "1", "yes")
        if kind == "Literal":
            return value if value in node[1] else value_for_field(spec, ctx)
    except (TypeError, ValueError):
        return value_for_field(spec, ctx)
    return value


def answer_from_code_output(parsed: ParsedPrompt, ctx: Context) -> dict[str, Any]:
    """ProgramOfThought's last step: report what the executed code computed."""
    raw = parsed.raw_inputs.get("code_output", "")
    try:
        result = json.loads(raw)
    except ValueError:
        result = raw
    if isinstance(result, dict) and set(result) == {"output"}:
        result = result["output"]
    outputs: dict[str, Any] = {}
    answer_fields = [n for n in parsed.output_fields if n not in _REASONING_NAMES]
    for name, spec in parsed.output_fields.items():
        if name in _REASONING_NAMES:
            outputs[name] = (
                f"The code computed {json.dumps(result) if not isinstance(result, str) else result.strip()}."
            )
        elif isinstance(result, dict) and name in result:
            outputs[name] = _coerce(result[name], spec, ctx)
        elif not isinstance(result, dict) and answer_fields and name == answer_fields[0]:
            outputs[name] = _coerce(result.strip() if isinstance(result, str) else result, spec, ctx)
        else:
            outputs[name] = value_for_field(spec, ctx)
    return outputs


def default_outputs(parsed: ParsedPrompt, variant: int = 0) -> dict[str, Any]:
    """The default policy: a value for every requested output field."""
    ctx = Context(parsed, variant)
    names = set(parsed.output_fields)
    if "code_output" in parsed.raw_inputs and "final_generated_code" in parsed.raw_inputs:
        return answer_from_code_output(parsed, ctx)
    special: dict[str, Any] = {}
    if {"next_thought", "next_tool_name", "next_tool_args"} <= names:
        special = react_step(parsed, ctx)
    if "generated_code" in names:
        special["generated_code"] = program_code(parsed, ctx)
    return {
        name: special[name] if name in special else value_for_field(spec, ctx)
        for name, spec in parsed.output_fields.items()
    }
