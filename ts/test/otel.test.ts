// OpenTelemetry across the boundary, with the real SDKs on both sides: the host's
// (@opentelemetry/sdk-trace-base and sdk-metrics, in-memory) registered before the bridge
// starts, the workers' (opentelemetry-sdk, in-memory) set up by a user module in the fork
// server (fixtures/py_otel.py). One trace runs TypeScript -> the worker's command -> the DSPy
// module -> the LM call over real HTTP (fixtures/openai-server.ts), each span the child of the
// one before; tool calls in both directions, failures, and optimization runs (a span per trial
// with its score) join it the same way; the metrics are read from the SDK's reader.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { context, metrics, trace, type Span } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { AggregationTemporality, MeterProvider, MetricReader, type ResourceMetrics } from "@opentelemetry/sdk-metrics";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from "@opentelemetry/sdk-trace-base";
import { Bridge, type LMSpec } from "../src/index.js";
import { startOpenAIServer, type OpenAIServer } from "./fixtures/openai-server.js";
import { fixturesDir, quietLogs } from "./helpers.js";

class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

interface PySpan {
  name: string;
  trace_id: string;
  span_id: string;
  parent_span_id: string | null;
  kind: string;
  status: string;
  attributes: Record<string, unknown>;
}

const KEY_ENV = "FIXTURE_OPENAI_KEY";
const exporter = new InMemorySpanExporter();
const reader = new TestReader();
let server: OpenAIServer;
let bridge: Bridge;

const lm = (spec: Partial<LMSpec> = {}): LMSpec => ({
  model: "openai/fixture",
  apiBase: server.url,
  apiKeyEnv: KEY_ENV,
  cache: false,
  ...spec,
});
const tracer = () => trace.getTracer("otel-test");

/** Runs `fn` inside a root span of the test's own and returns that span's trace id and span id. */
async function inRoot(fn: () => Promise<unknown>): Promise<{ traceId: string; spanId: string }> {
  return tracer().startActiveSpan("test root", async (root: Span) => {
    try {
      await fn();
    } finally {
      root.end();
    }
    return { traceId: root.spanContext().traceId, spanId: root.spanContext().spanId };
  });
}

const hostSpans = (traceId: string): ReadableSpan[] =>
  exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
const parentOf = (s: ReadableSpan): string | undefined => s.parentSpanContext?.spanId;
async function workerSpans(traceId: string): Promise<PySpan[]> {
  return (await bridge.execute<PySpan[]>("otel_test.spans")).filter((s) => s.trace_id === traceId);
}
function one<T extends { name: string }>(spans: T[], name: string): T {
  const found = spans.filter((s) => s.name === name);
  assert.equal(found.length, 1, `one span '${name}' among ${JSON.stringify(spans.map((s) => s.name))}`);
  return found[0]!;
}

before(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
  server = await startOpenAIServer();
  process.env[KEY_ENV] = "sk-test-otel";
  bridge = await Bridge.start({
    workers: 1,
    preload: ["dspy"],
    modules: ["py_otel"],
    pythonPath: [fixturesDir],
    healthIntervalMs: 0,
    ...quietLogs,
  });
});
after(async () => {
  await bridge?.close();
  await server?.close();
  trace.disable();
  metrics.disable();
  context.disable();
});

test("one trace: the host's call span -> the worker's command -> the DSPy module -> the LM call over HTTP", async () => {
  server.reset();
  const root = await inRoot(() =>
    bridge.dspy.run({
      module: "Predict",
      signature: "question -> answer",
      inputs: { question: "Capital of France?" },
      lm: lm({ temperature: 0.25, maxTokens: 99 }),
    }),
  );
  assert.equal(server.chatRequests().length, 1, "the LM call went over HTTP");
  const call = one(hostSpans(root.traceId), "dspy_bridge.call dspy.run");
  assert.equal(parentOf(call), root.spanId, "the call span is a child of the caller's active span");
  assert.equal(call.attributes["dspy_bridge.command"], "dspy.run");
  assert.equal(typeof call.attributes["dspy_bridge.worker_id"], "string");

  const py = await workerSpans(root.traceId);
  const command = one(py, "dspy_bridge.command dspy.run");
  assert.equal(
    command.parent_span_id,
    call.spanContext().spanId,
    "the worker's span is a child of the host's call span",
  );
  assert.equal(command.kind, "SERVER");
  const module = one(py, "dspy.module Predict");
  assert.equal(module.parent_span_id, command.span_id);
  const llm = one(py, "dspy.lm openai/fixture");
  assert.equal(llm.parent_span_id, module.span_id, "the LM call is a child of the module that made it");
  assert.equal(llm.kind, "CLIENT");
  assert.equal(llm.attributes["gen_ai.request.model"], "openai/fixture");
  assert.equal(llm.attributes["gen_ai.request.temperature"], 0.25);
  assert.equal(llm.attributes["gen_ai.request.max_tokens"], 99);
  assert.ok((llm.attributes["gen_ai.usage.input_tokens"] as number) > 0, JSON.stringify(llm.attributes));
  assert.ok((llm.attributes["gen_ai.usage.output_tokens"] as number) > 0);
  assert.equal(llm.attributes["dspy.lm.cache_hit"], false);
  assert.ok((llm.attributes["dspy.lm.latency_ms"] as number) > 0);
  assert.equal(llm.status, "UNSET");
});

test("an LM failure: the LM span and the command span carry the error class; the host's call span fails too", async () => {
  server.reset();
  const root = await inRoot(async () => {
    // The fixture answers a model named so with HTTP 401 and OpenAI's error body.
    await assert.rejects(
      bridge.dspy.run({
        module: "Predict",
        signature: "question -> answer",
        inputs: { question: "q" },
        lm: lm({ model: "openai/fixture-status-401", extra: { num_retries: 0 } }),
      }),
    );
  });
  const call = one(hostSpans(root.traceId), "dspy_bridge.call dspy.run");
  assert.equal(call.status.code, 2, "ERROR");
  assert.equal(typeof call.attributes["error.type"], "string");
  const py = await workerSpans(root.traceId);
  const command = one(py, "dspy_bridge.command dspy.run");
  assert.equal(command.status, "ERROR");
  assert.equal(typeof command.attributes["error.type"], "string");
  const llm = one(py, "dspy.lm openai/fixture-status-401");
  assert.equal(llm.status, "ERROR");
  assert.equal(typeof llm.attributes["error.type"], "string", JSON.stringify(llm.attributes));
});

test("tool calls in both directions: TypeScript -> a Python tool -> a TypeScript tool, one trace", async () => {
  bridge.tools.register("shout", (args) => String(args.text).toUpperCase(), {
    description: "Upper-case a text",
    parameters: { type: "object", properties: { text: { type: "string" } }, required: ["text"] },
  });
  let answer: unknown;
  const root = await inRoot(async () => {
    answer = await bridge.tools.call("ask_typescript", { text: "hi" });
  });
  assert.equal(answer, "HI");
  const py = await workerSpans(root.traceId);
  const pyTool = one(py, "dspy_bridge.tool ask_typescript");
  assert.equal(pyTool.attributes["dspy_bridge.tool.side"], "python");
  const host = hostSpans(root.traceId);
  const hostCall = one(host, "dspy_bridge.host_call CallTool");
  assert.equal(parentOf(hostCall), pyTool.span_id, "the host serves the worker's call inside the Python tool's span");
  const tsTool = one(host, "dspy_bridge.tool shout");
  assert.equal(parentOf(tsTool), hostCall.spanContext().spanId);
  assert.equal(tsTool.attributes["dspy_bridge.tool.side"], "typescript");
});

test("an optimization run: one span, a child span per trial with its score", async () => {
  const s = await bridge.sessions.create({ id: "otel-opt" });
  await s.variables.define("temperature", "float", 0.5, { constraints: { min: 0, max: 1 } });
  bridge.tools.register("peak", (args) => -(((args.temperature as number) - 0.3) ** 2));
  const target = { variable: "temperature" };
  const root = await inRoot(async () => {
    bridge.optimization.start(s.id, target, {
      optimizer: "random",
      objective: "peak",
      maxIterations: 4,
      patience: 100,
      seed: 7,
    });
    await bridge.optimization.wait(s.id, target);
  });
  const history = bridge.optimization.history(s.id, target);
  const host = hostSpans(root.traceId);
  const run = one(host, "dspy_bridge.optimization temperature");
  assert.equal(run.attributes["dspy_bridge.optimization.optimizer"], "random");
  const trials = host.filter((t) => t.name === "dspy_bridge.optimization.trial");
  assert.equal(trials.length, 4);
  for (const t of trials) assert.equal(parentOf(t), run.spanContext().spanId);
  const scores = trials
    .sort(
      (a, b) =>
        (a.attributes["dspy_bridge.trial.iteration"] as number) -
        (b.attributes["dspy_bridge.trial.iteration"] as number),
    )
    .map((t) => t.attributes["dspy_bridge.trial.score"]);
  assert.deepEqual(
    scores,
    history.map((h) => h.score),
  );
  assert.equal(run.attributes["dspy_bridge.optimization.best_score"], Math.max(...history.map((h) => h.score)));
  await bridge.sessions.delete(s.id);
});

test("metrics: calls and latency per command, in-flight, queue depth, variable commits, LM tokens per model", async () => {
  const s = await bridge.sessions.create({ id: "otel-metrics" });
  await s.variables.define("n", "integer", 1);
  await s.variables.set("n", 2);
  await bridge.execute("ping");
  const { resourceMetrics } = await reader.collect();
  const points = (name: string) =>
    (resourceMetrics as ResourceMetrics).scopeMetrics.flatMap((sm) =>
      sm.metrics
        .filter((m) => m.descriptor.name === name)
        .flatMap((m) => m.dataPoints as { attributes: Record<string, unknown>; value: unknown }[]),
    );
  const pings = points("dspy_bridge.calls").find(
    (p) => p.attributes["dspy_bridge.command"] === "ping" && p.attributes["dspy_bridge.outcome"] === "ok",
  );
  assert.ok(pings && (pings.value as number) >= 1, "ping counted");
  const duration = points("dspy_bridge.call.duration").find((p) => p.attributes["dspy_bridge.command"] === "ping");
  assert.ok(duration && (duration.value as { count: number }).count >= 1, "ping's latency in the histogram");
  assert.equal(points("dspy_bridge.calls.in_flight").length, 1);
  assert.equal(points("dspy_bridge.queue.depth").length, 1);
  const commits = points("dspy_bridge.variable.commits").reduce((n, p) => n + (p.value as number), 0);
  assert.ok(commits >= 2, `variable commits counted (${commits})`);
  const tokens = await bridge.execute<{ attributes: Record<string, string>; value: number }[]>("otel_test.tokens");
  const input = tokens.find(
    (t) => t.attributes["gen_ai.request.model"] === "openai/fixture" && t.attributes["gen_ai.token.type"] === "input",
  );
  assert.ok(input && input.value > 0, JSON.stringify(tokens));
  await bridge.sessions.delete(s.id);
});
