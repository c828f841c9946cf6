"""Per-worker memos of the model-metadata lookups DSPy and LiteLLM repeat on every LM call.

Why: DSPy 3.4 looks the model up in its model metadata (LiteLLM's price list, bundled) on
every real LM call: once for the adapter's capability hints and up to twice more to price
the answer. The metadata never changes once loaded, but the lookup is not cached, and for a
model name the list does not have (`openai/fixture`, or whatever a local vLLM / Ollama /
LM Studio server calls its model) it is a scan of the whole list, about 2,800 entries, each
time: measured in one worker with 32 calls in flight, about a third of the CPU a Predict
call costs on DSPy's native engine. The answer depends only on the arguments and the loaded
metadata, so it is computed once per (provider, model, namespaces) and copied out, as DSPy
copies it out of the list itself: every caller sees the same values as without the memo.

LiteLLM (engine "litellm") does the same in its own code: its cost calculator, logging
payload and capability checks look the model up in its price list several times per call.
LiteLLM caches a lookup that succeeds (an lru_cache keyed by model, provider and api_base,
cleared whenever its price list changes), but not one that fails, so for a model it does not
know every call repeats every lookup, each trying seven spellings of the name and then its
generalization rules: about 2.5 of the 13 ms of CPU such a call costs. The memo remembers the
failure too, under LiteLLM's own key plus its price-list mutation generation, and raises the
same exception (type and message) again; only for a lookup that cannot change without the
price list changing: a named provider (no provider inference from the model string) that
has no hook asking a server for model info, and no per-call API key.

Version guard: applied only to the DSPy versions whose `model_info` was read and found to
depend on nothing else (`VERIFIED`), and the LiteLLM versions whose lookup functions were
(`VERIFIED_LITELLM`). Another version runs the library's own functions untouched;
python/tests/dspy/test_lookup_cache.py fails when an installed version is not one of them or
the functions changed, so an upgrade re-checks this module instead of silently skipping it.

Off: `DSPY_BRIDGE_LOOKUP_CACHE=0` in the workers' environment (read when a worker installs
it), for comparing results or CPU with the libraries' own behaviour.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import os
import sys
import threading
from typing import Any
from collections.abc import Callable

__all__ = [
    "ENV",
    "VERIFIED",
    "VERIFIED_LITELLM",
    "enabled",
    "install",
    "installed",
    "litellm_installed",
    "litellm_source_digest",
    "model_info_source_digest",
    "uninstall",
]

ENV = "DSPY_BRIDGE_LOOKUP_CACHE"
# DSPy version -> sha256 of the source of `dspy.clients.model_metadata`, as read.
VERIFIED = {
    "3.4.1": "53eaae1f4f031d7a60704b6d927ead01f4b1f0ded9c1736040533e5603d05d35",
}
# LiteLLM version -> sha256 of the source of the lookup functions the memo wraps or relies on.
VERIFIED_LITELLM = {
    "1.106.2": "1e1eb8643405b867f9cf9294cc5ebaf4fbf3b0eb3cb732baf04c463457075ba5",
}
_LITELLM_FUNCTIONS = (
    "get_model_info_helper",
    "_build_model_info",
    "get_model_info",
    "get_potential_model_names",
    "_first_registered_match",
    "_get_model_info_from_generalization",
    "get_provider_info",
    "_invalidate_model_cost_lowercase_map",
)
# Distinct (provider, model, namespaces) a worker remembers; past it the memo starts over
# (a worker sees a handful of models; this only bounds a pathological caller).
_LIMIT = 1024
_MISSING = object()

_lock = threading.Lock()
_installed = False
_litellm_installed = False
_replaced: list[tuple[Any, str, Any]] = []  # (module, name, the library's function) for uninstall()


def enabled() -> bool:
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def installed() -> bool:
    """Whether this process runs DSPy's memo (installed, switched on, DSPy version verified)."""
    return _installed


def litellm_installed() -> bool:
    """Whether this process runs LiteLLM's memo (LiteLLM imported and verified)."""
    return _litellm_installed


def model_info_source_digest() -> str:
    """sha256 of the source of DSPy's model_metadata module (model_info and what it reads:
    the loader, the provider namespaces)."""
    from dspy.clients import model_metadata

    return hashlib.sha256(inspect.getsource(model_metadata).encode()).hexdigest()


def litellm_source_digest() -> str:
    import litellm.utils

    source = "".join(inspect.getsource(getattr(litellm.utils, name)) for name in _LITELLM_FUNCTIONS)
    return hashlib.sha256(source.encode()).hexdigest()


def install() -> bool:
    """Wrap DSPy's `model_info` where DSPy calls it (its module, pricing, capability hints),
    and LiteLLM's lookups when LiteLLM is imported (it is never imported here: a worker that
    only uses DSPy's native engine does not load it). Idempotent; returns whether DSPy's
    memo is in place."""
    with _lock:
        if not enabled():
            return False
        if "litellm" in sys.modules and not _litellm_installed:
            _install_litellm()
        return _install_dspy()


def _install_dspy() -> bool:
    global _installed
    if _installed:
        return True
    import dspy

    expected = VERIFIED.get(getattr(dspy, "__version__", ""))
    if expected is None or model_info_source_digest() != expected:
        return False
    from dspy.clients import capabilities, costs, model_metadata

    original = model_metadata.model_info
    memo = _memoized(original, model_metadata._load)
    # costs and capabilities imported the function by name: each binding is replaced.
    for module in (model_metadata, costs, capabilities):
        if getattr(module, "model_info", None) is original:
            module.model_info = memo
            _replaced.append((module, "model_info", original))
    _installed = True
    return True


def uninstall() -> None:
    """DSPy's own functions back (the tests compare results with and without the memo)."""
    global _installed, _litellm_installed
    with _lock:
        while _replaced:
            module, name, original = _replaced.pop()
            setattr(module, name, original)
        _installed = _litellm_installed = False


def _memoized(original: Callable[..., dict], load: Callable[[], Any]) -> Callable[..., dict]:
    memo: dict[Any, dict] = {}
    seen: list[Any] = [None]  # the metadata the memo was built from

    def model_info(provider: Any, model: Any, *, namespaces: Any = None) -> dict:
        data = load()  # loaded once per process; a reload (a new object) starts the memo over
        if data is not seen[0]:
            memo.clear()
            seen[0] = data
        if namespaces is not None:
            namespaces = tuple(namespaces)  # DSPy's first step too; also makes it a key
        key = (provider, model, namespaces)
        try:
            found = memo.get(key, _MISSING)
        except TypeError:  # an unhashable argument: nothing to remember it by
            return original(provider, model, namespaces=namespaces)
        if found is _MISSING:
            found = original(provider, model, namespaces=namespaces)
            if len(memo) >= _LIMIT:
                memo.clear()
            memo[key] = found
        # DSPy hands every caller its own copy; so does the memo (never the remembered one).
        return copy.deepcopy(found) if found else {}

    model_info.__wrapped__ = original  # type: ignore[attr-defined]
    model_info.__doc__ = original.__doc__
    return model_info


def _install_litellm() -> None:
    global _litellm_installed
    try:
        from importlib.metadata import version

        expected = VERIFIED_LITELLM.get(version("litellm"))
        if expected is None or litellm_source_digest() != expected:
            return
        import litellm.utils as utils
        from litellm.exceptions import ModelNotMappedError
    except Exception:  # noqa: BLE001 - not the LiteLLM this was verified against: its own functions run
        return
    failures: dict[Any, tuple[Any, ...]] = {}

    def key(model: Any, provider: Any, api_base: Any) -> Any:
        if not isinstance(provider, str) or not _static_provider(utils, model, provider):
            return None  # inferred from the model string, or a provider that may ask a server
        # What LiteLLM's own lru_cache keys a success by, plus what invalidates it: the price
        # list (replaced on reload, mutation generation bumped on every change) and the
        # generalization rules loaded with it.
        return (
            model,
            provider,
            api_base,
            id(utils.litellm.model_cost),
            utils._model_cost_mutation_generation,
            _rules(utils),
        )

    def remembering(original: Callable[..., Any], name: str) -> Callable[..., Any]:
        def lookup(model: Any, custom_llm_provider: Any = None, api_base: Any = None, api_key: Any = None) -> Any:
            k = None if api_key is not None else key(model, custom_llm_provider, api_base)
            if k is not None:
                args = failures.get((name, *k))
                if args is not None:
                    raise ModelNotMappedError(*args)
            try:
                if api_key is None:
                    return original(model, custom_llm_provider, api_base)
                return original(model, custom_llm_provider, api_base, api_key)
            except ModelNotMappedError as exc:
                if k is not None and type(exc) is ModelNotMappedError:
                    if len(failures) >= _LIMIT:
                        failures.clear()
                    failures[(name, *k)] = exc.args
                raise

        lookup.__wrapped__ = original  # type: ignore[attr-defined]
        lookup.__doc__ = original.__doc__
        return lookup

    helper = utils.get_model_info_helper
    cached = utils._cached_get_model_info
    helper_memo = remembering(helper, "helper")
    cached_memo = remembering(cached, "info")

    def cache_clear() -> None:  # LiteLLM clears this cache when its price list changes
        cached.cache_clear()
        failures.clear()

    cached_memo.cache_clear = cache_clear  # type: ignore[attr-defined]
    cached_memo.cache_info = cached.cache_info  # type: ignore[attr-defined]
    # Every module of LiteLLM's that bound the helper by name (litellm.main, ...).
    for module in [
        m for n, m in list(sys.modules.items()) if (n == "litellm" or n.startswith("litellm.")) and m is not None
    ]:
        for name, original, memo in (
            ("get_model_info_helper", helper, helper_memo),
            ("_get_model_info_helper", helper, helper_memo),
            ("_cached_get_model_info", cached, cached_memo),
        ):
            if getattr(module, name, None) is original:
                setattr(module, name, memo)
                _replaced.append((module, name, original))
    _litellm_installed = True


_static: dict[Any, bool] = {}


def _static_provider(utils: Any, model: Any, provider: str) -> bool:
    """Whether LiteLLM answers this provider's model info from its price list alone: no
    provider hook (`get_model_info` on the provider's config) that may ask a server."""
    known = _static.get((model, provider))
    if known is None:
        known = True
        if provider in utils.LlmProvidersSet:
            try:
                config = utils.ProviderConfigManager.get_provider_model_info(
                    model=model, provider=utils.LlmProviders(provider)
                )
            except Exception:  # noqa: BLE001 - unknown to this LiteLLM: not remembered
                config, known = None, False
            if config is not None and callable(getattr(config, "get_model_info", None)):
                known = False
        if len(_static) >= _LIMIT:
            _static.clear()
        _static[(model, provider)] = known
    return known


def _rules(utils: Any) -> Any:
    try:
        from litellm.litellm_core_utils import fallback_generalizations

        return id(fallback_generalizations._registry.capability_rules)
    except Exception:  # noqa: BLE001
        return None
