"""The Values inside bridge-service messages, out of band (core._message_attachments): encoded
with frame-wide descriptors, put back inline for gRPC, decoded against a received frame."""

from __future__ import annotations

import numpy as np
import pytest

from dspy_bridge._gen.dspy_bridge.v1 import tools_pb2, values_pb2, variables_pb2
from dspy_bridge.core._framing import out_of_band_frame, parse_out_of_band
from dspy_bridge.core._message_attachments import (
    OutgoingAttachments,
    decode_received,
    inline_attachments,
    values_in,
)
from dspy_bridge.values import ValueDecodingError, decode_value


def _frame_raw(out: OutgoingAttachments) -> list[memoryview]:
    """The raw attachments as the receiver of their out-of-band frame sees them."""
    body = b"".join(bytes(p) for p in out_of_band_frame(b"", [r[3] for r in out.raws]))[4:]
    return parse_out_of_band(bytearray(body)).raw


def _views_frame(arr: np.ndarray) -> bool:
    """Whether the array views a memoryview (the received frame) rather than owning a copy."""
    base = arr
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    return isinstance(base, memoryview)


def _update_request(out: OutgoingAttachments, values: dict[str, object]) -> variables_pb2.UpdateVariablesRequest:
    return variables_pb2.UpdateVariablesRequest(
        session_id="s",
        updates=[variables_pb2.VariableUpdate(name=k, value=out.value(v, k)) for k, v in values.items()],
    )


def test_descriptors_count_across_the_whole_request_and_decode_as_views() -> None:
    out = OutgoingAttachments()
    a = np.arange(10, dtype=np.float32)
    b = {"blob": b"\x01\x02\x03", "t": np.ones((2, 3), dtype=np.int16), "s": "x" * 20000}
    request = _update_request(out, {"a": a, "b": b})
    assert len(out) == 4
    assert out.size == 40 + 3 + 12 + 20000
    assert [d.index for d in request.updates[0].value.external] == [0]
    assert [d.index for d in request.updates[1].value.external] == [1, 2, 3]
    assert not request.updates[0].value.attachments, "nothing copied into protobuf"
    raw = _frame_raw(out)
    got_a = decode_received(request.updates[0].value, "a", raw)
    assert got_a.dtype == np.float32 and (got_a == a).all()
    assert _views_frame(got_a) and not got_a.flags.writeable
    got_b = decode_received(request.updates[1].value, "b", raw)
    assert got_b["blob"] == b"\x01\x02\x03" and got_b["s"] == "x" * 20000
    assert got_b["t"].shape == (2, 3) and got_b["t"].dtype == np.int16


def test_inline_puts_the_attachments_back_for_grpc() -> None:
    out = OutgoingAttachments()
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    request = tools_pb2.CallToolRequest(name="t", args=out.value({"x": a, "y": b"yz"}, "args"))
    inline_attachments(request, out)
    assert not request.args.external
    args = decode_value(request.args, "args")
    assert (args["x"] == a).all() and args["y"] == b"yz"


def test_values_are_found_in_nested_and_repeated_fields_only_when_set() -> None:
    response = variables_pb2.GetVariablesResponse(
        results=[
            variables_pb2.VariableResult(
                name="a", found=True, variable=variables_pb2.Variable(name="a", value=values_pb2.Value(json="1"))
            ),
            variables_pb2.VariableResult(name="b", found=False),
        ]
    )
    assert len(list(values_in(response))) == 1
    assert list(values_in(variables_pb2.GetVariablesRequest(names=["a"]))) == []


@pytest.mark.parametrize(
    ("lie", "message"),
    [
        ("index", "points at attachment 9; the frame holds 1"),
        ("length", "says 48 bytes; attachment 0 holds 40"),
        ("kind", "unknown kind 42"),
    ],
)
def test_a_descriptor_that_lies_about_the_frame_is_a_decoding_error(lie: str, message: str) -> None:
    out = OutgoingAttachments()
    value = out.value(np.arange(10, dtype=np.float32), "emb")
    d = value.external[0]
    if lie == "index":
        d.index = 9
    elif lie == "length":
        d.length = 48
    else:
        d.kind = 42
    with pytest.raises(ValueDecodingError, match=message) as caught:
        decode_received(value, "emb", _frame_raw(out))
    assert caught.value.path == "emb"


def test_descriptors_without_a_frame_are_refused() -> None:
    out = OutgoingAttachments()
    value = out.value(b"abc", "v")
    with pytest.raises(ValueDecodingError, match="the frame holds 0"):
        decode_received(value, "v", None)
