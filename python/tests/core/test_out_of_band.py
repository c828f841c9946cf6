"""Out-of-band attachments on the worker connection, from the host's end of a real socket:
arguments whose bytes follow the frame, results that come back the same way, the message
limit over the whole message, and frames whose descriptors lie (answered as protocol
errors; the worker keeps serving)."""

from __future__ import annotations

import asyncio
import platform
import struct
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from wire_helpers import MAX_MESSAGE_BYTES, READ_TIMEOUT, WorkerHarness, WorkerFrame, error_details, execute_frame

from dspy_bridge._gen.dspy_bridge.v1 import values_pb2, worker_pb2
from dspy_bridge.core._framing import (
    FrameDecoder,
    OutOfBandError,
    OutOfBandFrame,
    encode_frame,
    out_of_band_frame,
    parse_out_of_band,
)
from dspy_bridge.core._out_of_band import descriptors_for, resolve_external
from dspy_bridge.values import LONG_STRING_CHARS, decode_value, encode_value_raw

Kind = values_pb2.AttachmentDescriptor


def oob_execute(call_id: int, command: str, args: dict[str, Any], *, lie: Any = None) -> bytes:
    """An execute frame with out-of-band arguments; `lie(descriptors, raws)` may tamper."""
    text, raws = encode_value_raw(args, "args")
    descriptors = descriptors_for(raws)
    data = [r[3] for r in raws]
    if lie is not None:
        lie(descriptors, data)
    value = values_pb2.Value(json=text, external=descriptors)
    frame = WorkerFrame(execute=worker_pb2.ExecuteRequest(call_id=call_id, command=command, args=value))
    return b"".join(out_of_band_frame(frame.SerializeToString(), data))


async def call_raw(worker: WorkerHarness, data: bytes, call_id: int) -> worker_pb2.ExecuteResponse:
    worker.wire.send_raw(data)
    frame = await worker.wire.read_frame()
    assert frame.WhichOneof("kind") in ("result", "protocol_error"), frame
    res = frame.result if frame.WhichOneof("kind") == "result" else frame.protocol_error
    assert res.call_id == call_id
    return res


VALUES: list[Any] = [
    b"",
    b"\x01",
    bytes(range(256)) * 300 + b"odd",
    "a" * (LONG_STRING_CHARS - 1),
    "é" * LONG_STRING_CHARS,
    "😀" * (LONG_STRING_CHARS + 1),
    np.arange(7, dtype=np.int8),
    np.arange(24, dtype=np.float64).reshape(2, 3, 4),
    np.array([-(2**63), 2**63 - 1], dtype=np.int64),
    np.zeros((0, 3), dtype=np.float32),
    np.array(1.5, dtype=np.float32),  # 0-d
    np.arange(20, dtype=np.float32)[::3],  # not contiguous
    np.arange(200_000, dtype=np.float32),  # gathered (over 64 KiB)
]


@pytest.mark.parametrize("value", VALUES, ids=[f"v{i}" for i in range(len(VALUES))])
async def test_out_of_band_round_trip(worker: WorkerHarness, value: Any) -> None:
    res = await call_raw(worker, oob_execute(1, "echo", {"value": value}), 1)
    assert res.WhichOneof("outcome") == "result", res.error
    got = decode_value(res.result)
    if isinstance(value, np.ndarray):
        assert got.dtype == value.dtype and got.shape == value.shape
        np.testing.assert_array_equal(got, value)
        oob = worker.wire.last_out_of_band
        assert oob is not None and len(oob.raw) == 1, "the result's array came back out of band"
    else:
        assert got == value
        attached = isinstance(value, bytes) or len(value) >= LONG_STRING_CHARS
        assert (worker.wire.last_out_of_band is not None) == attached


async def test_arrays_arrive_as_read_only_views_of_the_frame() -> None:
    arr = np.arange(100_000, dtype=np.float32)
    text, raws = encode_value_raw({"a": arr, "b": b"xyz"})
    assert raws[0][3].obj is not None and np.shares_memory(np.frombuffer(raws[0][3], np.float32), arr), (
        "sent without a copy"
    )
    frame = WorkerFrame(
        result=worker_pb2.ExecuteResponse(call_id=3, result=values_pb2.Value(json=text, external=descriptors_for(raws)))
    )
    data = b"".join(out_of_band_frame(frame.SerializeToString(), [r[3] for r in raws]))
    decoder = FrameDecoder(1 << 24)
    frames: list[Any] = []
    for i in range(0, len(data), 65536):
        frames += decoder.feed(data[i : i + 65536])
    (oob,) = frames
    assert isinstance(oob, OutOfBandFrame)
    got = WorkerFrame.FromString(bytes(oob.proto)).result.result
    value = decode_value(got, "result", resolve_external(got.external, oob.raw))
    assert not value["a"].flags.writeable
    assert np.shares_memory(value["a"], np.frombuffer(oob.raw[0], np.uint8)), "a view of the received frame"
    assert value["a"].ctypes.data % 8 == 0, "aligned"
    assert value["b"] == b"xyz"


async def _until(condition: Any) -> None:
    """Waits (polling the loop both ends share) until `condition()` holds."""
    deadline = asyncio.get_running_loop().time() + READ_TIMEOUT
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "the condition never held"
        await asyncio.sleep(0.001)


async def test_a_large_frame_is_read_straight_into_its_buffer_then_reading_goes_on_as_before(
    worker: WorkerHarness,
) -> None:
    value = np.arange(200_000, dtype=np.float32)  # 800 KB: the rest of its frame is read into its buffer
    big = oob_execute(1, "echo", {"value": value})
    small = encode_frame(execute_frame(2, "echo", {"value": "after"}).SerializeToString())
    transport = worker.protocol._transport
    worker.wire.send_raw(big[:4096])
    await _until(lambda: transport.get_protocol() is not worker.protocol)
    # The rest of the frame, and another frame right behind it in the same write.
    worker.wire.send_raw(big[4096:] + small)
    first = await worker.wire.read_frame()
    assert first.result.call_id == 1
    np.testing.assert_array_equal(decode_value(first.result.result), value)
    second = await worker.wire.read_frame()
    assert (second.result.call_id, decode_value(second.result.result)) == (2, "after")
    assert transport.get_protocol() is worker.protocol, "the connection is read as before"
    assert await worker.wire.call_value("ping") == {"ok": True}


async def test_a_connection_that_ends_inside_a_large_frame_closes_the_worker(worker: WorkerHarness) -> None:
    big = oob_execute(1, "echo", {"value": np.arange(200_000, dtype=np.float32)})
    transport = worker.protocol._transport
    worker.wire.send_raw(big[: len(big) // 2])
    await _until(lambda: transport.get_protocol() is not worker.protocol)
    worker.wire.writer.close()
    await asyncio.wait_for(worker.closed, READ_TIMEOUT)


async def test_large_answers_are_written_from_their_own_memory_unless_it_can_change(worker: WorkerHarness) -> None:
    read_only = np.arange(50_000, dtype=np.float32)
    read_only.flags.writeable = False
    writable = np.arange(50_000, dtype=np.float32)
    big_bytes = bytes(300_000)
    text, raws = encode_value_raw({"r": read_only, "w": writable, "b": big_bytes})
    pieces = worker.protocol._framed(b"proto", raws, "result")
    assert isinstance(pieces, list), "a large frame is written as its pieces"
    sent = [p for p in pieces if len(p) >= 100_000]
    assert np.shares_memory(np.frombuffer(sent[0], np.uint8), read_only), "a read-only array: not copied"
    assert not np.shares_memory(np.frombuffer(sent[1], np.uint8), writable), (
        "a writable array: copied once, so a later change cannot reach the socket"
    )
    assert sent[2] is big_bytes, "bytes: not copied"
    assert b"".join(pieces) == b"".join(out_of_band_frame(b"proto", [r[3] for r in raws]))
    small_text, small_raws = encode_value_raw({"b": b"xyz"})
    assert type(worker.protocol._framed(b"proto", small_raws, "result")) is bytes, "a small frame: one write"


async def test_message_limit_counts_the_attachments(worker: WorkerHarness) -> None:
    res = await call_raw(worker, oob_execute(2, "make_bytes", {"size": MAX_MESSAGE_BYTES + 1}), 2)
    assert res.WhichOneof("outcome") == "error"
    assert res.error.python_type.endswith("PayloadTooLargeError")
    assert f"message limit of {MAX_MESSAGE_BYTES} bytes" in res.error.message
    assert error_details(res.error)["limit"] == MAX_MESSAGE_BYTES
    assert await worker.wire.call_value("ping") == {"ok": True}


def _lie_index(descriptors: Any, data: Any) -> None:
    descriptors[0].index = 7


def _lie_length(descriptors: Any, data: Any) -> None:
    descriptors[0].length += 1


def _lie_kind(descriptors: Any, data: Any) -> None:
    descriptors[0].kind = 42


@pytest.mark.parametrize(
    ("lie", "message"),
    [
        (_lie_index, "points at attachment 7; the frame holds 1"),
        (_lie_length, "says 4 bytes; attachment 0 holds 3"),
        (_lie_kind, "unknown kind 42"),
    ],
)
async def test_lying_descriptors_are_protocol_errors(worker: WorkerHarness, lie: Any, message: str) -> None:
    res = await call_raw(worker, oob_execute(5, "echo", {"value": b"abc"}, lie=lie), 5)
    assert res.WhichOneof("outcome") == "error"
    assert res.error.python_type.endswith("ProtocolError")
    assert message in res.error.message
    assert await worker.wire.call_value("echo", {"value": "still serving"}) == "still serving"


async def test_a_tensor_whose_shape_disagrees_with_its_bytes_is_refused(worker: WorkerHarness) -> None:
    def lie(descriptors: Any, data: Any) -> None:
        descriptors[0].shape[:] = [5]

    res = await call_raw(worker, oob_execute(6, "echo", {"value": np.arange(4, dtype=np.int32)}, lie=lie), 6)
    assert res.WhichOneof("outcome") == "error"
    assert "needs 20" in res.error.message
    assert await worker.wire.call_value("ping") == {"ok": True}


async def test_a_frame_that_does_not_add_up_closes_nothing_else(worker: WorkerHarness) -> None:
    # Flagged, 12 bytes long, announcing one attachment of 100 bytes: the layout is wrong.
    body = struct.pack("<III", 0, 1, 100)
    worker.wire.send_raw(struct.pack("<I", len(body) | 0x80000000) + body)
    frame = await worker.wire.read_frame()
    assert frame.WhichOneof("kind") == "protocol_error"
    assert "runs past the end" in frame.protocol_error.error.message
    assert await worker.wire.call_value("ping") == {"ok": True}


async def test_attachments_only_on_an_execute(worker: WorkerHarness) -> None:
    frame = WorkerFrame(cancel=worker_pb2.CancelRequest(call_id=1))
    worker.wire.send_raw(b"".join(out_of_band_frame(frame.SerializeToString(), [b"x"])))
    got = await worker.wire.read_frame()
    assert got.WhichOneof("kind") == "protocol_error"
    assert "cannot carry attachments" in got.protocol_error.error.message


def test_layout_checks() -> None:
    good = b"".join(out_of_band_frame(b"proto", [b"abc", b"defghijkl"]))[4:]
    assert [bytes(r) for r in parse_out_of_band(good).raw] == [b"abc", b"defghijkl"]
    with pytest.raises(OutOfBandError, match="shorter than its 8-byte header"):
        parse_out_of_band(b"\x00" * 4)
    with pytest.raises(OutOfBandError, match="announces 4294967295 attachments"):
        parse_out_of_band(good[:4] + struct.pack("<I", 0xFFFFFFFF) + good[8:])
    with pytest.raises(OutOfBandError, match="after its last attachment"):
        parse_out_of_band(good[:12] + struct.pack("<I", 1) + good[16:])


def test_external_descriptors_outside_a_worker_connection_are_refused() -> None:
    value = values_pb2.Value(json='{"$type":"bytes","ref":0}', external=[Kind(index=0, kind=Kind.KIND_BYTES, length=1)])
    with pytest.raises(Exception, match="only travel on a worker connection"):
        decode_value(value)


def test_plain_frames_are_unchanged() -> None:
    assert encode_frame(b"abc") == b"\x03\x00\x00\x00abc"


_FREED_RSS_PROBE = """
import os, sys
from dspy_bridge.core._malloc_tuning import keep_freed_memory
tuned = sys.argv[1] == "tuned" and keep_freed_memory()
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
block = bytearray(b"x") * (8 << 20)  # 8 MiB, every page touched
peak = rss()
del block
print(tuned, peak - rss())
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the thresholds are glibc's (mallopt)")
@pytest.mark.parametrize("mode", ["default", "tuned"])
def test_workers_keep_freed_large_blocks_for_reuse(mode: str) -> None:
    # A fresh interpreter each: the setting is process-wide. Each worker sets it when it
    # starts; a large value's memory, freed, is then reused, not mapped afresh.
    out = subprocess.run(
        [sys.executable, "-c", _FREED_RSS_PROBE, mode], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    released = int(out[1])
    if mode == "tuned":
        assert out[0] == "True"
        assert released < 1 << 20, f"{released} bytes went back to the kernel"
    else:
        assert released >= 7 << 20, f"only {released} bytes went back to the kernel"
