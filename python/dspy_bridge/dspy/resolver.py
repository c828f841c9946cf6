"""Dynamic module selection: a ``module``-type session variable names the DSPy module to use.

``ModuleVariableResolver(ctx)`` turns the value of such a variable (``"ChainOfThought"``,
``"COT"``, ``"cot"``, ``"dspy.ReAct"``, ``"PoT"``, ...) into a module class, or an instance of
its variable-aware version bound to the same session. ``create_variable_aware_module``
builds one from a name or class and applies bindings.
"""

from __future__ import annotations

import logging
import re
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import dspy

from ._removed import DEPRECATED_MODULES
from ._session_access import MISSING, fetch_async, unwrap_context
from .exceptions import ValidationError, VariableNotFoundError
from .variable_aware import (
    VariableAwareBestOfN,
    VariableAwareChainOfThought,
    VariableAwareMixin,
    VariableAwareMultiChainComparison,
    VariableAwarePredict,
    VariableAwareProgramOfThought,
    VariableAwareReAct,
    VariableAwareRefine,
    make_variable_aware,
    variable_aware_class,
)
from .exceptions import SessionError

__all__ = ["ModuleSpec", "ModuleVariableResolver", "create_variable_aware_module"]

logger = logging.getLogger(__name__)


@dataclass
class ModuleSpec:
    """A registered module type: its DSPy class, its variable-aware class (None: made on
    demand with ``variable_aware_class``), whether it takes a session context, aliases, and
    for a name DSPy removed, the notice that says what is used instead."""

    name: str
    module_class: type
    variable_aware_class: type | None = None
    requires_context: bool = True
    aliases: tuple[str, ...] = field(default_factory=tuple)
    deprecated: str | None = None

    def aware_class(self) -> type:
        if self.variable_aware_class is not None:
            return self.variable_aware_class
        if isinstance(self.module_class, type) and issubclass(self.module_class, VariableAwareMixin):
            return self.module_class
        return variable_aware_class(self.module_class)


def _norm(name: str) -> str:
    """Lookup key: case-insensitive, ``dspy.`` prefix and ``_``/``-``/spaces ignored."""
    name = name.strip()
    if name.lower().startswith("dspy."):
        name = name[5:]
    return re.sub(r"[\s_\-]", "", name).lower()


class _Registry(dict):  # type: ignore[type-arg]
    """``MODULE_REGISTRY``: a dict of canonical names that also answers aliases and loose
    spellings (``MODULE_REGISTRY["COT"]``, ``"cot" in MODULE_REGISTRY``), as DSPex's
    registry, which lists ``'COT'`` as a key of its own, does."""

    def __missing__(self, key: Any) -> ModuleSpec:
        try:
            return ModuleVariableResolver.lookup(key, warn=False)
        except (ValidationError, TypeError):
            raise KeyError(key) from None

    def __contains__(self, key: object) -> bool:
        if dict.__contains__(self, key):
            return True
        try:
            ModuleVariableResolver.lookup(key, warn=False)
        except (ValidationError, TypeError):
            return False
        return True

    def get(self, key: Any, default: Any = None) -> Any:
        return self[key] if key in self else default


def _standard_registry() -> dict[str, ModuleSpec]:
    specs = [
        ModuleSpec("Predict", dspy.Predict, VariableAwarePredict),
        ModuleSpec("ChainOfThought", dspy.ChainOfThought, VariableAwareChainOfThought, aliases=("COT", "CoT")),
        ModuleSpec("ReAct", dspy.ReAct, VariableAwareReAct),
        ModuleSpec("ProgramOfThought", dspy.ProgramOfThought, VariableAwareProgramOfThought, aliases=("PoT", "POT")),
        ModuleSpec(
            "MultiChainComparison", dspy.MultiChainComparison, VariableAwareMultiChainComparison, aliases=("MCC",)
        ),
        ModuleSpec("BestOfN", dspy.BestOfN, VariableAwareBestOfN),
        ModuleSpec("Refine", dspy.Refine, VariableAwareRefine),
    ]
    # Names DSPy removed, listed as DSPex lists them, mapped to their current equivalent.
    for old, (new, notice) in DEPRECATED_MODULES.items():
        current = next(s for s in specs if s.name == new)
        specs.append(ModuleSpec(old, current.module_class, current.variable_aware_class, deprecated=notice))
    return _Registry({s.name: s for s in specs})


class ModuleVariableResolver:
    """Resolves module-type variables to DSPy module classes and instances.

    ``MODULE_REGISTRY`` (shared by all resolvers) maps canonical names to ``ModuleSpec``;
    lookups also accept each spec's aliases (COT/CoT → ChainOfThought, PoT → ProgramOfThought,
    MCC → MultiChainComparison), any letter case, a ``dspy.`` prefix and ``_``/``-``
    separators. An unknown name raises ``ValidationError`` (a ``ValueError``) listing the
    available modules.

    Resolutions are cached per variable together with the value they came from, and the value
    itself is read through the session's watch-fed cache: a repeated resolution costs no round
    trip, and a changed variable is never served a stale class.
    """

    MODULE_REGISTRY: ClassVar[dict[str, ModuleSpec]] = {}  # filled below the class (its lookups need the class)
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, session_context: Any) -> None:
        self.session_context = session_context
        self._ctx = unwrap_context(session_context)
        self._module_cache: dict[str, tuple[Any, ModuleSpec]] = {}

    # ------------------------------------------------------------------------------------
    # Registry

    @classmethod
    def register_module(
        cls,
        name: str,
        module_class: type,
        variable_aware_class: type | None = None,
        *,
        aliases: tuple[str, ...] = (),
        requires_context: bool = True,
    ) -> ModuleSpec:
        """Registers (or replaces) a module type under ``name`` (plus ``aliases``). Any class is
        accepted, as in DSPex (a ``dspy.Module`` or not); a ``variable_aware_class`` is
        instantiated with ``session_context=...``, so it should take that keyword (any
        ``VariableAwareMixin`` class does)."""
        if not isinstance(name, str) or not name.strip():
            raise ValidationError("name must be a non-empty string", parameter="name")
        if not isinstance(module_class, type):
            raise ValidationError(f"module_class must be a class, got {module_class!r}", parameter="module_class")
        if variable_aware_class is not None and not isinstance(variable_aware_class, type):
            raise ValidationError(
                f"variable_aware_class must be a class, got {variable_aware_class!r}", parameter="variable_aware_class"
            )
        spec = ModuleSpec(name, module_class, variable_aware_class, requires_context, tuple(aliases))
        with cls._lock:
            cls.MODULE_REGISTRY[name] = spec
        logger.info("registered module type %s", name)
        return spec

    @classmethod
    def unregister_module(cls, name: str) -> bool:
        with cls._lock:
            return cls.MODULE_REGISTRY.pop(name, None) is not None

    @classmethod
    def get_available_modules(cls) -> list[str]:
        """The registered names (canonical, sorted)."""
        return sorted(cls.MODULE_REGISTRY)

    @classmethod
    def get_aliases(cls) -> dict[str, str]:
        """``{alias: canonical name}``."""
        return {a: s.name for s in cls.MODULE_REGISTRY.values() for a in s.aliases}

    @classmethod
    def lookup(cls, module_name: Any, *, warn: bool = True) -> ModuleSpec:
        """The spec registered for ``module_name`` (exact name, alias, or normalized match).
        A name DSPy removed (``ChainOfThoughtWithHint``) gives its current equivalent's spec
        with a ``DeprecationWarning``."""
        if not isinstance(module_name, str) or not module_name.strip():
            raise ValidationError(
                f"a module name must be a non-empty string, got {module_name!r}", parameter="module_name"
            )
        registry = cls.MODULE_REGISTRY
        spec = dict.get(registry, module_name)
        if spec is None:
            want = _norm(module_name)
            for key, candidate in list(registry.items()):
                if (
                    _norm(key) == want
                    or _norm(candidate.name) == want
                    or any(_norm(a) == want for a in candidate.aliases)
                ):
                    spec = candidate
                    break
        if spec is not None:
            if spec.deprecated and warn:
                warnings.warn(spec.deprecated, DeprecationWarning, stacklevel=3)
                logger.warning("%s", spec.deprecated)
            return spec
        available = ", ".join(cls.get_available_modules())
        aliases = ", ".join(f"{a}→{n}" for a, n in sorted(cls.get_aliases().items()))
        raise ValidationError(
            f"Unknown module type: {module_name!r}. Available modules: {available}"
            + (f" (aliases: {aliases})" if aliases else ""),
            parameter="module_name",
            details={"module": module_name, "available": cls.get_available_modules()},
        )

    # ------------------------------------------------------------------------------------
    # Resolution

    async def _module_name(self, variable_name: str) -> Any:
        if self._ctx is None:
            raise SessionError("ModuleVariableResolver has no session context")
        values = await fetch_async(self._ctx, [variable_name])
        value = values.get(variable_name, MISSING)
        if value is MISSING:
            raise VariableNotFoundError(variable_name, session_id=getattr(self._ctx, "session_id", None))
        if isinstance(value, Mapping):  # {"name": "ChainOfThought", ...}
            value = value.get("name") or value.get("module") or value.get("type")
        return value

    async def resolve_spec(self, variable_name: str) -> ModuleSpec:
        """The ``ModuleSpec`` the variable currently names (cached while its value holds)."""
        value = await self._module_name(variable_name)
        cached = self._module_cache.get(variable_name)
        if cached is not None and cached[0] == value:
            return cached[1]
        spec = self.lookup(value)
        self._module_cache[variable_name] = (value, spec)
        return spec

    async def resolve_module(self, variable_name: str) -> type:
        """The DSPy module class named by the module-type variable ``variable_name``.

        Raises ``ValidationError`` (``ValueError``) for an unknown module and
        ``VariableNotFoundError`` (``KeyError``) for a missing variable."""
        return (await self.resolve_spec(variable_name)).module_class

    async def create_module(
        self,
        variable_name: str,
        *args: Any,
        use_variable_aware: bool = True,
        variable_bindings: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """An instance of the module the variable names: its variable-aware version bound to
        this resolver's session (unless ``use_variable_aware=False``), built with ``*args`` /
        ``**kwargs`` (LM parameters such as ``temperature=0.7`` go to its predictors'
        config), then bound with ``variable_bindings`` if given."""
        spec = await self.resolve_spec(variable_name)
        if use_variable_aware:
            module_class = spec.aware_class()
            if spec.requires_context:
                kwargs.setdefault("session_context", self.session_context)
        else:
            module_class = spec.module_class
            if variable_bindings:
                raise ValidationError("variable_bindings need use_variable_aware=True", parameter="variable_bindings")
        try:
            module = module_class(*args, **kwargs)
        except Exception:
            logger.error("failed to create %s", spec.name)
            raise
        if variable_bindings:
            await module.bind_to_variables(dict(variable_bindings))
        return module

    def clear_cache(self) -> None:
        self._module_cache.clear()


ModuleVariableResolver.MODULE_REGISTRY = _standard_registry()


async def create_variable_aware_module(
    session_context: Any,
    module_type: str | type | Any,
    *args: Any,
    variable_bindings: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> Any:
    """A variable-aware module bound to ``session_context``.

    ``module_type`` is a registered name or alias (``"ChainOfThought"``, ``"cot"``), a
    ``dspy.Module`` class (made variable-aware if it is not) or a module instance (converted
    in place with ``make_variable_aware``). ``variable_bindings`` ``{attribute: variable}``
    are applied with one read.
    """
    if isinstance(module_type, str):
        module = ModuleVariableResolver.lookup(module_type).aware_class()(
            *args, session_context=session_context, **kwargs
        )
    elif isinstance(module_type, type):
        module = variable_aware_class(module_type)(*args, session_context=session_context, **kwargs)
    elif isinstance(module_type, dspy.Module):
        if args or kwargs:
            raise ValidationError("constructor arguments make no sense with a module instance", parameter="module_type")
        module = make_variable_aware(module_type, session_context)
    else:
        raise ValidationError(
            f"module_type must be a name, a dspy.Module class or instance, got {module_type!r}", parameter="module_type"
        )
    if variable_bindings:
        await module.bind_to_variables(dict(variable_bindings))
    return module
