// DSPy optimizers as long jobs, from TypeScript: real DSPy 3.4 optimizers in real workers,
// the scripted LM the only stand-in. Each optimizer compiles a session program on a tiny
// trainset, the result's JSON state holds what it produced and runs; progress streams;
// cancelling leaves the program as it was; metrics come from Python or from a TypeScript tool.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  Bridge,
  CancelledError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  PythonError,
  TimeoutError,
  type OptimizerProgress,
  type Session,
} from "../src/index.js";
import { fixturesDir, quietLogs } from "./helpers.js";

// The scripted LM answers arithmetic correctly and anything else with "Scripted answer for: …",
// so an exact-match metric passes on sums and fails on the rest.
const SUMS = [
  { question: "What is 1 + 2?", answer: "3" },
  { question: "What is 3 + 4?", answer: "7" },
  { question: "What is 5 + 6?", answer: "11" },
  { question: "What is 7 + 8?", answer: "15" },
  { question: "What is 2 + 9?", answer: "11" },
  { question: "What is 4 + 4?", answer: "8" },
];
const MIXED = [
  ...SUMS.slice(0, 4),
  { question: "Capital of France?", answer: "Paris" },
  { question: "Colour of the sky?", answer: "blue" },
];

let bridge: Bridge;
let n = 0;
before(async () => {
  bridge = await Bridge.start({
    workers: 1,
    modules: ["py_metrics"],
    pythonPath: [fixturesDir],
    healthIntervalMs: 0,
    ...quietLogs,
  });
  bridge.dspy.configureLM({ model: "scripted" });
});
after(() => bridge.close());

async function qa(module = "Predict"): Promise<{ session: Session; id: string }> {
  const session = await bridge.sessions.create({ id: `opt-${++n}` });
  await session.programs.create("qa", { module, signature: "question -> answer" });
  return { session, id: "qa" };
}

type State = { demos: Record<string, unknown>[]; signature: { instructions: string } };
// Predict's state is its own; ChainOfThought keeps its predictor's under "predict".
const stateOf = (saved: Record<string, unknown>): State => {
  const state = saved.state as State & { predict?: State };
  return state.predict ?? state;
};

describe("the eight optimizers compile offline", () => {
  test("bridge.dspy.optimizers() lists all eight, each available here", async () => {
    const list = await bridge.dspy.optimizers();
    assert.deepEqual(list.map((o) => o.name).sort(), [
      "BootstrapFewShot",
      "BootstrapFewShotWithRandomSearch",
      "COPRO",
      "GEPA",
      "KNNFewShot",
      "LabeledFewShot",
      "MIPROv2",
      "SIMBA",
    ]);
    for (const o of list) assert.ok(o.available, `${o.name} is available (${o.missingPackage ?? ""})`);
    assert.ok(list.find((o) => o.name === "MIPROv2")!.constructorParams.includes("auto"));
    assert.ok(list.find((o) => o.name === "MIPROv2")!.compileParams.includes("num_trials"));
  });

  test("LabeledFewShot: k labelled demos in the saved state, and the program runs", async () => {
    const { session, id } = await qa();
    const result = await session.programs.optimize(id, {
      optimizer: "LabeledFewShot",
      trainset: SUMS,
      params: { k: 2 },
    }).result;
    assert.equal(result.replaced, true);
    assert.equal(result.evaluations, 0, "LabeledFewShot calls no metric");
    assert.equal(stateOf(result.saved).demos.length, 2);
    assert.deepEqual(
      stateOf(await session.programs.save(id)).demos,
      stateOf(result.saved).demos,
      "the session program is the compiled one",
    );
    const out = await session.programs.execute(id, { question: "What is 6 + 1?" });
    assert.equal(out.fields.answer, "7");
  });

  test("BootstrapFewShot with a built-in metric: bootstrapped demos, progress to the end", async () => {
    const { session, id } = await qa("ChainOfThought");
    const seen: OptimizerProgress[] = [];
    const job = session.programs.optimize(id, {
      optimizer: "BootstrapFewShot",
      trainset: SUMS,
      metric: "exact_match",
      params: { max_bootstrapped_demos: 2, max_labeled_demos: 0 },
      progressIntervalMs: 0,
      onProgress: (p) => seen.push(p),
    });
    const iterated: OptimizerProgress[] = [];
    for await (const p of job) iterated.push(p);
    const result = await job.result;
    assert.equal(job.state, "succeeded");
    const demos = stateOf(result.saved).demos;
    assert.equal(demos.length, 2);
    assert.ok(
      demos.every((d) => d.augmented === true && typeof d.reasoning === "string"),
      "demos are bootstrapped traces, with reasoning",
    );
    assert.ok(seen.length >= 2, "several progress events");
    assert.deepEqual(iterated, seen, "the iterator and onProgress see the same events");
    const last = seen[seen.length - 1]!;
    assert.equal(last.final, true);
    assert.equal(last.evaluations, result.evaluations);
    assert.equal(last.expected, last.evaluations);
    assert.ok(result.evaluations >= 2);
    assert.equal(seen[0]!.jobId, job.id);
    const out = await session.programs.execute(id, { question: "What is 10 + 5?" });
    assert.equal(out.fields.answer, "15");
    await session.programs.load("qa_loaded", result.saved);
    assert.deepEqual(stateOf(await session.programs.save("qa_loaded")).demos, demos, "the saved state loads back");
  });

  test("BootstrapFewShotWithRandomSearch with a TypeScript tool as metric: every call crosses the boundary", async () => {
    const { session, id } = await qa();
    const calls: Record<string, unknown>[] = [];
    bridge.tools.register(
      "sum_metric",
      (args) => {
        calls.push(args);
        const example = args.example as { answer: string };
        const prediction = args.prediction as { answer: string };
        return example.answer === prediction.answer ? 1 : 0;
      },
      { session: session.id, parameters: { type: "object", required: ["example", "prediction", "trace"] } },
    );
    const job = session.programs.optimize(id, {
      optimizer: "BootstrapFewShotWithRandomSearch",
      trainset: MIXED,
      metric: { tool: "sum_metric" },
      params: { max_bootstrapped_demos: 1, max_labeled_demos: 1, num_candidate_programs: 2, num_threads: 1 },
    });
    const result = await job.result;
    assert.ok(calls.length > 0);
    assert.equal(calls.length, result.evaluations, "each metric call reached the TypeScript tool");
    assert.ok(
      calls.some((c) => c.trace === true) && calls.some((c) => c.trace === false),
      "bootstrapping (with a trace) and evaluation (without)",
    );
    assert.deepEqual(
      (result.summary.candidate_scores as number[]).length,
      5,
      "num_candidate_programs + 3 candidates were evaluated",
    );
    assert.ok(Math.abs(result.bestScore! - 4 / 6) < 0.01, `the sums pass, the rest fail: best ${result.bestScore}`);
    await session.programs.execute(id, { question: "What is 1 + 1?" });
  });

  test("COPRO: the prompt model's instruction replaces the original", async () => {
    const { session, id } = await qa();
    const before = stateOf(await session.programs.save(id)).signature.instructions;
    const result = await session.programs.optimize(id, {
      optimizer: "COPRO",
      trainset: SUMS.slice(0, 4),
      metric: "exact_match",
      promptLm: { model: "scripted/prompt" },
      params: { breadth: 2, depth: 1, init_temperature: 1.0, eval_kwargs: { num_threads: 1, display_progress: false } },
    }).result;
    const after = stateOf(result.saved).signature.instructions;
    assert.notEqual(after, before);
    assert.match(after, /proposed_instruction/);
    assert.ok((result.lmCalls["scripted/prompt"] ?? 0) > 0, "the prompt LM proposed it");
    assert.ok(result.bestScore === 1);
    await session.programs.execute(id, { question: "What is 2 + 2?" });
  });

  test("MIPROv2 (auto light): bootstraps, proposes instructions with the prompt LM, searches with Optuna", async () => {
    const { session, id } = await qa();
    const result = await session.programs.optimize(id, {
      optimizer: "MIPROv2",
      trainset: SUMS,
      metric: "exact_match",
      promptLm: { model: "scripted/prompt" },
      params: { auto: "light", num_threads: 1, max_bootstrapped_demos: 1, max_labeled_demos: 1 },
    }).result;
    assert.ok((result.lmCalls["scripted/prompt"] ?? 0) > 0, "instruction proposals came from the prompt LM");
    assert.ok((result.summary.candidate_scores as number[]).length > 1, "trials were evaluated");
    assert.equal(result.summary.score, 100);
    assert.equal(result.bestScore, 1);
    assert.ok(Array.isArray(stateOf(result.saved).demos));
    await session.programs.execute(id, { question: "What is 3 + 3?" });
  });

  test("GEPA: a scripted reflection LM reflects on the failures, with a TypeScript metric's feedback", async () => {
    const { session, id } = await qa();
    const calls: Record<string, unknown>[] = [];
    bridge.tools.register(
      "judge",
      (args) => {
        calls.push(args);
        const ok = (args.example as { answer: string }).answer === (args.prediction as { answer: string }).answer;
        return {
          score: ok ? 1 : 0,
          feedback: ok ? "correct" : `expected ${(args.example as { answer: string }).answer}`,
        };
      },
      { session: session.id },
    );
    const result = await session.programs.optimize(id, {
      optimizer: "GEPA",
      trainset: MIXED.slice(0, 5),
      valset: MIXED.slice(3),
      metric: { tool: "judge" },
      reflectionLm: { model: "scripted/reflection" },
      params: { max_metric_calls: 24, num_threads: 1, reflection_minibatch_size: 2, seed: 1 },
    }).result;
    assert.ok((result.lmCalls["scripted/reflection"] ?? 0) > 0, "GEPA asked the reflection LM for new instructions");
    assert.ok(result.evaluations >= 24, `the budget was spent: ${result.evaluations}`);
    assert.equal(calls.length, result.evaluations);
    assert.ok(
      calls.some((c) => c.pred_name === "self"),
      "GEPA asked for per-predictor feedback",
    );
    assert.ok(result.bestScore !== null);
    await session.programs.execute(id, { question: "What is 3 + 3?" });
  });

  test("SIMBA: mini-batches, candidates and a best score", async () => {
    const { session, id } = await qa();
    const result = await session.programs.optimize(id, {
      optimizer: "SIMBA",
      trainset: MIXED,
      metric: { python: "py_metrics:answer_contains" },
      params: { bsize: 2, num_candidates: 2, max_steps: 1, max_demos: 1, num_threads: 1 },
    }).result;
    assert.ok(result.evaluations >= 2 * 2, "trajectories were sampled and scored");
    assert.ok(result.bestScore !== null && result.bestScore > 0);
    assert.ok((result.summary.candidate_scores as number[]).length >= 1);
    await session.programs.execute(id, { question: "What is 3 + 3?" });
  });

  test("KNNFewShot with the local hashing embedder: neighbours bootstrapped per call, saved and reloaded", async () => {
    const { session, id } = await qa();
    const result = await session.programs.optimize(id, { optimizer: "KNNFewShot", trainset: SUMS, params: { k: 2 } })
      .result;
    const optimization = result.saved.optimization as { optimizer: string; trainset: unknown[] };
    assert.equal(optimization.optimizer, "KNNFewShot");
    assert.equal(optimization.trainset.length, SUMS.length);
    const out = await session.programs.execute(id, { question: "What is 1 + 3?" }, { lmCalls: true });
    assert.equal(out.fields.answer, "4");
    assert.equal(out.lmCalls.length, 3, "2 neighbours bootstrapped, then the answer");
    await session.programs.load("qa_copy", result.saved);
    const again = await session.programs.execute("qa_copy", { question: "What is 2 + 3?" }, { lmCalls: true });
    assert.equal(again.fields.answer, "5");
    assert.equal(again.lmCalls.length, 3, "the loaded program picks neighbours too");
  });
});

describe("jobs", () => {
  const slowLm = { model: "scripted/slow", latencyMs: 25 };
  // A COPRO job of many seconds at 25 ms an LM call: long enough to act on while it runs.
  const longCopro = {
    optimizer: "COPRO",
    trainset: SUMS,
    metric: "exact_match",
    lm: slowLm,
    params: { breadth: 4, depth: 3, eval_kwargs: { num_threads: 1 } },
  };

  test("job.cancel() mid-run: CancelledError, and the program is exactly as it was", async () => {
    const { session, id } = await qa();
    await session.programs.optimize(id, { optimizer: "LabeledFewShot", trainset: SUMS, params: { k: 1 } }).result;
    const before = await session.programs.save(id);
    const job = session.programs.optimize(id, {
      optimizer: "BootstrapFewShotWithRandomSearch",
      trainset: SUMS,
      metric: "exact_match",
      lm: slowLm,
      params: { max_bootstrapped_demos: 2, num_candidate_programs: 6, num_threads: 1 },
      progressIntervalMs: 0,
    });
    let progressed = 0;
    for await (const p of job.progress()) {
      progressed = p.evaluations;
      if (p.evaluations >= 2) {
        job.cancel();
        break;
      }
    }
    await assert.rejects(
      job.result,
      (err: unknown) =>
        err instanceof CancelledError &&
        /optimization job cancelled \(BootstrapFewShotWithRandomSearch on 'qa'\)/.test(err.message),
    );
    assert.equal(job.state, "cancelled");
    assert.ok(progressed >= 2 && progressed < (job.latest?.expected ?? Infinity));
    assert.deepEqual(await session.programs.save(id), before, "nothing of the cancelled job was installed");
    const out = await session.programs.execute(id, { question: "What is 1 + 1?" });
    assert.equal(out.fields.answer, "2", "the program still runs");
  });

  test("an AbortSignal cancels too; the worker stays up and serves the next job", async () => {
    const { session, id } = await qa();
    const before = await session.programs.save(id);
    const controller = new AbortController();
    const job = session.programs.optimize(id, {
      ...longCopro,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.evaluations > 0) controller.abort();
      },
      progressIntervalMs: 0,
    });
    await job.started;
    await assert.rejects(job.result, CancelledError);
    assert.deepEqual(await session.programs.save(id), before);
    const workers = bridge.stats().workers.map((w) => w.pid);
    const next = await session.programs.optimize(id, { optimizer: "LabeledFewShot", trainset: SUMS, params: { k: 1 } })
      .result;
    assert.equal(stateOf(next.saved).demos.length, 1);
    assert.deepEqual(
      bridge.stats().workers.map((w) => w.pid),
      workers,
      "no worker was killed",
    );
  });

  test("one job per program at a time: a second is refused while the first runs", async () => {
    const { session, id } = await qa();
    const first = session.programs.optimize(id, longCopro);
    await first.started;
    await assert.rejects(
      session.programs.optimize(id, { optimizer: "LabeledFewShot", trainset: SUMS }).result,
      /already being optimized/,
    );
    first.cancel();
    await assert.rejects(first.result, CancelledError);
    const again = await session.programs.optimize(id, { optimizer: "LabeledFewShot", trainset: SUMS, params: { k: 1 } })
      .result;
    assert.equal(stateOf(again.saved).demos.length, 1, "free again once the first was cancelled");
  });

  test("deleting the session stops its running job at once (NotFoundError), and the worker serves the next session", async () => {
    const { session, id } = await qa();
    const seen: number[] = [];
    const job = session.programs.optimize(id, {
      ...longCopro,
      onProgress: (p) => seen.push(p.evaluations),
      progressIntervalMs: 0,
    });
    const info = await job.started;
    while (!seen.some((e) => e >= 2)) await new Promise((r) => setTimeout(r, 10));
    const deletedAt = Date.now();
    await bridge.sessions.delete(session.id);
    await assert.rejects(
      job.result,
      (err: unknown) =>
        err instanceof NotFoundError &&
        /was deleted while COPRO compiled program 'qa'; the job was stopped/.test(err.message),
    );
    const waited = Date.now() - deletedAt;
    // The whole job is breadth × depth × 6 evaluations at 25 ms an LM call: many seconds.
    assert.ok(
      Math.max(...seen) < (info.expected ?? Infinity) / 2,
      `the compile stopped early (${Math.max(...seen)} of ${info.expected} evaluations)`,
    );
    assert.ok(waited < 5_000, `stopped ${waited} ms after the delete`);
    const other = await qa();
    const next = await other.session.programs.optimize(other.id, {
      optimizer: "LabeledFewShot",
      trainset: SUMS,
      params: { k: 1 },
    }).result;
    assert.equal(stateOf(next.saved).demos.length, 1);
  });

  test("cancelling a job while its TypeScript metric tool is running aborts the tool's signal", async () => {
    const { session, id } = await qa();
    const before = await session.programs.save(id);
    let entered!: () => void;
    const inTool = new Promise<void>((resolve) => (entered = resolve));
    let aborted!: (at: number) => void;
    const toolAborted = new Promise<number>((resolve) => (aborted = resolve));
    bridge.tools.register(
      "hanging_metric",
      (_args, ctx) =>
        new Promise((_resolve, reject) => {
          entered();
          ctx.signal.addEventListener("abort", () => {
            aborted(Date.now());
            reject(new CancelledError("metric aborted"));
          });
        }),
      { session: session.id },
    );
    const job = session.programs.optimize(id, {
      optimizer: "BootstrapFewShot",
      trainset: SUMS,
      metric: { tool: "hanging_metric" },
    });
    await inTool;
    const cancelledAt = Date.now();
    job.cancel();
    await assert.rejects(job.result, CancelledError);
    const at = await Promise.race([toolAborted, new Promise<number>((r) => setTimeout(() => r(-1), 5_000))]);
    assert.ok(at >= cancelledAt, "the pending metric call was cancelled across the boundary");
    assert.deepEqual(await session.programs.save(id), before);
  });

  test("a job outlives the bridge's defaultTimeoutMs (meant for calls); its own timeoutMs applies", async () => {
    const timed = await Bridge.start({
      workers: 1,
      modules: ["py_metrics"],
      pythonPath: [fixturesDir],
      healthIntervalMs: 0,
      defaultTimeoutMs: 300,
      ...quietLogs,
    });
    try {
      timed.dspy.configureLM({ model: "scripted" });
      const session = await timed.sessions.create({ id: "timed" });
      await session.programs.create("qa", { module: "Predict", signature: "question -> answer" });
      const options = {
        optimizer: "BootstrapFewShotWithRandomSearch",
        trainset: SUMS,
        metric: "exact_match",
        lm: slowLm,
        params: { max_bootstrapped_demos: 1, num_candidate_programs: 2, num_threads: 1 },
      };
      const started = Date.now();
      const result = await session.programs.optimize("qa", options).result;
      assert.ok(Date.now() - started > 300, "the job ran longer than the call timeout");
      assert.ok(result.evaluations > 6);
      await assert.rejects(session.programs.optimize("qa", { ...options, timeoutMs: 200 }).result, TimeoutError);
    } finally {
      await timed.close();
    }
  });

  test("a program bound to session variables stays bound after optimization", async () => {
    const session = await bridge.sessions.create({ id: `opt-bound-${++n}` });
    await session.variables.define("temperature", "float", 0.2, { constraints: { min: 0, max: 2 } });
    await session.programs.create("qa", {
      module: "Predict",
      signature: "question -> answer",
      bindings: { temperature: "temperature" },
    });
    const result = await session.programs.optimize("qa", {
      optimizer: "BootstrapFewShot",
      trainset: SUMS,
      metric: "exact_match",
      params: { max_bootstrapped_demos: 1, max_labeled_demos: 0 },
    }).result;
    assert.deepEqual(result.saved.bindings, { temperature: "temperature" });
    assert.equal(stateOf(result.saved).demos.length, 1);
    const out = await session.programs.execute("qa", { question: "What is 2 + 2?" });
    assert.equal(out.lmCalls[0]!.temperature, 0.2);
    await session.variables.set("temperature", 0.9);
    const later = await session.programs.execute("qa", { question: "What is 2 + 2?" });
    assert.equal(later.lmCalls[0]!.temperature, 0.9, "the compiled program follows the variable");
  });

  test("saveAs keeps the original and saves the compiled program beside it", async () => {
    const { session, id } = await qa();
    const result = await session.programs.optimize(id, {
      optimizer: "LabeledFewShot",
      trainset: SUMS,
      params: { k: 3 },
      saveAs: "qa_tuned",
    }).result;
    assert.equal(result.programId, "qa_tuned");
    assert.equal(result.replaced, false);
    assert.equal(stateOf(await session.programs.save(id)).demos.length, 0);
    assert.equal(stateOf(await session.programs.save("qa_tuned")).demos.length, 3);
    assert.deepEqual((await session.programs.list()).map((p) => p.programId).sort(), ["qa", "qa_tuned"]);
  });
});

describe("errors are typed and leave the program alone", () => {
  test("unknown optimizer, unknown parameter, a parameter DSPy refuses, a missing metric, a bad trainset", async () => {
    const { session, id } = await qa();
    const before = await session.programs.save(id);
    const check = async (
      options: Parameters<typeof session.programs.optimize>[1],
      cls: new (...a: never[]) => Error,
      pattern: RegExp,
      parameter?: string,
    ) => {
      const job = session.programs.optimize(id, options);
      await assert.rejects(job.result, (err: unknown) => {
        assert.ok(err instanceof cls, `${(err as Error).name}: ${(err as Error).message}`);
        assert.match((err as Error).message, pattern);
        if (parameter) assert.equal((err as InvalidArgumentError).details.parameter, parameter);
        return true;
      });
      await assert.rejects(job.started);
      assert.equal(job.state, "failed");
    };
    await check(
      { optimizer: "Telepathy", trainset: SUMS, metric: "exact_match" },
      InvalidArgumentError,
      /unknown optimizer 'Telepathy'.*MIPROv2/,
      "optimizer",
    );
    await check(
      { optimizer: "BootstrapFewShot", trainset: SUMS, params: { max_demos_please: 3 } },
      InvalidArgumentError,
      /no parameter 'max_demos_please'/,
      "params.max_demos_please",
    );
    await check(
      { optimizer: "MIPROv2", trainset: SUMS, metric: "exact_match", params: { auto: "ultra" } },
      InvalidArgumentError,
      /MIPROv2 rejected its parameters.*auto/,
    );
    await check(
      { optimizer: "COPRO", trainset: SUMS, params: { breadth: 1 }, metric: "exact_match" },
      InvalidArgumentError,
      /Breadth must be greater than 1/,
    );
    await check({ optimizer: "COPRO", trainset: SUMS }, InvalidArgumentError, /COPRO needs a metric/, "metric");
    await check(
      { optimizer: "BootstrapFewShot", trainset: SUMS, params: { metric: "x" } },
      InvalidArgumentError,
      /supplied by the job/,
      "params.metric",
    );
    await check(
      { optimizer: "BootstrapFewShot", trainset: [{ answer: "3" }] },
      InvalidArgumentError,
      /trainset\[0\] lacks the input field\(s\) question/,
      "trainset[0]",
    );
    await check(
      { optimizer: "BootstrapFewShot", trainset: SUMS, metric: "no_such_module:fn" },
      InvalidArgumentError,
      /cannot import module 'no_such_module'/,
      "metric",
    );
    // Only the user's own code can be named: the standard library would hand over the interpreter.
    await check(
      { optimizer: "BootstrapFewShot", trainset: SUMS, metric: "os:system" },
      InvalidArgumentError,
      /not the user's code/,
      "metric",
    );
    await check(
      { optimizer: "BootstrapFewShot", trainset: SUMS, metric: "subprocess:getoutput" },
      InvalidArgumentError,
      /not the user's code/,
      "metric",
    );
    assert.throws(
      () => session.programs.optimize(id, { optimizer: "BootstrapFewShot", trainset: [] }),
      InvalidArgumentError,
    );
    assert.throws(
      () =>
        session.programs.optimize(id, { optimizer: "BootstrapFewShot", trainset: SUMS, metric: { nope: 1 } as never }),
      InvalidArgumentError,
    );
    await assert.rejects(
      session.programs.optimize("missing", { optimizer: "LabeledFewShot", trainset: SUMS }).result,
      NotFoundError,
    );
    assert.deepEqual(await session.programs.save(id), before);
  });

  test("a metric that raises stops the job with its error, typed; a failing TypeScript metric too", async () => {
    const { session, id } = await qa();
    const before = await session.programs.save(id);
    await assert.rejects(
      session.programs.optimize(id, { optimizer: "BootstrapFewShot", trainset: SUMS, metric: "py_metrics:broken" })
        .result,
      (err: unknown) => {
        assert.ok(err instanceof PythonError, String(err));
        assert.equal(err.pythonType, "ZeroDivisionError");
        assert.match(err.message, /metric 'py_metrics:broken' raised ZeroDivisionError/);
        return true;
      },
    );
    bridge.tools.register(
      "angry_metric",
      () => {
        throw new FailedPreconditionError("the judge is out to lunch");
      },
      { session: session.id },
    );
    await assert.rejects(
      session.programs.optimize(id, { optimizer: "BootstrapFewShot", trainset: SUMS, metric: { tool: "angry_metric" } })
        .result,
      (err: unknown) => err instanceof FailedPreconditionError && /out to lunch/.test(err.message),
    );
    await assert.rejects(
      session.programs.optimize(id, { optimizer: "BootstrapFewShot", trainset: SUMS, metric: { tool: "no_such_tool" } })
        .result,
      NotFoundError,
    );
    assert.deepEqual(await session.programs.save(id), before);
  });
});
