// The real LM path over real HTTP: TypeScript -> worker -> DSPy 3.4's own HTTP clients ->
// an OpenAI-compatible server (ts/test/fixtures/openai-server.ts), on both of DSPy's engines:
// its native client (the default for `openai/...` with an apiBase) and LiteLLM
// (`engine: "litellm"`, passed to dspy.LM through the spec's `extra`). Nothing is mocked
// between the TypeScript call and the HTTP request the server records.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Bridge, CancelledError, TimeoutError, type LMSpec } from "../src/index.js";
import { startOpenAIServer, type OpenAIServer, type RecordedRequest } from "./fixtures/openai-server.js";
import { quietLogs } from "./helpers.js";

const KEY_ENV = "FIXTURE_OPENAI_KEY";
const KEY = "sk-test-fixture-key";
const ENGINES = ["native", "litellm"] as const;
type Engine = (typeof ENGINES)[number];
// What each engine calls the token limit on the wire (DSPy 3.4.1): the native client speaks
// the current OpenAI API, LiteLLM the older name.
const MAX_TOKENS_KEY: Record<Engine, string> = { native: "max_completion_tokens", litellm: "max_tokens" };

let server: OpenAIServer;
let bridge: Bridge;

function lm(engine: Engine, spec: Partial<LMSpec> = {}): LMSpec {
  return {
    model: "openai/fixture",
    apiBase: server.url,
    apiKeyEnv: KEY_ENV,
    cache: false,
    ...(engine === "litellm" ? { extra: { engine: "litellm" } } : {}),
    ...spec,
  };
}

const chats = (): RecordedRequest[] => server.chatRequests();
const lastChat = (): RecordedRequest => {
  const all = chats();
  assert.ok(all.length > 0, "the server received a chat completion request");
  return all[all.length - 1]!;
};
const userText = (req: RecordedRequest): string => {
  const users = (req.body.messages as { role: string; content: string }[]).filter((m) => m.role === "user");
  return users[users.length - 1]!.content;
};
/** Which client sent it: LiteLLM goes through the openai SDK, which adds x-stainless-* headers. */
const engineOf = (req: RecordedRequest): Engine => ("x-stainless-lang" in req.headers ? "litellm" : "native");

before(async () => {
  server = await startOpenAIServer();
  process.env[KEY_ENV] = KEY; // the workers inherit it
  process.env.LITELLM_LOCAL_MODEL_COST_MAP ??= "True"; // no provider is reachable: LiteLLM would try to download its price map
  // LiteLLM imported once in the fork server rather than in each worker on its first call
  // (5 s of CPU each; 30 s on a loaded 2-core machine).
  bridge = await Bridge.start({ workers: 2, preload: ["dspy", "litellm"], healthIntervalMs: 0, ...quietLogs });
  // The first call of an engine in a worker imports the rest of its client: do it on both
  // workers now, so that the timing assertions below measure calls, not imports.
  await Promise.all(
    ENGINES.flatMap((engine) =>
      Array.from({ length: 6 }, (_, i) =>
        bridge.dspy.run({
          module: "Predict",
          signature: "question -> answer",
          inputs: { question: `warm ${i}` },
          lm: lm(engine),
        }),
      ),
    ),
  );
});
after(async () => {
  await bridge?.close();
  await server?.close();
});

for (const engine of ENGINES) {
  describe(`${engine} engine`, () => {
    test("Predict: the answer the server wrote, the spec and the key on the wire, usage", async () => {
      server.reset();
      const r = await bridge.dspy.run({
        module: "Predict",
        signature: "question -> answer",
        inputs: { question: "What is the capital of France?" },
        lm: lm(engine, { temperature: 0.25, maxTokens: 99 }),
      });
      assert.equal(r.fields.answer, "answer: What is the capital of France?");
      assert.equal(chats().length, 1);
      const req = lastChat();
      assert.equal(engineOf(req), engine, "the engine asked for is the one that sent the request");
      assert.equal(req.path, "/v1/chat/completions");
      assert.equal(req.headers.authorization, `Bearer ${KEY}`, "the key named by apiKeyEnv reaches the server");
      assert.equal(req.body.model, "fixture");
      assert.equal(req.body.temperature, 0.25);
      assert.equal(req.body[MAX_TOKENS_KEY[engine]], 99);
      assert.match(userText(req), /\[\[ ## question ## \]\]\nWhat is the capital of France\?/);
      const usage = r.usage["openai/fixture"] as Record<string, number> | undefined;
      assert.ok(usage && usage.prompt_tokens > 0 && usage.completion_tokens > 0, JSON.stringify(r.usage));
      assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
    });

    test("ChainOfThought: reasoning and a typed answer", async () => {
      server.reset();
      const r = await bridge.dspy.run({
        module: "ChainOfThought",
        signature: "question -> answer: int",
        inputs: { question: "How many legs has a spider?" },
        lm: lm(engine),
      });
      assert.equal(r.fields.reasoning, "reasoning: How many legs has a spider?");
      assert.equal(r.fields.answer, 42, "int output parsed from the HTTP answer");
      assert.match(
        userText(lastChat()),
        /starting with the field `\[\[ ## reasoning ## \]\]`, then `\[\[ ## answer ## \]\]` \(must be formatted as a valid Python int\)/,
      );
    });

    test("ReAct calls a TypeScript tool once with the model's arguments, then finishes", async () => {
      server.reset();
      const calls: Record<string, unknown>[] = [];
      const tool = `weather_${engine}`;
      bridge.tools.register(
        tool,
        (args) => {
          calls.push(args);
          return `sunny in ${args.city as string} for ${args.days as number} day(s)`;
        },
        {
          description: "Look the weather of a city up",
          parameters: {
            type: "object",
            properties: { city: { type: "string" }, days: { type: "integer" } },
            required: ["city", "days"],
          },
        },
      );
      const r = await bridge.dspy.run({
        module: "ReAct",
        signature: "question -> answer",
        inputs: { question: "Weather in Paris?" },
        config: { tools: [tool] },
        lm: lm(engine),
      });
      assert.deepEqual(calls, [{ city: "x", days: 1 }], "the fixture's arguments, from the tool's JSON schema");
      const trajectory = r.fields.trajectory as Record<string, unknown>;
      assert.equal(trajectory.tool_name_0, tool);
      assert.equal(trajectory.observation_0, "sunny in x for 1 day(s)");
      assert.equal(trajectory.tool_name_1, "finish");
      assert.equal(r.fields.answer, "answer: Weather in Paris?");
      const reqs = chats();
      assert.equal(reqs.length, 3, "two agent steps and the extraction");
      assert.match(
        reqs[0]!.body.messages[0].content,
        new RegExp(`\\(1\\) ${tool}, whose description is <desc>Look the weather of a city up</desc>`),
      );
      assert.match(
        userText(reqs[1]!),
        /\[\[ ## observation_0 ## \]\]\nsunny in x for 1 day\(s\)/,
        "the observation went back to the model",
      );
    });

    test("a bound session program: the variables set from TypeScript are the temperature and max tokens on the wire", async () => {
      server.reset();
      const s = await bridge.sessions.create({ id: `lm-http-bound-${engine}` });
      await s.variables.defineMany([
        { name: "temperature", type: "float", initialValue: 0.3, constraints: { min: 0, max: 2 } },
        { name: "max_tokens", type: "integer", initialValue: 64 },
      ]);
      await s.programs.create("qa", {
        module: "ChainOfThought",
        signature: "question -> answer",
        bindings: { temperature: "temperature", max_tokens: "max_tokens" },
      });
      const first = await s.programs.execute(
        "qa",
        { question: "q1" },
        { lm: lm(engine, { temperature: 1.5, maxTokens: 1000 }) },
      );
      assert.equal(first.fields.answer, "answer: q1");
      assert.deepEqual(
        [lastChat().body.temperature, lastChat().body[MAX_TOKENS_KEY[engine]]],
        [0.3, 64],
        "the variables, not the spec's defaults",
      );
      assert.deepEqual([first.lmCalls[0]!.temperature, first.lmCalls[0]!.max_tokens], [0.3, 64]);
      await s.variables.update({ temperature: 0.9, max_tokens: 128 });
      await s.programs.execute("qa", { question: "q2" }, { lm: lm(engine, { temperature: 1.5, maxTokens: 1000 }) });
      assert.deepEqual([lastChat().body.temperature, lastChat().body[MAX_TOKENS_KEY[engine]]], [0.9, 128]);
      await s.variables.set("temperature", 0);
      await s.programs.execute("qa", { question: "q3" }, { lm: lm(engine) });
      assert.deepEqual(
        [lastChat().body.temperature, lastChat().body[MAX_TOKENS_KEY[engine]]],
        [0, 128],
        "zero is sent, not dropped",
      );
      assert.equal(chats().length, 3);
      await bridge.sessions.delete(s.id);
    });

    test("cancelling a call on a hanging server closes its HTTP request; so does timeoutMs", async () => {
      server.reset();
      const controller = new AbortController();
      const pending = bridge.dspy.run({
        module: "Predict",
        signature: "question -> answer",
        inputs: { question: "never answered" },
        lm: lm(engine, { model: "openai/fixture-hang" }),
        signal: controller.signal,
      });
      await server.waitFor(() => server.stats().inFlight === 1, 10_000);
      const t0 = performance.now();
      controller.abort();
      await assert.rejects(pending, CancelledError);
      const rejectedMs = performance.now() - t0;
      await server.waitFor(() => server.stats().abortedByClient === 1, 5_000);
      const closedMs = performance.now() - t0;
      assert.ok(rejectedMs < 1_000, `the call rejected ${rejectedMs.toFixed(0)} ms after the abort`);
      assert.ok(closedMs < 2_000, `the HTTP socket closed ${closedMs.toFixed(0)} ms after the abort`);
      assert.equal(server.stats().inFlight, 0);

      const t1 = performance.now();
      await assert.rejects(
        bridge.dspy.run({
          module: "Predict",
          signature: "question -> answer",
          inputs: { question: "too slow" },
          lm: lm(engine, { model: "openai/fixture-hang" }),
          timeoutMs: 1_000,
        }),
        TimeoutError,
      );
      const timedOutMs = performance.now() - t1;
      assert.ok(timedOutMs >= 950 && timedOutMs < 2_500, `rejected after ${timedOutMs.toFixed(0)} ms`);
      await server.waitFor(() => server.stats().abortedByClient === 2, 5_000);
      assert.equal(server.stats().completed, 0);
      assert.equal(chats().length, 2, "no retry of a cancelled call");
      // The worker keeps serving over HTTP.
      const ok = await bridge.dspy.run({
        module: "Predict",
        signature: "question -> answer",
        inputs: { question: "still there?" },
        lm: lm(engine),
      });
      assert.equal(ok.fields.answer, "answer: still there?");
    });

    test("200 concurrent Predict calls against a 50 ms server all answer", async () => {
      server.reset();
      server.setLatency(50);
      try {
        const t0 = performance.now();
        const results = await Promise.all(
          Array.from({ length: 200 }, (_, i) =>
            bridge.dspy.run({
              module: "Predict",
              signature: "question -> answer",
              inputs: { question: `q${i}` },
              lm: lm(engine),
              usage: false,
            }),
          ),
        );
        const ms = performance.now() - t0;
        assert.deepEqual(
          results.map((r) => r.fields.answer),
          Array.from({ length: 200 }, (_, i) => `answer: q${i}`),
        );
        assert.equal(server.stats().completed, 200);
        assert.ok(ms < 15_000, `200 calls took ${ms.toFixed(0)} ms (serial: 10,000 ms of server latency alone)`);
      } finally {
        server.setLatency(0);
      }
    });

    test("BootstrapFewShot over HTTP: the traces that pass the metric become demos, and the compiled program sends them", async () => {
      server.reset();
      const s = await bridge.sessions.create({ id: `lm-http-opt-${engine}` });
      await s.programs.create("qa", { module: "ChainOfThought", signature: "question -> answer" });
      // The server answers "answer: <question>": exact_match passes on the first two and fails on the last two.
      const trainset = [
        { question: "What is 1 + 2?", answer: "answer: What is 1 + 2?" },
        { question: "Capital of France?", answer: "Paris" },
        { question: "What is 3 + 4?", answer: "answer: What is 3 + 4?" },
        { question: "Colour of the sky?", answer: "blue" },
      ];
      const result = await s.programs.optimize("qa", {
        optimizer: "BootstrapFewShot",
        trainset,
        metric: "exact_match",
        params: { max_bootstrapped_demos: 4, max_labeled_demos: 0, max_rounds: 1 },
        lm: lm(engine),
      }).result;
      assert.equal(result.evaluations, 4);
      const state = (result.saved.state as { predict?: { demos: Record<string, unknown>[] } }).predict!;
      assert.deepEqual(
        state.demos.map((d) => [d.question, d.reasoning, d.answer, d.augmented]),
        [
          ["What is 1 + 2?", "reasoning: What is 1 + 2?", "answer: What is 1 + 2?", true],
          ["What is 3 + 4?", "reasoning: What is 3 + 4?", "answer: What is 3 + 4?", true],
        ],
      );
      assert.ok(chats().length >= 4, "every trainset example was answered over HTTP");
      server.reset();
      const out = await s.programs.execute("qa", { question: "What is 5 + 6?" }, { lm: lm(engine) });
      assert.equal(out.fields.answer, "answer: What is 5 + 6?");
      const roles = (lastChat().body.messages as { role: string }[]).map((m) => m.role);
      assert.deepEqual(
        roles,
        ["system", "user", "assistant", "user", "assistant", "user"],
        "the two demos travel as conversation turns",
      );
      assert.match(
        (lastChat().body.messages[2] as { content: string }).content,
        /\[\[ ## reasoning ## \]\]\nreasoning: What is 1 \+ 2\?/,
      );
      await bridge.sessions.delete(s.id);
    });
  });
}
