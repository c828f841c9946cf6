// LM spec options on the host: engine, numRetries, timeoutMs (their wire names and
// validation, before anything reaches a worker), unknown options refused; then end to end,
// that a worker's DSPy honours them against the OpenAI-compatible fixture server.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Bridge, DSPyApi, InvalidArgumentError, TimeoutError, type LMSpec } from "../src/index.js";
import type { CommandRunner } from "../src/command-runner.js";
import { startOpenAIServer, type OpenAIServer } from "./fixtures/openai-server.js";
import { quietLogs } from "./helpers.js";

/** A DSPyApi whose runner records what would be sent to a worker. */
function recordingApi(): { api: DSPyApi; sent: Record<string, unknown>[] } {
  const sent: Record<string, unknown>[] = [];
  const runner: CommandRunner = {
    async execute<T>(_command: string, args?: Record<string, unknown>): Promise<T> {
      sent.push(args ?? {});
      return { fields: {}, usage: {}, latency_ms: 1, lm: null } as T;
    },
    stream(): AsyncIterableIterator<never> {
      throw new Error("not used");
    },
  };
  return { api: new DSPyApi(runner), sent };
}

const invalid = (parameter: string, message?: RegExp) => (err: unknown) => {
  assert.ok(err instanceof InvalidArgumentError, `InvalidArgumentError, got ${String(err)}`);
  assert.equal(err.details.parameter, parameter);
  if (message) assert.match(err.message, message);
  return true;
};

describe("LM spec options on the host", () => {
  test("engine, numRetries and timeoutMs travel in snake_case", async () => {
    const { api, sent } = recordingApi();
    await api.run({
      module: "Predict",
      signature: "q -> a",
      inputs: { q: "x" },
      lm: { model: "openai/m", apiBase: "http://127.0.0.1:1/v1", engine: "native", numRetries: 0, timeoutMs: 1500 },
    });
    assert.deepEqual(sent[0]!.lm, {
      model: "openai/m",
      api_base: "http://127.0.0.1:1/v1",
      engine: "native",
      num_retries: 0,
      timeout_ms: 1500,
    });
  });

  test("every engine name is accepted; a typo is refused with the choices", () => {
    const { api } = recordingApi();
    for (const engine of ["auto", "native", "litellm"] as const) api.configureLM({ model: "openai/m", engine });
    for (const engine of ["nativ", "lm15", "LiteLLM", ""]) {
      assert.throws(
        () => api.configureLM({ model: "openai/m", engine: engine as LMSpec["engine"] }),
        invalid("lm.engine", /"auto", "native", "litellm"/),
      );
    }
  });

  test("numRetries must be a non-negative integer, timeoutMs a positive number", () => {
    const { api } = recordingApi();
    for (const numRetries of [-1, 1.5, Number.NaN, "2" as unknown as number]) {
      assert.throws(() => api.configureLM({ model: "openai/m", numRetries }), invalid("lm.numRetries"));
    }
    for (const timeoutMs of [0, -10, Number.POSITIVE_INFINITY, Number.NaN, "100" as unknown as number]) {
      assert.throws(() => api.configureLM({ model: "openai/m", timeoutMs }), invalid("lm.timeoutMs"));
    }
    api.configureLM({ model: "openai/m", numRetries: 0, timeoutMs: 0.5 });
  });

  test("an unknown option is refused instead of dropped, naming it", () => {
    const { api } = recordingApi();
    for (const name of ["timeout", "num_retries", "retries", "apiKey"]) {
      assert.throws(
        () => api.configureLM({ model: "openai/m", [name]: 1 } as LMSpec),
        invalid("lm", new RegExp(`unknown LM option\\(s\\): ${name}`)),
      );
    }
    assert.throws(
      () => api.lmFor({ model: "openai/m", timeout: 5 } as LMSpec),
      (err: unknown) => err instanceof InvalidArgumentError && /known: model, apiKeyEnv, .*timeoutMs/.test(err.message),
    );
  });
});

describe("LM spec options in a worker (fixture server)", () => {
  const KEY_ENV = "LM_SPEC_TEST_KEY";
  let server: OpenAIServer;
  let bridge: Bridge;
  before(async () => {
    server = await startOpenAIServer({ record: false });
    process.env[KEY_ENV] = "sk-test-lm-spec-secret";
    bridge = await Bridge.start({ workers: 1, healthIntervalMs: 0, ...quietLogs });
  });
  after(async () => {
    await bridge?.close();
    await server?.close();
  });

  const spec = (engine: "native" | "litellm", options: Partial<LMSpec> = {}): LMSpec => ({
    model: "openai/fixture",
    apiBase: server.url,
    apiKeyEnv: KEY_ENV,
    cache: false,
    engine,
    ...options,
  });
  const predict = (lm: LMSpec) =>
    bridge.dspy.run({ module: "Predict", signature: "question -> answer", inputs: { question: "q" }, lm });

  for (const engine of ["native", "litellm"] as const) {
    test(`${engine}: timeoutMs bounds a request the server never answers`, async () => {
      await predict(spec(engine)); // the engine answers normally
      const t0 = performance.now();
      await assert.rejects(
        predict(spec(engine, { model: "openai/fixture-hang", timeoutMs: 300, numRetries: 0 })),
        (err: unknown) => {
          assert.ok(err instanceof TimeoutError, `TimeoutError, got ${String(err)}`);
          assert.doesNotMatch(err.message, /sk-test-lm-spec-secret/);
          return true;
        },
      );
      const ms = performance.now() - t0;
      assert.ok(ms >= 250 && ms < 5_000, `timed out after ${ms.toFixed(0)} ms`);
    });
  }

  test("native: a model DSPy's own client cannot serve is an InvalidArgumentError from the worker", async () => {
    await assert.rejects(predict(spec("native", { model: "together_ai/some-model" })), invalid("lm.engine", /native/));
  });
});
