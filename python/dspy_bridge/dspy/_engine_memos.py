"""Per-worker memos of the engine choice DSPy's native client makes again on every LM call.

Why: a profile of the 1,000-call LM burst (py-spy, GIL holder only, native engine, after
`_lookup_cache` and `_call_memos`) found that a good part of a call's CPU goes to deciding,
again and again, things that depend only on the LM's settings and the environment:

* `select_backend` (which engine serves this LM with these client settings) builds a whole
  lm15 engine and router (`LM15Engine(RouterConfig(...))`) just to resolve the model string,
  and runs twice per call (engine selection, capability hints): about 6% of a worker's time.
* The adapter's capability hints (`capabilities`: does the model take tools, a response schema,
  which parameters) are worked out in a thread-pool hand-off on every call
  (`prepare_async` -> `asyncio.to_thread(capabilities, lm)`): about 10% with the hand-off.
* The async native engine hands every call to the thread pool only to find its provider
  client (`AsyncLM15Engine.complete` -> `asyncio.to_thread(self._target, request)`), which
  after the first call is a dictionary lookup: about 5%.
* Pricing (`capabilities.resolve`) builds the same lm15 engine again to resolve the model.

What the memos do, each equal to DSPy's own result:

* `select_backend` is remembered per (engine choice, model, model type, bound providers,
  client settings, the environment variables it reads: `<PREFIX>_API_BASE`,
  `<PREFIX>_BASE_URL`, `XAI_API_KEY`). Every caller gets a new `BackendSelection` with its own
  copy of the client settings, as from DSPy's function. An unhashable setting, a custom
  engine or an error takes DSPy's function (errors are never remembered).
* Capability hints are remembered for a `dspy.LM` that the native engine serves through a
  built-in provider (the hints then come from the bundled metadata snapshot and lm15's tables,
  which do not change while a worker runs), keyed like `select_backend`. A remembered answer
  is put in the call's planning scope without the hand-off; the first call of each key, a
  declared provider, LiteLLM and any other LM run DSPy's own `prepare_async`.
* `AsyncLM15Engine.complete` finds the provider client on the event loop when the engine has
  already built it (the model's resolution remembered per engine, whose configuration is
  frozen); building it the first time (which may read credentials) still happens in the
  thread pool, as do streaming calls. The same checks run, in the same order, with the same
  errors.
* `capabilities.resolve(lm)` is remembered per (model, model type, bound providers).
* On Python 3.12 and later, the native transport's timeouts (lm15's `wait_for`, around
  every pool-slot wait, write and read of a call: four or more per call) bound the wait with
  `asyncio.timeout` in the calling task instead of starting a Task per wait and watching it
  with `asyncio.wait` (about 10% of a call's CPU). lm15 does the latter because
  `asyncio.wait_for` on Python 3.10 and 3.11 could swallow a caller's cancellation; 3.12's
  `asyncio.timeout` cannot (it counts cancellations), and the operations it bounds undo
  their own work when cancelled (a semaphore waiter woken and then cancelled gives its slot
  back), which is what lm15's `cancel_result` did for a separate Task. A timeout still raises
  `TimeoutError` (lm15 turns it into its `ReadTimeout`, `WriteTimeout`, pool error), a
  caller's cancellation still raises `CancelledError`; a zero or missing timeout takes lm15's
  own function.

Nothing changes what goes over the wire or what a caller sees;
python/tests/lm_http/test_engine_memos_http.py compares whole calls over real HTTP with and
without them (request bodies, answers, usage, history, errors, on both engines),
python/tests/dspy/test_engine_memos.py the functions themselves.

Version guard, as in `_call_memos`: applied only to the DSPy versions whose functions were
read (`VERIFIED`: DSPy version -> sha256 of their source). Another version runs DSPy's own
functions untouched, and python/tests/dspy/test_engine_memos.py fails, so an upgrade re-checks
this module instead of silently skipping it.

Off: `DSPY_BRIDGE_ENGINE_MEMOS=0` in the workers' environment (read when a worker installs it).
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import os
import sys
from dataclasses import replace
from typing import Any

from ._patching import MemoSwitch, Replacements

__all__ = ["ENV", "VERIFIED", "enabled", "install", "installed", "source_digest", "uninstall"]

ENV = "DSPY_BRIDGE_ENGINE_MEMOS"
# DSPy version -> sha256 of the source of the functions below stand in for, as read.
VERIFIED = {
    "3.4.1": "ed54c1a2a9483abadbbd103e46bd929ff2bcf8c46f7b8edc2f2a50177c2dcaa2",
}
# Entries kept per memo before it is emptied (a worker sees a handful of LM settings).
_LIMIT = 512


def _sources() -> list[Any]:
    from dspy._vendor.lm15.transports import _timeouts
    from dspy.clients import backend_selection, capabilities
    from dspy.clients.engines import lm15_engine

    return [
        backend_selection.select_backend,
        capabilities.prepare_async,
        capabilities.capabilities,
        capabilities._capabilities,
        capabilities.resolve,
        lm15_engine.AsyncLM15Engine.complete,
        lm15_engine._Routing._target,
        lm15_engine._Routing.resolve,
        _timeouts.wait_for,
    ]


def source_digest() -> str:
    """sha256 of the source of the DSPy functions the memos stand in for or rely on."""
    source = "".join(inspect.getsource(f) for f in _sources())
    return hashlib.sha256(source.encode()).hexdigest()


def _put_in_place(replacements: Replacements) -> None:
    from dspy.clients import backend_selection, capabilities
    from dspy.clients.engines import lm15_engine

    original_select = backend_selection.select_backend
    # execution and capabilities imported it by name.
    replacements.rebind(original_select, selection_memo(original_select), "select_backend")
    replacements.set(capabilities, "resolve", resolution_memo(capabilities.resolve))
    replacements.set(capabilities, "prepare_async", capabilities_memo(capabilities.prepare_async))
    engine = lm15_engine.AsyncLM15Engine
    replacements.set(engine, "complete", target_on_loop(engine.complete))
    if sys.version_info >= (3, 12):
        from dspy._vendor.lm15.transports import _timeouts

        original_wait = _timeouts.wait_for
        # The transports imported it by name (_async, _fetch, _ssl).
        replacements.rebind(original_wait, timeout_in_task(original_wait), "wait_for", "dspy._vendor.lm15")


_switch = MemoSwitch(ENV, VERIFIED, source_digest, _put_in_place)
enabled = _switch.enabled
installed = _switch.installed
install = _switch.install
uninstall = _switch.uninstall


def _bounded_put(memo: dict[Any, Any], key: Any, value: Any) -> None:
    if len(memo) >= _LIMIT:
        memo.clear()
    memo[key] = value


def _selection_key(lm: Any, options: dict[str, Any] | None) -> Any:
    """What `select_backend(lm, options)` reads, as a hashable key; None when it cannot be."""
    from dspy.clients.backend_selection import CLIENT_KEYS

    spec = getattr(lm, "_engine_spec", None)
    if not isinstance(spec, str):
        return None
    clients = [(key, val) for key, val in lm.kwargs.items() if key in CLIENT_KEYS]
    if options:
        clients.extend((key, val) for key, val in options.items() if key in CLIENT_KEYS)
    model = lm.model
    key = (
        spec,
        model,
        lm.model_type,
        getattr(lm, "_providers", ()),
        tuple(clients),
        _environment_read(model),
    )
    try:
        hash(key)
    except TypeError:
        return None
    return key


# Model prefix -> the environment variables `select_backend` reads for it, as os.environ stores them.
_names: dict[str, tuple[Any, ...]] = {}


def _environment_read(model: Any) -> tuple[Any, ...]:
    """The values of `<PREFIX>_API_BASE`, `<PREFIX>_BASE_URL` and `XAI_API_KEY` now (None when
    unset), read from CPython's os.environ store directly: `os.environ.get` decodes a key and
    raises and catches a KeyError for each unset one, which cost more than the memo saved."""
    prefix = model.split("/", 1)[0].upper() if isinstance(model, str) else ""
    store = getattr(os.environ, "_data", None)
    names = _names.get(prefix)
    if names is None or not isinstance(store, dict):
        plain = (f"{prefix}_API_BASE", f"{prefix}_BASE_URL", "XAI_API_KEY")
        if not isinstance(store, dict):
            return tuple(os.environ.get(name) for name in plain)
        names = tuple(os.environ.encodekey(name) for name in plain)  # type: ignore[attr-defined]
        if len(_names) >= _LIMIT:
            _names.clear()
        _names[prefix] = names
    return (store.get(names[0]), store.get(names[1]), store.get(names[2]))


def selection_memo(original: Any) -> Any:
    """`select_backend` remembered by everything it reads."""
    from dspy.clients.backend_selection import BackendSelection

    memo: dict[Any, tuple[bool, Any, dict[str, Any]]] = {}

    def select_backend(lm: Any, options: dict[str, Any] | None = None) -> Any:
        key = _selection_key(lm, options)
        if key is None:
            return original(lm, options)
        hit = memo.get(key)
        if hit is None:
            selection = original(lm, options)
            hit = (selection.native, selection.resolution, dict(selection.clients))
            _bounded_put(memo, key, hit)
            return selection
        return BackendSelection(hit[0], hit[1], dict(hit[2]))

    select_backend.__wrapped__ = original  # type: ignore[attr-defined]
    select_backend.__doc__ = original.__doc__
    return select_backend


def resolution_memo(original: Any) -> Any:
    """`capabilities.resolve(lm)` (lm15's offline routing of the model) remembered."""
    memo: dict[Any, Any] = {}

    def resolve(lm: Any) -> Any:
        key = (lm.model, lm.model_type, getattr(lm, "_providers", ()))
        try:
            hit = memo.get(key)
        except TypeError:
            return original(lm)
        if hit is None:
            hit = original(lm)
            _bounded_put(memo, key, hit)
        return hit

    resolve.__wrapped__ = original  # type: ignore[attr-defined]
    resolve.__doc__ = original.__doc__
    return resolve


def capabilities_memo(original: Any) -> Any:
    """`prepare_async` that puts a remembered answer in the planning scope, no hand-off."""
    from dspy.clients import capabilities as module
    from dspy.clients.lm import LM

    memo: dict[Any, Any] = {}
    planning = module._planning
    lm_engine = LM.engine

    def cacheable_key(lm: Any, options: Any) -> Any:
        # Only a dspy.LM whose engine choice is LM's own, served natively by a built-in
        # provider: its hints come from static tables (the metadata snapshot, lm15's compat).
        if not isinstance(lm, LM) or getattr(type(lm), "engine", None) is not lm_engine:
            return None
        key = _selection_key(lm, options)
        if key is None:
            return None
        selection = module.select_backend(lm, options)
        route = selection.resolution
        if not selection.native or route is None or route.declared:
            return None
        return key

    async def prepare_async(lm: Any) -> None:
        scope = planning.get()
        if scope is None or scope.lm is not lm or scope.value is not None:
            return await original(lm)
        try:
            key = cacheable_key(lm, scope.options)
        except Exception:  # noqa: BLE001 - DSPy's own path raises it, inside its error boundary
            key = None
        if key is not None:
            hit = memo.get(key)
            if hit is not None:
                scope.value = hit
                return None
        await original(lm)
        if key is not None and scope.value is not None:
            _bounded_put(memo, key, scope.value)
        return None

    prepare_async.__wrapped__ = original  # type: ignore[attr-defined]
    prepare_async.__doc__ = original.__doc__
    return prepare_async


def timeout_in_task(original: Any) -> Any:
    """lm15's `wait_for(awaitable, timeout, cancel_result=...)` as `asyncio.timeout` in the
    calling task (Python 3.12+), no Task and no `asyncio.wait` per bounded wait."""

    async def wait_for(awaitable: Any, timeout: float | None, *, cancel_result: Any = None) -> Any:
        if timeout is None or timeout <= 0:
            return await original(awaitable, timeout, cancel_result=cancel_result)
        async with asyncio.timeout(timeout):  # pyright: ignore[reportAttributeAccessIssue] - 3.11+, used on 3.12+
            return await awaitable

    wait_for.__wrapped__ = original  # type: ignore[attr-defined]
    wait_for.__doc__ = original.__doc__
    return wait_for


def target_on_loop(original: Any) -> Any:
    """`AsyncLM15Engine.complete` that finds an already-built provider client on the loop."""
    from dspy.clients.engines.base import validate_request
    from dspy.lm15 import ConfigurationError, UnsupportedFeatureError

    def built_target(engine: Any, request: Any) -> Any:
        """`_Routing._target` when it does no I/O (the provider client exists); else None."""
        validate_request(request)
        resolutions = engine.__dict__.get("_bridge_resolutions")
        if resolutions is None:
            resolutions = engine.__dict__.setdefault("_bridge_resolutions", {})
        resolution = resolutions.get(request.model)
        if resolution is None:
            resolution = engine.resolve(request.model)
            _bounded_put(resolutions, request.model, resolution)
        with engine._lock:
            if engine._closed:
                raise ConfigurationError("Engine is closed")
            provider = engine._providers.get(resolution.provider)
        if provider is None:
            return None
        if not provider.supports.complete:
            raise UnsupportedFeatureError(
                f"{resolution.provider} does not support complete.",
                provider=resolution.provider,
            )
        return provider, replace(request, model=resolution.model)

    async def complete(self: Any, request: Any) -> Any:
        target = built_target(self, request)
        if target is None:
            # Construction may load or refresh credentials synchronously: off the loop.
            target = await asyncio.to_thread(self._target, request)
        provider, routed = target
        return await provider.complete(routed)

    complete.__wrapped__ = original  # type: ignore[attr-defined]
    complete.__doc__ = original.__doc__
    complete.__qualname__ = original.__qualname__
    return complete
