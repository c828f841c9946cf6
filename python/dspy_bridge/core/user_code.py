"""Code a client may name: only the user's own.

Clients name Python objects by import path in a few places (a metric or an embedder of a DSPy
optimizer job as 'package.module:function', a Python optimizer class as
'package.module:Class'). Importing whatever a client names would hand it the interpreter
(`os:system` as a "metric"), so a named module must be the user's: one of the modules given
to the bridge (`Bridge.start({ modules })`, `serve --modules`) or a package under one of the
folders the user put on the workers' path (`pythonPath`, or their own PYTHONPATH). The
standard library, site-packages and the working directory are not the user's code.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path
from typing import Any

from ..errors import InvalidArgumentError

__all__ = ["import_user_object", "is_user_module", "register_user_modules"]

_registered: set[str] = set()
_MAX_SHOWN = 120


def register_user_modules(names: list[str]) -> None:
    """Record the modules the user gave the bridge (their packages count as the user's)."""
    _registered.update(name.split(".")[0] for name in names if name)


def _user_folders() -> list[Path]:
    """The folders of PYTHONPATH except the one holding dspy_bridge itself (the host puts
    the package's own folder first, then the user's pythonPath, then their PYTHONPATH)."""
    own = Path(__file__).resolve().parents[2]
    folders = []
    for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        if not entry:
            continue  # an empty entry would mean the working directory
        path = Path(entry).resolve()
        if path != own:
            folders.append(path)
    return folders


def is_user_module(module_name: str) -> bool:
    top = module_name.split(".")[0]
    if top in _registered:
        return True
    try:
        spec = importlib.util.find_spec(top)  # a top-level name: finds it, executes nothing
    except (ImportError, ValueError):
        return False
    if spec is None:
        return False
    locations = [spec.origin] if spec.origin and spec.origin not in ("built-in", "frozen") else []
    locations += list(spec.submodule_search_locations or [])
    folders = _user_folders()
    for location in locations:
        resolved = Path(location).resolve()
        if any(resolved.is_relative_to(folder) for folder in folders):
            return True
    return False


def _shown(text: str) -> str:
    return repr(text if len(text) <= _MAX_SHOWN else f"{text[:_MAX_SHOWN]}…")


def import_user_object(path: str, *, what: str, parameter: str) -> Any:
    """'package.module:Name.attr' (or 'package.module.name') -> the object, from the user's
    code only; InvalidArgumentError naming `parameter` otherwise."""
    if not isinstance(path, str) or not path:
        raise InvalidArgumentError(f"{what} must be 'package.module:name'", parameter=parameter)
    module_name, sep, qualname = path.partition(":")
    if not sep:
        module_name, _, qualname = path.rpartition(".")
    if (
        not module_name
        or not qualname
        or any(not part.isidentifier() for part in [*module_name.split("."), *qualname.split(".")])
    ):
        raise InvalidArgumentError(f"{what} {_shown(path)} must be 'package.module:name'", parameter=parameter)
    if importlib.util.find_spec(module_name.split(".")[0]) is None:
        raise InvalidArgumentError(
            f"{what} {_shown(path)}: cannot import module {module_name!r}: no such module on the workers' path",
            parameter=parameter,
        )
    if not is_user_module(module_name):
        raise InvalidArgumentError(
            f"{what} {_shown(path)}: module {module_name!r} is not the user's code; name a function or class in a module "
            "given to the bridge (modules: [...], serve --modules) or under its pythonPath",
            parameter=parameter,
        )
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidArgumentError(
            f"{what} {_shown(path)}: cannot import {module_name!r} in the worker: {exc}", parameter=parameter
        ) from None
    for part in qualname.split("."):
        if part.startswith("_"):
            raise InvalidArgumentError(f"{what} {_shown(path)}: {part!r} is private", parameter=parameter)
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise InvalidArgumentError(
                f"{what} {_shown(path)}: {module_name!r} has no {qualname!r}", parameter=parameter
            ) from None
    return obj
