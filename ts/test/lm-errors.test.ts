// Provider failures arrive as typed errors, over real HTTP, on both of DSPy 3.4's engines (its
// native client, the default for `openai/...`, and LiteLLM): the workers' DSPy talks to a local
// OpenAI-compatible server (ts/test/fixtures/openai-server.ts) told by the model name, or by a
// scripted behaviour, how to fail. Classification is by exception class in the worker
// (python/dspy_bridge/core/_lm_errors.py); these tests prove it end to end.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  AuthenticationError,
  Bridge,
  BridgeError,
  LMError,
  type LMSpec,
  ParseError,
  RateLimitError,
  TimeoutError,
} from "../src/index.js";
import { startOpenAIServer, type OpenAIServer } from "./fixtures/openai-server.js";
import { fixturesDir } from "./helpers.js";

const KEY = "sk-test-errors-0123456789abcdef";
type Engine = "native" | "litellm";
const ENGINES: Engine[] = ["native", "litellm"];

let server: OpenAIServer;
let bridge: Bridge;
const logs: string[] = [];

/** The fixture's LM with retries off: each test sees the provider's first answer. */
function lm(engine: Engine, model: string, more: Partial<LMSpec> = {}): LMSpec {
  return {
    model: `openai/${model}`,
    apiBase: server.url,
    apiKeyEnv: "FIXTURE_ERRORS_KEY",
    cache: false,
    numRetries: 0,
    ...more,
    extra: { ...(engine === "litellm" ? { engine: "litellm" } : {}), ...more.extra },
  };
}

function predict(spec: LMSpec): Promise<unknown> {
  return bridge.dspy.run({
    module: "Predict",
    signature: "question -> answer",
    inputs: { question: "Why?" },
    lm: spec,
  });
}

/** The error `call` rejects with, checked to be a BridgeError that leaks no key anywhere. */
async function failure(call: Promise<unknown>): Promise<BridgeError> {
  const err = await call.then(
    (value) => assert.fail(`expected a failure, got ${JSON.stringify(value)}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof BridgeError, `not a BridgeError: ${String(err)}`);
  for (const text of [err.message, JSON.stringify(err.details), err.pythonTraceback]) {
    assert.ok(!text.includes(KEY), `the API key leaked into ${text.slice(0, 300)}`);
  }
  return err;
}

before(async () => {
  server = await startOpenAIServer();
  process.env.FIXTURE_ERRORS_KEY = KEY;
  bridge = await Bridge.start({
    workers: 2,
    pythonPath: [fixturesDir],
    modules: ["py_lm_user"],
    onLog: (e) => logs.push(e.line),
  });
});

after(async () => {
  await bridge?.close();
  await server?.close();
  delete process.env.FIXTURE_ERRORS_KEY;
});

for (const engine of ENGINES) {
  describe(`provider errors over HTTP (${engine} engine)`, () => {
    test("HTTP 429 is a RateLimitError with the provider's Retry-After", async () => {
      const err = await failure(predict(lm(engine, "fixture-status-429-retry-2")));
      assert.ok(err instanceof RateLimitError, `${err.name}: ${err.message}`);
      assert.equal(err.retryAfterMs, 2000);
      assert.equal(err.status, 429);
      assert.equal(err.retryable, true);
      assert.match(err.pythonType ?? "", /LMRateLimitError/);
    });

    test("HTTP 401 and 403 are AuthenticationErrors, not retryable, and the echoed key is redacted", async () => {
      server.script({
        status: 401,
        message: `Incorrect API key provided: ${KEY}. You can find your API key at the dashboard.`,
      });
      const unauthorized = await failure(predict(lm(engine, "fixture-echo")));
      assert.ok(unauthorized instanceof AuthenticationError, `${unauthorized.name}: ${unauthorized.message}`);
      assert.equal(unauthorized.status, 401);
      assert.equal(unauthorized.retryable, false);
      assert.match(unauthorized.message, /\[redacted\]/);
      // The key did reach the provider, as a bearer token: it was the right key, refused.
      assert.equal(server.chatRequests().at(-1)?.headers.authorization, `Bearer ${KEY}`);
      const forbidden = await failure(predict(lm(engine, "fixture-status-403")));
      assert.ok(forbidden instanceof AuthenticationError, `${forbidden.name}: ${forbidden.message}`);
      assert.equal(forbidden.status, 403);
    });

    test("HTTP 500 and 503 are retryable LMErrors with the status; 400 is not retryable", async () => {
      for (const status of [500, 503]) {
        const err = await failure(predict(lm(engine, `fixture-status-${status}`)));
        assert.ok(err instanceof LMError, `${status}: ${err.name}: ${err.message}`);
        assert.equal(err.status, status);
        assert.equal(err.retryable, true, `${status} should be retryable`);
      }
      const bad = await failure(predict(lm(engine, "fixture-status-400")));
      assert.ok(bad instanceof LMError, `${bad.name}: ${bad.message}`);
      assert.equal(bad.status, 400);
      assert.equal(bad.retryable, false);
    });

    test("a dropped connection is a retryable LMError without a status", async () => {
      const err = await failure(predict(lm(engine, "fixture-drop")));
      assert.ok(err instanceof LMError, `${err.name}: ${err.message}`);
      assert.equal(err.status, undefined);
      assert.equal(err.retryable, true);
    });

    test("a malformed answer is an LMError", async () => {
      const err = await failure(predict(lm(engine, "fixture-malformed")));
      assert.ok(err instanceof LMError, `${err.name}: ${err.message}`);
    });

    test("an answer that does not fit the signature is a ParseError", async () => {
      // ChatAdapter fails, DSPy retries with its JSON adapter (which may try twice): every try gets prose.
      server.script(...Array.from({ length: 4 }, () => ({ content: "I would rather not use your format." })));
      try {
        const err = await failure(predict(lm(engine, "fixture")));
        assert.ok(err instanceof ParseError, `${err.name}: ${err.message}`);
        assert.equal(err.retryable, false);
      } finally {
        server.reset();
      }
    });

    test("a provider that stops answering is a TimeoutError once the engine's timeout passes", async () => {
      const started = performance.now();
      const err = await failure(predict(lm(engine, "fixture-hang", { extra: { timeout: 0.5 } })));
      assert.ok(err instanceof TimeoutError, `${err.name}: ${err.message}`);
      assert.equal(err.retryable, true);
      assert.ok(performance.now() - started < 10_000, "the engine's timeout was not honoured");
      await server.waitFor(() => server.stats().inFlight === 0, 5_000);
    });

    test("a session program, ReAct and a user's own @command get the same mapping", async () => {
      const session = await bridge.sessions.create({ id: `lm-errors-${engine}` });
      try {
        await session.programs.create("qa", { module: "ChainOfThought", signature: "question -> answer" });
        const program = await failure(
          session.programs.execute("qa", { question: "Why?" }, { lm: lm(engine, "fixture-status-429-retry-3") }),
        );
        assert.ok(program instanceof RateLimitError, `${program.name}: ${program.message}`);
        assert.equal(program.retryAfterMs, 3000);
      } finally {
        await bridge.sessions.delete(session.id);
      }
      const react = await failure(
        bridge.dspy.run({
          module: "ReAct",
          signature: "question -> answer",
          inputs: { question: "Why?" },
          lm: lm(engine, "fixture-status-401"),
        }),
      );
      assert.ok(react instanceof AuthenticationError, `${react.name}: ${react.message}`);
      // A user command calling dspy.LM itself: the worker's error boundary types it too.
      const own = await failure(
        bridge.execute("lm_user.ask", {
          api_base: server.url,
          model: "openai/fixture-status-503",
          engine: engine === "litellm" ? "litellm" : "auto",
        }),
      );
      assert.ok(own instanceof LMError, `${own.name}: ${own.message}`);
      assert.equal((own as LMError).status, 503);
      assert.equal(own.retryable, true);
    });
  });
}

describe("provider errors in optimizer jobs", () => {
  test("a job whose every LM call is refused fails with the AuthenticationError", async () => {
    const session = await bridge.sessions.create({ id: "lm-errors-optimizer" });
    try {
      await session.programs.create("qa", { module: "Predict", signature: "question -> answer" });
      const trainset = [1, 2, 3, 4].map((i) => ({ question: `q${i}`, answer: `a${i}` }));
      const job = session.programs.optimize("qa", {
        optimizer: "BootstrapFewShot",
        trainset,
        metric: "exact_match",
        lm: lm("native", "fixture-status-401"),
        params: { max_errors: 1 },
      });
      const err = await failure(job.result);
      assert.ok(err instanceof AuthenticationError, `${err.name}: ${err.message}`);
      assert.equal(err.status, 401);
    } finally {
      await bridge.sessions.delete(session.id);
    }
  });
});

describe("no key in the logs", () => {
  test("nothing the workers logged while failing holds the key", () => {
    assert.ok(
      logs.every((line) => !line.includes(KEY)),
      "a worker log line holds the API key",
    );
  });
});
