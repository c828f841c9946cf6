"""Length-prefixed frames: a 4-byte little-endian length, then one serialized WorkerFrame.

The benchmarks chose this over one gRPC call per request (docs/benchmarks.md): it lets a
worker answer a whole batch of calls with one write.
"""

from __future__ import annotations

import struct

__all__ = ["HEADER", "FrameTooLargeError", "FrameDecoder", "encode_frame"]

HEADER = struct.Struct("<I")


class FrameTooLargeError(Exception):
    """A frame header announced more bytes than the configured limit."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"frame of {size} bytes exceeds the limit of {limit} bytes")
        self.size = size
        self.limit = limit


def encode_frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload)) + payload


class FrameDecoder:
    """Accumulates bytes and returns every complete frame payload."""

    __slots__ = ("_buffer", "_limit")

    def __init__(self, max_frame_bytes: int) -> None:
        self._buffer = bytearray()
        self._limit = max_frame_bytes

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buffer
        buf += data
        frames: list[bytes] = []
        offset = 0
        end = len(buf)
        while end - offset >= 4:
            (size,) = HEADER.unpack_from(buf, offset)
            if size > self._limit:
                raise FrameTooLargeError(size, self._limit)
            if end - offset - 4 < size:
                break
            frames.append(bytes(buf[offset + 4 : offset + 4 + size]))
            offset += 4 + size
        if offset:
            del buf[:offset]
        return frames


_ONE_BYTE_VARINTS = tuple(bytes((i,)) for i in range(0x80))


def _varint(n: int) -> bytes:
    if n < 0x80:
        return _ONE_BYTE_VARINTS[n]
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def encode_result_frame(call_id: int, json_utf8: bytes) -> bytes:
    """The length-prefixed bytes of WorkerFrame{result: ExecuteResponse{call_id, result: Value{json}}}.

    Written by hand because it is on every call's path and the generic protobuf build and
    serialize cost more than the rest of a trivial call; tests/core/test_framing.py proves
    the bytes equal the generated code's.
    """
    value = b"\x0a" + _varint(len(json_utf8)) + json_utf8 if json_utf8 else b""
    response = (b"\x08" + _varint(call_id) if call_id else b"") + b"\x12" + _varint(len(value)) + value
    frame = b"\x1a" + _varint(len(response)) + response
    return HEADER.pack(len(frame)) + frame
