"""The fork server: imports DSPy, its LM engines (and the user's command modules) once, then forks workers.

Started by the TypeScript host as `python -m dspy_bridge.core.fork_server` would be, but
without the host's working directory on sys.path (ts/src/pool/python-launch.ts). Importing DSPy
takes about a second of CPU; four workers importing it independently on two cores take
twice as long as one. Forking from a process that has already imported it makes every
worker ready in milliseconds (bench/startup.mjs measures it). The same goes for what DSPy's
two LM engines import on their first real call (LiteLLM: seconds and ~120 MB per worker):
`_lm_engines` imports it here, so it is shared and a worker's first call is fast.

Protocol: the host writes the per-host secret as the first line of our stdin and nothing
after it. We connect to the host's Unix socket, send Hello(role=FORK_SERVER), then answer
each ForkRequest with the pid of a new worker, which connects back by itself and introduces
itself with the worker id it was given.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import os
import select
import signal
import socket
import sys
import time
from typing import Any

from .._gen.constants import DEFAULT_MAX_MESSAGE_BYTES
from .._gen.dspy_bridge.v1 import worker_pb2
from . import _host_calls, _lifecycle, _lm_engines
from ._framing import FrameDecoder, encode_frame
from ._malloc_tuning import keep_freed_memory
from .user_code import register_user_modules
from .registry import default_registry
from .server import WorkerProtocol
from . import host
from . import server
from ..telemetry import setup_worker

WorkerFrame = worker_pb2.WorkerFrame

_children: set[int] = set()
# Reaped workers not yet reported to the host: (pid, wait status).
_exited: list[tuple[int, int]] = []


def _reap(_signum: int = 0, _frame: Any = None) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _children.discard(pid)
        _exited.append((pid, status))
        # A worker that died leaves its own children behind in its process group: end
        # them too. The group id cannot be reused while any member is alive.
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass


def _kill_children_and_exit(*_args: Any) -> None:
    """Kill every worker's process group, reap them (so no zombie outlives us, even where
    the adoptive init does not reap), then exit."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    pending = set(_children)
    for pid in pending:
        try:
            os.killpg(pid, signal.SIGKILL)  # each worker leads its own process group
        except OSError:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    deadline = time.monotonic() + 2.0
    while pending and time.monotonic() < deadline:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.005)
        else:
            pending.discard(pid)
    os._exit(0)


def _run_worker(args: argparse.Namespace, worker_id: str, token: str, zygote_pid: int) -> None:
    """Runs in the forked child; never returns."""
    code = 0
    try:
        os.setpgid(0, 0)
        _lifecycle.reset_child_signals()
        _lifecycle.set_parent_death_signal(signal.SIGKILL, zygote_pid)
        _lifecycle.start_stdin_watchdog(lambda: os._exit(0))
        setup_worker()  # OpenTelemetry, if the application registered an SDK (it was imported before the fork)
        # Large values reuse the heap's pages. Here, not in the fork server: what the imports
        # freed there is still handed back, and each worker keeps only what it frees itself.
        keep_freed_memory()

        try:
            import uvloop  # type: ignore[import-not-found]

            loop = uvloop.new_event_loop()
        except ImportError:
            loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        closed = loop.create_future()
        made_protocols: list[WorkerProtocol] = []

        def on_closed() -> None:
            if not closed.done():
                closed.set_result(None)

        async def main() -> None:
            def protocol() -> WorkerProtocol:
                made = WorkerProtocol(
                    worker_id=worker_id,
                    token=token,
                    registry=default_registry,
                    max_message_bytes=args.max_message_bytes,
                    on_closed=on_closed,
                    busy_poll_us=args.busy_poll_us,
                )
                # Code on this loop reaches the host over this connection (_host_calls).
                _host_calls.install(made.host_calls)
                made_protocols.append(made)
                return made

            await loop.create_unix_connection(protocol, args.socket)
            await closed

        loop.run_until_complete(main())
        if made_protocols and made_protocols[0].fatal_error is not None:
            code = 1  # the worker's own code failed; WorkerProtocol._crash has logged it
    except BaseException as err:  # noqa: BLE001 - a child must never fall back into the zygote loop
        print(f"[dspy-bridge worker {worker_id}] fatal: {err!r}", file=sys.stderr, flush=True)
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m dspy_bridge.core.fork_server")
    parser.add_argument("--socket", required=True, help="host Unix socket path")
    parser.add_argument("--preload", default="dspy", help="comma-separated modules imported before forking")
    parser.add_argument("--modules", default="", help="comma-separated user modules that register commands")
    parser.add_argument("--max-message-bytes", type=int, default=DEFAULT_MAX_MESSAGE_BYTES)
    parser.add_argument(
        "--busy-poll-us", type=_non_negative, default=0, help="busy-poll window after a lone answer, µs (0: off)"
    )
    args = parser.parse_args()

    host_pid = os.getppid()
    token = sys.stdin.buffer.readline().decode().strip()
    # Before anything can import LiteLLM or load DSPy's model metadata: no model cost map
    # from the internet unless the environment asks for it (the host applies the same rule).
    _lm_engines.local_cost_map_default()

    host._set_worker_token(token, args.max_message_bytes)
    _lifecycle.set_parent_death_signal(signal.SIGTERM, host_pid)
    _lifecycle.become_subreaper()
    signal.signal(signal.SIGTERM, _kill_children_and_exit)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the host decides
    signal.signal(signal.SIGCHLD, _reap)
    _lifecycle.start_stdin_watchdog(lambda: os.kill(os.getpid(), signal.SIGTERM))

    from . import builtins as _builtins  # noqa: F401 - registers ping, echo, sleep, ...
    from ..session import commands as _session_commands  # noqa: F401 - registers session.*
    from ..tools import commands as _tools_commands  # noqa: F401 - registers tools.*
    from ..optimize import commands as _optimize_commands  # noqa: F401 - registers optimize.*

    preload = [m.strip() for m in args.preload.split(",") if m.strip()]
    for name in preload:
        if name == "litellm":
            # LiteLLM as DSPy uses it, with what its first call would import (_lm_engines).
            _lm_engines.warm_litellm()
        else:
            importlib.import_module(name)
    if "dspy" in preload:
        importlib.import_module("dspy_bridge.dspy.commands")  # registers the dspy.* commands
        _lm_engines.warm_native()  # DSPy's own LM client: what its first call would import
        from ..dspy import _call_memos, _engine_memos, _lookup_cache

        _lookup_cache.install()  # DSPy's model-metadata lookups memoized once, for every worker
        _call_memos.install()  # and what its native engine rebuilds on every call
        _engine_memos.install()  # and the engine choice it makes again on every call
        # One call per preloaded engine against a local stub: what a first call builds lazily
        # is built here, once, and shared (_lm_engines).
        _lm_engines.warm_up_calls(
            ("lm15", "litellm") if "litellm" in preload and "litellm" in sys.modules else ("lm15",)
        )
    user_modules = [m.strip() for m in args.modules.split(",") if m.strip()]
    register_user_modules(user_modules)  # the code clients may name (metrics, optimizers)
    for name in user_modules:
        importlib.import_module(name)

    # Everything imported so far (DSPy, LiteLLM, pydantic models, ...) lives as long as the
    # process: moved out of the collector's generations, it is no longer scanned by every
    # full collection in every worker (about 15% more zero-latency Predict calls per second
    # with 32 in flight per worker), and its pages stay shared with the workers after fork.
    gc.collect()
    gc.freeze()
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(args.socket)
    dspy = sys.modules.get("dspy")

    hello = worker_pb2.Hello(
        role=worker_pb2.Hello.ROLE_FORK_SERVER,
        pid=os.getpid(),
        token=token,
        protocol_version=server.PROTOCOL_VERSION,
        python_version=sys.version.split()[0],
        dspy_version=getattr(dspy, "__version__", "") if dspy else "",
    )
    conn.sendall(encode_frame(WorkerFrame(hello=hello).SerializeToString()))
    decoder = FrameDecoder(1024 * 1024)
    zygote_pid = os.getpid()
    worker_ids: dict[int, str] = {}
    # SIGCHLD wakes select() through this pipe, so exits are reported at once.
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    while True:
        readable, _, _ = select.select([conn, wake_r], [], [])
        if wake_r in readable:
            os.read(wake_r, 4096)
            _reap()
        while _exited:
            pid, status = _exited.pop(0)
            code = os.waitstatus_to_exitcode(status)
            exited = worker_pb2.WorkerExited(
                worker_id=worker_ids.pop(pid, ""),
                pid=pid,
                exit_code=max(code, 0),
                signal=-code if code < 0 else 0,
            )
            conn.sendall(encode_frame(WorkerFrame(worker_exited=exited).SerializeToString()))
        if conn not in readable:
            continue
        data = conn.recv(65536)
        if not data:
            _kill_children_and_exit()
        for raw in decoder.feed(data):
            frame = WorkerFrame.FromString(raw)
            if frame.WhichOneof("kind") != "fork":
                continue
            worker_id = frame.fork.worker_id
            try:
                pid = os.fork()
            except OSError as err:
                reply = worker_pb2.ForkResponse(worker_id=worker_id, error=str(err))
            else:
                if pid == 0:
                    signal.set_wakeup_fd(-1)
                    os.close(wake_r)
                    os.close(wake_w)
                    conn.close()
                    _run_worker(args, worker_id, token, zygote_pid)
                _children.add(pid)
                worker_ids[pid] = worker_id
                reply = worker_pb2.ForkResponse(worker_id=worker_id, pid=pid)
            conn.sendall(encode_frame(WorkerFrame(forked=reply).SerializeToString()))


if __name__ == "__main__":
    main()
