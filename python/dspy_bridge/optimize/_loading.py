"""Optimizer classes travel between processes by import path ("package.module:Qualified.Name"),
never pickled: the workers import the class themselves."""

from __future__ import annotations

import importlib
from typing import Any

from ..core.user_code import import_user_object
from ..errors import InvalidArgumentError

# This package's own optimizers (the built-in TPE) travel by import path like a user's.
_OWN_PREFIX = "dspy_bridge.optimize."

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
    """The class at 'package.module:ClassName', from the user's code or this package's own
    optimizers only (see dspy_bridge.core.user_code): a client names it."""
    if not isinstance(path, str) or ":" not in path:
        raise InvalidArgumentError(f"{what} {str(path)[:120]!r} must be 'package.module:ClassName'", parameter=what)
    if path.startswith(_OWN_PREFIX):
        module_name, _, qualname = path.partition(":")
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part, None)
        if obj is None:
            raise InvalidArgumentError(f"no {what} {path!r}", parameter=what)
        return obj
    return import_user_object(path, what=what, parameter=what)
