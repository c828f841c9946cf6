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
        if buf:
            buf += data
            src: bytes | bytearray = buf
        else:
            # Nothing pending (the usual case): cut the frames straight out of `data`, one
            # copy each, instead of appending to the buffer and copying twice out of it.
            src = data if type(data) is bytes else bytes(data)
        frames: list[bytes] = []
        offset = 0
        end = len(src)
        unpack_from = HEADER.unpack_from
        limit = self._limit
        while end - offset >= 4:
            (size,) = unpack_from(src, offset)
            if size > limit:
                raise FrameTooLargeError(size, limit)
            stop = offset + 4 + size
            if stop > end:
                break
            frames.append(bytes(src[offset + 4 : stop]) if src is buf else src[offset + 4 : stop])
            offset = stop
        if src is buf:
            if offset:
                del buf[:offset]
        elif offset < end:
            buf += src[offset:] if offset else src
        return frames


# Varints by table: building one from a loop costs more than the rest of a result frame.
# Call ids grow with every call on a connection, so 3- and 4-byte ids are the common case.
_ONE_BYTE_VARINTS = tuple(bytes((i,)) for i in range(0x80))
_TWO_BYTE_VARINTS = tuple(bytes((i & 0x7F | 0x80, i >> 7)) for i in range(0x4000))
# The low 14 bits of a longer varint: two bytes, both with the continuation bit set.
_LOW_14_BITS = tuple(bytes((i & 0x7F | 0x80, i >> 7 | 0x80)) for i in range(0x4000))


def _varint(n: int) -> bytes:
    if n < 0x80:
        return _ONE_BYTE_VARINTS[n]
    if n < 0x4000:
        return _TWO_BYTE_VARINTS[n]
    if n < 0x200000:
        return _LOW_14_BITS[n & 0x3FFF] + _ONE_BYTE_VARINTS[n >> 14]
    if n < 0x10000000:
        return _LOW_14_BITS[n & 0x3FFF] + _TWO_BYTE_VARINTS[n >> 14]
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_pack_header = HEADER.pack
_SMALL_HEADERS = tuple(HEADER.pack(i) for i in range(0x100))


def encode_result_frame(call_id: int, json_utf8: bytes) -> bytes:
    """The length-prefixed bytes of WorkerFrame{result: ExecuteResponse{call_id, result: Value{json}}}.

    Written by hand because it is on every call's path and the generic protobuf build and
    serialize cost more than the rest of a trivial call; tests/core/test_framing.py proves
    the bytes equal the generated code's. Lengths are computed first so the payload is
    copied once, whatever its size.
    """
    json_len = len(json_utf8)
    call_id_field = b"\x08" + _varint(call_id) if call_id else b""
    if 0 < json_len < 0x70:
        # A small result (the usual case): every length below is a one-byte varint.
        value_len = 2 + json_len
        response_len = len(call_id_field) + 2 + value_len
        if response_len < 0x80:
            one = _ONE_BYTE_VARINTS
            return b"".join(
                (_SMALL_HEADERS[2 + response_len], b"\x1a", one[response_len], call_id_field, b"\x12", one[value_len], b"\x0a", one[json_len], json_utf8)
            )
    json_len_bytes = _varint(json_len)
    value_len = 1 + len(json_len_bytes) + json_len if json_len else 0
    value_len_bytes = _varint(value_len)
    response_len = len(call_id_field) + 1 + len(value_len_bytes) + value_len
    response_len_bytes = _varint(response_len)
    frame_len = 1 + len(response_len_bytes) + response_len
    if not json_len:
        return b"".join((_pack_header(frame_len), b"\x1a", response_len_bytes, call_id_field, b"\x12", value_len_bytes))
    return b"".join(
        (_pack_header(frame_len), b"\x1a", response_len_bytes, call_id_field, b"\x12", value_len_bytes, b"\x0a", json_len_bytes, json_utf8)
    )
