// Streaming DSPy runs token by token, by output field, over real HTTP: the workers' DSPy talks
// to a local OpenAI-compatible server (ts/test/fixtures/openai-server.ts) that answers
// `stream: true` requests with Server-Sent Events, on both of DSPy 3.4's engines (its native
// lm15 client and LiteLLM, chosen by the spec's `engine`).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Bridge, type DSPyStreamItem, type LMSpec } from "../src/index.js";
import { startOpenAIServer, type OpenAIServer, type RecordedRequest } from "./fixtures/openai-server.js";
import { waitFor } from "./helpers.js";

type Engine = "native" | "litellm";
const ENGINES: Engine[] = ["native", "litellm"];
const MODULES = [
  { module: "Predict", fields: ["answer"] },
  { module: "ChainOfThought", fields: ["reasoning", "answer"] },
];

let server: OpenAIServer;
let bridge: Bridge;
/** Everything the workers wrote to stderr. */
const logs: string[] = [];

/** The fixture's LM; `model` carries the fixture's per-request directives (`fixture-chunkdelay-10`). */
function lm(engine: Engine, model = "fixture"): LMSpec {
  return {
    model: `openai/${model}`,
    apiBase: server.url,
    apiKeyEnv: "FIXTURE_OPENAI_KEY",
    cache: false,
    engine,
  };
}

type Chunk = Extract<DSPyStreamItem, { type: "chunk" }>;
type Prediction = Extract<DSPyStreamItem, { type: "prediction" }>;

/** Collects a stream; `inFlightAtFirstChunk` is the fixture's open requests when the first chunk reached TypeScript. */
async function collect(stream: AsyncIterable<DSPyStreamItem>) {
  const items: DSPyStreamItem[] = [];
  let inFlightAtFirstChunk = -1;
  for await (const item of stream) {
    if (item.type === "chunk" && inFlightAtFirstChunk < 0) inFlightAtFirstChunk = server.stats().inFlight;
    items.push(item);
  }
  const chunks = items.filter((i): i is Chunk => i.type === "chunk");
  const predictions = items.filter((i): i is Prediction => i.type === "prediction");
  return { items, chunks, predictions, inFlightAtFirstChunk };
}

/** Every item is one of the three shapes; chunks come before the one prediction, which is last. */
function checkShape(items: DSPyStreamItem[], fields: string[]): void {
  for (const item of items) {
    assert.ok(["status", "chunk", "prediction"].includes(item.type), `unexpected item ${JSON.stringify(item)}`);
    if (item.type === "status") assert.equal(typeof item.message, "string");
    if (item.type === "chunk") {
      assert.ok(
        fields.includes(item.field),
        `chunk of ${JSON.stringify(item.field)}, not an output field (${fields.join(", ")})`,
      );
      assert.equal(typeof item.text, "string");
      assert.ok(
        !item.text.includes("[[ ##") && !item.text.includes("## ]]"),
        `field markers leaked into ${JSON.stringify(item.text)}`,
      );
      assert.ok(
        !/ModelResponseStream|'choices'|"choices"/.test(item.text),
        `a provider chunk's repr leaked: ${item.text}`,
      );
    }
  }
  const last = items[items.length - 1]!;
  assert.equal(last.type, "prediction", "the prediction comes last");
  assert.equal(items.filter((i) => i.type === "prediction").length, 1);
}

/** Per field: several chunks, and their text joined is the field's final value. */
function checkFields(chunks: Chunk[], prediction: Prediction, fields: string[]): void {
  for (const field of fields) {
    const mine = chunks.filter((c) => c.field === field);
    assert.ok(mine.filter((c) => c.text.length > 0).length >= 3, `${field}: ${mine.length} chunk(s), expected several`);
    assert.equal(mine.filter((c) => c.last).length, 1, `${field}: one last chunk`);
    assert.ok(mine[mine.length - 1]!.last, `${field}: the last chunk is marked last`);
    const value = prediction.fields[field];
    assert.equal(typeof value, "string");
    assert.ok((value as string).length > 0);
    assert.equal(
      mine
        .map((c) => c.text)
        .join("")
        .trim(),
      value,
      `${field}: the chunks joined are the field's value`,
    );
  }
  // ChainOfThought: reasoning streams first, then the answer (the order the LM writes them).
  const order = [...new Set(chunks.map((c) => c.field))];
  assert.deepEqual(order, fields);
}

function lastChat(): RecordedRequest {
  const chats = server.chatRequests();
  assert.ok(chats.length > 0, "the LM made an HTTP request");
  return chats[chats.length - 1]!;
}

before(async () => {
  process.env.FIXTURE_OPENAI_KEY = "sk-test";
  // No network here: LiteLLM would otherwise retry fetching its model cost map for seconds on its first call.
  process.env.LITELLM_LOCAL_MODEL_COST_MAP ??= "True";
  server = await startOpenAIServer();
  // LiteLLM imported once in the fork server, not by the worker on its first call (seconds).
  bridge = await Bridge.start({
    workers: 1,
    preload: ["dspy", "litellm"],
    healthIntervalMs: 0,
    onLog: (l) => void logs.push(l.line),
  });
  // Each engine's first call imports the rest of its client: keep that out of the timing assertions.
  for (const engine of ENGINES) {
    for await (const _ of bridge.dspy.stream({
      module: "Predict",
      signature: "question -> answer",
      inputs: { question: "warm up" },
      lm: lm(engine),
    }));
  }
});
after(async () => {
  await bridge?.close();
  await server?.close();
});

describe("bridge.dspy.stream over HTTP", () => {
  for (const engine of ENGINES) {
    for (const { module, fields } of MODULES) {
      test(`${module} on the ${engine} engine: several chunks per output field before the prediction, joined = the field's value, stream: true on the wire`, async () => {
        server.reset();
        const question = "Why is the sky blue on a clear summer day?";
        const { items, chunks, predictions, inFlightAtFirstChunk } = await collect(
          bridge.dspy.stream({
            module,
            signature: "question -> answer",
            inputs: { question },
            lm: lm(engine, "fixture-chunkdelay-10"),
          }),
        );
        checkShape(items, fields);
        checkFields(chunks, predictions[0]!, fields);
        assert.ok(chunks.length > 0 && items.indexOf(chunks[0]!) < items.length - 1);
        // Real streaming, not a replay: the first chunk reached TypeScript while the HTTP response was still being written.
        assert.equal(inFlightAtFirstChunk, 1, "the HTTP response was still open when the first chunk arrived");
        const request = lastChat();
        assert.equal(server.chatRequests().length, 1);
        assert.equal(request.body.stream, true, "DSPy asked the provider to stream");
        assert.deepEqual(request.body.stream_options, { include_usage: true });
        assert.ok(Object.keys(predictions[0]!.usage).length > 0, "usage still tracked from the stream's usage chunk");
      });
    }
  }

  test("the two engines really are two HTTP clients", async () => {
    const agents: string[] = [];
    for (const engine of ENGINES) {
      server.reset();
      await collect(
        bridge.dspy.stream({
          module: "Predict",
          signature: "question -> answer",
          inputs: { question: "q?" },
          lm: lm(engine),
        }),
      );
      agents.push(String(lastChat().headers["user-agent"]));
    }
    // DSPy's native client announces itself as lm15; the LiteLLM path sends DSPy's own identifier.
    assert.match(agents[0]!, /lm15/, `native engine's user agent: ${agents[0]}`);
    assert.doesNotMatch(agents[1]!, /lm15/, `LiteLLM engine's user agent: ${agents[1]}`);
  });

  test("the scripted (offline) LM streams by field too", async () => {
    const { items, chunks, predictions } = await collect(
      bridge.dspy.stream({
        module: "ChainOfThought",
        signature: "question -> answer",
        inputs: { question: "why?" },
        lm: { model: "scripted" },
      }),
    );
    checkShape(items, ["reasoning", "answer"]);
    checkFields(chunks, predictions[0]!, ["reasoning", "answer"]);
  });

  for (const engine of ENGINES) {
    test(`breaking out mid-stream (${engine}) closes the HTTP request and leaves the worker healthy`, async () => {
      server.reset();
      logs.length = 0;
      const pid = bridge.stats().workers[0]!.pid;
      // ~40 content chunks 30 ms apart: over a second to finish unless the client leaves.
      const started = performance.now();
      let seen = 0;
      for await (const item of bridge.dspy.stream({
        module: "ChainOfThought",
        signature: "question -> answer",
        inputs: { question: "Why is the sky blue on a clear summer day?" },
        lm: lm(engine, "fixture-chunkdelay-30"),
        // One item in flight: the worker waits for credit with DSPy's generator suspended at a
        // yield, the hardest place to stop it from.
        streamWindow: 1,
      })) {
        if (item.type === "chunk" && ++seen === 2) break;
      }
      await server.waitFor(() => server.stats().inFlight === 0, 5_000);
      const stats = server.stats();
      assert.equal(stats.abortedByClient, 1, `the client closed the HTTP request (${JSON.stringify(stats)})`);
      assert.equal(stats.completed, 0);
      assert.ok(performance.now() - started < 1_000, "closed well before the response would have ended");
      // The worker is the same process, idle, and streams again.
      await waitFor(() => bridge.stats().workers[0]!.inFlight === 0, 2_000, "the cancelled call to leave the worker");
      assert.equal(bridge.stats().workers[0]!.pid, pid);
      assert.equal(bridge.stats().workers[0]!.state, "ready");
      const again = await collect(
        bridge.dspy.stream({
          module: "Predict",
          signature: "question -> answer",
          inputs: { question: "again?" },
          lm: lm(engine),
        }),
      );
      checkFields(again.chunks, again.predictions[0]!, ["answer"]);
      // DSPy's generator was stopped in its own task: no AnyIO "cancel scope in a different task", no orphaned task errors.
      assert.deepEqual(
        logs.filter((l) => /Traceback|cancel scope|never retrieved|Error/.test(l)),
        [],
      );
    });
  }
});

describe("session.programs.stream over HTTP", () => {
  for (const engine of ENGINES) {
    test(`a bound program (${engine}): the temperature set just before reaches the request body, fields stream`, async () => {
      server.reset();
      const session = await bridge.sessions.create({ id: `stream-program-${engine}` });
      await session.variables.define("temperature", "float", 0.2, { constraints: { min: 0, max: 2 } });
      await session.programs.create("qa", {
        module: "ChainOfThought",
        signature: "question -> answer",
        bindings: { temperature: "temperature" },
      });
      await session.variables.set("temperature", 0.9);
      const { items, chunks, predictions } = await collect(
        session.programs.stream("qa", { question: "Why is the sky blue?" }, { lm: lm(engine) }),
      );
      checkShape(items, ["reasoning", "answer"]);
      checkFields(chunks, predictions[0]!, ["reasoning", "answer"]);
      const request = lastChat();
      assert.equal(request.body.stream, true);
      assert.equal(request.body.temperature, 0.9, "the bound variable reached the provider");
      assert.equal(predictions[0]!.lmCalls[0]!.temperature, 0.9);
      // and again after a change, with no wait in between
      await session.variables.set("temperature", 0.4);
      await collect(session.programs.stream("qa", { question: "And at sunset?" }, { lm: lm(engine) }));
      assert.equal(lastChat().body.temperature, 0.4);
      assert.equal((await session.programs.list())[0]!.runs, 2);
      await bridge.sessions.delete(session.id);
    });
  }
});
