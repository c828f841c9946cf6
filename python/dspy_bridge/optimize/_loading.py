"""Optimizer classes travel between processes by import path ("package.module:Qualified.Name"),
never pickled: the workers import the class themselves."""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import InvalidArgumentError

__all__ = ["class_path_of", "load_class"]


def class_path_of(cls: Any, what: str = "optimizer_class") -> str:
    """The import path of ``cls``; InvalidArgumentError if the workers could not import it."""
    if isinstance(cls, str):
        module, _, qualname = cls.partition(":")
        if not module or not qualname:
            raise InvalidArgumentError(f"{what} {cls!r} must be 'package.module:ClassName'", parameter=what)
        return cls
    module = getattr(cls, "__module__", None)
    qualname = getattr(cls, "__qualname__", None)
    if not module or not qualname:
        raise InvalidArgumentError(f"{what} must be a class or 'package.module:ClassName', got {cls!r}", parameter=what)
    if module == "__main__" or "<locals>" in qualname:
        where = "a script's __main__" if module == "__main__" else "a function body"
        raise InvalidArgumentError(
            f"{what} {qualname} is defined in {where}: the workers import optimizer classes, so define it at the top "
            "level of a module on their path (serve --modules/--python-path, Bridge.start({ modules, pythonPath }))",
            parameter=what,
        )
    return f"{module}:{qualname}"


def load_class(path: str, what: str = "optimizer_class") -> Any:
    module_name, _, qualname = path.partition(":")
    if not module_name or not qualname:
        raise InvalidArgumentError(f"{what} {path!r} must be 'package.module:ClassName'", parameter=what)
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as err:
        raise InvalidArgumentError(f"cannot import {what} {path!r} in the worker: {err}", parameter=what) from err
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise InvalidArgumentError(f"module {module_name!r} has no {qualname!r} ({what} {path!r})", parameter=what) from None
    return obj
