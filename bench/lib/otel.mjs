// `--otel`: the OpenTelemetry SDK as an application would register it (async-hooks context
// manager, a batch span processor, a periodic metric reader), exporting to nowhere: what the
// bridge's spans and metrics cost per call, without any exporter's own cost.
import { context, metrics, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { MeterProvider, PeriodicExportingMetricReader, AggregationTemporality } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";

const SUCCESS = { code: 0 };

const noopSpanExporter = {
  export: (_spans, done) => done(SUCCESS),
  shutdown: async () => {},
  forceFlush: async () => {},
};

const noopMetricExporter = {
  export: (_metrics, done) => done(SUCCESS),
  selectAggregationTemporality: () => AggregationTemporality.CUMULATIVE,
  shutdown: async () => {},
  forceFlush: async () => {},
};

/** Registers the SDK globally (before Bridge.start, which decides whether to trace); returns its shutdown. */
export function registerNoopOtel() {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(noopSpanExporter)] });
  trace.setGlobalTracerProvider(tracerProvider);
  const meterProvider = new MeterProvider({
    readers: [new PeriodicExportingMetricReader({ exporter: noopMetricExporter, exportIntervalMillis: 60_000 })],
  });
  metrics.setGlobalMeterProvider(meterProvider);
  return async () => {
    await tracerProvider.shutdown();
    await meterProvider.shutdown();
  };
}
