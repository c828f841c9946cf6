"""Raw-frame helpers shared by the worker-side tests (imported by conftest and the tests)."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

from dspy_bridge._gen.dspy_bridge.v1 import errors_pb2, values_pb2, worker_pb2
from dspy_bridge.core._framing import FrameDecoder, OutOfBandFrame, encode_frame
from dspy_bridge.core._out_of_band import resolve_external
from dspy_bridge.values import decode_value, encode_value

PYTHON_ROOT = Path(__file__).resolve().parents[2]  # .../python (holds the dspy_bridge package)
WORKER_ID = "w-test-1"
TOKEN = "secret-token-123"
MAX_MESSAGE_BYTES = 1024 * 1024
READ_TIMEOUT = 10.0

WorkerFrame = worker_pb2.WorkerFrame


def error_details(detail: errors_pb2.ErrorDetail) -> dict[str, Any]:
    return json.loads(detail.details_json) if detail.details_json else {}


def execute_frame(
    call_id: int, command: str, args: dict[str, Any] | None = None, *, stream: bool = False, session_id: str = ""
) -> WorkerFrame:
    req = worker_pb2.ExecuteRequest(
        call_id=call_id, command=command, args=encode_value(args or {}), stream=stream, session_id=session_id
    )
    return WorkerFrame(execute=req)


def _inline(att: Any) -> values_pb2.Attachment:
    kind = att.WhichOneof("kind")
    if kind == "tensor":
        t = att.tensor
        return values_pb2.Attachment(tensor=values_pb2.Tensor(dtype=t.dtype, shape=list(t.shape), data=bytes(t.data)))
    return values_pb2.Attachment(**{kind: bytes(att.bytes)})


class Wire:
    """The host's end of a worker connection: raw length-prefixed WorkerFrames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._decoder = FrameDecoder(256 * 1024 * 1024)
        self._pending: list[bytes] = []
        self._ids = itertools.count(1)
        self.last_out_of_band: OutOfBandFrame | None = None

    def next_id(self) -> int:
        return next(self._ids)

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    def send(self, *frames: WorkerFrame) -> None:
        self.writer.write(b"".join(encode_frame(f.SerializeToString()) for f in frames))

    async def read_frame(self, timeout: float = READ_TIMEOUT) -> WorkerFrame:
        while not self._pending:
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                raise EOFError("worker closed the connection")
            self._pending.extend(self._decoder.feed(data))
        raw = self._pending.pop(0)
        if type(raw) is not OutOfBandFrame:
            self.last_out_of_band = None
            return WorkerFrame.FromString(raw)
        # Attachments out of band: inlined here as protobuf attachments, so a test reads any
        # result alike; `last_out_of_band` keeps the frame for tests about the frame itself.
        self.last_out_of_band = raw
        frame = WorkerFrame.FromString(bytes(raw.proto))
        kind = frame.WhichOneof("kind")
        value = frame.result.result if kind == "result" else frame.stream_item.item if kind == "stream_item" else None
        if value is not None and len(value.external):
            inline = [_inline(a) for a in resolve_external(value.external, raw.raw)]
            del value.external[:]
            value.attachments.extend(inline)
        return frame

    async def at_eof(self, timeout: float = READ_TIMEOUT) -> bool:
        """True once the worker has closed its end (remaining frames are discarded)."""
        while True:
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                return True

    async def call(self, command: str, args: dict[str, Any] | None = None, **kw: Any) -> worker_pb2.ExecuteResponse:
        call_id = self.next_id()
        self.send(execute_frame(call_id, command, args, **kw))
        frame = await self.read_frame()
        assert frame.WhichOneof("kind") == "result", frame
        assert frame.result.call_id == call_id
        return frame.result

    async def call_value(self, command: str, args: dict[str, Any] | None = None) -> Any:
        res = await self.call(command, args)
        assert res.WhichOneof("outcome") == "result", res.error
        return decode_value(res.result)


class WorkerHarness:
    def __init__(self, wire: Wire, protocol: Any, closed: asyncio.Future[None]) -> None:
        self.wire = wire
        self.protocol = protocol
        self.closed = closed
