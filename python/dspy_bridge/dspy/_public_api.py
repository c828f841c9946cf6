"""Which objects a client may reach by name through `dspy.describe` and `dspy.call`.

A dotted name from the wire is not an eval, but `getattr` walks are powerful: DSPy's modules
import `os`, `subprocess`, `pickle` and more, so `dspy.utils.os.system` would reach a shell.
The rule: every step of the walk must be DSPy's own — a module of the `dspy` package, or a
class, function or object defined in one — and public (no `_` names). Plain data (strings,
numbers, lists and dicts of them) may be read wherever it is. A few of DSPy's own entry points
are refused too, each for a stated reason: they load pickles, run code or change settings
every session in the worker shares.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from ..errors import InvalidArgumentError, NotFoundError

__all__ = ["REFUSED", "resolve_public"]

REFUSED: dict[str, str] = {
    "dspy.load": "it can unpickle a file (arbitrary code); save and load programs as JSON state with session.programs.save/load",
    "dspy.utils.saving": "it can unpickle a file (arbitrary code); save and load programs as JSON state with session.programs.save/load",
    "dspy.PythonInterpreter": "it runs code; use the ProgramOfThought module, whose interpreter is the bridge's sandboxed subprocess",
    "dspy.primitives.python_interpreter": "it runs code; use the ProgramOfThought module, whose interpreter is the bridge's sandboxed subprocess",
    "dspy.configure": "it changes settings every session in the worker shares; pass `lm` per call or use configureLM on the host",
    "dspy.configure_cache": "it changes the cache every session in the worker shares (and writes files)",
    "dspy.settings": "it holds settings every session in the worker shares; pass `lm` per call or use configureLM on the host",
    "dspy.dsp.utils.settings": "it holds settings every session in the worker shares; pass `lm` per call or use configureLM on the host",
}

_MAX_SHOWN = 120


def _shown(target: str) -> str:
    return repr(target if len(target) <= _MAX_SHOWN else f"{target[:_MAX_SHOWN]}…")


def _is_dspy_name(name: Any) -> bool:
    return isinstance(name, str) and (name == "dspy" or name.startswith("dspy."))


def _is_plain_data(value: Any, depth: int = 0) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if depth > 4:
        return False
    if type(value) in (list, tuple):
        return all(_is_plain_data(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(isinstance(k, str) and _is_plain_data(v, depth + 1) for k, v in value.items())
    return False


def _is_dspy_own(obj: Any) -> bool:
    if inspect.ismodule(obj):
        return _is_dspy_name(obj.__name__)
    if inspect.isclass(obj) or inspect.isfunction(obj):
        return _is_dspy_name(getattr(obj, "__module__", None))
    if inspect.ismethod(obj):
        return _is_dspy_name(getattr(obj.__func__, "__module__", None))
    if callable(obj) and not inspect.isclass(type(obj)):
        return False
    # An instance: its class decides (a builtin method or a foreign object is not DSPy's).
    return _is_dspy_name(getattr(type(obj), "__module__", None)) and not inspect.isbuiltin(obj)


def resolve_public(target: Any) -> Any:
    """`dspy.X.Y` -> the object, by the rule above; InvalidArgumentError names what was refused."""
    if not isinstance(target, str) or not _is_dspy_name(target):
        raise InvalidArgumentError(
            f"target must be a public name in dspy (e.g. 'dspy.ChainOfThought'), got {_shown(str(target))}",
            parameter="target",
        )
    parts = target.split(".")
    obj: Any = importlib.import_module("dspy")
    for i, part in enumerate(parts[1:], start=1):
        path = ".".join(parts[: i + 1])
        if not part or part.startswith("_"):
            raise InvalidArgumentError(f"{_shown(target)}: {_shown(part)} is not a public name", parameter="target")
        if path in REFUSED:
            raise InvalidArgumentError(f"{path} is not callable from the host: {REFUSED[path]}", parameter="target")
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise NotFoundError(f"{_shown(path)} does not exist", details={"target": target[:_MAX_SHOWN]}) from None
        last = i == len(parts) - 1
        if not _is_dspy_own(obj) and not (last and _is_plain_data(obj)):
            owner = (
                getattr(obj, "__name__", None)
                if inspect.ismodule(obj)
                else getattr(obj, "__module__", None) or type(obj).__module__
            )
            raise InvalidArgumentError(
                f"{_shown(path)} is not part of DSPy's API (it comes from {owner!r}); only DSPy's own modules, classes and functions can be reached",
                parameter="target",
            )
    return obj
