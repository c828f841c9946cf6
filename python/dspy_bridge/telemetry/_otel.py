"""The worker's spans and metrics through the OpenTelemetry API (see the package docstring)."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

__all__ = [
    "active",
    "current_traceparent",
    "end_command",
    "setup_worker",
    "start_command",
    "tool_span",
]

_log = logging.getLogger("dspy_bridge.telemetry")

SCOPE = "dspy-bridge"

# Set by setup_worker when the API is installed and a tracer provider is registered: the one
# check on the call path is whether it is None.
_tracer: Any = None
_api: Any = None
_tokens: Any = None


def active() -> bool:
    """True when this worker traces (decided once, at its start)."""
    return _tracer is not None


def _tracer_provider_registered(trace: Any) -> bool:
    proxy = getattr(trace, "ProxyTracerProvider", None)
    return proxy is None or not isinstance(trace.get_tracer_provider(), proxy)


def _meter_provider_registered(metrics: Any) -> bool:
    # The API hands out its proxy until an SDK sets a provider.
    return type(metrics.get_meter_provider()).__name__ != "_ProxyMeterProvider"


def setup_worker() -> None:
    """Decides, once per worker, whether to trace and meter; installs the DSPy callback if so."""
    global _tracer, _api, _tokens
    try:  # here: opentelemetry-api is optional, and only looked for once per worker
        from opentelemetry import context, metrics, trace
        from opentelemetry.trace.propagation.tracecontext import (
            TraceContextTextMapPropagator,
        )
    except ImportError:
        return
    tracing = _tracer_provider_registered(trace)
    metering = _meter_provider_registered(metrics)
    if not tracing and not metering:
        return
    _api = _Api(trace, context, TraceContextTextMapPropagator())
    if metering:
        _tokens = metrics.get_meter(SCOPE).create_counter(
            "dspy_bridge.lm.tokens",
            unit="{token}",
            description="LM tokens by model and type (input, output)",
        )
    if tracing:
        _tracer = trace.get_tracer(SCOPE)
    _install_dspy_callback()


class _Api:
    def __init__(self, trace: Any, context: Any, propagator: Any) -> None:
        self.trace = trace
        self.context = context
        self.propagator = propagator
        from opentelemetry.trace import SpanKind, Status, StatusCode  # here: only once tracing is on

        self.SpanKind = SpanKind
        self.Status = Status
        self.StatusCode = StatusCode


def _install_dspy_callback() -> None:
    """Adds the span-and-token callback to DSPy's global callbacks, if DSPy is loaded (the
    fork server preloads it); a worker without DSPy has no modules or LMs to trace."""
    dspy = sys.modules.get("dspy")
    if dspy is None:
        return
    try:
        callback = _dspy_callback()
        dspy.settings.configure(callbacks=[*dspy.settings.callbacks, callback])
    except Exception as err:  # noqa: BLE001 - tracing must never stop a worker
        _log.warning("dspy-bridge: DSPy spans disabled: %s", err)


def _parent(traceparent: str) -> Any:
    if not traceparent:
        return None
    return _api.propagator.extract({"traceparent": traceparent})


def start_command(command: str, traceparent: str, session_id: str, worker_id: str) -> tuple[Any, Any]:
    """Starts the command's span (a child of the host's when ``traceparent`` is given) and makes
    it current; returns (span, token): detach the token once the command's task is started."""
    api = _api
    parent = _parent(traceparent)
    attributes: dict[str, Any] = {
        "dspy_bridge.command": command,
        "dspy_bridge.worker_id": worker_id,
    }
    if session_id:
        attributes["dspy_bridge.session_id"] = session_id
    span = _tracer.start_span(
        f"dspy_bridge.command {command}",
        context=parent,
        kind=api.SpanKind.SERVER,
        attributes=attributes,
    )
    token = api.context.attach(api.trace.set_span_in_context(span, parent))
    return span, token


def detach(token: Any) -> None:
    _api.context.detach(token)


def _fail(span: Any, error: BaseException) -> None:
    api = _api
    span.set_attribute("error.type", getattr(error, "reason", None) or type(error).__name__)
    span.record_exception(error)
    span.set_status(api.Status(api.StatusCode.ERROR, str(error)[:1000]))


def end_command(span: Any, error: BaseException | None) -> None:
    if error is not None:
        _fail(span, error)
    span.end()


def current_traceparent() -> str:
    """The current span as a W3C traceparent ("" when none): carried by calls to the host."""
    if _tracer is None:
        return ""
    carrier: dict[str, str] = {}
    _api.propagator.inject(carrier)
    return carrier.get("traceparent", "")


@contextlib.contextmanager
def tool_span(name: str, session_id: str | None) -> Iterator[None]:
    """A span around a Python tool call (current while it runs)."""
    attributes: dict[str, Any] = {
        "dspy_bridge.tool.name": name,
        "dspy_bridge.tool.side": "python",
    }
    if session_id:
        attributes["dspy_bridge.session_id"] = session_id
    with _tracer.start_as_current_span(f"dspy_bridge.tool {name}", attributes=attributes):
        yield


def _usage_tokens(usage: Any) -> tuple[int | None, int | None]:
    if not isinstance(usage, dict):
        return None, None
    tokens_in = usage.get("prompt_tokens", usage.get("input_tokens"))
    tokens_out = usage.get("completion_tokens", usage.get("output_tokens"))
    return (
        tokens_in if isinstance(tokens_in, int) else None,
        tokens_out if isinstance(tokens_out, int) else None,
    )


def _dspy_callback() -> Any:
    from dspy.utils.callback import BaseCallback  # here: DSPy is loaded only where a provider traces it

    class _OtelCallback(BaseCallback):
        """A span per DSPy module call and per LM call; the LM's tokens as a metric. Each
        span is current while its call runs, so nested modules and LM calls become its
        children (start and end run in the same thread or task)."""

        def __init__(self) -> None:
            self._open: dict[str, tuple[Any, Any, float, Any, int]] = {}

        def _start(
            self,
            call_id: str,
            name: str,
            kind: Any,
            attributes: dict[str, Any],
            instance: Any = None,
        ) -> None:
            # Metrics only (no tracer): LM calls are still followed, for their tokens.
            if _tracer is None and instance is None:
                return
            span = token = None
            if _tracer is not None:
                span = _tracer.start_span(name, kind=kind, attributes=attributes)
                token = _api.context.attach(_api.trace.set_span_in_context(span))
            history = getattr(instance, "history", None) if instance is not None else None
            self._open[call_id] = (
                span,
                token,
                time.perf_counter(),
                instance,
                len(history) if isinstance(history, list) else -1,
            )

        def _finish(self, call_id: str) -> tuple[Any, Any, float, Any, int] | None:
            opened = self._open.pop(call_id, None)
            if opened is not None and opened[1] is not None:
                try:
                    _api.context.detach(opened[1])
                except Exception:  # noqa: BLE001 - ended in another context: the span still ends
                    pass
            return opened

        def on_module_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
            name = type(instance).__name__
            self._start(
                call_id,
                f"dspy.module {name}",
                _api.SpanKind.INTERNAL,
                {"dspy.module": name},
            )

        def on_module_end(self, call_id: str, outputs: Any, exception: Exception | None = None) -> None:
            opened = self._finish(call_id)
            if opened is not None and opened[0] is not None:
                end_command(opened[0], exception)

        def on_lm_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
            model = str(getattr(instance, "model", type(instance).__name__))
            settings = {
                **(getattr(instance, "kwargs", None) or {}),
                **(inputs.get("kwargs") or {}),
            }
            attributes: dict[str, Any] = {
                "gen_ai.request.model": model,
                "gen_ai.operation.name": "chat",
            }
            temperature = settings.get("temperature")
            if isinstance(temperature, (int, float)):
                attributes["gen_ai.request.temperature"] = float(temperature)
            max_tokens = settings.get("max_tokens", settings.get("max_completion_tokens"))
            if isinstance(max_tokens, int):
                attributes["gen_ai.request.max_tokens"] = max_tokens
            self._start(call_id, f"dspy.lm {model}", _api.SpanKind.CLIENT, attributes, instance)

        def on_lm_end(self, call_id: str, outputs: Any, exception: Exception | None = None) -> None:
            opened = self._finish(call_id)
            if opened is None:
                return
            span, _, started, instance, seen = opened
            if span is None:
                span = _NO_SPAN
            span.set_attribute("dspy.lm.latency_ms", (time.perf_counter() - started) * 1000)
            history = getattr(instance, "history", None)
            entry = history[-1] if isinstance(history, list) and seen >= 0 and len(history) > seen else None
            if isinstance(entry, dict):
                tokens_in, tokens_out = _usage_tokens(entry.get("usage"))
                model = str(getattr(instance, "model", ""))
                if tokens_in is not None:
                    span.set_attribute("gen_ai.usage.input_tokens", tokens_in)
                    if _tokens is not None:
                        _tokens.add(
                            tokens_in,
                            {
                                "gen_ai.request.model": model,
                                "gen_ai.token.type": "input",
                            },
                        )
                if tokens_out is not None:
                    span.set_attribute("gen_ai.usage.output_tokens", tokens_out)
                    if _tokens is not None:
                        _tokens.add(
                            tokens_out,
                            {
                                "gen_ai.request.model": model,
                                "gen_ai.token.type": "output",
                            },
                        )
                span.set_attribute(
                    "dspy.lm.cache_hit",
                    bool(getattr(entry.get("response"), "cache_hit", False)),
                )
                response_model = entry.get("response_model")
                if isinstance(response_model, str):
                    span.set_attribute("gen_ai.response.model", response_model)
            if span is not _NO_SPAN:
                end_command(span, exception)

    return _OtelCallback()


class _NoSpan:
    """Takes the attributes of an LM call when only metrics are recorded."""

    def set_attribute(self, key: str, value: Any) -> None:
        pass


_NO_SPAN = _NoSpan()
