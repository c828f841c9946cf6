"""OpenTelemetry in the workers, through the standard API package (``opentelemetry-api``, optional).

The application configures an SDK in the worker processes (a module of its own, named in the
bridge's ``modules`` or ``preload`` option, that sets a tracer and/or a meter provider: it runs
in the fork server, so every worker inherits it). Each worker then decides once, when it
starts (``setup_worker``), whether to trace: only if the API is installed and a provider was
registered. Otherwise nothing here runs: the call path reads one flag.

Spans, all in the host's trace when the call carried the host's W3C ``traceparent``:

- ``dspy_bridge.command <command>`` (SERVER) per command, a child of the host's call span;
- ``dspy.module <class>`` per DSPy module call and ``dspy.lm <model>`` (CLIENT) per LM call,
  through a DSPy callback added to ``dspy.settings.callbacks`` only when tracing;
- ``dspy_bridge.tool <name>`` per Python tool call;
- and every call the worker makes to the host carries the current span, so the host's span
  for it (a TypeScript tool, say) joins the trace.

Metrics: ``dspy_bridge.lm.tokens`` (tokens per model, input and output) when a meter
provider is registered.
"""

from ._otel import (
    active,
    current_traceparent,
    end_command,
    setup_worker,
    start_command,
    tool_span,
)

__all__ = [
    "active",
    "current_traceparent",
    "end_command",
    "setup_worker",
    "start_command",
    "tool_span",
]
