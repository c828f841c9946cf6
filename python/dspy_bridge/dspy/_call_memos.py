"""Per-worker memos of two things DSPy's native engine rebuilds on every LM call.

Why: a sampling profile of a worker (py-spy, GIL holder only, native engine, 32 calls in
flight, after the model-lookup memo of `_lookup_cache`) found two pieces of per-call work
whose result never changes between calls:

* The adapter formats every input and output field value with
  `dspy.adapters.utils.serialize_for_json`, which builds a new pydantic `TypeAdapter` for the
  value's type each time (a schema build, then a validator and serializer): about 8% of a
  worker's Python time. For the builtin types almost every value has (`str`, `int`, `float`,
  `bool`, `None`, `list`, `dict`, `tuple`) the adapter is the same every time, so it is built
  once per type and the same `dump_python(value, mode="json", fallback=str)` call runs on it,
  under the same `except Exception: str(value)` as DSPy's. Any other type (a pydantic model,
  a dataclass, a subclass of a builtin) takes DSPy's own function untouched.
* The native client's transport resolves the proxy for every request (`proxy_route_for`,
  which calls `urllib.request.getproxies()`: a Python loop decoding and lower-casing every
  environment variable): about 4%. Where `getproxies` is `getproxies_environment` (Linux and
  other POSIX systems but macOS, whose system settings are read too), its answer depends
  only on `os.environ`, so it is remembered with a copy of the environment and recomputed
  whenever the environment differs from that copy (one dict comparison in C). Every caller
  gets its own copy of the answer, as from `getproxies` itself.

Neither changes what goes over the wire or what a caller sees;
python/tests/lm_http/test_call_memos_http.py compares whole calls over real HTTP with and
without them (request bodies, answers, errors), python/tests/dspy/test_call_memos.py the
functions themselves.

Version guard, as in `_lookup_cache`: applied only to the DSPy versions whose two functions
were read (`VERIFIED`: DSPy version -> sha256 of their source). Another version runs DSPy's
own functions untouched, and python/tests/dspy/test_call_memos.py fails, so an upgrade
re-checks this module instead of silently skipping it.

Off: `DSPY_BRIDGE_CALL_MEMOS=0` in the workers' environment (read when a worker installs it).
"""

from __future__ import annotations

import hashlib
import inspect
import os
import urllib.request
from typing import Any
from collections.abc import Callable

from ._patching import MemoSwitch, Replacements

__all__ = ["ENV", "VERIFIED", "enabled", "install", "installed", "source_digest", "uninstall"]

ENV = "DSPY_BRIDGE_CALL_MEMOS"
# DSPy version -> sha256 of the source of adapters.utils.serialize_for_json and of the lm15
# transport's proxy_route_for, as read.
VERIFIED = {
    "3.4.1": "668c2d0b995da5c0fd826deff9891abc9581176b799f81a9fdc6ac49f96e5c84",
}
# Exact types whose pydantic TypeAdapter is the same for every value: one per type is kept.
_BUILTIN_TYPES = (str, int, float, bool, type(None), list, dict, tuple)


def source_digest() -> str:
    """sha256 of the source of the two DSPy functions the memos stand in for or feed."""
    from dspy._vendor.lm15.transports import _proxy
    from dspy.adapters import utils

    source = inspect.getsource(utils.serialize_for_json) + inspect.getsource(_proxy.proxy_route_for)
    return hashlib.sha256(source.encode()).hexdigest()


def _put_in_place(replacements: Replacements) -> None:
    """Replace every binding of `serialize_for_json` in DSPy's modules, and the `getproxies`
    the native transport calls."""
    from dspy._vendor.lm15.transports import _proxy
    from dspy.adapters import utils

    original = utils.serialize_for_json
    # adapters.base, json_adapter, xml_adapter, primitives.repl_types imported it by name.
    replacements.rebind(original, serializer(original), "serialize_for_json")
    # The transport module's own binding of urllib's function (imported by name there).
    getproxies: Any = vars(_proxy).get("getproxies")
    if getproxies is urllib.request.getproxies_environment:
        replacements.set(_proxy, "getproxies", environment_proxies(getproxies))


_switch = MemoSwitch(ENV, VERIFIED, source_digest, _put_in_place)
enabled = _switch.enabled
installed = _switch.installed
install = _switch.install
uninstall = _switch.uninstall


def serializer(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`serialize_for_json` with one pydantic TypeAdapter per builtin type."""
    from pydantic import TypeAdapter

    adapters = {t: TypeAdapter(t) for t in _BUILTIN_TYPES}

    def serialize_for_json(value: Any) -> Any:
        adapter = adapters.get(type(value))
        if adapter is None:
            return original(value)
        try:
            return adapter.dump_python(value, mode="json", fallback=str)
        except Exception:  # noqa: BLE001 - DSPy's own fallback, unchanged
            return str(value)

    serialize_for_json.__wrapped__ = original  # type: ignore[attr-defined]
    serialize_for_json.__doc__ = original.__doc__
    return serialize_for_json


def environment_proxies(original: Callable[[], dict[str, str]]) -> Callable[[], dict[str, str]]:
    """`getproxies_environment` remembered with the environment it was computed from."""
    seen: list[Any] = [None]  # (copy of the environment, its proxies), replaced as one

    def getproxies() -> dict[str, str]:
        environ = getattr(os.environ, "_data", None)
        if not isinstance(environ, dict):  # not CPython's os.environ: nothing cheap to compare
            return original()
        last = seen[0]
        if last is None or last[0] != environ:
            snapshot = dict(environ)  # before the answer: a change meanwhile makes the next call recompute
            last = seen[0] = (snapshot, original())
        return dict(last[1])

    getproxies.__wrapped__ = original  # type: ignore[attr-defined]
    getproxies.__doc__ = original.__doc__
    return getproxies
