"""Run ProgramOfThought's generated code in plain CPython subprocesses (no Deno, no network).

DSPy's default ``dspy.PythonInterpreter`` runs code in Pyodide under Deno, which needs Deno
installed (and, the first time, a download). :class:`SubprocessInterpreter` implements the same
``dspy.primitives.code_interpreter.CodeInterpreter`` protocol with the local Python instead:

    pot = dspy.ProgramOfThought(sig, interpreter_factory=SubprocessInterpreter)
    # or, for every code-executing module that carries no factory of its own:
    dspy.configure(interpreter_factory=SubprocessInterpreter)
    # or with options:
    pot = make_program_of_thought(sig, timeout=5, memory_limit_mb=256)

Each ``execute()`` runs the snippet in a fresh ``python -I`` child process, with:

- a wall-clock timeout (default 10 s): the child's whole process group is killed;
- resource limits where ``resource.setrlimit`` exists (POSIX): address space
  (``memory_limit_mb``, default 1024), CPU seconds (timeout + 1, a backstop), file size (64 MiB)
  and no core dumps;
- sockets disabled inside the child unless ``allow_network=True``;
- a fresh empty working directory (deleted afterwards) and a minimal environment (the host's
  variables, API keys included, are not inherited).

This is **process isolation, not a security sandbox**: the child runs as the host user, can read
any file that user can read, and can start processes; the network block patches Python's socket
module, which ctypes or a spawned process can get around. Run only code you would run yourself,
or use the Deno/Pyodide ``PythonInterpreter`` (or an OS-level sandbox) for untrusted code.

Results follow ``PythonInterpreter`` exactly: the value of a trailing expression if it is not
``None``, else the captured stdout (``""`` if nothing was printed); ``SUBMIT(...)`` returns a
``FinalOutput`` (``{"output": value}`` for the default one-argument ``SUBMIT``, or one key per
declared output field); a syntax error raises ``SyntaxError("Invalid Python syntax. message:
...")``; an exception in the code raises ``CodeExecutionError("<Type>: <args>")``. A timeout or a
crashed child raises :class:`SubprocessTimeoutError` / :class:`SubprocessCrashError`, both
``CodeExecutionError`` subclasses, because the next snippet gets a fresh process anyway: so
ProgramOfThought feeds the error back to the LM and retries. Only a failure to start Python
at all, or use after ``shutdown()``, raises the terminal ``CodeInterpreterError``.

State between ``execute()`` calls: every call is a new process, so imports, functions and
objects do not survive. With ``persist_variables=True`` (the default) the JSON-compatible
top-level variables a snippet leaves behind (numbers, strings, lists, dicts, ...) are
re-injected into the next snippet, which is what ProgramOfThought and most code loops need.
Host tools (``interpreter.tools``, used by ``dspy.RLM``) are not supported: use
``dspy.LocalInterpreter`` for those.
"""

from __future__ import annotations

import functools
import json
import keyword
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any
from collections.abc import Callable
import dataclasses

import dspy
from dspy.primitives.code_interpreter import CodeExecutionError, CodeInterpreterError, FinalOutput

__all__ = [
    "SubprocessCrashError",
    "SubprocessInterpreter",
    "SubprocessTimeoutError",
    "make_program_of_thought",
]


class SubprocessTimeoutError(CodeExecutionError):
    """The snippet ran past the timeout; its process group was killed. Recoverable: the next
    ``execute()`` starts a new process."""


class SubprocessCrashError(CodeExecutionError):
    """The child exited (a signal, ``os._exit``, the memory limit, ...) without reporting a
    result. Recoverable: the next ``execute()`` starts a new process."""


# The program every child runs (trusted code, passed with -c). It reads one JSON request on
# stdin, applies the limits, runs the snippet and writes one JSON result to a file the parent
# named, so nothing the snippet prints or writes to fd 1/2 can corrupt the protocol.
_RUNNER = r"""
import ast, builtins, inspect, io, json, sys

_request = json.loads(sys.stdin.read())
_result_path = _request["result_path"]

def _limit(name, value):
    try:
        import resource
        which = getattr(resource, name)
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, hard))
    except Exception:
        pass

if _request.get("memory_bytes"):
    _limit("RLIMIT_AS", _request["memory_bytes"])
if _request.get("cpu_seconds"):
    _limit("RLIMIT_CPU", _request["cpu_seconds"])
_limit("RLIMIT_FSIZE", 64 * 1024 * 1024)
_limit("RLIMIT_CORE", 0)

if not _request.get("allow_network"):
    import socket as _socket_mod, _socket

    def _blocked(*args, **kwargs):
        raise PermissionError("network access is disabled in SubprocessInterpreter (allow_network=False)")

    class _NoSocket(_socket_mod.socket):
        def __init__(self, family=-1, *args, **kwargs):
            if family in (-1, _socket_mod.AF_INET, _socket_mod.AF_INET6):
                _blocked()
            super().__init__(family, *args, **kwargs)

    _socket_mod.socket = _NoSocket
    _socket.socket = _NoSocket
    for _name in ("create_connection", "getaddrinfo", "gethostbyname", "gethostbyname_ex", "create_server", "socketpair"):
        if hasattr(_socket_mod, _name):
            setattr(_socket_mod, _name, _blocked)
    for _name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "socketpair"):
        if hasattr(_socket, _name):
            setattr(_socket, _name, _blocked)


class _DSPyFinalOutput(BaseException):
    pass


_fields = _request.get("output_fields") or []
if _fields:
    _names = [f["name"] for f in _fields]
    _src = "def SUBMIT({0}):\n    raise _DSPyFinalOutput({{{1}}})\n".format(
        ", ".join(_names), ", ".join(repr(n) + ": " + n for n in _names))
else:
    _src = "def SUBMIT(output):\n    raise _DSPyFinalOutput({'output': output})\n"
_ns = {"__name__": "__main__", "__builtins__": builtins, "_DSPyFinalOutput": _DSPyFinalOutput}
exec(_src, _ns)
_ns.update(_request.get("variables") or {})
_injected = set(_ns)


def _jsonable(value, depth=0):
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else repr(value)
    if depth > 50:
        return repr(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, depth + 1) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [_jsonable(v, depth + 1) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return _jsonable(dump(mode="json"), depth + 1)
        except Exception:
            pass
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and getattr(value, "shape", None) == ():
        try:
            return _jsonable(item(), depth + 1)
        except Exception:
            pass
    tolist = getattr(value, "tolist", None)  # numpy arrays
    if callable(tolist):
        try:
            return _jsonable(tolist(), depth + 1)
        except Exception:
            pass
    return repr(value)


def _persistable():
    out = {}
    for name, value in list(_ns.items()):
        if name.startswith("_") or name == "SUBMIT" or inspect.ismodule(value) or callable(value):
            continue
        try:
            text = json.dumps(value, allow_nan=False)
            if len(text) <= 1_000_000:
                out[name] = value
        except Exception:
            pass
    return out


def _finish(result):
    try:
        result["globals"] = _persistable()
    except Exception:
        result["globals"] = {}
    try:
        text = json.dumps(result)
    except Exception:
        result["globals"] = {}
        text = json.dumps(_jsonable(result))
    with open(_result_path, "w", encoding="utf-8") as fh:
        fh.write(text)
    # os._exit: threads the snippet left running must not keep the process alive.
    sys.stdout.flush()
    import os
    os._exit(0)


_stdout, _stderr = io.StringIO(), io.StringIO()
try:
    _tree = ast.parse(_request["code"], "<code>", "exec")
    _last = _tree.body.pop() if _tree.body and isinstance(_tree.body[-1], ast.Expr) else None
    _flags = getattr(ast, "PyCF_ALLOW_TOP_LEVEL_AWAIT", 0)
    _body = compile(_tree, "<code>", "exec", flags=_flags)
    _expr = compile(ast.Expression(_last.value), "<code>", "eval", flags=_flags) if _last is not None else None
except SyntaxError as exc:
    _finish({"status": "syntax_error", "message": "{0} (<code>, line {1})".format(exc.msg, exc.lineno)})


def _run(code_obj):
    value = eval(code_obj, _ns)
    if inspect.iscoroutine(value):
        import asyncio
        value = asyncio.run(value)
    return value


_real_stdout, _real_stderr = sys.stdout, sys.stderr
sys.stdout, sys.stderr = _stdout, _stderr
try:
    _run(_body)
    _value = _run(_expr) if _expr is not None else None
except _DSPyFinalOutput as exc:
    sys.stdout, sys.stderr = _real_stdout, _real_stderr
    _finish({"status": "final", "final": _jsonable(exc.args[0] if exc.args else None)})
except BaseException as exc:
    sys.stdout, sys.stderr = _real_stdout, _real_stderr
    _finish({"status": "error", "type": type(exc).__name__, "args": _jsonable(list(exc.args)),
             "message": str(exc), "stdout": _stdout.getvalue()})
sys.stdout, sys.stderr = _real_stdout, _real_stderr
_finish({"status": "ok", "output": _stdout.getvalue() if _value is None else _jsonable(_value)})
"""


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) or name == "SUBMIT":
        raise CodeInterpreterError(f"Invalid variable name: {name!r}")


def _to_json_compatible(value: Any) -> Any:
    """Variables cross the process boundary as JSON; convert what has an obvious JSON form."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        raise CodeInterpreterError(f"Unsupported value: {value!r} (not finite) cannot be passed to the subprocess")
    if isinstance(value, dict):
        return {str(k): _to_json_compatible(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json_compatible(v) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [_to_json_compatible(v) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return _to_json_compatible(dump(mode="json"))

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _to_json_compatible(dataclasses.asdict(value))
    raise CodeInterpreterError(
        f"Unsupported value type: {type(value).__name__} (variables must be JSON-compatible to reach the subprocess)"
    )


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


class SubprocessInterpreter:
    """A ``CodeInterpreter`` that runs each snippet in a fresh ``python -I`` subprocess.

    Args:
        timeout: Wall-clock seconds per ``execute()`` (startup included). On expiry the child's
            process group is killed and :class:`SubprocessTimeoutError` is raised.
        memory_limit_mb: Address-space limit for the child (``RLIMIT_AS``), or ``None`` for none.
            Ignored where ``resource`` is unavailable (Windows).
        allow_network: Leave Python's sockets usable in the child (default: disabled).
        persist_variables: Re-inject the JSON-compatible top-level variables a snippet leaves
            into the next ``execute()`` of this interpreter.
        output_fields: Optional ``[{"name": ..., "type": ...}]`` for a typed ``SUBMIT(a, b)``
            (as ``PythonInterpreter``); without it ``SUBMIT(output)`` takes one value.
        python: The Python executable (default: ``sys.executable``).
        env: Extra environment variables for the child (the host environment is not inherited).
    """

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        memory_limit_mb: int | None = 1024,
        allow_network: bool = False,
        persist_variables: bool = True,
        output_fields: list[dict[str, Any]] | None = None,
        python: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        if timeout is None or timeout <= 0:
            raise ValueError("timeout must be a positive number of seconds")
        if memory_limit_mb is not None and memory_limit_mb <= 0:
            raise ValueError("memory_limit_mb must be positive or None")
        self.timeout = float(timeout)
        self.memory_limit_mb = memory_limit_mb
        self.allow_network = allow_network
        self.persist_variables = persist_variables
        self.output_fields = [dict(f) for f in output_fields] if output_fields else None
        self.python = python or sys.executable
        self.env = dict(env or {})
        self._tools: dict[str, Callable[..., Any]] = {}
        self._state: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen] = set()
        self._ended = False

    # -- CodeInterpreter protocol -------------------------------------------------------

    @property
    def tools(self) -> dict[str, Callable[..., Any]]:
        """Host tools. Always empty: this interpreter cannot call back into the host."""
        return self._tools

    def start(self) -> None:
        """Nothing to pre-warm (every snippet gets its own process); refuses after shutdown."""
        if self._ended:
            raise CodeInterpreterError("SubprocessInterpreter has been shut down.")

    def execute(self, code: str, variables: dict[str, Any] | None = None) -> Any:
        """Run ``code`` in a new subprocess; see the module docstring for results and errors."""
        self.start()
        if not isinstance(code, str):
            raise CodeInterpreterError("code must be a string")
        if self._tools:
            raise CodeInterpreterError(
                "SubprocessInterpreter does not support host tools; use dspy.LocalInterpreter for tool calls."
            )
        with self._lock:
            merged = dict(self._state) if self.persist_variables else {}
        for name, value in (variables or {}).items():
            _check_name(name)
            merged[name] = _to_json_compatible(value)

        with tempfile.TemporaryDirectory(prefix="dspy-bridge-pot-") as tmp:
            workdir = Path(tmp, "work")
            workdir.mkdir()
            result_path = Path(tmp, "result.json")
            request = {
                "code": code,
                "variables": merged,
                "output_fields": self.output_fields,
                "allow_network": self.allow_network,
                "memory_bytes": self.memory_limit_mb * 1024 * 1024 if self.memory_limit_mb else None,
                "cpu_seconds": math.ceil(self.timeout) + 1,
                "result_path": str(result_path),
            }
            stdout, stderr, returncode = self._run_child(json.dumps(request), workdir)
            try:
                result = json.loads(result_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                result = None

        if result is None:
            detail = (stderr or stdout or b"").decode("utf-8", "replace").strip()[-2000:]
            raise SubprocessCrashError(
                f"ProcessCrashed: the Python subprocess {_describe_exit(returncode)} before reporting a result"
                + (f"; stderr: {detail}" if detail else "")
            )
        if self.persist_variables and isinstance(result.get("globals"), dict):
            with self._lock:
                self._state.update(result["globals"])

        status = result.get("status")
        if status == "ok":
            return result.get("output")
        if status == "final":
            return FinalOutput(result.get("final"))
        if status == "syntax_error":
            raise SyntaxError(f"Invalid Python syntax. message: {result.get('message')}")
        if status == "error":
            raise CodeExecutionError(f"{result.get('type', 'Error')}: {result.get('args') or result.get('message')}")
        raise CodeInterpreterError(f"Malformed result from the Python subprocess: {result!r}")

    def shutdown(self) -> None:
        """End the session: kill any snippet still running and refuse further ``execute()``."""
        self._ended = True
        with self._lock:
            running = list(self._running)
            self._state.clear()
        for proc in running:
            self._kill(proc)

    # -- conveniences ------------------------------------------------------------------

    def __call__(self, code: str, variables: dict[str, Any] | None = None) -> Any:
        return self.execute(code, variables)

    def __enter__(self) -> SubprocessInterpreter:
        return self

    def __exit__(self, *_: Any) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return (
            f"SubprocessInterpreter(timeout={self.timeout}, memory_limit_mb={self.memory_limit_mb}, "
            f"allow_network={self.allow_network})"
        )

    # -- internals ---------------------------------------------------------------------

    def _child_env(self, workdir: Path) -> dict[str, str]:
        env = {
            "PATH": os.defpath,
            "HOME": str(workdir),
            "TMPDIR": str(workdir),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            # Keep numeric libraries from spawning a thread (and an address-space arena) per core.
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
        if os.name == "nt" and "SYSTEMROOT" in os.environ:
            env["SYSTEMROOT"] = os.environ["SYSTEMROOT"]
        env.update(self.env)
        return env

    def _run_child(self, request: str, workdir: Path) -> tuple[bytes, bytes, int]:
        try:
            proc = subprocess.Popen(
                [self.python, "-I", "-c", _RUNNER],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=workdir,
                env=self._child_env(workdir),
                start_new_session=os.name == "posix",
                creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0) if os.name == "nt" else 0,
            )
        except OSError as exc:
            raise CodeInterpreterError(f"Unable to start the Python subprocess {self.python!r}: {exc}") from exc
        with self._lock:
            self._running.add(proc)
        try:
            try:
                stdout, stderr = proc.communicate(request.encode("utf-8"), timeout=self.timeout)
            except subprocess.TimeoutExpired:
                self._kill(proc)
                proc.communicate()
                raise SubprocessTimeoutError(
                    f"TimeoutError: code execution exceeded the {self.timeout:g} s limit; the process was killed"
                ) from None
        finally:
            with self._lock:
                self._running.discard(proc)
        if self._ended and proc.returncode and proc.returncode < 0:
            raise CodeInterpreterError("SubprocessInterpreter was shut down during execution.")
        return stdout, stderr, proc.returncode

    @staticmethod
    def _kill(proc: subprocess.Popen) -> None:
        if proc.poll() is not None:
            return
        try:
            if os.name == "posix":
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
        except (ProcessLookupError, PermissionError, OSError):
            try:
                proc.kill()
            except OSError:
                pass


def make_program_of_thought(signature: Any, *, max_iters: int = 3, **interpreter_options: Any) -> dspy.ProgramOfThought:
    """``dspy.ProgramOfThought(signature)`` whose code runs in :class:`SubprocessInterpreter`.

    ``interpreter_options`` go to ``SubprocessInterpreter`` (``timeout``, ``memory_limit_mb``,
    ``allow_network``, ...); ProgramOfThought creates (and shuts down) one interpreter per call.
    """
    factory = functools.partial(SubprocessInterpreter, **interpreter_options)
    return dspy.ProgramOfThought(signature, max_iters=max_iters, interpreter_factory=factory)
