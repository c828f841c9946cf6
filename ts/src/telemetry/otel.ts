// OpenTelemetry on the host, through the standard API package only (`@opentelemetry/api`, an
// optional peer dependency): the application installs and registers an SDK; the bridge makes
// its spans and metrics through the API, and carries each call's span to the worker as a W3C
// `traceparent` in the call frame, so that the worker's spans (the command, DSPy modules, LM
// calls) join the caller's trace.
//
// Decided once, when the bridge starts: without the package, or with neither a tracer nor a
// meter provider registered by then, `HostTelemetry.load` gives undefined and the call path
// checks one field and allocates nothing.
import type * as Api from "@opentelemetry/api";
import type { CallEvent, WorkerEvent } from "./events.js";

type OtelApi = typeof Api;

/** The instrumentation scope of every span and metric the host makes. */
export const INSTRUMENTATION_SCOPE = "dspy-bridge";

/** What the pool keeps of a call's span: the span and its `traceparent` for the frame. */
export interface CallSpan {
  span: Api.Span;
  traceparent: string | undefined;
}

/** The API package, or undefined when it is not installed (it is optional). */
async function importApi(): Promise<OtelApi | undefined> {
  try {
    return await import("@opentelemetry/api");
  } catch {
    return undefined;
  }
}

/**
 * True when an SDK registered a tracer provider: the global one is then either another copy
 * of the API's proxy (registered through that copy) or this copy's proxy with a delegate.
 */
function tracerProviderRegistered(api: OtelApi): boolean {
  const provider = api.trace.getTracerProvider() as Partial<Api.ProxyTracerProvider>;
  if (typeof provider.getDelegate !== "function") return true;
  return provider.getDelegate() !== new api.ProxyTracerProvider().getDelegate();
}

function meterProviderRegistered(api: OtelApi): boolean {
  return api.metrics.getMeterProvider().getMeter(INSTRUMENTATION_SCOPE) !== api.createNoopMeter();
}

/** A W3C traceparent for a span context (version 00). */
function traceparentOf(api: OtelApi, span: Api.Span): string | undefined {
  const c = span.spanContext();
  if (!api.isSpanContextValid(c)) return undefined;
  const flags = (c.traceFlags & 0xff).toString(16).padStart(2, "0");
  return `00-${c.traceId}-${c.spanId}-${flags}`;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** Read-outs the metrics observe when the SDK collects (the pool's live figures). */
export interface TelemetryGauges {
  inFlight(): number;
  queued(): number;
}

export class HostTelemetry {
  /** Undefined when no tracer provider was registered: no spans, no traceparent. */
  readonly tracer: Api.Tracer | undefined;
  /** A meter provider was registered: the bridge's metrics are recorded. */
  readonly metering: boolean;
  private readonly calls: Api.Counter | undefined;
  private readonly callDuration: Api.Histogram | undefined;
  private readonly workerRestarts: Api.Counter | undefined;
  private readonly variableCommits: Api.Counter | undefined;
  private readonly watchLag: Api.Histogram | undefined;
  private readonly meter: Api.Meter | undefined;

  private constructor(
    private readonly api: OtelApi,
    tracing: boolean,
    metering: boolean,
  ) {
    this.tracer = tracing ? api.trace.getTracer(INSTRUMENTATION_SCOPE) : undefined;
    this.metering = metering;
    if (!metering) return;
    const meter = api.metrics.getMeter(INSTRUMENTATION_SCOPE);
    this.meter = meter;
    this.calls = meter.createCounter("dspy_bridge.calls", {
      description: "Calls finished, by command and outcome",
      unit: "{call}",
    });
    this.callDuration = meter.createHistogram("dspy_bridge.call.duration", {
      description: "From execute() to the answer, queue time included",
      unit: "ms",
    });
    this.workerRestarts = meter.createCounter("dspy_bridge.worker.restarts", {
      description: "Worker processes replaced: after a crash or a kill (restart) or at a limit (recycle)",
      unit: "{restart}",
    });
    this.variableCommits = meter.createCounter("dspy_bridge.variable.commits", {
      description: "Variable commits applied by this host's store",
      unit: "{commit}",
    });
    this.watchLag = meter.createHistogram("dspy_bridge.watch.lag", {
      description: "From a variable's commit to its delivery to a watcher on this host",
      unit: "ms",
    });
  }

  /** The host's telemetry, or undefined when the API is not installed or no SDK is registered. */
  static async load(): Promise<HostTelemetry | undefined> {
    const api = await importApi();
    if (!api) return undefined;
    const tracing = tracerProviderRegistered(api);
    const metering = meterProviderRegistered(api);
    if (!tracing && !metering) return undefined;
    return new HostTelemetry(api, tracing, metering);
  }

  /** Observable gauges of the pool (in-flight calls, queue depth), read when the SDK collects. */
  observe(gauges: TelemetryGauges): void {
    if (!this.meter) return;
    this.meter
      .createObservableGauge("dspy_bridge.calls.in_flight", { description: "Calls running in workers", unit: "{call}" })
      .addCallback((r) => r.observe(gauges.inFlight()));
    this.meter
      .createObservableGauge("dspy_bridge.queue.depth", { description: "Calls waiting for a worker", unit: "{call}" })
      .addCallback((r) => r.observe(gauges.queued()));
  }

  /** A call's span, a child of the caller's active span; undefined when not tracing. */
  startCall(command: string, sessionId: string | undefined, stream: boolean): CallSpan | undefined {
    const tracer = this.tracer;
    if (!tracer) return undefined;
    const api = this.api;
    const span = tracer.startSpan(`dspy_bridge.call ${command}`, {
      kind: api.SpanKind.CLIENT,
      attributes: {
        "dspy_bridge.command": command,
        ...(sessionId === undefined ? {} : { "dspy_bridge.session_id": sessionId }),
        ...(stream ? { "dspy_bridge.stream": true } : {}),
      },
    });
    return { span, traceparent: traceparentOf(api, span) };
  }

  /** Ends a call's span with its outcome. */
  endCall(
    s: CallSpan,
    workerId: string | undefined,
    queueMs: number,
    error: unknown,
    reason: string | undefined,
  ): void {
    const span = s.span;
    if (workerId !== undefined) span.setAttribute("dspy_bridge.worker_id", workerId);
    span.setAttribute("dspy_bridge.queue_ms", queueMs);
    if (error !== undefined) this.fail(span, error, reason);
    span.end();
  }

  /** Metrics of a finished call (the pool's `call` event). */
  callFinished(e: CallEvent): void {
    if (!this.calls) return;
    this.calls.add(1, { "dspy_bridge.command": e.command, "dspy_bridge.outcome": e.ok ? "ok" : (e.reason ?? "error") });
    this.callDuration!.record(e.latencyMs, { "dspy_bridge.command": e.command });
  }

  workerEvent(e: WorkerEvent): void {
    if (!this.workerRestarts) return;
    if (e.type === "restarting") this.workerRestarts.add(1, { "dspy_bridge.restart.kind": "restart" });
    else if (e.type === "recycling") this.workerRestarts.add(1, { "dspy_bridge.restart.kind": "recycle" });
  }

  variableCommitted(changes: number): void {
    this.variableCommits?.add(1, { "dspy_bridge.changes": changes });
  }

  watchDelivered(lagMs: number): void {
    this.watchLag?.record(lagMs);
  }

  /**
   * Runs `fn` in a span named `name`, a child of `parent` (else of the active span); the
   * outcome of `fn` ends the span. Without a tracer, just runs `fn`.
   */
  async inSpan<T>(
    name: string,
    attributes: Api.Attributes,
    fn: (span: Api.Span | undefined) => Promise<T>,
    parent?: Api.Span,
  ): Promise<T> {
    const tracer = this.tracer;
    if (!tracer) return fn(undefined);
    const api = this.api;
    const ctx = parent ? api.trace.setSpan(api.context.active(), parent) : api.context.active();
    const span = tracer.startSpan(name, { attributes }, ctx);
    try {
      const result = await api.context.with(api.trace.setSpan(ctx, span), () => fn(span));
      span.end();
      return result;
    } catch (err) {
      this.fail(span, err, undefined);
      span.end();
      throw err;
    }
  }

  /**
   * A span for work a worker asked of the host (a HostCall), a child of the worker's span
   * `traceparent`; `run` calls a function inside it, `end` closes it with its outcome.
   */
  startRemote(
    name: string,
    traceparent: string,
    attributes: Api.Attributes,
  ): { run<T>(fn: () => T): T; end(error?: unknown): void } | undefined {
    const tracer = this.tracer;
    if (!tracer) return undefined;
    const api = this.api;
    const parent = this.contextOf(traceparent);
    const span = tracer.startSpan(name, { attributes, kind: api.SpanKind.SERVER }, parent);
    const ctx = api.trace.setSpan(parent, span);
    return {
      run: (fn) => api.context.with(ctx, fn),
      end: (error) => {
        if (error !== undefined) this.fail(span, error, undefined);
        span.end();
      },
    };
  }

  /** A span the caller ends itself (long-lived work: an optimization run, an optimizer job). */
  startSpan(name: string, attributes: Api.Attributes, parent?: Api.Span): Api.Span | undefined {
    const tracer = this.tracer;
    if (!tracer) return undefined;
    const api = this.api;
    const ctx = parent ? api.trace.setSpan(api.context.active(), parent) : api.context.active();
    return tracer.startSpan(name, { attributes }, ctx);
  }

  /** Ends `span` as failed with `error`. */
  fail(span: Api.Span, error: unknown, reason: string | undefined): void {
    const e = error as { name?: string; reason?: string; message?: string };
    span.setAttribute("error.type", reason ?? e.reason ?? e.name ?? "error");
    if (error instanceof Error) span.recordException(error);
    span.setStatus({ code: this.api.SpanStatusCode.ERROR, message: String(e.message ?? error).slice(0, 1000) });
  }

  /** The context of a remote parent given as a W3C traceparent (from a worker's frame). */
  private contextOf(traceparent: string): Api.Context {
    const api = this.api;
    const m = TRACEPARENT.exec(traceparent);
    if (!m) return api.context.active();
    return api.trace.setSpanContext(api.context.active(), {
      traceId: m[1]!,
      spanId: m[2]!,
      traceFlags: Number.parseInt(m[3]!, 16),
      isRemote: true,
    });
  }

  /** Ends a span started with `startSpan`, failed when `error` is given. */
  endSpan(span: Api.Span, attributes: Api.Attributes, error?: unknown): void {
    span.setAttributes(attributes);
    if (error !== undefined) this.fail(span, error, undefined);
    span.end();
  }
}
