"""Length-prefixed frames: a 4-byte little-endian length, then one serialized WorkerFrame.

The benchmarks chose this over one gRPC call per request (docs/benchmarks.md): it lets a
worker answer a whole batch of calls with one write.

A frame whose length word has its top bit set carries out-of-band attachments (worker.proto):
its body is a u32 protobuf length, a u32 attachment count N, N u32 attachment lengths, the
WorkerFrame protobuf, then each attachment's raw bytes starting at a multiple of 8 from the
body's start. Bytes, arrays and long strings so cross without passing through protobuf, and
arrive as memoryviews of one bytearray (numpy.frombuffer views them in place).
"""

from __future__ import annotations

import struct
import sys
import time
from typing import Any

__all__ = [
    "HEADER",
    "BufferPool",
    "FrameTooLargeError",
    "FrameDecoder",
    "OutOfBandError",
    "OutOfBandFrame",
    "encode_frame",
    "out_of_band_frame",
]

HEADER = struct.Struct("<I")
_OOB_HEADER = struct.Struct("<III")
OUT_OF_BAND_FLAG = 0x80000000
FRAME_LENGTH_MASK = 0x7FFFFFFF
ATTACHMENT_ALIGNMENT = 8
# Frames at least this large are gathered into a bytearray of their size as chunks arrive.
_GATHER_MIN_BYTES = 64 * 1024
_ZEROS = bytes(ATTACHMENT_ALIGNMENT)


def _align(n: int) -> int:
    return (n + ATTACHMENT_ALIGNMENT - 1) & ~(ATTACHMENT_ALIGNMENT - 1)


class OutOfBandError(Exception):
    """An out-of-band frame whose layout is inconsistent, or a descriptor that lies about it."""


class OutOfBandFrame:
    """A received out-of-band frame: the WorkerFrame protobuf and its raw attachments."""

    __slots__ = ("proto", "raw")

    def __init__(self, proto: memoryview, raw: list[memoryview]) -> None:
        self.proto = proto
        self.raw = raw


def parse_out_of_band(body: bytes | bytearray) -> OutOfBandFrame:
    """Splits an out-of-band body into its parts (memoryviews of `body`, no copy)."""
    size = len(body)
    if size < 8:
        raise OutOfBandError(f"out-of-band frame of {size} bytes is shorter than its 8-byte header")
    proto_len, count = struct.unpack_from("<II", body, 0)
    pos = 8 + 4 * count
    if count > (size - 8) // 4 or pos + proto_len > size:
        raise OutOfBandError(
            f"out-of-band frame of {size} bytes announces {count} attachments and {proto_len} protobuf bytes"
        )
    view = memoryview(body)
    lengths = struct.unpack_from(f"<{count}I", body, 8)
    proto = view[pos : pos + proto_len]
    pos += proto_len
    raw: list[memoryview] = []
    for i, length in enumerate(lengths):
        start = _align(pos)
        if start + length > size:
            raise OutOfBandError(f"attachment {i} of {length} bytes runs past the end of its {size}-byte frame")
        raw.append(view[start : start + length])
        pos = start + length
    if pos != size:
        raise OutOfBandError(f"out-of-band frame of {size} bytes holds {size - pos} bytes after its last attachment")
    return OutOfBandFrame(proto, raw)


def out_of_band_frame(proto: bytes, raw: list[Any]) -> list[Any]:
    """The pieces of an out-of-band frame, to be written in order: the caller's buffers are
    not copied here (the transport's buffer, or one join, copies them once)."""
    header = 8 + 4 * len(raw)
    size = header + len(proto)
    lengths = []
    for r in raw:
        n = r.nbytes if type(r) is memoryview else len(r)
        lengths.append(n)
        size = _align(size) + n
    if size > FRAME_LENGTH_MASK:
        raise OutOfBandError(f"a frame of {size} bytes is over the largest frame ({FRAME_LENGTH_MASK} bytes)")
    pieces: list[Any] = [
        _OOB_HEADER.pack(size | OUT_OF_BAND_FLAG, len(proto), len(raw)) + struct.pack(f"<{len(raw)}I", *lengths) + proto
    ]
    pos = header + len(proto)
    for r, n in zip(raw, lengths):
        start = _align(pos)
        if start != pos:
            pieces.append(_ZEROS[: start - pos])
        if n:
            pieces.append(r)
        pos = start + n
    return pieces


class BufferPool:
    """Large frame buffers kept for reuse. Memory touched for the first time costs a page
    fault per 4 KiB, several microseconds each on a virtual machine: far more than copying
    into memory already mapped. So a large frame is read into (or an array copied into, to be
    written) a buffer this pool handed out before, once nothing refers to it any more: no
    memoryview, numpy array or pending transport write holds it (each holds a reference).
    At most `max_buffers` are kept; `trim` lets go of those unused for a while."""

    __slots__ = ("_buffers", "_used", "_max_buffers")

    def __init__(self, max_buffers: int = 4) -> None:
        self._buffers: list[bytearray] = []
        self._used: list[float] = []
        self._max_buffers = max_buffers

    def _free(self, i: int) -> bool:
        # Nothing but the pool's list (and getrefcount's argument) refers to it.
        return sys.getrefcount(self._buffers[i]) == 2

    def take(self, size: int) -> memoryview:
        """A writable view of `size` bytes: of a free pooled buffer when one is large enough
        (the smallest such), else of a new one (pooled when there is room)."""
        buffers = self._buffers
        best = -1
        for i in range(len(buffers)):
            n = len(buffers[i])
            if n >= size and (best < 0 or n < len(buffers[best])) and self._free(i):
                best = i
        if best >= 0:
            self._used[best] = time.monotonic()
            return memoryview(buffers[best])[:size]
        fresh = bytearray(size)
        if len(buffers) < self._max_buffers:
            buffers.append(fresh)
            self._used.append(time.monotonic())
        else:
            # Full: the new buffer replaces the smallest free one that is smaller (the pages
            # of larger frames are the ones that cost most to map again).
            victim = -1
            for i in range(len(buffers)):
                n = len(buffers[i])
                if n < size and (victim < 0 or n < len(buffers[victim])) and self._free(i):
                    victim = i
            if victim >= 0:
                buffers[victim] = fresh
                self._used[victim] = time.monotonic()
        return memoryview(fresh)

    def trim(self, idle_s: float) -> None:
        """Lets go of the free buffers not handed out for `idle_s` seconds."""
        cutoff = time.monotonic() - idle_s
        keep = [i for i in range(len(self._buffers)) if self._used[i] > cutoff or not self._free(i)]
        self._buffers = [self._buffers[i] for i in keep]
        self._used = [self._used[i] for i in keep]

    @property
    def pooled_bytes(self) -> int:
        return sum(map(len, self._buffers))


class FrameTooLargeError(Exception):
    """A frame header announced more bytes than the configured limit."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"frame of {size} bytes exceeds the limit of {limit} bytes")
        self.size = size
        self.limit = limit


def encode_frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload)) + payload


def _out_of_band_or_error(body: Any) -> OutOfBandFrame | OutOfBandError:
    """A flagged frame's parts, or what is wrong with it: returned (not raised) in its place,
    because its length word was sound, so the frames after it can still be read."""
    try:
        return parse_out_of_band(body)
    except OutOfBandError as err:
        return err


class FrameDecoder:
    """Accumulates bytes and returns every complete frame: its payload (bytes, or a bytearray
    when gathered), an OutOfBandFrame, or the OutOfBandError of a flagged frame that does not
    add up. A large frame is gathered into a bytearray of its exact size as its
    chunks arrive (one copy; the chunks are free once copied), or read straight into it:
    `gather_view` is where its next bytes go, `gather_filled` says how many were put there."""

    __slots__ = ("_buffer", "_limit", "_gather", "_gathered", "_gather_flagged", "_pool")

    def __init__(self, max_frame_bytes: int, pool: BufferPool | None = None) -> None:
        self._buffer = bytearray()
        self._limit = max_frame_bytes
        # A large out-of-band frame is gathered into a buffer of the pool (a view of it), when
        # there is one; any other large frame into a bytearray of its own.
        self._pool = pool
        self._gather: bytearray | memoryview | None = None
        self._gathered = 0
        self._gather_flagged = False

    def gather_remaining(self) -> int:
        """Bytes still missing from the large frame being gathered (0 when there is none)."""
        gather = self._gather
        return 0 if gather is None else len(gather) - self._gathered

    def gather_view(self) -> memoryview:
        """The unfilled rest of the frame being gathered, for a read straight into it.
        Only while gather_remaining() is not 0."""
        assert self._gather is not None
        return memoryview(self._gather)[self._gathered :]

    def gather_filled(self, nbytes: int) -> Any:
        """`nbytes` were written at the start of gather_view(): the finished frame (as feed
        returns it), or None while more are missing."""
        gather = self._gather
        assert gather is not None
        self._gathered += nbytes
        if self._gathered < len(gather):
            return None
        self._gather = None
        return _out_of_band_or_error(gather) if self._gather_flagged else gather

    def feed(self, data: bytes) -> list[Any]:
        frames: list[Any] = []
        gather = self._gather
        if gather is not None:
            take = min(len(data), len(gather) - self._gathered)
            gather[self._gathered : self._gathered + take] = data if take == len(data) else memoryview(data)[:take]
            self._gathered += take
            if self._gathered < len(gather):
                return frames
            self._gather = None
            frames.append(_out_of_band_or_error(gather) if self._gather_flagged else gather)
            if take == len(data):
                return frames
            data = data[take:]
        buf = self._buffer
        if buf:
            buf += data
            src: bytes | bytearray = buf
        else:
            # Nothing pending (the usual case): cut the frames straight out of `data`, one
            # copy each, instead of appending to the buffer and copying twice out of it.
            src = data if type(data) is bytes else bytes(data)
        offset = 0
        end = len(src)
        unpack_from = HEADER.unpack_from
        limit = self._limit
        while end - offset >= 4:
            (size,) = unpack_from(src, offset)
            flagged = size >= OUT_OF_BAND_FLAG
            if flagged:
                size &= FRAME_LENGTH_MASK
            if size > limit:
                raise FrameTooLargeError(size, limit)
            stop = offset + 4 + size
            if stop > end:
                if size >= _GATHER_MIN_BYTES:
                    body = self._pool.take(size) if flagged and self._pool is not None else bytearray(size)
                    have = end - offset - 4
                    body[:have] = memoryview(src)[offset + 4 : end]
                    self._gather = body
                    self._gathered = have
                    self._gather_flagged = flagged
                    offset = end
                break
            payload = bytes(src[offset + 4 : stop]) if src is buf else src[offset + 4 : stop]
            frames.append(_out_of_band_or_error(payload) if flagged else payload)
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
                (
                    _SMALL_HEADERS[2 + response_len],
                    b"\x1a",
                    one[response_len],
                    call_id_field,
                    b"\x12",
                    one[value_len],
                    b"\x0a",
                    one[json_len],
                    json_utf8,
                )
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
        (
            _pack_header(frame_len),
            b"\x1a",
            response_len_bytes,
            call_id_field,
            b"\x12",
            value_len_bytes,
            b"\x0a",
            json_len_bytes,
            json_utf8,
        )
    )
