"""Each public module's ``__all__`` names exactly its public members (the httpx-style check)."""

from __future__ import annotations

import importlib
import inspect
from types import ModuleType
from typing import Any

import pytest

PUBLIC_MODULES = ["dspy_bridge.core", "dspy_bridge.values", "dspy_bridge.errors"]


def _defined_in_package(obj: Any) -> bool:
    """Objects from this package, or plain data (constants, mappings) that carry no module.

    Names imported from elsewhere (``typing.Any``, ``json``, ``Mapping``, ``annotations``)
    are not part of a module's public surface.
    """
    module = getattr(obj, "__module__", None)
    if module is None:
        return True
    return module == "dspy_bridge" or module.startswith("dspy_bridge.")


def _public_members(module: ModuleType) -> set[str]:
    return {
        name
        for name, obj in vars(module).items()
        if not name.startswith("_") and not inspect.ismodule(obj) and _defined_in_package(obj)
    }


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_all_names_exist(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert isinstance(module.__all__, list)
    assert len(module.__all__) == len(set(module.__all__)), "no duplicates"
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_all_public_members_are_exported(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert sorted(_public_members(module)) == sorted(module.__all__)


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_star_import_gives_exactly_all(module_name: str) -> None:
    namespace: dict[str, Any] = {}
    exec(f"from {module_name} import *", namespace)  # noqa: S102
    namespace.pop("__builtins__")
    module = importlib.import_module(module_name)
    assert set(namespace) == set(module.__all__)
    for name in module.__all__:
        assert namespace[name] is getattr(module, name)


def test_core_exports_are_the_registry_objects() -> None:
    from dspy_bridge import core
    from dspy_bridge.core import registry

    for name in core.__all__:
        assert getattr(core, name) is getattr(registry, name)
