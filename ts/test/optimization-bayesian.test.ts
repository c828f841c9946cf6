// The optimizers that live in a worker while the host drives the run: the bayesian optimizer
// (real Optuna TPE through ask/tell) and user optimizers registered from Python classes.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  AlreadyExistsError,
  Bridge,
  FailedPreconditionError,
  InvalidArgumentError,
  PythonError,
  validateSpace,
  type OptimizationOptions,
  type SpaceDoc,
} from "../src/index.js";
import { fixturesDir, quietLogs, waitFor } from "./helpers.js";

let bridge: Bridge;
let quadraticCalls = 0;
// Maximal (0) at x = 1.2, y = -0.7, z = 2.5.
const quadratic = (a: Record<string, unknown>) => {
  quadraticCalls++;
  return -(((a.x as number) - 1.2) ** 2 + ((a.y as number) + 0.7) ** 2 + ((a.z as number) - 2.5) ** 2);
};
const cube = {
  variables: [
    { name: "x", type: "float", min: -5, max: 5, default: 0 },
    { name: "y", type: "float", min: -5, max: 5, default: 0 },
    { name: "z", type: "float", min: -5, max: 5, default: 0 },
  ],
} as unknown as SpaceDoc;

before(async () => {
  bridge = await Bridge.start({
    workers: 1,
    preload: [],
    modules: ["py_tools", "py_optimizers"],
    pythonPath: [fixturesDir],
    healthIntervalMs: 0,
    ...quietLogs,
  });
  bridge.tools.register("quadratic", (args) => quadratic(args));
  bridge.tools.register("peak_at_1_3", (args) => -(((args.temperature as number) - 1.3) ** 2));
});
after(() => bridge.close());

async function runOn(sessionId: string, space: SpaceDoc, options: OptimizationOptions) {
  const s = await bridge.sessions.create({ id: sessionId });
  s.configurations.register("cfg", space);
  bridge.optimization.start(sessionId, { configuration: "cfg" }, options);
  const status = await bridge.optimization.wait(sessionId, { configuration: "cfg" });
  return { s, status, history: bridge.optimization.history(sessionId, { configuration: "cfg" }, { limit: 1000 }) };
}

describe("bayesian optimizer (Optuna TPE in the session's worker)", () => {
  test("finds the optimum of a 3-variable quadratic within 60 evaluations, closer than random search with the same budget", async () => {
    const budget = { objective: "quadratic", maxIterations: 60, patience: 60, seed: 4 };
    const tpe = await runOn("tpe-quad", cube, { optimizer: "bayesian", ...budget });
    const random = await runOn("random-quad", cube, { optimizer: "random", ...budget });
    assert.equal(tpe.status.state, "exhausted", tpe.status.error);
    assert.equal(tpe.history.length, 60);
    // Over seeds 1-20 TPE's best squared distance stays under 0.4 while random search's median is 1.7 (3 of 20 under 0.5).
    assert.ok(
      tpe.status.bestScore! > -0.5,
      `TPE best ${tpe.status.bestScore} should be within sqrt(0.5) of the optimum`,
    );
    assert.ok(
      tpe.status.bestScore! > random.status.bestScore!,
      `TPE ${tpe.status.bestScore} vs random ${random.status.bestScore}`,
    );
    assert.deepEqual(
      tpe.s.configurations.get("cfg").getCurrentValues(),
      tpe.status.bestValue,
      "the best values are left applied",
    );
  });

  test("is reproducible with a seed (and 'tpe' is the same optimizer)", async () => {
    const options = { objective: "quadratic", maxIterations: 25, patience: 25, seed: 11 };
    const a = await runOn("tpe-seed-a", cube, { optimizer: "bayesian", ...options });
    const b = await runOn("tpe-seed-b", cube, { optimizer: "tpe", ...options });
    const c = await runOn("tpe-seed-c", cube, { optimizer: "bayesian", ...options, seed: 12 });
    assert.deepEqual(
      a.history.map((h) => h.values),
      b.history.map((h) => h.values),
    );
    assert.notDeepEqual(
      a.history.map((h) => h.values),
      c.history.map((h) => h.values),
    );
  });

  test("respects the constraints and conditional variables of a configuration space; one commit per applied candidate", async () => {
    // The unconstrained optimum (x = 1.2, y = -0.7 ... ) breaks x - y <= 1: the best feasible lies on that line.
    const space = {
      variables: [
        { name: "x", type: "float", min: -5, max: 5, default: 0 },
        { name: "y", type: "float", min: -5, max: 5, default: 0 },
        { name: "z", type: "float", min: 0.01, max: 10, log: true, default: 1 },
        { name: "mode", type: "choice", values: ["fast", "careful"], default: "fast" },
        {
          name: "depth",
          type: "integer",
          min: 1,
          max: 8,
          default: 2,
          active_when: { op: "==", left: { var: "mode" }, right: { const: "careful" } },
        },
      ],
      constraints: [
        { name: "gap", op: "<=", left: { op: "-", args: [{ var: "x" }, { var: "y" }] }, right: { const: 1 } },
      ],
    } as unknown as SpaceDoc;
    quadraticCalls = 0;
    const { s, status, history } = await runOn("tpe-constrained", space, {
      optimizer: "bayesian",
      objective: "quadratic",
      maxIterations: 50,
      patience: 50,
      seed: 2,
    });
    assert.equal(status.state, "exhausted", status.error);
    assert.equal(history.length, 50);
    for (const h of history) {
      const check = validateSpace(space, h.values);
      assert.ok(check.ok, JSON.stringify(check.violations));
      assert.equal("depth" in h.values, h.values.mode === "careful", "depth is suggested exactly when it is active");
    }
    assert.ok(history.some((h) => h.values.mode === "careful") && history.some((h) => h.values.mode === "fast"));
    assert.ok((status.rejected ?? 0) > 0, "TPE proposed infeasible candidates, which were rejected and told");
    const best = status.bestValue as Record<string, number>;
    assert.ok(best.x - best.y <= 1 + 1e-12);
    assert.ok(status.bestScore! > -1.5, `best ${status.bestScore}`);
    // version 1 at registration, one per evaluated candidate, one for the best at the end
    assert.equal(s.configurations.get("cfg").info().version, 1 + quadraticCalls + 1);
    assert.equal(quadraticCalls, 50);
  });

  test("stopping mid-run leaves the best values applied, each candidate one whole commit", async () => {
    const s = await bridge.sessions.create({ id: "tpe-stop" });
    s.configurations.register("cfg", cube);
    let calls = 0;
    bridge.tools.register("slow_quadratic", async (args) => {
      calls++;
      await new Promise((r) => setTimeout(r, 15));
      return quadratic(args);
    });
    const watch = s.variables.watch(["x", "y", "z"]);
    bridge.optimization.start(
      "tpe-stop",
      { configuration: "cfg" },
      { optimizer: "bayesian", objective: "slow_quadratic", maxIterations: 10_000, patience: 10_000 },
    );
    await waitFor(() => calls > 2, 10_000, "three evaluations");
    await bridge.optimization.stop("tpe-stop", { configuration: "cfg" });
    const status = bridge.optimization.status("tpe-stop", { configuration: "cfg" });
    assert.equal(status.state, "stopped");
    assert.equal(status.isOptimizing, false);
    assert.ok(calls > 2 && calls < 10_000, `${calls} evaluations`);
    assert.deepEqual(s.configurations.get("cfg").getCurrentValues(), status.bestValue);
    assert.equal(
      s.configurations.get("cfg").info().version,
      1 + calls + 1,
      "one apply per candidate evaluated (or cancelled), one for the best",
    );
    // every commit changed the three variables together: nothing half-applied
    const byRevision = new Map<number, string[]>();
    let seen = 0;
    for await (const u of watch) {
      byRevision.set(u.revision, [...(byRevision.get(u.revision) ?? []), u.name]);
      if (++seen >= 3 * (calls + 1)) break;
    }
    watch.cancel();
    for (const names of byRevision.values()) assert.deepEqual([...names].sort(), ["x", "y", "z"]);
    assert.equal(byRevision.size, calls + 1);
  });
});

describe("a run survives the replacement of its worker", () => {
  test("recycled every 25 calls, the bayesian run reopens in the new worker with what it was told and finishes", async () => {
    const recycling = await Bridge.start({
      workers: 1,
      preload: [],
      healthIntervalMs: 0,
      recycle: { maxRequests: 25 },
      ...quietLogs,
    });
    try {
      recycling.tools.register("quadratic", (args) => quadratic(args));
      const s = await recycling.sessions.create({ id: "tpe-recycled" });
      s.configurations.register("cfg", cube);
      recycling.optimization.start(
        "tpe-recycled",
        { configuration: "cfg" },
        { optimizer: "bayesian", objective: "quadratic", maxIterations: 40, patience: 40, seed: 4 },
      );
      const status = await recycling.optimization.wait("tpe-recycled", { configuration: "cfg" });
      assert.equal(status.state, "exhausted", status.error);
      assert.equal(recycling.optimization.history("tpe-recycled", { configuration: "cfg" }, { limit: 100 }).length, 40);
      assert.ok((status.resumed ?? 0) >= 2, `resumed ${status.resumed} times`);
      assert.ok(status.bestScore! > -1, `best ${status.bestScore}: the replayed studies kept learning`);
    } finally {
      await recycling.close();
    }
  });
});

describe("Python optimizers registered by name", () => {
  test("a registered optimizer proposes the candidates and is told their scores", async () => {
    const info = await bridge.optimization.registerPythonOptimizer("sequence", "py_optimizers:SequenceOptimizer");
    assert.equal(info.description, "Proposes the `temperatures` it was given, in order, then says it is done.");
    assert.deepEqual(
      await bridge.optimization.registerPythonOptimizer("sequence", "py_optimizers:SequenceOptimizer"),
      info,
      "registering again is a no-op",
    );
    const s = await bridge.sessions.create({ id: "py-opt" });
    await s.variables.define("temperature", "float", 0.7, { constraints: { min: 0, max: 2 } });
    bridge.optimization.start(
      "py-opt",
      { variable: "temperature" },
      {
        optimizer: "sequence",
        objective: "peak_at_1_3",
        direction: "maximize",
        seed: 9,
        optimizerConfig: { temperatures: [0.2, 1.25, 1.9] },
      },
    );
    const status = await bridge.optimization.wait("py-opt", { variable: "temperature" });
    assert.equal(status.state, "exhausted", status.error);
    assert.equal(status.optimizer, "sequence");
    assert.deepEqual(
      bridge.optimization.history("py-opt", { variable: "temperature" }).map((h) => h.values.temperature),
      [0.2, 1.25, 1.9],
    );
    assert.equal(status.bestValue, 1.25);
    assert.equal(await s.variables.get("temperature"), 1.25);
    const tells = await bridge.tools.call<
      { values: Record<string, number>; score: number; seed: number; direction: string }[]
    >("sequence_tells", {}, { session: "py-opt" });
    assert.deepEqual(
      tells.map((t) => t.values.temperature),
      [0.2, 1.25, 1.9],
    );
    assert.ok(Math.abs(tells[1]!.score - -(0.05 ** 2)) < 1e-12);
    assert.equal(tells[0]!.seed, 9);
    assert.equal(tells[0]!.direction, "maximize");
  });

  test("deleting the session ends its run at once; the worker closes the optimizer (its close() runs); the id can be used again", async () => {
    await bridge.optimization.registerPythonOptimizer("closing_sweep", "py_optimizers:ClosingSweep");
    const t = { variable: "temperature" };
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    let evaluations = 0;
    bridge.tools.register("slow_peak", async (args) => {
      evaluations++;
      await sleep(10);
      return -(((args.temperature as number) - 1.3) ** 2);
    });
    const closed = async (label: string) => {
      for (let i = 0; i < 200; i++) {
        if ((await bridge.tools.call<string[]>("closed_optimizers", {})).includes(label)) return true;
        await sleep(10);
      }
      return false;
    };
    const s = await bridge.sessions.create({ id: "py-deleted" });
    await s.variables.define("temperature", "float", 0.7, { constraints: { min: 0, max: 2 } });
    bridge.optimization.start("py-deleted", t, {
      optimizer: "closing_sweep",
      objective: "slow_peak",
      maxIterations: 100_000,
      patience: 100_000,
      optimizerConfig: { label: "first" },
    });
    const ended = bridge.optimization.wait("py-deleted", t);
    while (evaluations < 3) await sleep(5);
    await bridge.sessions.delete("py-deleted");
    const status = await ended;
    assert.equal(status.state, "stopped");
    assert.equal(status.error, "the session was deleted");
    const after = evaluations;
    await sleep(100);
    assert.equal(evaluations, after, "nothing is evaluated once the run has ended");
    assert.ok(await closed("first"), "session.release closed the optimizer in the worker");

    const again = await bridge.sessions.create({ id: "py-deleted" });
    await again.variables.define("temperature", "float", 0.7, { constraints: { min: 0, max: 2 } });
    bridge.optimization.start("py-deleted", t, {
      optimizer: "closing_sweep",
      objective: "slow_peak",
      maxIterations: 3,
      optimizerConfig: { label: "second" },
    });
    assert.equal((await bridge.optimization.wait("py-deleted", t)).state, "exhausted");
    assert.ok(await closed("second"));
  });

  test("a class that is not a BaseOptimizer and takes only the space works too", async () => {
    await bridge.optimization.registerPythonOptimizer("minimal", "py_optimizers:MinimalOptimizer");
    const s = await bridge.sessions.create({ id: "py-minimal" });
    await s.variables.define("temperature", "float", 0.7, { constraints: { min: 0, max: 2 } });
    bridge.optimization.start(
      "py-minimal",
      { variable: "temperature" },
      { optimizer: "minimal", objective: "peak_at_1_3", maxIterations: 5, patience: 5 },
    );
    const status = await bridge.optimization.wait("py-minimal", { variable: "temperature" });
    assert.equal(status.state, "exhausted", status.error);
    assert.ok(Math.abs((status.bestValue as number) - 0.5) < 1e-12);
  });

  test("an optimizer that raises fails the run with a typed error and its Python traceback", async () => {
    await bridge.optimization.registerPythonOptimizer("failing", "py_optimizers:FailingOptimizer");
    const s = await bridge.sessions.create({ id: "py-failing" });
    await s.variables.define("temperature", "float", 0.7, { constraints: { min: 0, max: 2 } });
    bridge.optimization.start(
      "py-failing",
      { variable: "temperature" },
      { optimizer: "failing", objective: "peak_at_1_3", maxIterations: 10 },
    );
    const status = await bridge.optimization.wait("py-failing", { variable: "temperature" });
    assert.equal(status.state, "failed");
    assert.ok(status.failure instanceof PythonError, String(status.failure));
    assert.match(status.failure.message, /broke on purpose/);
    assert.equal(status.failure.pythonType, "ValueError");
    assert.match(status.failure.pythonTraceback, /py_optimizers\.py/);
    assert.equal(status.iteration, 2, "the two candidates before the failure were evaluated");
    assert.equal(await s.variables.get("temperature"), 0.5, "the best value found is applied");
  });

  test("a constructor that raises rejects started(); infeasible proposals are rejected and end the run", async () => {
    await bridge.optimization.registerPythonOptimizer("broken", "py_optimizers:BrokenConstructor");
    const s = await bridge.sessions.create({ id: "py-broken" });
    await s.variables.define("temperature", "float", 0.7, { constraints: { min: 0, max: 2 } });
    bridge.optimization.start(
      "py-broken",
      { variable: "temperature" },
      { optimizer: "broken", objective: "peak_at_1_3" },
    );
    await assert.rejects(
      bridge.optimization.started("py-broken", { variable: "temperature" }),
      (e: unknown) => e instanceof PythonError && /cannot construct/.test(e.message),
    );
    assert.equal((await bridge.optimization.wait("py-broken", { variable: "temperature" })).state, "failed");

    await bridge.optimization.registerPythonOptimizer("out_of_bounds", "py_optimizers:OutOfBounds");
    bridge.optimization.start(
      "py-broken",
      { variable: "temperature" },
      { optimizer: "out_of_bounds", objective: "peak_at_1_3" },
    );
    const status = await bridge.optimization.wait("py-broken", { variable: "temperature" });
    assert.equal(status.state, "failed");
    assert.ok(status.failure instanceof FailedPreconditionError, String(status.failure));
    assert.match(status.error!, /100 infeasible candidates in a row.*above max/);
    assert.equal(status.rejected, 100);
    assert.equal(status.iteration, 0);
    const info = await s.variables.info("temperature");
    assert.equal(info.value, 0.7, "nothing was applied");
  });

  test("unknown names, bad classes and bad options get clear errors", async () => {
    const s = await bridge.sessions.create({ id: "py-errors" });
    await s.variables.define("temperature", "float", 0.7, { constraints: { min: 0, max: 2 } });
    const t = { variable: "temperature" };
    assert.throws(
      () => bridge.optimization.start("py-errors", t, { optimizer: "nope", objective: "peak_at_1_3" }),
      (e: unknown) =>
        e instanceof InvalidArgumentError &&
        /unknown optimizer 'nope'.*bayesian/.test(e.message) &&
        e.parameter === "optimizer",
    );
    bridge.optimization.start("py-errors", t, {
      optimizer: "gradient",
      objective: "peak_at_1_3",
      optimizerConfig: { method: "newton" },
    });
    await assert.rejects(
      bridge.optimization.started("py-errors", t),
      (e: unknown) =>
        e instanceof InvalidArgumentError && /method must be one of spsa, finite_difference/.test(e.message),
    );
    assert.throws(
      () =>
        bridge.optimization.start("py-errors", t, {
          optimizer: "random",
          objective: "peak_at_1_3",
          optimizerConfig: { n_startup_trials: 3 },
        }),
      InvalidArgumentError,
    );
    bridge.optimization.start("py-errors", t, {
      optimizer: "bayesian",
      objective: "peak_at_1_3",
      optimizerConfig: { acquisition_function: "ucb" },
    });
    await assert.rejects(
      bridge.optimization.started("py-errors", t),
      (e: unknown) => e instanceof InvalidArgumentError && /acquisition_function must be 'ei' or 'pi'/.test(e.message),
    );
    bridge.optimization.start("py-errors", t, {
      optimizer: "bayesian",
      objective: "peak_at_1_3",
      optimizerConfig: { n_trees: 3 },
    });
    await assert.rejects(
      bridge.optimization.started("py-errors", t),
      (e: unknown) => e instanceof InvalidArgumentError && /no option 'n_trees'/.test(e.message),
    );
    await assert.rejects(
      bridge.optimization.registerPythonOptimizer("x", "py_optimizers:NotAnOptimizer"),
      (e: unknown) => e instanceof InvalidArgumentError && /no ask\(\) or tell\(\)/.test(e.message),
    );
    await assert.rejects(
      bridge.optimization.registerPythonOptimizer("x", "no_such_module:Thing"),
      (e: unknown) => e instanceof InvalidArgumentError && /cannot import/.test(e.message),
    );
    await assert.rejects(bridge.optimization.registerPythonOptimizer("x", "py_optimizers:Missing"), /has no 'Missing'/);
    await assert.rejects(bridge.optimization.registerPythonOptimizer("x", "not a path"), InvalidArgumentError);
    await assert.rejects(
      bridge.optimization.registerPythonOptimizer("bayesian", "py_optimizers:MinimalOptimizer"),
      /built-in optimizer name/,
    );
    for (const foreign of ["subprocess:Popen", "os:system", "dspy_bridge.core.server:WorkerServer"]) {
      await assert.rejects(
        bridge.optimization.registerPythonOptimizer("foreign", foreign),
        (e: unknown) => e instanceof InvalidArgumentError && /not the user's code/.test(e.message),
        foreign,
      );
    }
    await bridge.optimization.registerPythonOptimizer("taken", "py_optimizers:MinimalOptimizer");
    await assert.rejects(
      bridge.optimization.registerPythonOptimizer("taken", "py_optimizers:SequenceOptimizer"),
      AlreadyExistsError,
    );
    assert.equal(await s.variables.get("temperature"), 0.7, "no failed start touched the variable");
  });
});
