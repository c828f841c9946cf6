// The host-side DSPy API against real DSPy in real workers; the scripted LM is the only stand-in.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Bridge, BridgeError, InvalidArgumentError, LMError, NotFoundError } from "../src/index.js";
import { fixturesDir, quietLogs, waitFor } from "./helpers.js";

let bridge: Bridge;
before(async () => {
  bridge = await Bridge.start({ workers: 2, healthIntervalMs: 0, ...quietLogs });
  bridge.dspy.configureLM({ model: "scripted" });
});
after(() => bridge.close());

describe("bridge.dspy", () => {
  test("runs Predict and ChainOfThought once, with every field, usage and latency", async () => {
    const p = await bridge.dspy.run({
      module: "Predict",
      signature: "question -> answer",
      inputs: { question: "What is 2+2?" },
    });
    assert.equal(typeof p.fields.answer, "string");
    assert.ok((p.fields.answer as string).length > 0);
    assert.equal(p.fields.answer, "4", "the scripted LM answers the arithmetic in the question");
    assert.ok(p.latencyMs > 0);
    assert.equal(p.lm, "scripted");
    const c = await bridge.dspy.run({
      module: "ChainOfThought",
      signature: "question -> answer: int",
      inputs: { question: "2+2?" },
    });
    assert.equal(typeof c.fields.reasoning, "string", "ChainOfThought's reasoning comes back");
    assert.match(c.fields.reasoning as string, /^Let me think step by step about: 2\+2\?/);
    assert.equal(typeof c.fields.answer, "number", "typed output fields keep their type");
    assert.equal(c.fields.answer, 4);
  });

  test("scripted responses and per-call LM specs", async () => {
    const r = await bridge.dspy.run({
      module: "Predict",
      signature: "question -> answer",
      inputs: { question: "capital of France?" },
      lm: { model: "scripted", responses: [{ answer: "Paris" }] },
    });
    assert.equal(r.fields.answer, "Paris");
  });

  test("session programs: create, execute, list, save, load, delete", async () => {
    const s = await bridge.sessions.create({ id: "dspy-programs" });
    const info = await s.programs.create("qa", { module: "ChainOfThought", signature: "question -> answer" });
    assert.equal(info.programId, "qa");
    const out = await s.programs.execute("qa", { question: "why?" });
    assert.equal(typeof out.fields.answer, "string");
    assert.equal(out.fields.answer, "Scripted answer for: why?", "the scripted LM's answer names the question it got");
    assert.deepEqual(
      (await s.programs.list()).map((p) => [p.programId, p.runs]),
      [["qa", 1]],
    );
    const saved = await s.programs.save("qa");
    assert.equal(saved.module, "ChainOfThought");
    assert.equal(typeof saved.state, "object");
    JSON.stringify(saved); // plain JSON, no pickle
    await s.programs.load("qa-copy", saved);
    assert.equal((await s.programs.execute("qa-copy", { question: "again?" })).lm, "scripted");
    assert.equal(await s.programs.delete("qa"), true);
    await assert.rejects(s.programs.execute("qa", { question: "?" }), NotFoundError);
  });

  test("schema discovery and the generic call surface", async () => {
    const modules = (await bridge.dspy.describe()) as { modules: { name: string }[] };
    assert.deepEqual(
      modules.modules.map((m) => m.name),
      ["Predict", "ChainOfThought", "ReAct", "ProgramOfThought", "MultiChainComparison", "BestOfN", "Refine"],
    );
    const sig = (await bridge.dspy.describe({ signature: "context: list[str], question -> answer: float" })) as {
      inputs: { name: string; type: string }[];
      outputs: { name: string; type: string }[];
    };
    assert.deepEqual(
      sig.inputs.map((f) => f.name),
      ["context", "question"],
    );
    assert.deepEqual(
      sig.outputs.map((f) => [f.name, f.type]),
      [["answer", "float"]],
    );
    const cls = (await bridge.dspy.describe({ target: "dspy.ChainOfThought" })) as {
      kind: string;
      parameters: { name: string }[];
    };
    assert.equal(cls.kind, "class");
    assert.ok(cls.parameters.some((p) => p.name === "signature"));
    const example = await bridge.dspy.call<Record<string, unknown>>("dspy.Example", [], { question: "q", answer: "a" });
    assert.deepEqual(example, { question: "q", answer: "a" });
    await assert.rejects(
      bridge.dspy.call("os.system", ["true"]),
      InvalidArgumentError,
      "only dspy names can be called",
    );
  });

  test("dspy.call and describe reach only DSPy's own public API", async () => {
    const marker = join(tmpdir(), `dspy-call-escape-${process.pid}`);
    // Modules DSPy imported are not DSPy's: a shell, the environment, a prefix that only looks like dspy.
    for (const [target, args] of [
      ["dspy.utils.os.system", [`touch ${marker}`]],
      ["dspy.utils.os.environ", []],
      ["dspyX.foo", []],
      ["dspy.Predict.mro", []],
      ["dspy.load", ["/tmp/x.pkl"]],
      ["dspy.configure", []],
      ["dspy.settings.configure", []],
      ["dspy.Predict.__init__", []],
    ] as const) {
      const err = await bridge.dspy.call(target, [...args]).then(
        () => assert.fail(`${target} was called`),
        (e: unknown) => e,
      );
      assert.ok(err instanceof InvalidArgumentError, `${target}: ${String(err)}`);
      assert.equal(err.parameter, "target");
      await assert.rejects(bridge.dspy.describe({ target }), InvalidArgumentError, target);
    }
    assert.equal(existsSync(marker), false, "the shell command ran");
    // A hostile name is refused with a bounded message.
    const long = await bridge.dspy.call(`dspy.${"x".repeat(100_000)}`).catch((e: unknown) => e);
    assert.ok(long instanceof BridgeError && long.message.length < 500, "the whole name was echoed");
    // DSPy's own API still works: a class, a function of a DSPy module, a method of a DSPy class.
    assert.equal(
      ((await bridge.dspy.describe({ target: "dspy.evaluate.metrics.answer_exact_match" })) as { kind: string }).kind,
      "function",
    );
    assert.equal(
      ((await bridge.dspy.describe({ target: "dspy.Predict.forward" })) as { kind: string }).kind,
      "function",
    );
  });

  test("streams status and the final prediction", async () => {
    const items = [];
    for await (const item of bridge.dspy.stream({
      module: "Predict",
      signature: "question -> answer",
      inputs: { question: "hi" },
    }))
      items.push(item);
    assert.equal(items[0]!.type, "status");
    const last = items[items.length - 1]!;
    assert.equal(last.type, "prediction");
    assert.equal(typeof (last as { fields: Record<string, unknown> }).fields.answer, "string");
    assert.equal((last as { fields: Record<string, unknown> }).fields.answer, "Scripted answer for: hi");
  });

  test("clear errors: unknown module, bad signature, a key instead of a variable name, a missing key variable, no LM", async () => {
    await assert.rejects(
      bridge.dspy.run({ module: "Nope", signature: "a -> b", inputs: {} as { a: string } }),
      (e: unknown) => e instanceof InvalidArgumentError && /available: Predict/.test((e as Error).message),
    );
    await assert.rejects(bridge.dspy.run({ module: "Predict", signature: "a b c", inputs: {} }), InvalidArgumentError);
    assert.throws(
      () =>
        bridge.dspy.configureLM(
          { model: "openai/gpt-4o-mini", apiKeyEnv: "sk-abcdefghijklmnopqrstuvwxyz0123456789abcd" },
          "bad",
        ),
      InvalidArgumentError,
    );
    await assert.rejects(
      bridge.dspy.run({
        module: "Predict",
        signature: "q -> a",
        inputs: { q: "x" },
        lm: { model: "openai/gpt-4o-mini", apiKeyEnv: "DSPY_BRIDGE_TEST_UNSET_KEY" },
      }),
      (e: unknown) => e instanceof LMError && /DSPY_BRIDGE_TEST_UNSET_KEY/.test((e as Error).message),
    );
    await assert.rejects(
      bridge.dspy.run({ module: "Predict", signature: "q -> a", inputs: { q: "x" }, lm: "not-configured" }),
      NotFoundError,
    );
  });

  test("many concurrent calls per worker through DSPy's async path", async () => {
    const t0 = performance.now();
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        bridge.dspy.run({
          module: "Predict",
          signature: "question -> answer",
          inputs: { question: `q${i}` },
          lm: { model: "scripted", latencyMs: 200 },
        }),
      ),
    );
    assert.equal(results.length, 100);
    const ms = performance.now() - t0;
    assert.ok(ms < 5_000, `100 calls of a 200 ms LM on 2 workers took ${ms.toFixed(0)} ms (serial: 20,000 ms)`);
  });
});

describe("variable bindings reach the LM", () => {
  for (const module of ["Predict", "ChainOfThought", "ReAct"] as const) {
    test(`${module}: a variable set from TypeScript is the temperature of the next LM call`, async () => {
      const s = await bridge.sessions.create({ id: `bind-${module}` });
      await s.variables.defineMany([
        { name: "temperature", type: "float", initialValue: 0.3, constraints: { min: 0, max: 2 } },
        { name: "max_tokens", type: "integer", initialValue: 64 },
      ]);
      await s.programs.create("p", {
        module,
        signature: "question -> answer",
        bindings: { temperature: "temperature", max_tokens: "max_tokens" },
      });
      const first = await s.programs.execute("p", { question: "q1" });
      assert.ok(first.lmCalls.length >= 1);
      for (const call of first.lmCalls)
        assert.deepEqual([call.temperature, call.max_tokens], [0.3, 64], `every predictor of ${module}`);
      await s.variables.update({ temperature: 0.9, max_tokens: 128 });
      const second = await s.programs.execute("p", { question: "q2" });
      for (const call of second.lmCalls) assert.deepEqual([call.temperature, call.max_tokens], [0.9, 128]);
    });
  }

  test("a model binding switches the model the LM call sees", async () => {
    const s = await bridge.sessions.create({ id: "bind-model" });
    await s.variables.define("model", "string", "scripted/small");
    await s.programs.create("p", {
      module: "ChainOfThought",
      signature: "question -> answer",
      bindings: { model: "model" },
    });
    assert.equal((await s.programs.execute("p", { question: "q" })).lmCalls[0]!.model, "scripted/small");
    await s.variables.set("model", "scripted/large");
    assert.equal((await s.programs.execute("p", { question: "q" })).lmCalls[0]!.model, "scripted/large");
  });
});

describe("adapter scenarios", () => {
  test("every module type runs: ReAct, ProgramOfThought (offline interpreter), MultiChainComparison, BestOfN, Refine", async () => {
    const pot = await bridge.dspy.run({
      module: "ProgramOfThought",
      signature: "question -> answer: int",
      inputs: { question: "What is 17 * 3?" },
    });
    assert.equal(
      pot.fields.answer,
      51,
      "the answer is what the generated code computed, run in the subprocess interpreter",
    );
    for (const module of ["ReAct", "MultiChainComparison", "BestOfN", "Refine"] as const) {
      const r = await bridge.dspy.run({ module, signature: "question -> answer", inputs: { question: "hello?" } });
      assert.equal(typeof r.fields.answer, "string", module);
      assert.match(r.fields.answer as string, /^Scripted answer for: hello\?/, module);
    }
    const multi = await bridge.dspy.run({
      module: "Predict",
      signature: "question -> answer",
      inputs: { question: "q" },
      config: { n: 3 },
    });
    assert.equal(multi.completions?.length, 3, "all completions come back");
  });

  test("an LM answer that does not parse is a ParseError", async () => {
    await assert.rejects(
      bridge.dspy.run({
        module: "Predict",
        signature: "question -> answer: int",
        inputs: { question: "q" },
        lm: { model: "scripted", responses: ["not a structured answer", "still not one"] },
      }), // ChatAdapter, then its JSON fallback
      (e: unknown) => (e as { reason?: string }).reason === "parse_error",
    );
  });

  test("a slow LM call times out with TimeoutError and the worker keeps serving", async () => {
    await assert.rejects(
      bridge.dspy.run({
        module: "Predict",
        signature: "question -> answer",
        inputs: { question: "q" },
        lm: { model: "scripted", latencyMs: 5_000 },
        timeoutMs: 200,
      }),
      (e: unknown) => (e as { reason?: string }).reason === "timeout",
    );
    const ok = await bridge.dspy.run({ module: "Predict", signature: "question -> answer", inputs: { question: "q" } });
    assert.equal(typeof ok.fields.answer, "string");
    assert.equal(ok.fields.answer, "Scripted answer for: q");
  });

  test("large inputs and outputs (1 MiB) cross intact", async () => {
    const big = "x".repeat(1024 * 1024);
    const r = await bridge.dspy.run({
      module: "Predict",
      signature: "document -> summary",
      inputs: { document: big },
      lm: { model: "scripted", responses: [{ summary: big }] },
    });
    assert.equal((r.fields.summary as string).length, big.length);
  });

  test("usage is reported per model", async () => {
    const r = await bridge.dspy.run({
      module: "Predict",
      signature: "question -> answer",
      inputs: { question: "count my tokens" },
    });
    const perModel = r.usage.scripted as Record<string, number> | undefined;
    assert.ok(perModel && perModel.total_tokens > 0, JSON.stringify(r.usage));
  });
});

describe("ReAct with tools from both sides", () => {
  test("bridge.dspy.run: a ReAct agent calls a TypeScript tool and a Python tool, then finishes", async () => {
    const b = await Bridge.start({
      workers: 1,
      modules: ["py_tools"],
      pythonPath: [fixturesDir],
      healthIntervalMs: 0,
      ...quietLogs,
    });
    try {
      const added: unknown[] = [];
      b.tools.register(
        "add",
        (args) => {
          added.push(args);
          return (args.a as number) + (args.b as number);
        },
        {
          description: "Add two numbers",
          parameters: {
            type: "object",
            properties: { a: { type: "number" }, b: { type: "number" } },
            required: ["a", "b"],
          },
        },
      );
      const r = await b.dspy.run({
        module: "ReAct",
        signature: "question -> answer",
        inputs: { question: "What is (17 + 25) * 2?" },
        config: { tools: ["add", "multiply"] },
        lm: {
          model: "scripted",
          responses: [
            { next_thought: "Add first.", next_tool_name: "add", next_tool_args: { a: 17, b: 25 } },
            { next_thought: "Now double it.", next_tool_name: "multiply", next_tool_args: { x: 42, y: 2 } },
            { next_thought: "Done.", next_tool_name: "finish", next_tool_args: {} },
            { reasoning: "computed", answer: "84" },
          ],
        },
      });
      assert.equal(r.fields.answer, "84");
      const trajectory = r.fields.trajectory as Record<string, unknown>;
      assert.equal(trajectory.observation_0, 42);
      assert.equal(trajectory.observation_1, 84);
      assert.deepEqual(added, [{ a: 17, b: 25 }], "the TypeScript tool ran");
      assert.deepEqual(await b.tools.call("multiply_calls"), [{ x: 42, y: 2 }], "the Python tool ran");
    } finally {
      await b.close();
    }
  });
});

describe("session lifetime in the workers", () => {
  test("deleting a session drops its programs and its worker-side context; a new session with the same id starts clean", async () => {
    let s = await bridge.sessions.create({ id: "reuse-me" });
    await s.variables.define("temperature", "float", 0.3);
    await s.programs.create("qa", {
      module: "Predict",
      signature: "question -> answer",
      bindings: { temperature: "temperature" },
    });
    assert.equal((await s.programs.execute("qa", { question: "q" })).lmCalls[0]!.temperature, 0.3);
    await bridge.sessions.delete("reuse-me");
    await waitFor(() => bridge.workerForSession("reuse-me") === undefined, 5_000, "the worker to release the session");
    s = await bridge.sessions.create({ id: "reuse-me" });
    assert.deepEqual(await s.programs.list(), [], "the old session's programs are gone");
    await s.variables.define("temperature", "float", 0.9);
    await s.programs.create("qa", {
      module: "Predict",
      signature: "question -> answer",
      bindings: { temperature: "temperature" },
    });
    const t0 = performance.now();
    const r = await s.programs.execute("qa", { question: "q" });
    assert.equal(r.lmCalls[0]!.temperature, 0.9);
    assert.ok(performance.now() - t0 < 1_500, "no wait on a dead watch of the old session");
  });
});
