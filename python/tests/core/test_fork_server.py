"""The real fork server as a subprocess; this test plays the host."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from wire_helpers import PYTHON_ROOT, WorkerFrame, execute_frame

from dspy_bridge._gen.dspy_bridge.v1 import worker_pb2
from dspy_bridge.core._framing import FrameDecoder, encode_frame
from dspy_bridge.values import decode_value

TOKEN = "fork-test-token-7f3a"
TIMEOUT = 20.0  # generous: only reached when something is broken

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and Linux process groups")


class Conn:
    """A blocking framed connection with a deadline per read."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.settimeout(TIMEOUT)
        self._decoder = FrameDecoder(64 * 1024 * 1024)
        self._pending: list[bytes] = []

    def send(self, frame: WorkerFrame) -> None:
        self.sock.sendall(encode_frame(frame.SerializeToString()))

    def read(self) -> WorkerFrame:
        while not self._pending:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("peer closed the connection")
            self._pending.extend(self._decoder.feed(data))
        return WorkerFrame.FromString(self._pending.pop(0))

    def at_eof(self) -> bool:
        while True:
            if not self.sock.recv(65536):
                return True


def _gone(pid: int) -> bool:
    """True when the process no longer exists or is a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    state = stat.rsplit(")", 1)[1].split()[0]
    return state in ("Z", "X")


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.01)
    return _gone(pid)


@pytest.fixture
def sock_dir() -> Iterator[str]:
    # Short path: AF_UNIX paths are limited to ~107 bytes and pytest's tmp_path can be long.
    d = tempfile.mkdtemp(prefix="dspyb-", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _listen(directory: str) -> tuple[str, socket.socket]:
    """A listening Unix socket ``host.sock`` in ``directory``: the host end."""
    path = os.path.join(directory, "host.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(8)
    listener.settimeout(TIMEOUT)
    return path, listener


def _start_fork_server(path: str, *args: str) -> subprocess.Popen[bytes]:
    """The fork server connecting to ``path`` (no preload), with a pipe on stdin for the token."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PYTHON_ROOT), env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-m", "dspy_bridge.core.fork_server", "--socket", path, "--preload", "", *args],
        stdin=subprocess.PIPE,
        env=env,
    )


def _stop(proc: subprocess.Popen[bytes], conns: list[socket.socket]) -> None:
    """Closes the host's sockets and the fork server's stdin; kills it if still running."""
    for s in conns:
        s.close()
    if proc.stdin is not None and not proc.stdin.closed:
        proc.stdin.close()
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_fork_server_lifecycle(sock_dir: str) -> None:
    path, listener = _listen(sock_dir)
    proc = _start_fork_server(path, "--modules", "", "--max-message-bytes", str(4 * 1024 * 1024))
    conns: list[socket.socket] = [listener]
    worker_pids: list[int] = []
    try:
        assert proc.stdin is not None
        proc.stdin.write(f"{TOKEN}\n".encode())
        proc.stdin.flush()  # and keep it open: EOF means "the host died"

        # --- the fork server introduces itself
        fs_sock, _ = listener.accept()
        conns.append(fs_sock)
        fs = Conn(fs_sock)
        hello = fs.read()
        assert hello.WhichOneof("kind") == "hello"
        assert hello.hello.role == worker_pb2.Hello.ROLE_FORK_SERVER
        assert hello.hello.pid == proc.pid
        assert hello.hello.token == TOKEN, "the token read from stdin is echoed for the host to check"
        assert hello.hello.dspy_version == "", "--preload '' must not import DSPy"

        # --- two workers
        fs.send(WorkerFrame(fork=worker_pb2.ForkRequest(worker_id="w-1")))
        fs.send(WorkerFrame(fork=worker_pb2.ForkRequest(worker_id="w-2")))
        forked: dict[str, int] = {}
        for _ in range(2):
            frame = fs.read()
            assert frame.WhichOneof("kind") == "forked", frame
            assert frame.forked.error == ""
            assert frame.forked.pid > 0
            forked[frame.forked.worker_id] = frame.forked.pid
        assert set(forked) == {"w-1", "w-2"}
        worker_pids.extend(forked.values())
        assert len(set(forked.values())) == 2, "distinct pids"
        assert proc.pid not in forked.values()

        workers: dict[str, Conn] = {}
        for _ in range(2):
            s, _ = listener.accept()
            conns.append(s)
            c = Conn(s)
            frame = c.read()
            assert frame.WhichOneof("kind") == "hello"
            h = frame.hello
            assert h.role == worker_pb2.Hello.ROLE_WORKER
            assert h.token == TOKEN
            assert h.worker_id in forked and h.worker_id not in workers
            assert h.pid == forked[h.worker_id], "the worker's own pid matches the ForkResponse"
            assert {"ping", "echo", "sleep"} <= set(h.commands)
            workers[h.worker_id] = c
        for wid, pid in forked.items():
            assert os.getpgid(pid) == pid, f"{wid} leads its own process group"
            assert os.getpgid(pid) != os.getpgid(proc.pid)

        # --- a call on each worker
        w1 = workers["w-1"]
        w1.send(execute_frame(1, "ping"))
        res = w1.read()
        assert res.result.call_id == 1 and decode_value(res.result.result) == {"ok": True}
        workers["w-2"].send(execute_frame(7, "worker_info"))
        info = decode_value(workers["w-2"].read().result.result)
        assert info["worker_id"] == "w-2"
        assert info["pid"] == forked["w-2"] and info["pgid"] == forked["w-2"]

        # --- a worker killed by SIGKILL is reported
        os.kill(forked["w-1"], signal.SIGKILL)
        frame = fs.read()
        assert frame.WhichOneof("kind") == "worker_exited", frame
        exited = frame.worker_exited
        assert exited.worker_id == "w-1"
        assert exited.pid == forked["w-1"]
        assert exited.signal == signal.SIGKILL
        assert exited.exit_code == 0
        assert w1.at_eof(), "the dead worker's connection is closed"
        assert _wait_gone(forked["w-1"], 2.0)

        # --- the host "dies": stdin EOF takes down the fork server and every worker
        assert not _gone(forked["w-2"])
        proc.stdin.close()
        deadline = time.monotonic() + 2.0
        proc.wait(timeout=2.0)
        assert _wait_gone(forked["w-2"], max(0.0, deadline - time.monotonic())), "the remaining worker is gone"
        assert fs.at_eof()
        assert workers["w-2"].at_eof()
    finally:
        _stop(proc, conns)
        for pid in worker_pids:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass


def test_worker_exit_code_is_reported(sock_dir: str) -> None:
    """A worker that exits on its own (its host connection closed) is reported with exit
    code 0 and no signal; one that SIGKILLs itself (the crash builtin) with signal 9."""
    path, listener = _listen(sock_dir)
    proc = _start_fork_server(path)
    conns: list[socket.socket] = [listener]
    try:
        assert proc.stdin is not None
        proc.stdin.write(f"{TOKEN}\n".encode())
        proc.stdin.flush()
        fs_sock, _ = listener.accept()
        conns.append(fs_sock)
        fs = Conn(fs_sock)
        assert fs.read().hello.role == worker_pb2.Hello.ROLE_FORK_SERVER

        fs.send(WorkerFrame(fork=worker_pb2.ForkRequest(worker_id="w-a")))
        pid_a = fs.read().forked.pid
        s, _ = listener.accept()
        conns.append(s)
        wa = Conn(s)
        assert wa.read().hello.worker_id == "w-a"
        # Closing the host end of a worker's connection makes the worker exit cleanly (0).
        s.close()
        frame = fs.read()
        assert frame.WhichOneof("kind") == "worker_exited"
        assert (frame.worker_exited.worker_id, frame.worker_exited.pid) == ("w-a", pid_a)
        assert (frame.worker_exited.exit_code, frame.worker_exited.signal) == (0, 0)

        fs.send(WorkerFrame(fork=worker_pb2.ForkRequest(worker_id="w-b")))
        pid_b = fs.read().forked.pid
        s, _ = listener.accept()
        conns.append(s)
        wb = Conn(s)
        assert wb.read().hello.worker_id == "w-b"
        wb.send(execute_frame(1, "crash"))
        frame = fs.read()
        assert frame.WhichOneof("kind") == "worker_exited"
        assert (frame.worker_exited.worker_id, frame.worker_exited.pid) == ("w-b", pid_b)
        assert frame.worker_exited.signal == signal.SIGKILL

        # Closing the fork server's connection (host gone) also makes it exit.
        fs_sock.close()
        assert proc.wait(timeout=5.0) == 0
    finally:
        _stop(proc, conns)
