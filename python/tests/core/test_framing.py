"""Length-prefixed framing and the hand-written result-frame encoder."""

from __future__ import annotations

import random
import struct

import pytest

from dspy_bridge._gen.dspy_bridge.v1 import values_pb2, worker_pb2
from dspy_bridge.core._framing import (
    HEADER,
    BufferPool,
    FrameDecoder,
    FrameTooLargeError,
    OutOfBandFrame,
    encode_frame,
    encode_result_frame,
    out_of_band_frame,
)

SEED = 20240611


def _payloads(rng: random.Random, count: int) -> list[bytes]:
    sizes = [0, 1, 3, 4, 5, 127, 128, 1000] + [rng.randrange(0, 3000) for _ in range(count)]
    return [rng.randbytes(n) for n in sizes]


# ---- BufferPool --------------------------------------------------------------------------------


def test_a_pooled_buffer_is_handed_out_again_only_once_nothing_refers_to_it() -> None:
    import numpy as np

    pool = BufferPool(max_buffers=2)
    first = pool.take(1000)
    buffer = id(first.obj)  # its id: a reference would itself keep it in use
    assert len(first) == 1000
    assert id(pool.take(1000).obj) != buffer, "in use (a view of it is alive): another buffer"
    array = np.frombuffer(first, np.uint8)
    del first
    assert id(pool.take(500).obj) != buffer, "a numpy array still views it"
    del array
    again = pool.take(500)
    assert id(again.obj) == buffer and len(again) == 500, "free again: reused"
    del again
    assert pool.pooled_bytes == 2000
    pool.trim(idle_s=0)
    assert pool.pooled_bytes == 0, "free buffers are let go when idle"


def test_a_full_pool_keeps_the_larger_buffers() -> None:
    pool = BufferPool(max_buffers=1)
    pool.take(100)
    held = pool.take(10_000)  # the full pool's free smaller buffer gives way to it
    assert pool.pooled_bytes == 10_000
    pool.take(50_000)  # the pooled one is in use: the new one is not kept
    assert pool.pooled_bytes == 10_000
    del held
    pool.trim(idle_s=3600)
    assert pool.pooled_bytes == 10_000, "recently used buffers stay"


def test_large_out_of_band_frames_are_gathered_into_the_pool() -> None:
    pool = BufferPool()
    decoder = FrameDecoder(1 << 24, pool)
    data = b"".join(out_of_band_frame(b"proto", [bytes(range(256)) * 1000]))
    frames = []
    for i in range(0, len(data), 4096):
        frames += decoder.feed(data[i : i + 4096])
    (frame,) = frames
    assert isinstance(frame, OutOfBandFrame)
    assert bytes(frame.raw[0]) == bytes(range(256)) * 1000
    assert pool.pooled_bytes == len(data) - 4
    del frame, frames
    assert pool.take(len(data) - 4) is not None and pool.pooled_bytes == len(data) - 4, "reused, not grown"


# ---- encode_frame / FrameDecoder --------------------------------------------------------------


def test_encode_frame_layout() -> None:
    assert encode_frame(b"") == b"\x00\x00\x00\x00"
    assert encode_frame(b"abc") == b"\x03\x00\x00\x00abc"
    payload = bytes(300)
    assert encode_frame(payload)[:4] == struct.pack("<I", 300) == b"\x2c\x01\x00\x00"
    assert HEADER.size == 4


def test_many_frames_in_one_chunk() -> None:
    payloads = _payloads(random.Random(SEED), 200)
    dec = FrameDecoder(1 << 20)
    assert dec.feed(b"".join(encode_frame(p) for p in payloads)) == payloads
    assert dec.feed(b"") == []


def test_byte_by_byte() -> None:
    payloads = _payloads(random.Random(SEED + 1), 20)
    stream = b"".join(encode_frame(p) for p in payloads)
    dec = FrameDecoder(1 << 20)
    out: list[bytes] = []
    for i in range(len(stream)):
        got = dec.feed(stream[i : i + 1])
        assert len(got) <= 1
        out.extend(got)
    assert out == payloads


def test_arbitrary_chunk_boundaries() -> None:
    rng = random.Random(SEED + 2)
    payloads = _payloads(rng, 100)
    stream = b"".join(encode_frame(p) for p in payloads)
    for _round in range(30):
        dec = FrameDecoder(1 << 20)
        out: list[bytes] = []
        pos = 0
        while pos < len(stream):
            n = rng.choice([1, 2, 3, 4, 5, 7, 64, 500, 4096, 20000])
            out.extend(dec.feed(stream[pos : pos + n]))
            pos += n
        assert out == payloads


def test_partial_data_is_kept_until_complete() -> None:
    dec = FrameDecoder(1024)
    frame = encode_frame(b"hello world")
    assert dec.feed(frame[:2]) == [], "half a header"
    assert dec.feed(frame[2:4]) == [], "a whole header, no body"
    assert dec.feed(frame[4:9]) == [], "part of the body"
    # the rest of this frame plus the first bytes of the next one
    nxt = encode_frame(b"second")
    assert dec.feed(frame[9:] + nxt[:5]) == [b"hello world"]
    assert dec.feed(nxt[5:]) == [b"second"]
    # and a zero-length frame decodes as an empty payload
    assert dec.feed(encode_frame(b"")) == [b""]


def test_frame_at_the_limit_is_accepted() -> None:
    dec = FrameDecoder(10)
    assert dec.feed(encode_frame(b"0123456789")) == [b"0123456789"]


def test_oversized_header_raises() -> None:
    dec = FrameDecoder(10)
    with pytest.raises(FrameTooLargeError) as info:
        dec.feed(struct.pack("<I", 11))
    assert info.value.size == 11 and info.value.limit == 10
    assert "11" in str(info.value) and "10" in str(info.value)


def test_oversized_header_after_good_frames_in_same_chunk() -> None:
    dec = FrameDecoder(100)
    with pytest.raises(FrameTooLargeError) as info:
        dec.feed(encode_frame(b"ok") + struct.pack("<I", 0xFFFFFFFF))
    assert info.value.size == 0x7FFFFFFF  # the top bit is the out-of-band flag


def test_oversized_header_raises_before_the_body_arrives() -> None:
    # Only the header is needed to refuse: the decoder must not wait for (or buffer) the body.
    dec = FrameDecoder(1000)
    assert dec.feed(b"\x00\x00") == []
    with pytest.raises(FrameTooLargeError):
        dec.feed(b"\x10\x00")  # header now says 0x00100000 bytes


# ---- encode_result_frame vs the generated code ------------------------------------------------


def _generated(call_id: int, json_text: str) -> bytes:
    frame = worker_pb2.WorkerFrame(
        result=worker_pb2.ExecuteResponse(call_id=call_id, result=values_pb2.Value(json=json_text))
    )
    return encode_frame(frame.SerializeToString())


EDGE_IDS = [0, 1, 127, 128, 255, 256, 16383, 16384, 2**21 - 1, 2**21, 2**28 - 1, 2**28, 2**31, 2**32 - 2, 2**32 - 1]
EDGE_LENGTHS = [
    0,
    1,
    2,
    100,
    115,
    116,
    117,
    120,
    125,
    126,
    127,
    128,
    129,
    16370,
    16375,
    16380,
    16383,
    16384,
    16385,
    2**21 + 3,
]


_ALPHABET = ["a", "{", '"', "é", "ß", "€", "中", "😀", "\x00", "\n"]


def _text_of_utf8_length(n: int, rng: random.Random) -> str:
    """Random text mixing 1..4-byte characters whose UTF-8 encoding is exactly n bytes."""
    text = "".join(rng.choices(_ALPHABET, k=min(n, 4096) // 2))
    while len(text.encode()) < n:  # long targets: repeat the random block
        text += text or "a"
    data = text.encode()[:n]
    text = data.decode("utf-8", errors="ignore")  # drop a split trailing character
    text += "x" * (n - len(text.encode()))
    assert len(text.encode()) == n
    return text


def _check(call_id: int, text: str) -> None:
    expected = _generated(call_id, text)
    got = encode_result_frame(call_id, text.encode("utf-8"))
    assert got == expected, (call_id, len(text.encode()))
    # and the bytes decode back to what was meant
    frame = worker_pb2.WorkerFrame.FromString(got[4:])
    assert frame.WhichOneof("kind") == "result"
    assert frame.result.call_id == call_id
    assert frame.result.WhichOneof("outcome") == "result"
    assert frame.result.result.json == text


@pytest.mark.parametrize("call_id", EDGE_IDS)
def test_result_frame_edge_call_ids(call_id: int) -> None:
    rng = random.Random(call_id)
    for n in EDGE_LENGTHS:
        _check(call_id, _text_of_utf8_length(n, rng))


def test_result_frame_edge_texts() -> None:
    texts = [
        "",
        "null",
        "{}",
        '{"ok":true}',
        "é",
        "😀" * 40,
        "中" * 6000,
        "\x00",
        "a" * 127,
        "a" * 128,
        "a" * 16383,
        "a" * 16384,
        '{"k":"' + "\u2028" * 50 + '"}',
    ]
    for call_id in (0, 127, 128, 16383, 16384, 2**32 - 1):
        for text in texts:
            _check(call_id, text)


def test_result_frame_random() -> None:
    rng = random.Random(SEED)
    for _ in range(3000):
        call_id = rng.choice([rng.randrange(0, 256), rng.randrange(0, 2**14 + 10), rng.randrange(0, 2**32)])
        n = rng.choice([rng.randrange(0, 140), rng.randrange(0, 20000), rng.randrange(16300, 16500)])
        _check(call_id, _text_of_utf8_length(n, rng))


def test_result_frame_empty_json_keeps_the_result_field() -> None:
    # An empty Value must still be present (outcome = result), not an empty ExecuteResponse.
    got = encode_result_frame(5, b"")
    frame = worker_pb2.WorkerFrame.FromString(got[4:])
    assert frame.result.HasField("result")
    assert got == _generated(5, "")
