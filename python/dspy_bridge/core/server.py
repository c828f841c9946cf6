"""The worker server: one asyncio connection to the host carrying many calls at once.

Frames arrive in batches and every answer produced in one event-loop turn leaves in a single
write. Every call runs in an asyncio Task of its own, started eagerly: its first step runs
while the frame is read (a trivial command is answered in that step, with no event-loop
turn), and only a call that suspends goes on as a scheduled task. So a worker serves many
LM-bound calls concurrently, a Cancel frame cancels the task itself, and inside any command
`asyncio.current_task()`, `asyncio.timeout`, `wait_for` and context variables behave as in any
asyncio program (see _start_task).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import sys
import traceback
from typing import Any
from collections.abc import Callable, Coroutine
import resource
import socket

from .._gen.dspy_bridge.v1 import worker_pb2
from ..errors import InvalidArgumentError, PayloadTooLargeError, ProtocolError, error_to_detail
from ..telemetry import _otel as _telemetry
from .._gen.dspy_bridge.v1 import values_pb2
from ..values import decode_value, encode_small_map_utf8, encode_value_raw
from ._busy_poll import BusyPoll
from ._host_calls import HostCalls
from ._framing import (
    BufferPool,
    FrameDecoder,
    FrameTooLargeError,
    OutOfBandError,
    OutOfBandFrame,
    encode_frame,
    encode_result_frame,
    out_of_band_frame,
)
from ._out_of_band import descriptors_for, raw_size, resolve_external
from .registry import Command, CommandContext, CommandRegistry

__all__ = ["WorkerProtocol", "PROTOCOL_VERSION", "rss_bytes"]

# PROTOCOL_VERSION: the frames' meaning, in every Hello (the host refuses another version);
# FRAME_OVERHEAD_BYTES: room for ids and names around a message in one frame.
from .._gen.constants import FRAME_OVERHEAD_BYTES, PROTOCOL_VERSION

# Answers queued together up to this size leave as one joined write.
_JOIN_MAX_BYTES = 1024 * 1024
# Out-of-band frames smaller than this are joined into one bytes object (one write); larger
# ones are handed to the transport piece by piece (a writev), their attachments uncopied.
_PIECES_MIN_BYTES = 256 * 1024
# The rest of a frame at least this large is read straight into its buffer (_LargeFrameReader);
# smaller remainders arrive through data_received like any other bytes.
_DIRECT_READ_MIN_BYTES = 256 * 1024
# Pooled frame buffers unused for this long are given back (checked at each health probe).
_POOL_IDLE_S = 10.0
# The worker socket's send buffer: a large answer goes into the kernel in a few writes
# instead of one per 200 KiB the default allows, each waiting for the host to read (Linux
# doubles the figure and caps it at net.core.wmem_max; a smaller cap is fine).
_SEND_BUFFER_BYTES = 4 * 1024 * 1024

WorkerFrame = worker_pb2.WorkerFrame
ExecuteResponse = worker_pb2.ExecuteResponse
StreamItem = worker_pb2.StreamItem
ExecuteRequest = worker_pb2.ExecuteRequest

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE_SIZE
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _fit(detail: Any, limit: int) -> Any:
    """Shrink an error detail that would exceed the message limit (a huge message or
    traceback), so the caller still gets a typed error instead of a dropped connection."""
    if detail.ByteSize() <= limit:
        return detail
    keep = max(256, limit // 4)
    if len(detail.message) > keep:
        detail.message = detail.message[:keep] + f"... [{len(detail.message) - keep} characters cut]"
    while len(detail.traceback) > 3 and detail.ByteSize() > limit:
        del detail.traceback[0]
    for frame in detail.traceback:
        frame.line = frame.line[:200]
    if detail.ByteSize() > limit:
        detail.details_json = "{}"
    return detail


_Task = asyncio.Task
_current_task = asyncio.current_task
# The interpreter starts a Task's first step itself (Python 3.12+).
_EAGER_START = sys.version_info >= (3, 12)

if _EAGER_START:

    def _start_task(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """A Task for `coro` whose first step runs now, before returning (the interpreter's
        eager start): a call that never suspends is finished, answered and never scheduled."""
        return _Task(coro, loop=loop, name=name, eager_start=True)

else:
    # (callback, context) of the step a Task's constructor asked `_capture` to schedule.
    _captured: list[tuple[Callable[[], Any], contextvars.Context]] = []

    def _capture(callback: Callable[[], Any], *_args: Any, context: contextvars.Context) -> None:
        _captured.append((callback, context))

    def _start_task(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """What `eager_start=True` does on 3.12+, for 3.10 and 3.11: a real Task whose first
        step runs now. A Task's constructor schedules its first step with
        `loop.call_soon(step, context=...)`; for that one call `call_soon` is `_capture`, and
        the step is run at once, in the Task's context, exactly as the loop would run it a
        turn later (the step itself makes the Task current and steps the coroutine). This
        costs less than scheduling it and taking it back off the ready queue, and works on
        asyncio's loops and uvloop's alike. Where it cannot be done (a loop without an
        instance dict, or a task already running), the Task is left scheduled: same
        semantics, one loop turn later."""
        attrs = getattr(loop, "__dict__", None)
        if attrs is None or "call_soon" in attrs or _current_task(loop) is not None:
            return _Task(coro, loop=loop, name=name)
        attrs["call_soon"] = _capture
        try:
            task = _Task(coro, loop=loop, name=name)
        finally:
            del attrs["call_soon"]
        step, context = _captured.pop()
        context.run(step)
        return task


class _StreamWindow:
    """Flow control of one stream call: items it may still send, and the event a
    StreamCredit frame sets when it adds more."""

    __slots__ = ("remaining", "credited")

    def __init__(self, window: int) -> None:
        self.remaining = window
        self.credited = asyncio.Event()

    async def acquire(self) -> None:
        """Waits (cancellably) until one more item may be sent, and takes it."""
        while self.remaining == 0:
            self.credited.clear()
            await self.credited.wait()
        self.remaining -= 1


class _LargeFrameReader(asyncio.BufferedProtocol):
    """The connection's protocol while the rest of a large frame is read: each read lands in
    the frame's own buffer (no chunk objects, no copy out of them). WorkerProtocol installs it
    when a large frame's header has arrived and takes the connection back when the frame is
    whole; the connection's end is passed on."""

    __slots__ = ("_owner",)

    def __init__(self, owner: WorkerProtocol) -> None:
        self._owner = owner

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._owner._decoder.gather_view()

    def buffer_updated(self, nbytes: int) -> None:
        self._owner._gathered(nbytes)

    def eof_received(self) -> bool | None:
        return self._owner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner.connection_lost(exc)


class WorkerProtocol(asyncio.Protocol):
    def __init__(
        self,
        *,
        worker_id: str,
        token: str,
        registry: CommandRegistry,
        max_message_bytes: int,
        on_closed: Callable[[], None],
        busy_poll_us: int = 0,
    ) -> None:
        self._worker_id = worker_id
        self._token = token
        self._registry = registry
        self._commands = registry.commands_view()
        self._max_message_bytes = max_message_bytes
        self._on_closed = on_closed
        # Frames carry a message plus a little framing (ids, names): allow for it.
        # Large frames are read into, and arrays copied to be written into, buffers used before.
        self._pool = BufferPool()
        self._decoder = FrameDecoder(max_message_bytes + FRAME_OVERHEAD_BYTES, self._pool)
        self._transport: asyncio.Transport | None = None
        # Bytes to write: whole frames, and the pieces of large out-of-band frames.
        self._out: list[Any] = []
        self._out_frames = 0
        self._flush_scheduled = False
        self._large_frame_reader = _LargeFrameReader(self)
        self._tasks: dict[int, asyncio.Task[Any]] = {}
        # Stream calls under flow control (ExecuteRequest.stream_window > 0), by call id.
        self._windows: dict[int, _StreamWindow] = {}
        # Traced calls' spans, by call id, ended with their answer (empty when not tracing).
        self._spans: dict[int, Any] = {}
        self._served = 0
        # What broke this worker, if its own code failed (not a command's): see _crash.
        self.fatal_error: BaseException | None = None
        self._loop = asyncio.get_event_loop()
        self._busy_poll = BusyPoll(self._loop, busy_poll_us)
        # This worker's own calls to the host (bridge-service RPCs) on this connection.
        self.host_calls = HostCalls(self._loop, self._send, max_message_bytes, self._send_with_attachments)

    # -- connection -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; they have the same API.
        self._transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SEND_BUFFER_BYTES)
            except OSError:
                pass  # the default buffer works, in more writes
        try:
            self._hello(transport)
        except BaseException as err:  # noqa: BLE001 - see _crash
            self._crash(err)

    def _hello(self, transport: Any) -> None:
        dspy = sys.modules.get("dspy")
        hello = worker_pb2.Hello(
            role=worker_pb2.Hello.ROLE_WORKER,
            worker_id=self._worker_id,
            pid=os.getpid(),
            token=self._token,
            protocol_version=PROTOCOL_VERSION,
            commands=self._registry.names(),
            python_version=sys.version.split()[0],
            dspy_version=getattr(dspy, "__version__", "") if dspy else "",
        )
        transport.write(encode_frame(WorkerFrame(hello=hello).SerializeToString()))

    def connection_lost(self, exc: Exception | None) -> None:
        self._busy_poll.stop()
        self.host_calls.close()
        for task in self._tasks.values():
            task.cancel()
        self._on_closed()

    def data_received(self, data: bytes) -> None:
        try:
            self._received(data)
        except BaseException as err:  # noqa: BLE001 - see _crash
            self._crash(err)

    def _crash(self, err: BaseException) -> None:
        """The worker's own code failed (a bug, not a command's error: those are answered).
        asyncio would log it, close the connection and let the worker exit with status 0,
        as if the host had closed it. Instead: the traceback goes to stderr, each line marked
        with this worker's id (the host quotes the last one, "fatal: ...", in the
        WorkerCrashedError), the connection is dropped and `fatal_error` tells the worker's
        main to exit with status 1 (fork_server._run_worker)."""
        if self.fatal_error is None:
            self.fatal_error = err
            prefix = f"[dspy-bridge worker {self._worker_id}] "
            try:
                lines = "".join(traceback.format_exception(type(err), err, err.__traceback__)).rstrip("\n").split("\n")
                summary = f"fatal: {type(err).__name__}: {err}".replace("\n", " ")
                sys.stderr.write("".join(prefix + line + "\n" for line in [*lines, summary]))
                sys.stderr.flush()
            except BaseException:  # noqa: BLE001 - stderr gone: the exit status still tells
                pass
        if self._transport is not None:
            self._transport.abort()

    def _received(self, data: bytes) -> None:
        self._busy_poll.received()
        try:
            frames = self._decoder.feed(data)
        except FrameTooLargeError as err:
            # The stream can no longer be split into frames: say why, then close.
            self._send_protocol_error(0, ProtocolError(str(err)))
            self._flush()
            assert self._transport is not None
            self._transport.close()
            return
        self._dispatch(frames)
        transport = self._transport
        if (
            self._decoder.gather_remaining() >= _DIRECT_READ_MIN_BYTES
            and transport is not None
            and not transport.is_closing()
        ):
            transport.set_protocol(self._large_frame_reader)

    def _gathered(self, nbytes: int) -> None:
        """`nbytes` more of a large frame were read into its buffer (by _LargeFrameReader)."""
        try:
            frame = self._decoder.gather_filled(nbytes)
            if frame is not None:
                assert self._transport is not None
                self._transport.set_protocol(self)
                self._busy_poll.received()
                self._dispatch([frame])
        except BaseException as err:  # noqa: BLE001 - see _crash
            self._crash(err)

    def _dispatch(self, frames: list[Any]) -> None:
        # Answers produced inline leave at the end, in one write, instead of one loop turn
        # later: marking the flush as scheduled keeps each answer from queueing a callback
        # (an extra, empty event-loop turn per batch, which sequential calls pay in full).
        already_scheduled = self._flush_scheduled
        self._flush_scheduled = True
        try:
            for raw in frames:
                if type(raw) is bytes:
                    self._handle_frame(raw)
                elif type(raw) is OutOfBandFrame:
                    self._handle_out_of_band(raw)
                elif isinstance(raw, OutOfBandError):
                    self._send_protocol_error(0, ProtocolError(f"malformed out-of-band frame: {raw}"))
                else:  # a large frame, gathered into a bytearray
                    self._handle_frame(raw)
        finally:
            self._flush_scheduled = already_scheduled
        if self._out:
            self._flush()

    # -- dispatch ---------------------------------------------------------------------
    def _handle_frame(self, raw: bytes) -> None:
        # Fast lane for the frame on every call's path: a WorkerFrame holding only an
        # execute (field 2) is parsed as its ExecuteRequest directly, skipping the wrapper
        # object (about a third of the parse cost). Anything else takes the generic path.
        n = len(raw)
        if n > 2 and raw[0] == 0x12:
            size, pos = raw[1], 2
            if size >= 0x80:
                size, pos = ((size & 0x7F) | (raw[2] << 7), 3) if raw[2] < 0x80 else (-1, 0)
            if pos + size == n:
                try:
                    # A large frame is parsed in place; a small one from a copy, which costs
                    # less than making the memoryview.
                    req = ExecuteRequest.FromString(raw[pos:] if n < 4096 else memoryview(raw)[pos:])
                except Exception:  # noqa: BLE001 - the generic path reports it
                    pass
                else:
                    self._execute(req)
                    return
        frame = WorkerFrame()
        try:
            frame.ParseFromString(raw)
        except Exception as err:  # noqa: BLE001 - any decode failure is a protocol error
            self._send_protocol_error(0, ProtocolError(f"malformed frame ({len(raw)} bytes): {err}"))
            return
        kind = frame.WhichOneof("kind")
        if kind == "execute":
            self._execute(frame.execute)
        elif kind == "host_reply":
            self.host_calls.on_reply(frame.host_reply)
        elif kind == "cancel":
            self._cancel(frame.cancel.call_id)
        elif kind == "stream_credit":
            window = self._windows.get(frame.stream_credit.call_id)
            if window is not None:  # unknown or finished calls: ignored
                window.remaining += frame.stream_credit.items
                window.credited.set()
        elif kind == "health":
            # The host probes every few seconds: buffers no call has needed since the last
            # probes are given back, so a burst of large frames does not pin its memory.
            self._pool.trim(_POOL_IDLE_S)
            reply = worker_pb2.HealthResponse(
                probe_id=frame.health.probe_id,
                rss_bytes=rss_bytes(),
                in_flight=len(self._tasks),
                served=self._served,
            )
            self._send(WorkerFrame(health_reply=reply))
        elif kind == "drain":
            self._loop.create_task(self._drain())
        else:
            self._send_protocol_error(0, ProtocolError(f"unexpected frame kind {kind!r} from host"))

    def _handle_out_of_band(self, oob: OutOfBandFrame) -> None:
        """A frame with out-of-band attachments: host -> worker, an execute (its arguments) or
        a host call's reply (its response's Values index them; the caller resolves them)."""
        frame = WorkerFrame()
        try:
            frame.ParseFromString(oob.proto)
        except Exception as err:  # noqa: BLE001 - any decode failure is a protocol error
            self._send_protocol_error(0, ProtocolError(f"malformed frame ({oob.proto.nbytes} bytes): {err}"))
            return
        kind = frame.WhichOneof("kind")
        if kind == "execute":
            self._execute(frame.execute, oob.raw)
        elif kind == "host_reply":
            self.host_calls.on_reply(frame.host_reply, oob.raw)
        else:
            self._send_protocol_error(0, ProtocolError(f"a {kind!r} frame cannot carry attachments"))

    def _execute(self, req: Any, raw: list[memoryview] | None = None) -> None:
        call_id = req.call_id
        self._served += 1
        try:
            cmd = self._commands.get(req.command) or self._registry.get(req.command)
            args_value = req.args
            json_text = args_value.json
            if raw is not None:
                try:
                    attachments = resolve_external(args_value.external, raw)
                except OutOfBandError as err:
                    raise ProtocolError(f"arguments of '{req.command}': {err}") from None
                args = decode_value(args_value, "args", attachments)
            elif json_text == "{}" or not json_text:
                args = {}
            else:
                args = decode_value(args_value, "args")
            if not isinstance(args, dict):
                raise InvalidArgumentError(
                    f"arguments of '{req.command}' must be a map of parameter names to values,"
                    f" got {type(args).__name__}"
                )
            if args or cmd.parameters:
                cmd.bind(args)
            if cmd.is_stream != req.stream:
                how = "bridge.stream()" if cmd.is_stream else "bridge.execute()"
                raise InvalidArgumentError(f"command '{cmd.name}' must be called with {how}")
            kwargs = args if cmd.context_parameter is None else self._with_context(cmd, args, req)
        except BaseException as err:  # noqa: BLE001 - reported to the caller
            self._send_error(call_id, err, req.stream)
            return
        # Traced (telemetry.setup_worker found an SDK): the command's span is current while its
        # Task is made, so the Task's context (copied then) carries it to everything it calls.
        if _telemetry._tracer is not None:
            self._execute_traced(call_id, cmd, kwargs, req)
            return
        if cmd.plain_sync and _EAGER_START:  # _start_call and _start_task inline on the busiest path
            task = _Task(self._run_sync(call_id, cmd.fn, kwargs), loop=self._loop, name=cmd.name, eager_start=True)
        else:
            task = self._start_call(call_id, cmd, kwargs, req)
        if not task.done():  # it suspended (or, on another event loop, has not started yet)
            self._track(call_id, task, cmd.is_stream)

    def _start_call(self, call_id: int, cmd: Command, kwargs: dict[str, Any], req: Any) -> asyncio.Task[Any]:
        """Each call gets a Task of its own (its own context, cancellable; named after the
        command), started eagerly."""
        if cmd.is_stream:
            return _start_task(self._loop, self._run_stream(call_id, cmd, kwargs, req.stream_window), cmd.name)
        if cmd.is_async:
            return _start_task(self._loop, self._run_async(call_id, cmd.fn, kwargs), cmd.name)
        if cmd.blocking:
            return _start_task(self._loop, self._run_blocking(call_id, cmd.fn, kwargs), cmd.name)
        return _start_task(self._loop, self._run_sync(call_id, cmd.fn, kwargs), cmd.name)

    def _execute_traced(self, call_id: int, cmd: Command, kwargs: dict[str, Any], req: Any) -> None:
        span, token = _telemetry.start_command(cmd.name, req.traceparent, req.session_id, self._worker_id)
        self._spans[call_id] = span
        try:
            task = self._start_call(call_id, cmd, kwargs, req)
        finally:
            _telemetry.detach(token)
        if not task.done():
            self._track(call_id, task, cmd.is_stream)

    def _end_span(self, call_id: int, error: BaseException | None) -> None:
        span = self._spans.pop(call_id, None)
        if span is not None:
            _telemetry.end_command(span, error)

    def _with_context(self, cmd: Command, args: dict[str, Any], req: Any) -> dict[str, Any]:
        ctx = CommandContext(
            command=cmd.name,
            call_id=req.call_id,
            session_id=req.session_id,
            worker_id=self._worker_id,
            timeout_ms=req.timeout_ms,
        )
        return {**args, cmd.context_parameter: ctx}

    def _track(self, call_id: int, task: asyncio.Task[Any], stream: bool) -> None:
        self._tasks[call_id] = task
        task.add_done_callback(lambda t: self._task_done(call_id, t, stream))

    def _answered(self, call_id: int) -> None:
        """The _run_* coroutines call this as they answer: the call is no longer in flight."""
        if self._tasks:
            self._tasks.pop(call_id, None)

    def _task_done(self, call_id: int, task: asyncio.Task[Any], stream: bool) -> None:
        if self._tasks.get(call_id) is not task:
            return  # answered by its _run_* coroutine
        # Ended without answering: cancelled before its first step (a Cancel read in the same
        # batch as its Execute, where the first step could not run eagerly), so the command
        # never started. The call is answered as cancelled all the same.
        del self._tasks[call_id]
        try:
            err = (
                asyncio.CancelledError()
                if task.cancelled()
                else (task.exception() or RuntimeError("the call ended without an answer"))
            )
            self._send_error(call_id, err, stream)
        except BaseException as err:  # noqa: BLE001 - a bug here must not go unnoticed
            self._crash(err)

    async def _run_sync(self, call_id: int, fn: Callable[..., Any], kwargs: dict[str, Any]) -> None:
        try:
            result = fn(**kwargs)
        except BaseException as err:  # noqa: BLE001 - reported to the caller
            self._answered(call_id)
            self._send_error(call_id, err, False)
            return
        if self._tasks:  # _answered inline: most sync calls finish in their first step, untracked
            self._tasks.pop(call_id, None)
        self._send_result(call_id, result)

    async def _run_async(self, call_id: int, fn: Callable[..., Any], kwargs: dict[str, Any]) -> None:
        try:
            result = await fn(**kwargs)
        except BaseException as err:  # noqa: BLE001 - includes CancelledError, reported as cancelled
            self._answered(call_id)
            self._send_error(call_id, err, False)
            return
        self._answered(call_id)
        self._send_result(call_id, result)

    async def _run_blocking(self, call_id: int, fn: Callable[..., Any], kwargs: dict[str, Any]) -> None:
        """In a thread, with a copy of the call's context (as `asyncio.to_thread` does). A
        thread cannot be interrupted: on cancellation, answer only once it has really
        finished, so the host's hard deadline (cancelGraceMs) kills a worker whose thread
        runs on, instead of believing the work stopped."""
        context = contextvars.copy_context()
        future = self._loop.run_in_executor(None, functools.partial(context.run, fn, **kwargs))
        try:
            result = await asyncio.shield(future)
        except asyncio.CancelledError as cancelled:
            try:
                await future
            except BaseException:  # noqa: BLE001 - the call is cancelled whatever the thread did
                pass
            self._answered(call_id)
            self._send_error(call_id, cancelled, False)
            return
        except BaseException as err:  # noqa: BLE001
            self._answered(call_id)
            self._send_error(call_id, err, False)
            return
        self._answered(call_id)
        self._send_result(call_id, result)

    async def _run_stream(self, call_id: int, cmd: Command, kwargs: dict[str, Any], window: int = 0) -> None:
        # Flow control: with a window, each item takes one unit of it, and the generator
        # waits (suspended at its yield) for StreamCredit frames once it is used up.
        flow = _StreamWindow(window) if window else None
        if flow is not None:
            self._windows[call_id] = flow
        gen: Any = None
        try:
            gen = cmd.fn(**kwargs)
            if cmd.is_async:
                async for item in gen:
                    if flow is not None:
                        await flow.acquire()
                    self._send_stream_item(call_id, item)
            else:
                for item in gen:
                    if flow is not None:
                        await flow.acquire()
                    self._send_stream_item(call_id, item)
                    await asyncio.sleep(0)  # let cancellation and writes through between items
        except BaseException as err:  # noqa: BLE001
            # Cancelled between items (waiting for credit, say): the generator sits at a
            # yield; close it now so its own cleanup runs, not whenever it is collected.
            await self._close_generator(gen)
            self._answered(call_id)
            self._send_error(call_id, err, True)
            return
        finally:
            if flow is not None and self._windows.get(call_id) is flow:
                del self._windows[call_id]
        self._answered(call_id)
        if self._spans:
            self._end_span(call_id, None)
        self._send(WorkerFrame(stream_item=StreamItem(call_id=call_id, end=True)))

    @staticmethod
    async def _close_generator(gen: Any) -> None:
        if gen is None:
            return
        try:
            if hasattr(gen, "aclose"):
                await gen.aclose()
            elif hasattr(gen, "close"):
                gen.close()
        except BaseException:  # noqa: BLE001 - the stream is failing anyway; its error is reported
            pass

    def _cancel(self, call_id: int) -> None:
        task = self._tasks.get(call_id)
        if task is not None:
            task.cancel()

    async def _drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._send(WorkerFrame(drained=worker_pb2.DrainResponse(in_flight=0)))

    # -- answers ----------------------------------------------------------------------
    def _send_result(self, call_id: int, result: Any) -> None:
        if self._spans:
            self._end_span(call_id, None)
        try:
            # Most results are a small map: encoded straight to UTF-8 JSON, no walk.
            json_utf8 = encode_small_map_utf8(result)
            if json_utf8 is None:
                text, attachments = encode_value_raw(result, "result")
                if not attachments:
                    json_utf8 = text.encode("utf-8")  # encode_value_raw escaped lone surrogates
            else:  # encode_value_raw's JSON text exactly; as text only if past the limit, below
                text, attachments = None, []
            if json_utf8 is not None and len(json_utf8) < self._max_message_bytes:
                self._out.append(encode_result_frame(call_id, json_utf8))
                self._out_frames += 1
                if not self._flush_scheduled:
                    self._flush_scheduled = True
                    self._loop.call_soon(self._flush)
                return
            # Attachments, or over the limit (refused by _framed with the typed error).
            if text is None:
                text = json_utf8.decode("utf-8")
            value = values_pb2.Value(json=text, external=descriptors_for(attachments))
            frame = WorkerFrame(result=ExecuteResponse(call_id=call_id, result=value))
            data = self._framed(frame.SerializeToString(), attachments, "result")
        except BaseException as err:  # noqa: BLE001
            self._send_error(call_id, err, False)
            return
        self._write_framed(data)

    def _send_stream_item(self, call_id: int, item: Any) -> None:
        text, attachments = encode_value_raw(item, "item")
        value = values_pb2.Value(json=text, external=descriptors_for(attachments))
        frame = WorkerFrame(stream_item=StreamItem(call_id=call_id, item=value))
        self._write_framed(self._framed(frame.SerializeToString(), attachments, "stream item"))

    def _framed(self, payload: bytes, attachments: list[Any], what: str) -> bytes | list[Any]:
        """The whole frame of a message and its attachments, checked against the message
        limit (which counts the attachments: they are part of the message): one bytes
        object, or for a large out-of-band frame the list of its pieces."""
        size = len(payload) + raw_size(attachments)
        if size > self._max_message_bytes:
            raise PayloadTooLargeError(
                f"{what} of {size} bytes exceeds the message limit of {self._max_message_bytes} bytes (option maxMessageBytes)",
                details={"size": size, "limit": self._max_message_bytes},
            )
        if not attachments:
            return encode_frame(payload)
        if size < _PIECES_MIN_BYTES:
            return b"".join(out_of_band_frame(payload, [a[3] for a in attachments]))
        # Written as they are (the transport holds them until the socket takes them): bytes
        # are immutable and a read-only view (an array received from the host and sent back)
        # has no writer here; anything else is copied once, into a pooled buffer, so a command
        # changing its array after returning it cannot change what is sent.
        return out_of_band_frame(payload, [self._unchanging(a[3]) for a in attachments])

    def _send_with_attachments(self, frame: Any, attachments: list[Any]) -> None:
        """A frame of this worker's own (a host call) with out-of-band attachments; the
        caller checked it against the message limit."""
        self._write_framed(self._framed(frame.SerializeToString(), attachments, "a host call"))

    def _unchanging(self, data: Any) -> Any:
        """`data` itself when nothing can change it before it is written (bytes, a read-only
        view); otherwise a copy of it in a buffer of the pool."""
        if type(data) is bytes or (type(data) is memoryview and data.readonly):
            return data
        view = memoryview(data)
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")
        copy = self._pool.take(view.nbytes)
        copy[:] = view
        return copy

    def _send_error(self, call_id: int, err: BaseException, stream: bool) -> None:
        if self._spans:
            self._end_span(call_id, err)
        detail = _fit(error_to_detail(err), self._max_message_bytes)
        if stream:
            frame = WorkerFrame(stream_item=StreamItem(call_id=call_id, error=detail))
        else:
            frame = WorkerFrame(result=ExecuteResponse(call_id=call_id, error=detail))
        self._send(frame)

    def _send_protocol_error(self, call_id: int, err: BaseException) -> None:
        self._send(WorkerFrame(protocol_error=ExecuteResponse(call_id=call_id, error=error_to_detail(err))))

    def _send(self, frame: Any) -> None:
        self._write(frame.SerializeToString())

    def _write(self, payload: bytes) -> None:
        self._write_framed(encode_frame(payload))

    def _write_framed(self, data: bytes | list[Any]) -> None:
        if type(data) is list:
            self._out.extend(data)
        else:
            self._out.append(data)
        self._out_frames += 1
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._out or self._transport is None or self._transport.is_closing():
            self._out.clear()
            self._out_frames = 0
            return
        out = self._out
        frames = self._out_frames
        self._out_frames = 0
        try:
            if len(out) == 1:
                data = out[0]
                out.clear()
                self._transport.write(data)
            elif sum(map(len, out)) <= _JOIN_MAX_BYTES:
                data = b"".join(out)
                out.clear()
                self._transport.write(data)
            else:  # large frames among them: written as they are, not joined (another copy)
                pieces = out[:]
                out.clear()
                self._transport.writelines(pieces)
            self._busy_poll.sent(frames)
        except BaseException as err:  # noqa: BLE001 - see _crash
            self._crash(err)
