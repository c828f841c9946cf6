"""Putting the bridge's memos in place of DSPy's own functions, and DSPy's back.

Shared by the per-call memos (_call_memos) and the engine memos (_engine_memos): each stands
in for DSPy functions only on a DSPy release whose sources were read and recorded, and each
must be removable, so that the tests can compare results with and without it.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Any


def verified(versions: dict[str, str], digest: Callable[[], str]) -> bool:
    """Whether the installed DSPy is one of `versions` (version -> sha256 of the functions a
    memo stands in for) with those very sources (`digest()`, read only for a known version)."""
    import dspy

    expected = versions.get(getattr(dspy, "__version__", ""))
    return expected is not None and digest() == expected


class Replacements:
    """The attributes a memo module has replaced, so that `restore` puts each back."""

    def __init__(self) -> None:
        self._done: list[tuple[Any, str, Any]] = []  # (module or class, name, what was there)

    def set(self, owner: Any, name: str, value: Any) -> None:
        self._done.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    def rebind(self, original: Any, replacement: Any, name: str, prefix: str = "dspy") -> None:
        """Every module under `prefix` whose `name` is `original` gets `replacement`: DSPy's
        modules import many functions by name, so replacing only the defining one is not enough."""
        for module_name, module in list(sys.modules.items()):
            if (module_name == prefix or module_name.startswith(prefix + ".")) and module is not None:
                if getattr(module, name, None) is original:
                    self.set(module, name, replacement)

    def restore(self) -> None:
        while self._done:
            owner, name, original = self._done.pop()
            setattr(owner, name, original)


class MemoSwitch:
    """Whether one memo module's replacements are in place, and the one way to put them there or
    take them away: on unless its environment variable says off, and only on a verified DSPy."""

    def __init__(
        self,
        env: str,
        versions: dict[str, str],
        digest: Callable[[], str],
        put_in_place: Callable[[Replacements], None],
    ) -> None:
        self.env = env
        self._versions = versions
        self._digest = digest
        self._put_in_place = put_in_place
        self._lock = threading.Lock()  # a worker's threads may configure DSPy at the same time
        self._installed = False
        self._replacements = Replacements()

    def enabled(self) -> bool:
        return os.environ.get(self.env, "1").strip().lower() not in ("0", "false", "no", "off")

    def installed(self) -> bool:
        """Whether this process runs the memos (installed, switched on, DSPy version verified)."""
        return self._installed

    def install(self) -> bool:
        """Put the memos in place. Idempotent; returns whether they are."""
        with self._lock:
            if self._installed:
                return True
            if not self.enabled() or not verified(self._versions, self._digest):
                return False
            self._put_in_place(self._replacements)
            self._installed = True
            return True

    def uninstall(self) -> None:
        """DSPy's own functions back (the tests compare results with and without the memos)."""
        with self._lock:
            self._replacements.restore()
            self._installed = False
