"""Process lifetime guards: a worker must never outlive its host.

Two independent mechanisms, because either alone has a gap:
- the parent-death signal (Linux prctl) fires when the parent process dies, even by SIGKILL;
- the stdin watchdog: the host holds the write end of our stdin pipe and never writes after
  the token line, so EOF on stdin means the host is gone (works where prctl does not exist).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
from collections.abc import Callable

__all__ = ["become_subreaper", "reset_child_signals", "set_parent_death_signal", "start_stdin_watchdog"]

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, arg: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return int(libc.prctl(option, arg, 0, 0, 0)) == 0
    except OSError:
        return False


def become_subreaper() -> None:
    """Adopt orphaned descendants (a dead worker's children) so we can reap them: where the
    machine's init does not reap, they would otherwise linger as zombies."""
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def set_parent_death_signal(sig: int, expected_parent: int) -> None:
    """Ask the kernel to send `sig` when our parent dies; exit now if it already has."""
    _prctl(_PR_SET_PDEATHSIG, sig)
    # The parent may have died before prctl took effect; we would then have been re-parented.
    if os.getppid() != expected_parent:
        os._exit(0)


def start_stdin_watchdog(on_eof: Callable[[], None]) -> None:
    def watch() -> None:
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        on_eof()

    threading.Thread(target=watch, name="dspy-bridge-stdin-watchdog", daemon=True).start()


def reset_child_signals() -> None:
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
