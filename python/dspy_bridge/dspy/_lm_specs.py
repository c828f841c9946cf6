"""LM specs from the host -> DSPy LM objects, cached per worker.

The host sends a spec (a plain dict) with every call instead of configuring workers one by
one: a restarted or recycled worker then needs no replay, and two sessions can use
different LMs at once (each call runs under `dspy.context(lm=...)`, never a global).
API keys are never part of a spec: it names the environment variable that holds the key.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..errors import InvalidArgumentError, LMError

__all__ = ["lm_from_spec"]

_PASSED_THROUGH = ("temperature", "max_tokens", "api_base", "num_retries", "cache", "model_type", "top_p", "stop", "n")
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
    unknown = set(spec) - {"model", "api_key_env", "extra", "latency_ms", "responses", *_PASSED_THROUGH}
    if unknown:
        raise InvalidArgumentError(f"unknown LM option(s): {', '.join(sorted(unknown))}", parameter="lm")
    if model == "scripted" or model.startswith("scripted/"):
        from ..testing import ScriptedLM

        kwargs: dict[str, Any] = {}
        if "latency_ms" in spec:
            kwargs["latency_ms"] = spec["latency_ms"]
        if "responses" in spec:
            kwargs["responses"] = spec["responses"]
        for name in ("temperature", "max_tokens"):
            if name in spec:
                kwargs[name] = spec[name]
        return ScriptedLM(model=model, **kwargs)
    import dspy

    kwargs = {name: spec[name] for name in _PASSED_THROUGH if name in spec}
    kwargs.update(spec.get("extra") or {})
    env = spec.get("api_key_env")
    if env:
        if not isinstance(env, str) or env not in os.environ:
            # Name the variable, never a value.
            raise LMError(f"the environment variable {env!r} named by lm.api_key_env is not set in the workers")
        kwargs["api_key"] = os.environ[env]
    return dspy.LM(model, **kwargs)
