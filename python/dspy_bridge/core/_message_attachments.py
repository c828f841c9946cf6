"""The Values inside a bridge-service message, out of band on the worker connection.

A worker's host call (``_host_calls.py``) carries a bridge-service request (an
UpdateVariablesRequest, a CallToolRequest, ...) and gets back responses whose Values may
hold large attachments: a 16 MiB embedding, a tool's bytes. On the worker connection those
attachments travel as the frame's raw attachments, as a command's arguments and results do:
the Values carry AttachmentDescriptors whose ``index`` counts across the whole frame, and
nothing large is copied through a protobuf repeated field (nor again each time a message
holding the Value is copied into another).

``OutgoingAttachments`` encodes the Values of one request that way; ``inline_attachments``
turns such a request back into an ordinary one for gRPC; ``decode_received`` decodes a Value
of a response received out of band, its arrays viewing the received frame.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from google.protobuf.descriptor import FieldDescriptor

from .._gen.dspy_bridge.v1 import values_pb2
from ..values import ValueDecodingError, decode_value, encode_value_raw
from ..values._encode import RawAttachment, raw_to_attachment
from ._framing import OutOfBandError
from ._out_of_band import descriptors_for, raw_size, resolve_external

__all__ = ["OutgoingAttachments", "decode_received", "inline_attachments", "values_in"]

_VALUE = values_pb2.Value.DESCRIPTOR.full_name


class OutgoingAttachments:
    """The raw attachments of one request to the host, in frame order, and the Values that
    refer to them. ``value(obj, path)`` encodes one Value of the request (long strings,
    bytes and arrays as descriptors; arrays viewed, not copied)."""

    __slots__ = ("raws",)

    def __init__(self) -> None:
        self.raws: list[RawAttachment] = []

    def value(self, obj: Any, path: str = "value") -> values_pb2.Value:
        text, attachments = encode_value_raw(obj, path)
        msg = values_pb2.Value(json=text, external=descriptors_for(attachments, len(self.raws)))
        self.raws.extend(attachments)
        return msg

    @property
    def size(self) -> int:
        """The bytes the attachments add to the message."""
        return raw_size(self.raws)

    def __len__(self) -> int:
        return len(self.raws)


# Per message type: the fields through which a Value can be reached, (name, is_value,
# repeated, is_map); an empty tuple for types holding none (most requests: nothing to walk).
_fields_of: dict[str, tuple[tuple[str, bool, bool, bool], ...]] = {}


def _value_fields(desc: Any, visiting: set[str] | None = None) -> tuple[tuple[str, bool, bool, bool], ...]:
    known = _fields_of.get(desc.full_name)
    if known is not None:
        return known
    visiting = visiting if visiting is not None else set()
    if desc.full_name in visiting:
        return ()
    visiting.add(desc.full_name)
    out = []
    for field in desc.fields:
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        message = field.message_type
        repeated = field.is_repeated
        is_map = repeated and message.GetOptions().map_entry
        if is_map:
            message = message.fields_by_name["value"].message_type
            if message is None:
                continue
        is_value = message.full_name == _VALUE
        if is_value or _value_fields(message, visiting):
            out.append((field.name, is_value, repeated, is_map))
    visiting.discard(desc.full_name)
    result = tuple(out)
    _fields_of[desc.full_name] = result
    return result


def values_in(message: Any) -> Iterator[Any]:
    """Every Value set inside `message`, found through its type's fields."""
    for name, is_value, repeated, is_map in _value_fields(message.DESCRIPTOR):
        if is_map:
            items: Any = getattr(message, name).values()
        elif repeated:
            items = getattr(message, name)
        elif message.HasField(name):
            items = (getattr(message, name),)
        else:
            continue
        for item in items:
            if is_value:
                yield item
            else:
                yield from values_in(item)


def inline_attachments(message: Any, outgoing: OutgoingAttachments) -> None:
    """Turns `message`'s Values, encoded by `outgoing`, into ordinary ones (attachments
    inside the message, copied there) for a route without out-of-band attachments (gRPC)."""
    raws = outgoing.raws
    for value in values_in(message):
        if len(value.external):
            attachments = [raw_to_attachment(raws[d.index]) for d in value.external]
            value.ClearField("external")
            value.attachments.extend(attachments)


def decode_received(value: Any, path: str, raw: list[memoryview] | None) -> Any:
    """Decodes a Value of a response; one received out of band refers to `raw`, the frame's
    attachments (arrays come back as read-only views of the frame). A descriptor that does
    not match the frame is a ValueDecodingError naming `path`."""
    if not len(value.external):
        return decode_value(value, path)
    try:
        attachments = resolve_external(value.external, raw)
    except OutOfBandError as err:
        raise ValueDecodingError(path, str(err)) from None
    return decode_value(value, path, attachments)
