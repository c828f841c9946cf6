"""LM failures -> the bridge's typed errors, by exception class (never by message text).

DSPy 3.4 projects both of its engines' failures (its native client and LiteLLM) onto its own
classes in ``dspy.utils.exceptions`` with structured metadata (HTTP ``status``,
``retry_after``); LiteLLM's and the OpenAI SDK's classes are still recognised for code that
calls them directly. The mapping:

==========================================  ======================  =========================
source                                      bridge error            retryable
==========================================  ======================  =========================
rate limit (HTTP 429)                       RateLimitError          yes (``retry_after_ms``)
authentication / permission (HTTP 401, 403) AuthenticationError     no
provider timeout, or a transport failure    BridgeTimeoutError      yes
caused by a timeout
server error (5xx), transport failure       LMError                 yes
invalid request, billing, context window,   LMError                 no
unsupported model or feature, configuration
DSPy adapter could not parse the answer     ParseError              no
==========================================  ======================  =========================

Every translated error carries ``status`` (when an HTTP status is known), ``provider``,
``provider_code`` and ``retryable`` in its details. Messages are bounded and scrubbed of API
keys: provider error bodies sometimes echo part of the key they refused.

The translation is registered with :func:`dspy_bridge.errors.register_translator` when the
worker side (``dspy_bridge.core``) is imported, so it applies wherever an exception crosses
the boundary: DSPy commands, optimizer jobs, session programs, and users' own ``@command``s
that call DSPy. It imports nothing: classes are looked up among the modules already loaded,
so a worker that never imports DSPy or LiteLLM pays nothing for it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import re
import sys
from collections.abc import Iterator
from typing import Any

from ..errors import (
    AuthenticationError,
    BridgeError,
    BridgeTimeoutError,
    LMError,
    ParseError,
    RateLimitError,
    register_translator,
    translate_foreign,
)

__all__ = ["lm_errors", "translate_lm_error"]

MAX_MESSAGE_CHARS = 2000
"""Provider error bodies can be whole HTML pages; a reply carries at most this much of one."""

# Environment variables whose values are secrets to scrub from messages. Keys reach the
# workers through the environment (an LM spec names the variable, never the value).
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL", re.IGNORECASE)
_MIN_SECRET_CHARS = 8
# Key-shaped strings providers echo back, e.g. "Incorrect API key provided: sk-test-***key".
_KEY_SHAPED = re.compile(r"\b(sk|sk_live|sk_test|sk-ant|sk-proj|AIza|xai|gsk)[-_][A-Za-z0-9*_\-]{4,}")


def scrub(text: str) -> str:
    """``text`` without any secret from the environment or key-shaped token, clipped."""
    for name, value in os.environ.items():
        if len(value) >= _MIN_SECRET_CHARS and _SECRET_NAME.search(name) and value in text:
            text = text.replace(value, "[redacted]")
    text = _KEY_SHAPED.sub("[redacted]", text)
    if len(text) > MAX_MESSAGE_CHARS:
        text = f"{text[:MAX_MESSAGE_CHARS]}… ({len(text) - MAX_MESSAGE_CHARS} more characters)"
    return text


def _class(module: str, *path: str) -> type | None:
    """A class from an already-imported module, or None: classifying an error must never
    import a provider SDK (LiteLLM alone takes seconds)."""
    obj: Any = sys.modules.get(module)
    for part in path:
        obj = getattr(obj, part, None)
    return obj if isinstance(obj, type) else None


def _is_any(exc: BaseException, *classes: type | None) -> bool:
    found = tuple(c for c in classes if c is not None)
    return bool(found) and isinstance(exc, found)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _caused_by_timeout(exc: BaseException) -> bool:
    timeouts = (
        TimeoutError,
        asyncio.TimeoutError,  # the same class as TimeoutError from 3.11; not on 3.10
        concurrent.futures.TimeoutError,
        _class("httpx", "TimeoutException"),
        _class("httpcore", "TimeoutException"),
        _class("openai", "APITimeoutError"),
        _class("litellm", "Timeout"),
        _class("aiohttp", "ServerTimeoutError"),
    )
    return any(_is_any(e, *timeouts) for e in _chain(exc))


def _caused_by_transport(exc: BaseException) -> bool:
    transport = (
        ConnectionError,
        _class("httpx", "TransportError"),
        _class("httpcore", "NetworkError"),
        _class("openai", "APIConnectionError"),
        _class("litellm", "APIConnectionError"),
        _class("aiohttp", "ClientConnectionError"),
    )
    return any(_is_any(e, *transport) for e in _chain(exc))


def _status(exc: BaseException) -> int | None:
    for name in ("status", "status_code"):
        value = getattr(exc, name, None)
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
            return value
    value = getattr(getattr(exc, "response", None), "status_code", None)
    return value if isinstance(value, int) and 100 <= value <= 599 else None


def _retry_after_ms(exc: BaseException) -> int | None:
    """The provider's Retry-After: DSPy's parsed ``retry_after``, else the header of the HTTP
    response any exception in the chain kept (LiteLLM's errors keep theirs)."""
    for e in _chain(exc):
        seconds = getattr(e, "retry_after", None)
        if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and seconds >= 0:
            return round(seconds * 1000)
        headers = getattr(getattr(e, "response", None), "headers", None)
        value = headers.get("retry-after") if headers is not None and hasattr(headers, "get") else None
        try:
            if value is not None and float(value) >= 0:
                return round(float(value) * 1000)
        except (TypeError, ValueError):
            continue  # an HTTP date or garbage: DSPy parses dates; nothing else to trust
    return None


def _details(exc: BaseException, retryable: bool) -> dict[str, Any]:
    details: dict[str, Any] = {"retryable": retryable}
    status = _status(exc)
    if status is not None:
        details["status"] = status
    for name in ("provider", "provider_code", "model"):
        value = getattr(exc, name, None)
        if isinstance(value, str) and value:
            details[name] = scrub(value)
    return details


def _message(exc: BaseException, status: int | None) -> str:
    text = str(exc) or type(exc).__name__
    prefix = f"LM provider answered HTTP {status}: " if status is not None else ""
    return scrub(f"{prefix}{type(exc).__name__}: {text}")


def translate_lm_error(exc: BaseException) -> BridgeError | None:
    """The bridge error for an LM-side failure, or None when ``exc`` is not one."""
    if isinstance(exc, BridgeError) or "dspy" not in sys.modules and "litellm" not in sys.modules:
        return None
    dspy_exc = "dspy.utils.exceptions"
    litellm = "litellm"
    status = _status(exc)
    if _is_any(exc, _class(dspy_exc, "AdapterParseError")):
        return ParseError(scrub(f"{type(exc).__name__}: {exc}"), details={"retryable": False})
    if _is_any(
        exc, _class(dspy_exc, "LMRateLimitError"), _class(litellm, "RateLimitError"), _class("openai", "RateLimitError")
    ):
        details = _details(exc, True)
        retry_after = _retry_after_ms(exc)
        if retry_after is not None:
            details["retry_after_ms"] = retry_after
        return RateLimitError(_message(exc, status), details=details)
    # A 401/403 from any provider error class counts: DSPy refines some 403s by provider code
    # (a model the key may not use is "unsupported model"), but to the caller it is the same
    # thing, credentials that do not allow this call.
    provider_error = _is_any(
        exc, _class(dspy_exc, "LMProviderError"), _class(litellm, "APIError"), _class("openai", "APIStatusError")
    )
    if (provider_error and status in (401, 403)) or _is_any(
        exc,
        _class(dspy_exc, "LMAuthError"),
        _class(litellm, "AuthenticationError"),
        _class(litellm, "PermissionDeniedError"),
        _class("openai", "AuthenticationError"),
        _class("openai", "PermissionDeniedError"),
    ):
        return AuthenticationError(_message(exc, status), details=_details(exc, False))
    lm_classes = (
        _class(dspy_exc, "LMError"),
        _class(litellm, "APIError"),
        _class(litellm, "APIConnectionError"),
        _class(litellm, "Timeout"),
        _class(litellm, "BadRequestError"),
        _class("openai", "APIError"),
    )
    if not _is_any(exc, *lm_classes):
        return None
    if _is_any(exc, _class(dspy_exc, "LMTimeoutError")) or _caused_by_timeout(exc):
        # No "answered HTTP 408": LiteLLM reports its own client-side timeouts with that status.
        details = _details(exc, True)
        details.pop("status", None)  # the same on both engines: a timeout has no HTTP answer
        return BridgeTimeoutError(_message(exc, None), details=details)
    if _is_any(exc, _class(dspy_exc, "LMTransportError")) or _caused_by_transport(exc):
        # No HTTP answer came back; LiteLLM still reports a dropped connection as a 500.
        details = _details(exc, True)
        details.pop("status", None)
        return LMError(_message(exc, None), details=details)
    retryable = _is_any(
        exc,
        _class(dspy_exc, "LMServerError"),
        _class(dspy_exc, "LMTransportError"),
        _class(dspy_exc, "LMLockTimeoutError"),
        _class(dspy_exc, "LMStreamAssemblyError"),
        _class(litellm, "APIConnectionError"),
        _class(litellm, "InternalServerError"),
        _class(litellm, "ServiceUnavailableError"),
        _class("openai", "APIConnectionError"),
        _class("openai", "InternalServerError"),
    ) or (status is not None and status >= 500)
    return LMError(_message(exc, status), details=_details(exc, retryable))


@contextlib.contextmanager
def lm_errors() -> Iterator[None]:
    """Raise LM-side failures as the bridge's typed errors within the block, so Python code
    in the worker can catch them as such too (the boundary would translate them anyway)."""
    try:
        yield
    except Exception as exc:
        translated = translate_foreign(exc)
        if translated is None:
            raise
        raise translated from exc


register_translator(translate_lm_error)
