"""LM specs from the host -> DSPy LM objects, cached per worker.

The host sends a spec (a plain dict) with every call instead of configuring workers one by
one: a restarted or recycled worker then needs no replay, and two sessions can use
different LMs at once (each call runs under `dspy.context(lm=...)`, never a global).
API keys are never part of a spec: it names the environment variable that holds the key.

The LM object is cached per spec, so every call with the same spec reuses it and, with it,
its engine's HTTP connection pool (DSPy keeps one per LM and event loop).

Options of a real LM beyond the model (docs/dspy.md has the defaults):

* ``engine``: "auto" (DSPy's choice: its native client where it can serve the model and
  settings, LiteLLM otherwise), "native" (DSPy's own client, lm15; refused for a model or
  setting it cannot serve) or "litellm".
* ``num_retries``: DSPy's retries of a transient failure (rate limit, timeout, 5xx,
  connection), with exponential backoff or the server's Retry-After; DSPy's default is 3.
* ``timeout_ms``: the provider request timeout, given to DSPy as ``timeout`` in seconds.
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any

import dspy
from dspy.utils import exceptions as dspy_exceptions

from ..errors import InvalidArgumentError, LMError

try:  # not in every DSPy version: without it, an LM's first call decides what it can serve
    from dspy.clients.backend_selection import select_backend
except ImportError:  # pragma: no cover - another DSPy version
    select_backend = None

__all__ = ["ENGINES", "lm_from_spec"]

_PASSED_THROUGH = ("temperature", "max_tokens", "api_base", "num_retries", "cache", "model_type", "top_p", "stop", "n")
_OWN = ("model", "api_key_env", "extra", "latency_ms", "responses", "engine", "timeout_ms")
# The spec's engine names -> dspy.LM's.
ENGINES = {"auto": "auto", "native": "lm15", "litellm": "litellm"}
_cache: dict[str, Any] = {}


def lm_from_spec(spec: dict[str, Any] | None) -> Any:
    """The LM for a spec such as {"model": "openai/gpt-4o-mini", "api_key_env": "OPENAI_API_KEY",
    "temperature": 0.2} or {"model": "scripted", "latency_ms": 100}. None: DSPy's configured LM."""
    if spec is None:
        return None
    if not isinstance(spec, dict) or not isinstance(spec.get("model"), str) or not spec["model"]:
        raise InvalidArgumentError("lm must be an object with a non-empty 'model' string", parameter="lm.model")
    key = _cache_key(spec)
    lm = _cache.get(key)
    if lm is None:
        lm = _build(spec)
        _cache[key] = lm
    return lm


_FLAT = (str, int, float, bool, type(None))


def _cache_key(spec: dict[str, Any]) -> Any:
    """The spec's identity. Every call sends one, so the usual flat spec ({"model": ...,
    "temperature": ...}) is keyed by its items without rendering JSON; nested options
    (`extra`, `responses`) are rendered."""
    if all(type(v) in _FLAT for v in spec.values()):
        return frozenset(spec.items())
    return json.dumps(spec, sort_keys=True, default=str)


def _build(spec: dict[str, Any]) -> Any:
    model: str = spec["model"]
    unknown = set(spec) - {*_OWN, *_PASSED_THROUGH}
    if unknown:
        raise InvalidArgumentError(
            f"unknown LM option(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted({*_OWN, *_PASSED_THROUGH}))}",
            parameter="lm",
        )
    engine = _engine(spec)
    timeout = _timeout_seconds(spec)
    _check_retries(spec)
    if model == "scripted" or model.startswith("scripted/"):
        from ..testing import ScriptedLM  # here: only a spec naming the offline test LM loads it

        kwargs: dict[str, Any] = {}
        if "latency_ms" in spec:
            kwargs["latency_ms"] = spec["latency_ms"]
        if "responses" in spec:
            kwargs["responses"] = spec["responses"]
        for name in ("temperature", "max_tokens"):
            if name in spec:
                kwargs[name] = spec[name]
        return ScriptedLM(model=model, **kwargs)

    from . import _call_memos, _engine_memos, _lookup_cache

    _lookup_cache.install()  # idempotent; the fork server installs them first when it preloads DSPy
    _call_memos.install()
    _engine_memos.install()
    kwargs = {name: spec[name] for name in _PASSED_THROUGH if name in spec}
    kwargs.update(spec.get("extra") or {})
    if engine is not None:
        kwargs["engine"] = engine
    if timeout is not None:
        kwargs["timeout"] = timeout
    env = spec.get("api_key_env")
    key = None
    if env:
        if not isinstance(env, str) or env not in os.environ:
            # Name the variable, never a value.
            raise LMError(f"the environment variable {env!r} named by lm.api_key_env is not set in the workers")
        key = kwargs["api_key"] = os.environ[env]

    refused = (ValueError, TypeError, getattr(dspy_exceptions, "LMConfigurationError", ValueError))
    try:
        lm = dspy.LM(model, **kwargs)
    except refused as exc:  # DSPy's own checks of the options (a reasoning model's temperature, ...)
        raise InvalidArgumentError(f"invalid LM spec for {model!r}: {_scrub(str(exc), key)}", parameter="lm") from None
    if engine == "lm15":
        _check_native(lm, model, key)
    elif "litellm" not in sys.modules:
        _hint_litellm_import(lm, model)
    return lm


_hinted = False


def _hint_litellm_import(lm: Any, model: str) -> None:
    """Once per worker: this LM goes through LiteLLM and the fork server did not preload it,
    so this worker imports it on its first call. Say what that costs and how to avoid it."""
    global _hinted
    if _hinted:
        return
    if lm.engine != "litellm":
        if select_backend is None:  # unknown to this DSPy: the first call decides
            return
        try:
            if select_backend(lm).native:
                return
        except Exception:  # noqa: BLE001 - unknown to this DSPy: the first call decides
            return
    _hinted = True
    print(
        f"[dspy-bridge] LM {model!r} goes through LiteLLM, which the fork server did not preload: this worker "
        "imports it on its first call (seconds, and about 120 MB of its own). Preload it once for every "
        'worker with preload: ["dspy", "litellm"] (the default).',
        file=sys.stderr,
        flush=True,
    )


def _engine(spec: dict[str, Any]) -> str | None:
    if "engine" not in spec:
        return None
    name = spec["engine"]
    if not isinstance(name, str) or name not in ENGINES:
        choices = ", ".join(repr(e) for e in ENGINES)
        raise InvalidArgumentError(f"unknown lm.engine {name!r}; choose one of {choices}", parameter="lm.engine")
    return ENGINES[name]


def _timeout_seconds(spec: dict[str, Any]) -> float | None:
    if "timeout_ms" not in spec:
        return None
    value = spec["timeout_ms"]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise InvalidArgumentError(
            f"lm.timeout_ms must be a positive number of milliseconds, got {value!r}", parameter="lm.timeout_ms"
        )
    return value / 1000


def _check_retries(spec: dict[str, Any]) -> None:
    value = spec.get("num_retries", 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgumentError(
            f"lm.num_retries must be a non-negative integer, got {value!r}", parameter="lm.num_retries"
        )


def _check_native(lm: Any, model: str, key: str | None) -> None:
    """engine "native" is refused now, not on the first call, for a model or setting DSPy's
    own client cannot serve (DSPy decides it offline, without a request)."""
    if select_backend is None:  # another DSPy version: the first call says it
        return
    try:
        select_backend(lm)
    except Exception as exc:  # noqa: BLE001 - UnknownModelError, UnsupportedFeatureError, ...
        raise InvalidArgumentError(
            f"lm.engine 'native' cannot serve {model!r} with these options ({_scrub(str(exc), key)}); "
            "use engine 'auto' or 'litellm'",
            parameter="lm.engine",
        ) from None


def _scrub(text: str, key: str | None) -> str:
    """An API key never appears in a message, even if DSPy or a provider echoes it."""
    return text.replace(key, "***") if key else text
