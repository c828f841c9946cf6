"""Read what a DSPy adapter asked for out of the messages it sent.

Everything here works on the rendered messages only (an LM never sees the signature object):
the system message's "Your input fields are: / Your output fields are:" lists (every chat-style
adapter writes them), the per-field "# note: the value you produce ..." hints (ChatAdapter
lines, or JSON-escaped inside JSONAdapter's output skeleton), the user message's
``[[ ## name ## ]]`` sections, ReAct's tool list, and the "Respond with ..." reminder as a
fallback for the output field names.
"""

from __future__ import annotations

import ast
import json
import re
import textwrap
from dataclasses import dataclass, field
from typing import Any

_ENTRY = re.compile(r"^(\d+)\. `([^`]+)` \(")
_NOTE = re.compile(r"\{(\w+)\}\s+# note: the value you produce (.*)$")
_JSON_LINE = re.compile(r'^\s*"(\w+)": (".*")\s*,?\s*$')
_TOOL = re.compile(
    r"^\s*\((\d+)\) (\w+)(?:, whose description is <desc>(.*)</desc>)?\. It takes arguments (\{.*\})\.\s*$"
)
_REQ_CHAT = re.compile(r"`\[\[ ## (\w+) ## \]\]`(?: \(must be formatted as a valid Python (.+?)\))?(?:,|$| )")
_REQ_JSON = re.compile(r"`(\w+)`(?: \(must be formatted as a valid Python (.+?)\))?(?:,|\.|$| )")
_REQ_XML = re.compile(r"`<(\w+)>`")


@dataclass(frozen=True)
class FieldSpec:
    """One field of the signature, as the prompt describes it."""

    name: str
    type_name: str = "str"
    description: str = ""
    note: str | None = None
    """The adapter's hint, e.g. ``must be a single int value`` or ``must adhere to the JSON schema: {...}``."""


@dataclass(frozen=True)
class ToolSpec:
    """A tool offered to ReAct, parsed from its instructions."""

    name: str
    description: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    """JSON schema of each argument, e.g. ``{"city": {"type": "string"}}``."""


@dataclass
class ParsedPrompt:
    adapter: str
    system: str
    user: str
    instructions: str
    input_fields: dict[str, FieldSpec]
    output_fields: dict[str, FieldSpec]
    raw_inputs: dict[str, str]
    tools: list[ToolSpec]


def message_text(message: Any) -> str:
    """The text of one message: a string, or the text parts of a content list."""
    content = message.get("content") if isinstance(message, dict) else getattr(message, "content", None)
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict):
                if part.get("type") in (None, "text", "input_text") and isinstance(part.get("text"), str):
                    parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(parts)
    return str(content)


def _role(message: Any) -> str | None:
    return message.get("role") if isinstance(message, dict) else getattr(message, "role", None)


def _balanced_type(text: str, start: int) -> tuple[str, int] | None:
    """``text[start:]`` begins right after "(": return the type up to the matching ")"."""
    depth, quote, i = 0, None, start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            if depth == 0:
                return text[start:i], i + 1
            depth -= 1
        i += 1
    return None


def _field_list(block: str) -> dict[str, FieldSpec]:
    fields: dict[str, tuple[str, str, list[str]]] = {}
    current: str | None = None
    for line in block.splitlines():
        match = _ENTRY.match(line)
        parsed = _balanced_type(line, match.end()) if match else None
        if match and parsed:
            name = match.group(2)
            type_name, end = parsed
            desc = line[end:].lstrip(":").strip()
            fields[name] = (type_name.strip(), desc, [])
            current = name
        elif current is not None and line.strip():
            fields[current][2].append(line.strip())
    return {
        name: FieldSpec(name, type_name or "str", "\n".join([desc, *more]).strip())
        for name, (type_name, desc, more) in fields.items()
    }


def _between(text: str, start: str, ends: tuple[str, ...]) -> str | None:
    i = text.find(start)
    if i < 0:
        return None
    i += len(start)
    j = min((k for k in (text.find(e, i) for e in ends) if k >= 0), default=len(text))
    return text[i:j]


def _notes(system: str) -> dict[str, str]:
    notes: dict[str, str] = {}
    for line in system.splitlines():
        candidates = [line]
        m = _JSON_LINE.match(line)
        if m:  # JSONAdapter's skeleton: the note is inside a JSON string
            try:
                candidates = [json.loads(m.group(2))]
            except ValueError:
                pass
        for text in candidates:
            n = _NOTE.search(text)
            if n and n.group(1) not in notes:
                notes[n.group(1)] = n.group(2).strip()
    return notes


def _tools(system: str) -> list[ToolSpec]:
    tools = []
    for line in system.splitlines():
        m = _TOOL.match(line)
        if not m:
            continue
        try:
            args = ast.literal_eval(m.group(4))
        except (ValueError, SyntaxError):
            try:
                args = json.loads(m.group(4))
            except ValueError:
                args = {}
        tools.append(ToolSpec(m.group(2), (m.group(3) or "").strip(), args if isinstance(args, dict) else {}))
    return tools


def _requirements(user: str) -> tuple[str, dict[str, FieldSpec]]:
    """Fallback: output names (and type names) from the user message's closing reminder."""
    i = user.rfind("Respond with ")
    if i < 0:
        return "chat", {}
    tail = user[i:]
    if "wrapped in XML tags" in tail:
        return "xml", {m.group(1): FieldSpec(m.group(1)) for m in _REQ_XML.finditer(tail)}
    if tail.startswith("Respond with a JSON object"):
        tail = tail.split(":", 1)[-1]
        return "json", {m.group(1): FieldSpec(m.group(1), m.group(2) or "str") for m in _REQ_JSON.finditer(tail)}
    return "chat", {m.group(1): FieldSpec(m.group(1), m.group(2) or "str") for m in _REQ_CHAT.finditer(tail)}


def _strip_reminder(user: str) -> str:
    i = user.rfind("\n\nRespond with ")
    if i < 0 and user.startswith("Respond with "):
        return ""
    return user[:i] if i >= 0 else user


def _xml_inputs(body: str, names: list[str]) -> dict[str, str]:
    values, pos = {}, 0
    for name in names:
        m = re.compile(rf"<{re.escape(name)}>\n?(.*?)\n?</{re.escape(name)}>", re.S).search(body, pos)
        if m:
            values[name] = m.group(1).strip()
            pos = m.end()
    return values


def _inputs(user: str, names: list[str], adapter: str = "chat") -> dict[str, str]:
    """Split the user message at the ``[[ ## name ## ]]`` headers of the known input fields only,
    so that nested headers (ReAct's trajectory) stay inside their field."""
    body = _strip_reminder(user)
    if adapter == "xml" and names:
        return _xml_inputs(body, names)
    if not names:
        names = re.findall(r"^\[\[ ## (\w+) ## \]\]\s*$", body, flags=re.M)
    found: list[tuple[str, int, int]] = []
    pos = 0
    for name in names:
        m = re.compile(rf"^\[\[ ## {re.escape(name)} ## \]\][ \t]*\n?", re.M).search(body, pos)
        if m:
            found.append((name, m.start(), m.end()))
            pos = m.end()
    values = {}
    for k, (name, _start, end) in enumerate(found):
        stop = found[k + 1][1] if k + 1 < len(found) else len(body)
        values[name] = body[end:stop].strip()
    return values


def parse_messages(messages: list[Any], kwargs: dict[str, Any] | None = None) -> ParsedPrompt:
    system = "\n".join(message_text(m) for m in messages if _role(m) in ("system", "developer"))
    users = [m for m in messages if _role(m) == "user"]
    user = message_text(users[-1]) if users else ""

    input_block = _between(system, "Your input fields are:", ("Your output fields are:",))
    output_block = _between(
        system, "Your output fields are:", ("All interactions will be structured", "In adhering to this structure")
    )
    input_fields = _field_list(input_block) if input_block else {}
    output_fields = _field_list(output_block) if output_block else {}

    reminder_adapter, reminder_fields = _requirements(user)
    if not output_fields:
        output_fields = reminder_fields

    notes = _notes(system)
    output_fields = {
        name: FieldSpec(spec.name, spec.type_name, spec.description, notes.get(name))
        for name, spec in output_fields.items()
    }

    adapter = reminder_adapter
    if adapter == "chat" and (
        "Outputs will be a JSON object" in system or (kwargs or {}).get("response_format") is not None
    ):
        adapter = "json"

    instructions = ""
    marker = "In adhering to this structure, your objective is:"
    if marker in system:
        instructions = textwrap.dedent(system.split(marker, 1)[1].strip("\n")).strip()

    return ParsedPrompt(
        adapter=adapter,
        system=system,
        user=user,
        instructions=instructions,
        input_fields=input_fields,
        output_fields=output_fields,
        raw_inputs=_inputs(user, list(input_fields), adapter),
        tools=_tools(system),
    )
