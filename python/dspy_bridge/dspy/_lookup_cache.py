"""Per-worker memo of DSPy's model-metadata lookup, the CPU a real LM call spends on pricing.

Why: DSPy 3.4 looks the model up in its model metadata (LiteLLM's price list, bundled) on
every real LM call: once for the adapter's capability hints and up to twice more to price
the answer. The metadata never changes once loaded, but the lookup is not cached, and for a
model name the list does not have (`openai/fixture`, or whatever a local vLLM / Ollama /
LM Studio server calls its model) it is a scan of the whole list, about 2,800 entries, each
time: measured in one worker with 32 calls in flight, about a third of the CPU a Predict
call costs on DSPy's native engine. The answer depends only on the arguments and the loaded
metadata, so it is computed once per (provider, model, namespaces) and copied out, as DSPy
copies it out of the list itself: every caller sees the same values as without the memo.

Version guard: applied only to the DSPy versions whose `model_info` was read and found to
depend on nothing else (`VERIFIED`). Another version runs DSPy's own function untouched;
python/tests/dspy/test_lookup_cache.py fails when the installed DSPy is not one of them or
its `model_info` changed, so an upgrade re-checks this module instead of silently skipping it.

Off: `DSPY_BRIDGE_LOOKUP_CACHE=0` in the workers' environment (read when a worker installs
it), for comparing results or CPU with DSPy's own behaviour.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import os
import threading
from typing import Any, Callable

__all__ = ["ENV", "VERIFIED", "enabled", "install", "installed", "model_info_source_digest", "uninstall"]

ENV = "DSPY_BRIDGE_LOOKUP_CACHE"
# DSPy version -> sha256 of the source of `dspy.clients.model_metadata`, as read.
VERIFIED = {
    "3.4.1": "53eaae1f4f031d7a60704b6d927ead01f4b1f0ded9c1736040533e5603d05d35",
}
# Distinct (provider, model, namespaces) a worker remembers; past it the memo starts over
# (a worker sees a handful of models; this only bounds a pathological caller).
_LIMIT = 1024
_MISSING = object()

_lock = threading.Lock()
_installed = False
_replaced: list[tuple[Any, Any]] = []  # (module, DSPy's function) for uninstall()


def enabled() -> bool:
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def installed() -> bool:
    """Whether this process runs the memo (installed, switched on, DSPy version verified)."""
    return _installed


def model_info_source_digest() -> str:
    """sha256 of the source of DSPy's model_metadata module (model_info and what it reads:
    the loader, the provider namespaces)."""
    from dspy.clients import model_metadata

    return hashlib.sha256(inspect.getsource(model_metadata).encode()).hexdigest()


def install() -> bool:
    """Wrap DSPy's `model_info` where DSPy calls it (its module, pricing, capability hints).
    Idempotent; returns whether the memo is in place."""
    global _installed
    with _lock:
        if _installed:
            return True
        if not enabled():
            return False
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
                _replaced.append((module, original))
        _installed = True
        return True


def uninstall() -> None:
    """DSPy's own functions back (the tests compare results with and without the memo)."""
    global _installed
    with _lock:
        while _replaced:
            module, original = _replaced.pop()
            module.model_info = original
        _installed = False


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
