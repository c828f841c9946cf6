// Optimization runs on the host: random and grid search over a variable or a configuration
// space, objectives as TypeScript or Python tools, progress, stop, "already being optimized".
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Bridge, InvalidArgumentError, NotFoundError, type OptimizationProgress, type SpaceDoc } from "../src/index.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixturesDir, quietLogs, waitFor } from "./helpers.js";

let bridge: Bridge;
before(async () => {
  bridge = await Bridge.start({
    workers: 1,
    preload: [],
    modules: ["py_tools"],
    pythonPath: [fixturesDir],
    healthIntervalMs: 0,
    ...quietLogs,
  });
  bridge.tools.register("peak_at_1_3", (args) => -(((args.temperature as number) - 1.3) ** 2), {
    parameters: { type: "object", properties: { temperature: { type: "number" } }, required: ["temperature"] },
  });
});
after(() => bridge.close());

describe("optimization", () => {
  test("random search finds the optimum of a TypeScript objective within its budget, reporting progress, and leaves the best value set", async () => {
    const s = await bridge.sessions.create({ id: "opt-random" });
    await s.variables.define("temperature", "float", 0.7, { constraints: { min: 0, max: 2 } });
    const progress: OptimizationProgress[] = [];
    const id = bridge.optimization.start(
      "opt-random",
      { variable: "temperature" },
      {
        optimizer: "random",
        objective: "peak_at_1_3",
        maxIterations: 80,
        patience: 80,
        seed: 3,
        onProgress: (p) => progress.push(p),
      },
    );
    assert.throws(
      () =>
        bridge.optimization.start(
          "opt-random",
          { variable: "temperature" },
          { optimizer: "random", objective: "peak_at_1_3" },
        ),
      (e: unknown) => e instanceof InvalidArgumentError && /already being optimized/.test((e as Error).message),
    );
    const status = await bridge.optimization.wait("opt-random", { variable: "temperature" });
    assert.equal(status.optimizationId, id);
    assert.equal(status.isOptimizing, false);
    assert.equal(progress.length, 80);
    assert.ok(Math.abs((status.bestValue as number) - 1.3) < 0.1, `best ${String(status.bestValue)}`);
    assert.equal(await s.variables.get("temperature"), status.bestValue, "the best value is left in place");
    assert.equal(bridge.optimization.history("opt-random", { variable: "temperature" }, { limit: 5 }).length, 5);
    // a second run on the same variable: the first one's entries stay, told apart by their id
    const second = bridge.optimization.start(
      "opt-random",
      { variable: "temperature" },
      { optimizer: "grid", objective: "peak_at_1_3", gridPoints: 3, patience: 10 },
    );
    await bridge.optimization.wait("opt-random", { variable: "temperature" });
    const all = bridge.optimization.history("opt-random", { variable: "temperature" }, { limit: 1000 });
    assert.equal(all.length, 83);
    assert.deepEqual(
      bridge.optimization
        .history("opt-random", { variable: "temperature" }, { optimizationId: id, limit: 1000 })
        .map((h) => h.iteration),
      progress.map((p) => p.iteration),
    );
    assert.deepEqual(
      bridge.optimization
        .history("opt-random", { variable: "temperature" }, { optimizationId: second })
        .map((h) => h.values.temperature),
      [0, 1, 2],
    );
    assert.deepEqual(
      bridge.optimization.history("opt-random", { variable: "temperature" }, { limit: 3 }).map((h) => h.optimizationId),
      [second, second, second],
    );
    for (const limit of [0, -5, 2.5]) {
      assert.throws(
        () => bridge.optimization.history("opt-random", { variable: "temperature" }, { limit }),
        (e: unknown) => e instanceof InvalidArgumentError && e.parameter === "limit",
      );
    }
  });

  test("grid search over a configuration space with a Python objective", async () => {
    const s = await bridge.sessions.create({ id: "opt-grid" });
    const space = {
      variables: [
        { name: "temperature", type: "float", min: 0, max: 1, default: 1 },
        { name: "mode", type: "choice", values: ["a", "b"], default: "a" },
      ],
    } as unknown as SpaceDoc;
    s.configurations.register("cfg", space);
    bridge.optimization.start(
      "opt-grid",
      { configuration: "cfg" },
      { optimizer: "grid", objective: "peak_at_0_3", gridPoints: 11, maxIterations: 100, patience: 100 },
    );
    const status = await bridge.optimization.wait("opt-grid", { configuration: "cfg" });
    assert.equal(status.state, "exhausted", "all 22 grid points tried");
    assert.ok(Math.abs(((status.bestValue as Record<string, number>).temperature ?? 0) - 0.3) < 1e-9);
    assert.ok(Math.abs((await s.variables.get<number>("temperature")) - 0.3) < 1e-9);
    assert.equal(
      s.configurations.get("cfg").info().version > 1,
      true,
      "every candidate was applied through the configuration",
    );
  });

  test("bad run options are refused naming the option; a throwing onProgress does not fail the run", async () => {
    const s = await bridge.sessions.create({ id: "opt-options" });
    await s.variables.define("temperature", "float", 0.7, { constraints: { min: 0, max: 2 } });
    const t = { variable: "temperature" };
    const refused = (extra: Record<string, unknown>, parameter: string) =>
      assert.throws(
        () =>
          bridge.optimization.start("opt-options", t, {
            optimizer: "grid",
            objective: "peak_at_1_3",
            ...extra,
          } as never),
        (e: unknown) => e instanceof InvalidArgumentError && e.parameter === parameter,
        JSON.stringify(extra),
      );
    refused({ patience: 0 }, "patience");
    refused({ patience: 2.5 }, "patience");
    refused({ convergenceThreshold: Number.NaN }, "convergence_threshold");
    refused({ convergenceThreshold: -1 }, "convergence_threshold");
    refused({ gridPoints: 0 }, "grid_points");
    refused({ gridPoints: Number.NaN }, "grid_points");
    refused({ objective: "" }, "objective");
    assert.equal(bridge.optimization.status("opt-options", t).state, "idle", "nothing was started");
    // an objective that does not exist fails the start, before any candidate is applied
    const revision = (await s.variables.info("temperature")).modifyRevision;
    bridge.optimization.start("opt-options", t, { optimizer: "random", objective: "no_such_objective" });
    await assert.rejects(
      bridge.optimization.started("opt-options", t),
      (e: unknown) => e instanceof NotFoundError && /objective 'no_such_objective' is neither/.test(e.message),
    );
    const failed = await bridge.optimization.wait("opt-options", t);
    assert.equal(failed.state, "failed");
    assert.ok(failed.failure instanceof NotFoundError);
    assert.equal((await s.variables.info("temperature")).modifyRevision, revision, "nothing was applied");
    let calls = 0;
    bridge.optimization.start("opt-options", t, {
      optimizer: "grid",
      objective: "peak_at_1_3",
      gridPoints: 11,
      patience: 100,
      onProgress: () => {
        calls++;
        throw new Error("a broken progress display");
      },
    });
    const status = await bridge.optimization.wait("opt-options", t);
    assert.equal(status.state, "exhausted", status.error);
    assert.equal(calls, 11, "called for every candidate all the same");
    assert.ok(Math.abs((status.bestValue as number) - 1.3) < 0.11, `best ${String(status.bestValue)}`);
    assert.equal(await s.variables.get("temperature"), status.bestValue);
  });

  test("stopped during its first evaluation, a run aborts the objective and puts the values from before back", async () => {
    const s = await bridge.sessions.create({ id: "opt-first" });
    const cfg = await s.configurations.register("cfg", {
      variables: [
        { name: "a", type: "float", min: 0, max: 1, default: 0.5 },
        { name: "b", type: "integer", min: 1, max: 9, default: 3 },
      ],
    } as unknown as SpaceDoc);
    let entered!: () => void;
    const evaluating = new Promise<void>((resolve) => (entered = resolve));
    let objectiveAborted = false;
    bridge.tools.register("never_scores", (_args, ctx) => {
      entered();
      return new Promise((_resolve, reject) =>
        ctx.signal.addEventListener("abort", () => ((objectiveAborted = true), reject(new Error("aborted")))),
      );
    });
    bridge.optimization.start(
      "opt-first",
      { configuration: "cfg" },
      { optimizer: "random", objective: "never_scores", seed: 4 },
    );
    await evaluating;
    assert.notDeepEqual(cfg.getCurrentValues(), { a: 0.5, b: 3 }, "the first candidate is applied while it is scored");
    await bridge.optimization.stop("opt-first", { configuration: "cfg" });
    const status = bridge.optimization.status("opt-first", { configuration: "cfg" });
    assert.equal(status.state, "stopped");
    assert.equal(status.iteration, 0);
    assert.ok(objectiveAborted, "the pending evaluation was cancelled");
    assert.deepEqual(cfg.getCurrentValues(), { a: 0.5, b: 3 }, "the values from before the run are back");
    assert.equal(cfg.info().version, 3, "registered, the candidate, the values put back: each one whole commit");
    assert.deepEqual(bridge.optimization.history("opt-first", { configuration: "cfg" }), []);
  });

  test("stopping mid-run leaves the store consistent; unknown optimizers say so", async () => {
    const s = await bridge.sessions.create({ id: "opt-stop" });
    await s.variables.define("temperature", "float", 0.7, { constraints: { min: 0, max: 2 } });
    let calls = 0;
    bridge.tools.register("slow_objective", async (args) => {
      calls++;
      await new Promise((r) => setTimeout(r, 20));
      return args.temperature as number;
    });
    bridge.optimization.start(
      "opt-stop",
      { variable: "temperature" },
      { optimizer: "random", objective: "slow_objective", maxIterations: 1000, patience: 1000 },
    );
    // Stopped once an evaluation has finished (stopped during the first, a run puts the old values back: the test above).
    await waitFor(
      () => bridge.optimization.status("opt-stop", { variable: "temperature" }).bestValue !== undefined,
      10_000,
      "the first finished evaluation",
    );
    await bridge.optimization.stop("opt-stop", { variable: "temperature" });
    const status = bridge.optimization.status("opt-stop", { variable: "temperature" });
    assert.equal(status.state, "stopped");
    assert.ok(calls > 0 && calls < 1000);
    assert.equal(await s.variables.get("temperature"), status.bestValue);
    const info = await s.variables.info("temperature");
    assert.ok((info.value as number) >= 0 && (info.value as number) <= 2);
    await assert.rejects(bridge.optimization.stop("opt-stop", { variable: "temperature" }), /not currently optimizing/);
  });

  test("closing the bridge mid-run ends the run 'stopped' with its best value committed (it survives in a SQLite store)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "opt-close-"));
    const store = `sqlite:${join(dir, "state.db")}`;
    try {
      const host = await Bridge.start({ workers: 1, preload: [], healthIntervalMs: 0, store, ...quietLogs });
      const s = await host.sessions.create({ id: "opt-close" });
      await s.variables.define("temperature", "float", 0.1, { constraints: { min: 0, max: 2 } });
      let calls = 0;
      host.tools.register("slow_peak", async (args) => {
        calls++;
        await new Promise((r) => setTimeout(r, 20));
        return -(((args.temperature as number) - 1.3) ** 2);
      });
      host.optimization.start(
        "opt-close",
        { variable: "temperature" },
        { optimizer: "random", objective: "slow_peak", maxIterations: 1000, patience: 1000, seed: 5 },
      );
      while (calls < 5) await new Promise((r) => setTimeout(r, 10));
      const ended = host.optimization.wait("opt-close", { variable: "temperature" }); // the final status, read after the store is closed
      await host.close();
      const status = await ended;
      assert.equal(status.state, "stopped", status.error);
      assert.equal(status.isOptimizing, false);
      assert.equal(typeof status.bestValue, "number");
      const reopened = await Bridge.start({ workers: 1, preload: [], healthIntervalMs: 0, store, ...quietLogs });
      try {
        const again = await reopened.sessions.get("opt-close");
        assert.equal(
          await again.variables.get("temperature"),
          status.bestValue,
          "the best value was committed before the store closed",
        );
      } finally {
        await reopened.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
