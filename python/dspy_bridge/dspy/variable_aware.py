"""Variable-aware DSPy modules: module parameters bound to session variables.

``VariableAwareMixin`` makes a ``dspy.Module`` read some of its parameters from variables of a
host session (through ``SessionContext``) and keep them current before every call. A binding
``module.bind_to_variable(attribute, variable)`` reaches DSPy in one of three ways, chosen by
the attribute's name:

* **LM parameters** (``temperature``, ``max_tokens``, ``n``, ``top_p``, ``stop``, ... — see
  ``LM_PARAMETERS``; any other key as ``"config.<key>"``): written into the ``config`` of
  *every* ``dspy.Predict`` inside the module (``named_predictors()``: ChainOfThought's
  ``predict``, ReAct's ``react`` and ``extract.predict``, all predictors of a user module).
  ``Predict`` passes its ``config`` to the LM call, so the LM receives the bound value.
* **``model``**: each call runs under ``dspy.context(lm=lm.copy(model=value))`` where ``lm``
  is the current ``dspy.settings.lm`` (the copy is cached per LM and model); predictors with
  an LM of their own get ``predictor.lm = predictor.lm.copy(model=value)``.
* **anything else**: a plain attribute of the module (``setattr``; dotted paths such as
  ``"react.max_iters"`` walk sub-objects) — e.g. ReAct's ``max_iters``, BestOfN's ``N``.

Auto-sync (default on) runs before each call (``module(...)``, ``acall``, ``forward_async``):
it compares the context's ``revision`` (advanced by its background watch) with the revision of
the last sync and does nothing when they match; otherwise it takes the values from the
watch-fed cache, and only a value that is not cached costs a round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
import functools
import inspect
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

import dspy

from ._session_access import (
    DEFAULT_TIMEOUT,
    MISSING,
    changed_since,
    context_revision,
    fetch_async,
    fetch_blocking,
    is_native,
    unwrap_context,
)
from .exceptions import SessionError, ValidationError, VariableNotFoundError
from .interpreter import SubprocessInterpreter

__all__ = [
    "AwaitablePrediction",
    "LM_PARAMETERS",
    "SyncCallback",
    "VariableAwareBestOfN",
    "VariableAwareChainOfThought",
    "VariableAwareMixin",
    "VariableAwareMultiChainComparison",
    "VariableAwarePredict",
    "VariableAwareProgramOfThought",
    "VariableAwareReAct",
    "VariableAwareRefine",
    "make_variable_aware",
    "variable_aware_class",
]

logger = logging.getLogger(__name__)

SyncCallback = Callable[[str, Any, Any], Any]
"""``callback(attribute, old_value, new_value)``, called when a sync changes a bound value."""

LM_PARAMETERS: frozenset[str] = frozenset(
    {
        "temperature",
        "max_tokens",
        "max_completion_tokens",
        "top_p",
        "top_k",
        "n",
        "stop",
        "presence_penalty",
        "frequency_penalty",
        "seed",
        "logprobs",
        "top_logprobs",
        "rollout_id",
        "reasoning_effort",
        "response_format",
        "logit_bias",
        "timeout",
        "num_retries",
    }
)
"""Attribute names routed into every predictor's ``config`` (the LM call's kwargs)."""

_CONFIG_PREFIX = "config."
_MODEL = "model"
_ROUTE_ATTRIBUTE, _ROUTE_CONFIG, _ROUTE_MODEL = "attribute", "config", "model"

_UNSET: Any = object()

# id() of the module whose sync was already done for the current call (forward_async runs
# the call on an executor thread after syncing on the loop).
_PRESYNCED: contextvars.ContextVar[int] = contextvars.ContextVar("dspy_bridge_presynced", default=0)

# id()s of the variable-aware modules whose __call__/acall is running in this context: their
# forward() is then DSPy's (called by Module.__call__ or by a subclass's super().forward()).
_IN_CALL: contextvars.ContextVar[tuple[int, ...]] = contextvars.ContextVar("dspy_bridge_in_call", default=())


class AwaitablePrediction(dspy.Prediction):
    """The ``dspy.Prediction`` a variable-aware module's ``forward(...)`` returns when called
    directly: a Prediction in every way, that may also be awaited (giving itself), since code
    written for DSPex does ``result = await module.forward(question=...)``. The call has already run
    (synchronously) when it is awaited; ``await module.acall(...)`` or
    ``await module.forward_async(...)`` do not hold the event loop."""

    def __await__(self) -> Any:
        return self
        yield  # makes this a generator: `await` gets self at once


def _awaitable(result: Any) -> Any:
    if type(result) is dspy.Prediction:
        result.__class__ = AwaitablePrediction
    return result


def _routed_forward(forward: Callable[..., Any]) -> Callable[..., Any]:
    """A subclass's own ``forward``, made safe to call directly like the mixin's (see
    ``VariableAwareMixin.forward``): DSPy's calls (and ``super().forward()`` chains) reach it
    as is."""

    @functools.wraps(forward)
    def routed(self: Any, *args: Any, **kwargs: Any) -> Any:
        if id(self) in _IN_CALL.get():
            return forward(self, *args, **kwargs)
        return _awaitable(self(*args, **kwargs))

    routed._dspy_bridge_routed = True  # type: ignore[attr-defined]
    return routed


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - arrays and other odd equality
        return False


class _Restore:
    """What bindings replaced in predictors, to put back on unbind. Not a list or dict on
    purpose: ``named_parameters`` must not find the predictors it refers to."""

    __slots__ = ("config", "lms", "model_lm")

    def __init__(self) -> None:
        self.config: dict[str, list[tuple[Any, bool, Any]]] = {}
        self.lms: list[tuple[Any, Any]] = []
        self.model_lm: tuple[Any, Any, Any] | None = None  # (base lm, model, copy)

    def __deepcopy__(self, memo: dict[int, Any]) -> _Restore:
        new = _Restore()
        new.config = copy.deepcopy(self.config, memo)
        new.lms = copy.deepcopy(self.lms, memo)
        return new

    def _shape(self) -> tuple[Any, ...]:
        """What would be put back, whatever the objects it goes to (a copy restores its own
        copies of the predictors)."""
        config = {key: [(had, old) for _predictor, had, old in saved] for key, saved in self.config.items()}
        return (config, len(self.lms), self.model_lm is not None)

    def __eq__(self, other: object) -> bool:
        # DSPy compares a module's copy with the original by __dict__ (Module.deepcopy's tests):
        # restores are equal when they would restore the same values.
        if not isinstance(other, _Restore):
            return NotImplemented
        try:
            return bool(self._shape() == other._shape())
        except Exception:  # noqa: BLE001 - values without a plain equality (arrays)
            return False

    __hash__ = None  # type: ignore[assignment]  # mutable


class VariableAwareMixin:
    """Mixin making a DSPy module's parameters follow session variables.

    Put it first among the bases (``class MyQA(VariableAwareMixin, dspy.Module)``) or convert
    an existing module with :func:`make_variable_aware`. The constructor takes two keyword
    arguments of its own, ``session_context`` (a ``SessionContext`` or
    ``SyncSessionContext``) and ``auto_sync`` (default True); the rest go to the DSPy module.
    LM parameters (``temperature=...``) given to a module whose constructor has no
    ``**config`` (ReAct, BestOfN, Refine) are put into its predictors' ``config``.

    See the module docstring for how a binding reaches the LM call.
    """

    LM_PARAMETERS: ClassVar[frozenset[str]] = LM_PARAMETERS

    _session_context: Any
    _ctx: Any
    _variable_bindings: dict[str, str]
    _last_sync: dict[str, Any]
    _sync_callbacks: list[SyncCallback]
    _binding_callbacks: dict[str, list[SyncCallback]]
    _auto_sync: bool
    _synced_revision: int
    _va_restore: _Restore

    def __init__(self, *args: Any, session_context: Any = None, auto_sync: bool = True, **kwargs: Any) -> None:
        self._init_variable_state(session_context, auto_sync)
        static = self._split_static_lm_kwargs(kwargs)
        super().__init__(*args, **kwargs)
        if static:
            for predictor in self._predictors():
                predictor.config.update(static)
        if self._ctx is not None:
            logger.debug(
                "variable-aware %s initialized with session %s",
                type(self).__name__,
                getattr(self._ctx, "session_id", None),
            )

    def _init_variable_state(self, session_context: Any = None, auto_sync: bool = True) -> None:
        d = self.__dict__
        d["_session_context"] = session_context
        d["_ctx"] = unwrap_context(session_context)
        d["_variable_bindings"] = {}
        d["_last_sync"] = {}
        d["_sync_callbacks"] = []
        d["_binding_callbacks"] = {}
        d["_auto_sync"] = bool(auto_sync)
        d["_synced_revision"] = -1
        d["_va_restore"] = _Restore()

    def _split_static_lm_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            params = inspect.signature(super().__init__).parameters  # type: ignore[misc]
        except (TypeError, ValueError):
            return {}
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return {}
        return {k: kwargs.pop(k) for k in list(kwargs) if k in self.LM_PARAMETERS and k not in params}

    # ------------------------------------------------------------------------------------
    # Session

    @property
    def session_context(self) -> Any:
        """The session context given to this module (None if none)."""
        return self.__dict__.get("_session_context")

    @session_context.setter
    def session_context(self, session_context: Any) -> None:
        self.__dict__["_session_context"] = session_context
        self.__dict__["_ctx"] = unwrap_context(session_context)
        self.__dict__["_synced_revision"] = -1

    @property
    def auto_sync(self) -> bool:
        return self._auto_sync

    @auto_sync.setter
    def auto_sync(self, value: bool) -> None:
        self._auto_sync = bool(value)

    def _require_ctx(self) -> Any:
        ctx = self.__dict__.get("_ctx")
        if ctx is None:
            raise SessionError(
                f"No session context available: {type(self).__name__} was made without one; pass session_context=... "
                "(a SessionContext) to the constructor or to make_variable_aware()"
            )
        if is_native(ctx) and ctx.closed:
            raise SessionError(f"the session context of {type(self).__name__} is closed")
        return ctx

    # ------------------------------------------------------------------------------------
    # Binding

    def _route(self, attribute: str) -> str:
        if attribute == _MODEL:
            return _ROUTE_MODEL
        if attribute.startswith(_CONFIG_PREFIX) or attribute in self.LM_PARAMETERS:
            return _ROUTE_CONFIG
        return _ROUTE_ATTRIBUTE

    @staticmethod
    def _config_key(attribute: str) -> str:
        return attribute[len(_CONFIG_PREFIX) :] if attribute.startswith(_CONFIG_PREFIX) else attribute

    def _check_binding(self, attribute: Any, variable_name: Any) -> None:
        if not isinstance(attribute, str) or not attribute.strip(".") or attribute == _CONFIG_PREFIX:
            raise ValidationError(f"attribute must be a non-empty name, got {attribute!r}", parameter="attribute")
        if not isinstance(variable_name, str) or not variable_name:
            raise ValidationError(
                f"variable_name must be a non-empty string, got {variable_name!r}", parameter="variable_name"
            )

    async def bind_to_variable(
        self, attribute: str, variable_name: str, sync_callback: SyncCallback | None = None
    ) -> None:
        """Binds ``attribute`` to the session variable ``variable_name`` and applies its value.

        ``sync_callback(attribute, old, new)`` is called now if the attribute had a value
        (not None) that differs (a first value is not a change), and on every later sync that
        changes this attribute. Raises ``VariableNotFoundError`` (a ``KeyError`` and a
        ``ValueError``: "Variable 'x' not found") if the variable does not exist,
        ``SessionError`` (a ``RuntimeError``) without a session context.
        """
        await self.bind_to_variables({attribute: variable_name}, sync_callback)

    async def bind_to_variables(self, bindings: Mapping[str, str], sync_callback: SyncCallback | None = None) -> None:
        """Several bindings ``{attribute: variable_name}`` with one read (cache or one round
        trip); all or none (a missing variable binds nothing)."""
        ctx = self._require_ctx()
        bindings = self._checked(bindings)
        if not bindings:
            return
        revision = context_revision(ctx)
        values = await fetch_async(ctx, sorted(set(bindings.values())))
        self._bind_values(bindings, values, sync_callback, revision)

    def bind_to_variable_sync(
        self,
        attribute: str,
        variable_name: str,
        sync_callback: SyncCallback | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        """``bind_to_variable`` for synchronous code; works with or without a running event
        loop in this thread (a cached value is used as is; otherwise the read runs where it
        cannot deadlock)."""
        self.bind_to_variables_sync({attribute: variable_name}, sync_callback, timeout)

    def bind_to_variables_sync(
        self,
        bindings: Mapping[str, str],
        sync_callback: SyncCallback | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        ctx = self._require_ctx()
        bindings = self._checked(bindings)
        if not bindings:
            return
        revision = context_revision(ctx)
        values = fetch_blocking(ctx, sorted(set(bindings.values())), timeout)
        self._bind_values(bindings, values, sync_callback, revision)

    def _checked(self, bindings: Mapping[str, str]) -> dict[str, str]:
        if not isinstance(bindings, Mapping):
            raise ValidationError("bindings must be a dict of attribute -> variable name", parameter="bindings")
        for attribute, variable_name in bindings.items():
            self._check_binding(attribute, variable_name)
        return dict(bindings)

    def _bind_values(
        self,
        bindings: dict[str, str],
        values: Mapping[str, Any],
        sync_callback: SyncCallback | None,
        revision: int,
    ) -> None:
        missing = sorted({v for v in bindings.values() if values.get(v, MISSING) is MISSING})
        if missing:
            ctx = self.__dict__.get("_ctx")
            raise VariableNotFoundError(
                missing[0], session_id=getattr(ctx, "session_id", None), details={"variables": missing}
            )
        first = not self._variable_bindings
        for attribute, variable_name in bindings.items():
            value = values[variable_name]
            old = self._current_value(attribute)
            self._apply(attribute, value)
            self._variable_bindings[attribute] = variable_name
            self._last_sync[attribute] = value
            if sync_callback is not None:
                self._binding_callbacks.setdefault(attribute, []).append(sync_callback)
                if old is not None and not _same(old, value):
                    self._call_callback(sync_callback, attribute, old, value)
            logger.debug("bound %s to variable %s (value %r)", attribute, variable_name, value)
        if first or self._synced_revision == revision:
            self._synced_revision = revision

    def unbind_variable(self, attribute: str) -> None:
        """Removes the binding of ``attribute``. Predictor configs and LMs changed by it get
        their previous values back; a plain attribute keeps its last value."""
        if attribute not in self._variable_bindings:
            return
        del self._variable_bindings[attribute]
        self._last_sync.pop(attribute, None)
        self._binding_callbacks.pop(attribute, None)
        route = self._route(attribute)
        restore = self._va_restore
        if route == _ROUTE_CONFIG:
            key = self._config_key(attribute)
            for predictor, had, old in restore.config.pop(key, []):
                if had:
                    predictor.config[key] = old
                else:
                    predictor.config.pop(key, None)
        elif route == _ROUTE_MODEL:
            for predictor, lm in restore.lms:
                predictor.lm = lm
            restore.lms = []
            restore.model_lm = None
        logger.debug("unbound %s", attribute)

    def get_bindings(self) -> dict[str, str]:
        """``{attribute: variable_name}`` (a copy)."""
        return dict(self._variable_bindings)

    async def get_bound_variable(self, attribute: str) -> Any:
        """The current value of the variable ``attribute`` is bound to (cache or host)."""
        variable_name = self._bound_name(attribute)
        values = await fetch_async(self._require_ctx(), [variable_name])
        return self._found(variable_name, values)

    def get_bound_variable_sync(self, attribute: str, timeout: float | None = DEFAULT_TIMEOUT) -> Any:
        variable_name = self._bound_name(attribute)
        values = fetch_blocking(self._require_ctx(), [variable_name], timeout)
        return self._found(variable_name, values)

    def _bound_name(self, attribute: str) -> str:
        try:
            return self._variable_bindings[attribute]
        except KeyError:
            raise ValidationError(
                f"Attribute {attribute!r} is not bound to a variable", parameter="attribute"
            ) from None

    def _found(self, variable_name: str, values: Mapping[str, Any]) -> Any:
        value = values.get(variable_name, MISSING)
        if value is MISSING:
            raise VariableNotFoundError(variable_name, session_id=getattr(self._ctx, "session_id", None))
        return value

    # ------------------------------------------------------------------------------------
    # Callbacks

    def add_sync_callback(self, callback: SyncCallback) -> None:
        """``callback(attribute, old, new)`` for every change a sync applies (any attribute)."""
        if not callable(callback):
            raise ValidationError("callback must be callable", parameter="callback")
        self._sync_callbacks.append(callback)

    def remove_sync_callback(self, callback: SyncCallback) -> bool:
        try:
            self._sync_callbacks.remove(callback)
            return True
        except ValueError:
            return False

    @staticmethod
    def _call_callback(callback: SyncCallback, attribute: str, old: Any, new: Any) -> None:
        try:
            result = callback(attribute, old, new)
            if inspect.isawaitable(result):
                try:
                    asyncio.get_running_loop().create_task(result)  # type: ignore[arg-type]
                except RuntimeError:
                    if inspect.iscoroutine(result):
                        result.close()
        except Exception:  # a callback's bug must not break a sync
            logger.exception("sync callback %r failed for %s", callback, attribute)

    # ------------------------------------------------------------------------------------
    # Syncing

    async def sync_variables(self) -> dict[str, tuple[Any, Any]]:
        """Reads every bound variable (from the watch-fed cache where possible) and applies
        the ones that changed. Returns ``{attribute: (old, new)}`` of those."""
        ctx = self.__dict__.get("_ctx")
        if ctx is None or not self._variable_bindings:
            return {}
        ctx = self._require_ctx()
        revision = context_revision(ctx)
        values = await fetch_async(ctx, sorted(set(self._variable_bindings.values())))
        return self._apply_sync(values, revision)

    def sync_variables_sync(self, timeout: float | None = DEFAULT_TIMEOUT) -> dict[str, tuple[Any, Any]]:
        """``sync_variables`` for synchronous code, with or without a running event loop in
        this thread."""
        ctx = self.__dict__.get("_ctx")
        if ctx is None or not self._variable_bindings:
            return {}
        ctx = self._require_ctx()
        revision = context_revision(ctx)
        values = fetch_blocking(ctx, sorted(set(self._variable_bindings.values())), timeout)
        return self._apply_sync(values, revision)

    def _apply_sync(self, values: Mapping[str, Any], revision: int) -> dict[str, tuple[Any, Any]]:
        changes: dict[str, tuple[Any, Any]] = {}
        complete = True
        for attribute, variable_name in list(self._variable_bindings.items()):
            new = values.get(variable_name, MISSING)
            if new is MISSING:
                complete = False
                logger.warning(
                    "variable %s (bound to %s) no longer exists; keeping %r",
                    variable_name,
                    attribute,
                    self._last_sync.get(attribute),
                )
                continue
            old = self._last_sync.get(attribute, _UNSET)
            if old is not _UNSET and _same(old, new):
                continue
            old = None if old is _UNSET else old
            self._apply(attribute, new)
            self._last_sync[attribute] = new
            changes[attribute] = (old, new)
            for callback in (*self._binding_callbacks.get(attribute, ()), *self._sync_callbacks):
                self._call_callback(callback, attribute, old, new)
        if complete:
            self._synced_revision = revision
        if changes:
            logger.debug("synced %d variable change(s): %s", len(changes), changes)
        return changes

    def _should_auto_sync(self) -> bool:
        return bool(self._auto_sync and self.__dict__.get("_ctx") is not None and self._variable_bindings)

    def _needs_sync(self) -> bool:
        ctx = self._ctx
        return changed_since(ctx, set(self._variable_bindings.values()), self._synced_revision)

    def _auto_sync_blocking(self) -> None:
        if _PRESYNCED.get() == id(self) or not self._should_auto_sync() or not self._needs_sync():
            return
        ctx = self._require_ctx()
        revision = context_revision(ctx)
        self._apply_sync(fetch_blocking(ctx, sorted(set(self._variable_bindings.values()))), revision)

    async def _auto_sync_async(self) -> None:
        if _PRESYNCED.get() == id(self) or not self._should_auto_sync() or not self._needs_sync():
            return
        await self.sync_variables()

    # ------------------------------------------------------------------------------------
    # Applying values to DSPy

    def _predictors(self) -> list[Any]:
        named = getattr(self, "named_predictors", None)
        return [p for _, p in named()] if named is not None else []

    def _current_value(self, attribute: str) -> Any:
        if attribute in self._last_sync:
            return self._last_sync[attribute]
        route = self._route(attribute)
        if route == _ROUTE_CONFIG:
            key = self._config_key(attribute)
            for predictor in self._predictors():
                if key in predictor.config:
                    return predictor.config[key]
            return None
        if route == _ROUTE_MODEL:
            return getattr(dspy.settings.lm, "model", None)
        obj: Any = self
        for part in attribute.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                return None
        return obj

    def _apply(self, attribute: str, value: Any) -> None:
        route = self._route(attribute)
        if route == _ROUTE_CONFIG:
            self._apply_config(self._config_key(attribute), value)
        elif route == _ROUTE_MODEL:
            self._apply_model(value)
        else:
            *path, last = attribute.split(".")
            obj: Any = self
            for part in path:
                obj = getattr(obj, part)
            setattr(obj, last, value)

    def _apply_config(self, key: str, value: Any) -> None:
        saved = self._va_restore.config.setdefault(key, [])
        known = {id(p) for p, _, _ in saved}
        for predictor in self._predictors():
            config = predictor.config
            if id(predictor) not in known:
                saved.append((predictor, key in config, config.get(key)))
            if value is None:
                config.pop(key, None)
            elif config.get(key, _UNSET) is not value:
                config[key] = value

    def _apply_model(self, model: Any) -> None:
        if not model:
            return
        restore = self._va_restore
        owned = {id(p) for p, _ in restore.lms}
        for predictor in self._predictors():
            lm = getattr(predictor, "lm", None)
            if lm is None or getattr(lm, "model", None) == model:
                continue
            if id(predictor) not in owned:
                restore.lms.append((predictor, lm))
            predictor.lm = lm.copy(model=model)

    def _reapply(self) -> None:
        """Puts the bound LM values into predictors added since (or copied by DSPy)."""
        for attribute, value in self._last_sync.items():
            route = self._route(attribute)
            if route == _ROUTE_CONFIG:
                self._apply_config(self._config_key(attribute), value)
            elif route == _ROUTE_MODEL:
                self._apply_model(value)

    def _lm_context(self) -> contextlib.AbstractContextManager[Any]:
        model = self._last_sync.get(_MODEL) if _MODEL in self._variable_bindings else None
        if not model:
            return contextlib.nullcontext()
        base = dspy.settings.lm
        if base is None or getattr(base, "model", None) == model:
            return contextlib.nullcontext()
        cached = self._va_restore.model_lm
        if cached is not None and cached[0] is base and cached[1] == model:
            lm = cached[2]
        else:
            lm = base.copy(model=model)
            self._va_restore.model_lm = (base, model, lm)
        return dspy.context(lm=lm)

    def _prepare(self) -> contextlib.AbstractContextManager[Any]:
        if self._variable_bindings:
            self._reapply()
        return self._lm_context()

    # ------------------------------------------------------------------------------------
    # Calling

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._auto_sync_blocking()
        token = _IN_CALL.set((*_IN_CALL.get(), id(self)))
        try:
            with self._prepare():
                # The next class's __call__, if it has one (a dspy.Module does; a plain class does not).
                call = getattr(super(), "__call__", None)  # noqa: B004
                if call is None:  # the mixin on a class that is not a dspy.Module: its forward
                    return super().forward(*args, **kwargs)  # type: ignore[misc]
                return call(*args, **kwargs)
        finally:
            _IN_CALL.reset(token)

    # DSPy's Module.__getattribute__ only logs a warning when forward is reached from anywhere
    # but Module.__call__; a variable-aware module's forward is safe to call directly (below),
    # so attributes are read the plain way (which is also faster).
    __getattribute__ = object.__getattribute__

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("forward")
        if callable(own) and not getattr(own, "_dspy_bridge_routed", False):
            cls.forward = _routed_forward(own)  # type: ignore[method-assign]

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """DSPy's ``forward`` when DSPy calls it (from ``module(...)``). Called directly, as
        DSPex code does (``await module.forward(...)``), it runs like ``module(...)`` — auto-sync
        and bound LM settings included — and its Prediction may also be awaited."""
        if id(self) in _IN_CALL.get():
            return super().forward(*args, **kwargs)  # type: ignore[misc]
        return _awaitable(self(*args, **kwargs))

    async def acall(self, *args: Any, **kwargs: Any) -> Any:
        await self._auto_sync_async()
        token = _IN_CALL.set((*_IN_CALL.get(), id(self)))
        try:
            with self._prepare():
                return await super().acall(*args, **kwargs)  # type: ignore[misc]
        finally:
            _IN_CALL.reset(token)

    async def forward_async(self, *args: Any, **kwargs: Any) -> Any:
        """Syncs the bound variables (awaiting any round trip on the loop), then runs the
        module (``module(...)``, DSPy's synchronous path) on an executor thread with the
        caller's context variables (so ``dspy.context`` applies)."""
        await self._auto_sync_async()
        context = contextvars.copy_context()

        def run() -> Any:
            _PRESYNCED.set(id(self))
            return self(*args, **kwargs)

        return await asyncio.get_running_loop().run_in_executor(None, context.run, run)

    # ------------------------------------------------------------------------------------
    # Attribute access, copying, pickling

    def __getattr__(self, name: str) -> Any:
        # Bound LM parameters read back as attributes (``module.temperature``) without
        # shadowing anything the module defines.
        last = self.__dict__.get("_last_sync")
        if last is not None and name in last:
            return last[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        cls = type(self)
        new = cls.__new__(cls)
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            if key in ("_session_context", "_ctx"):
                new.__dict__[key] = value  # shared: a copy follows the same session
            else:
                new.__dict__[key] = copy.deepcopy(value, memo)
        return new

    def __getstate__(self) -> dict[str, Any]:
        parent = getattr(super(), "__getstate__", None)
        state = dict(parent() if parent is not None else self.__dict__)
        state["_session_context"] = None
        state["_ctx"] = None
        return state


# ----------------------------------------------------------------------------------------
# Concrete modules


class VariableAwarePredict(VariableAwareMixin, dspy.Predict):
    """``dspy.Predict`` whose LM parameters and attributes follow session variables.

    ``predictor = VariableAwarePredict("question -> answer", session_context=ctx)``;
    ``await predictor.bind_to_variable("temperature", "llm_temperature")``;
    ``await predictor.forward_async(question=...)`` or ``predictor(question=...)``.
    """


class VariableAwareChainOfThought(VariableAwareMixin, dspy.ChainOfThought):
    """``dspy.ChainOfThought``; LM bindings reach its inner ``predict``."""


class VariableAwareReAct(VariableAwareMixin, dspy.ReAct):
    """``dspy.ReAct``; LM bindings reach both ``react`` and ``extract.predict``;
    ``max_iters`` can be bound too."""


class VariableAwareProgramOfThought(VariableAwareMixin, dspy.ProgramOfThought):
    """``dspy.ProgramOfThought``; LM bindings reach its three chains' predictors. Its code runs
    in the bridge's ``SubprocessInterpreter`` (offline, no Deno) unless an
    ``interpreter_factory`` is given (DSPy's default, ``PythonInterpreter``, needs Deno)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if "interpreter_factory" not in kwargs and len(args) < 3:
            kwargs["interpreter_factory"] = SubprocessInterpreter
        super().__init__(*args, **kwargs)


class VariableAwareMultiChainComparison(VariableAwareMixin, dspy.MultiChainComparison):
    """``dspy.MultiChainComparison``; LM bindings reach its ``predict``."""


class VariableAwareBestOfN(VariableAwareMixin, dspy.BestOfN):
    """``dspy.BestOfN``; LM bindings reach every predictor of the wrapped module (and so
    override BestOfN's own ``temperature=1.0`` per attempt); ``N`` / ``threshold`` can be bound."""


class VariableAwareRefine(VariableAwareMixin, dspy.Refine):
    """``dspy.Refine``; like ``VariableAwareBestOfN``."""


_CONCRETE: dict[type, type] = {
    dspy.Predict: VariableAwarePredict,
    dspy.ChainOfThought: VariableAwareChainOfThought,
    dspy.ReAct: VariableAwareReAct,
    dspy.ProgramOfThought: VariableAwareProgramOfThought,
    dspy.MultiChainComparison: VariableAwareMultiChainComparison,
    dspy.BestOfN: VariableAwareBestOfN,
    dspy.Refine: VariableAwareRefine,
}
_GENERATED: dict[type, type] = {}
_GENERATED_LOCK = threading.Lock()

M = TypeVar("M")


def _source_position(module_class: type) -> dict[str, Any]:
    """Where the user's class starts in its file, for a class made here on its behalf. From
    Python 3.13, ``inspect.getsource`` of a class reads ``__firstlineno__``, and a class made
    by ``type()`` has none of its own (it would inherit the mixin's, a line of this file), so
    dspy.Refine over a converted custom module fails with OSError."""
    first_line = getattr(module_class, "__firstlineno__", None)
    return {} if first_line is None else {"__firstlineno__": first_line}


def variable_aware_class(module_class: type) -> type:
    """The variable-aware subclass of a module class (the predefined one for the standard
    modules, otherwise made once and cached). A class that already has the mixin is returned
    as is. Any class works (the mixin needs no DSPy internals; calling an instance of a class
    that is not a ``dspy.Module`` runs its ``forward``)."""
    if not isinstance(module_class, type):
        raise ValidationError(f"expected a class, got {module_class!r}", parameter="module_class")
    if issubclass(module_class, VariableAwareMixin):
        return module_class
    known = _CONCRETE.get(module_class) or _GENERATED.get(module_class)
    if known is not None:
        return known
    with _GENERATED_LOCK:
        known = _GENERATED.get(module_class)
        if known is None:
            namespace = {
                "__module__": module_class.__module__,
                # The class's own qualname, so inspect.getsource (dspy.Refine uses it)
                # finds the user's code.
                "__qualname__": module_class.__qualname__,
                "__doc__": module_class.__doc__,
            }
            namespace.update(_source_position(module_class))
            known = type(f"VariableAware{module_class.__name__}", (VariableAwareMixin, module_class), namespace)
            _GENERATED[module_class] = known
    return known


def make_variable_aware(module: M | type[M], session_context: Any = None, *, auto_sync: bool = True) -> M | type[M]:
    """Makes any ``dspy.Module`` variable-aware.

    * An instance is converted in place (its class becomes the variable-aware subclass; its
      predictors, demos and state are untouched) and returned, bound to ``session_context``.
    * A class gives its variable-aware subclass; its instances take ``session_context=``
      (if ``session_context`` is given here, it is the default for instances made without one).
    """
    if isinstance(module, type):
        cls = variable_aware_class(module)
        if session_context is None:
            return cls
        default = session_context

        class _WithSession(cls):  # type: ignore[valid-type, misc]
            def __init__(self, *args: Any, session_context: Any = None, **kwargs: Any) -> None:
                super().__init__(
                    *args, session_context=session_context if session_context is not None else default, **kwargs
                )

        _WithSession.__name__ = cls.__name__
        _WithSession.__qualname__ = cls.__qualname__
        _WithSession.__module__ = cls.__module__
        for key, value in _source_position(module).items():
            setattr(_WithSession, key, value)
        return _WithSession
    if not isinstance(module, dspy.Module):
        raise ValidationError(
            f"expected a dspy.Module instance or class, got {type(module).__name__}", parameter="module"
        )
    if isinstance(module, VariableAwareMixin):
        if session_context is not None:
            module.session_context = session_context
        module.auto_sync = auto_sync
        return module
    module.__class__ = variable_aware_class(type(module))
    VariableAwareMixin._init_variable_state(module, session_context, auto_sync)  # type: ignore[arg-type]
    return module
