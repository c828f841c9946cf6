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
