"""Putting the bridge's memos in place of DSPy's own functions, and DSPy's back.

Shared by the per-call memos (_call_memos) and the engine memos (_engine_memos): each stands
in for DSPy functions only on a DSPy release whose sources were read and recorded, and each
must be removable, so that the tests can compare results with and without it.
"""

from __future__ import annotations

import sys
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
