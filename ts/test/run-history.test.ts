// The durable run history: optimization runs (with each trial's values and score) and DSPy
// optimizer jobs (with their progress) recorded in the session store as they happen. On
// SQLite a run is listed with its trials by the next host that opens the file; on Redis a
// second host sharing the store lists it, and hears its trials as they land once it holds
// the session (a host follows only the sessions it holds: here, one it watches).
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { Bridge, NotFoundError, type RunRecord, type TrialRecord } from "../src/index.js";
import { fixturesDir, quietLogs, waitForAsync } from "./helpers.js";
import { backends } from "./store-backends.js";

const sqlite = backends.find((b) => b.name === "sqlite")!;
const redis = backends.find((b) => b.name === "redis")!;
const open: Bridge[] = [];
after(async () => {
  for (const b of open) await b.close();
});

async function start(store: string, workers = 1): Promise<Bridge> {
  const bridge = await Bridge.start({
    workers,
    store,
    preload: ["dspy"],
    modules: ["py_metrics"],
    pythonPath: [fixturesDir],
    healthIntervalMs: 0,
    ...quietLogs,
  });
  open.push(bridge);
  return bridge;
}

async function close(bridge: Bridge): Promise<void> {
  await bridge.close();
  open.splice(open.indexOf(bridge), 1);
}

/** A random search of 6 trials over `temperature` with a TypeScript objective; its history. */
async function optimizeOnce(bridge: Bridge, sessionId: string, created: () => Promise<unknown> = async () => {}) {
  const session = await bridge.sessions.create({ id: sessionId });
  await created();
  await session.variables.define("temperature", "float", 0.5, { constraints: { min: 0, max: 1 } });
  bridge.tools.register("closeness", (args) => 1 - Math.abs((args.temperature as number) - 0.3));
  const target = { variable: "temperature" };
  const id = bridge.optimization.start(sessionId, target, {
    optimizer: "random",
    objective: "closeness",
    maxIterations: 6,
    patience: 100,
    seed: 11,
  });
  await bridge.optimization.wait(sessionId, target);
  return { id, history: bridge.optimization.history(sessionId, target) };
}

function checkRun(
  run: RunRecord,
  trials: TrialRecord[],
  id: string,
  history: { iteration: number; score: number; values: Record<string, unknown> }[],
) {
  assert.equal(run.id, id);
  assert.equal(run.kind, "optimization");
  assert.equal(run.target, "temperature");
  assert.equal(run.optimizer, "random");
  assert.equal(run.state, "exhausted");
  assert.equal(run.iterations, 6);
  assert.equal(run.bestScore, Math.max(...history.map((h) => h.score)));
  assert.deepEqual(
    trials.map((t) => [t.iteration, t.score, t.values]),
    history.map((h) => [h.iteration, h.score, h.values]),
  );
}

describe("SQLite", () => {
  test("a run is listed with its trials after a host restart; so is a DSPy optimizer job", async () => {
    const location = sqlite.fresh();
    const first = await start(location);
    const { id, history } = await optimizeOnce(first, "hist-sqlite");
    first.dspy.configureLM({ model: "scripted" });
    const session = await first.sessions.open("hist-sqlite");
    await session.programs.create("qa", { module: "Predict", signature: "question -> answer" });
    const trainset = [
      { question: "1 + 1", answer: "2" },
      { question: "2 + 3", answer: "5" },
      { question: "4 + 4", answer: "8" },
    ];
    const job = session.programs.optimize("qa", {
      optimizer: "BootstrapFewShot",
      trainset,
      metric: "answer_exact_match",
      params: { max_bootstrapped_demos: 2 },
    });
    const result = await job.result;
    await close(first); // the restart

    const second = await start(location);
    const runs = await second.runs.list({ session: "hist-sqlite" });
    assert.deepEqual(runs.map((r) => r.kind).sort(), ["optimization", "optimizer_job"]);
    const stored = await second.runs.get("hist-sqlite", id);
    checkRun(stored.run, stored.trials, id, history);
    const jobRun = runs.find((r) => r.kind === "optimizer_job")!;
    assert.equal(jobRun.id, result.jobId);
    assert.equal(jobRun.optimizer, "BootstrapFewShot");
    assert.equal(jobRun.target, "qa");
    assert.equal(jobRun.state, "succeeded");
    assert.equal(jobRun.iterations, result.evaluations);
    const jobTrials = (await second.runs.get("hist-sqlite", jobRun.id)).trials;
    assert.ok(jobTrials.length >= 1, "its progress reports");
    assert.equal(jobTrials.at(-1)!.iteration, result.evaluations, "the last report counts every metric call");
    const page = await second.runs.get("hist-sqlite", id, { offset: 2, limit: 2 });
    assert.deepEqual(
      page.trials.map((t) => t.iteration),
      [3, 4],
    );
    await assert.rejects(second.runs.get("hist-sqlite", "opt_missing"), NotFoundError);
    // Deleting the session deletes its runs.
    await second.sessions.delete("hist-sqlite");
    assert.deepEqual(await second.runs.list(), []);
  });
});

describe("Redis", () => {
  test("a second host sharing the store lists the run with its trials, and hears them as they land", async () => {
    const location = redis.fresh();
    const [a, b] = [await start(location), await start(location)];
    const heard: TrialRecord[] = [];
    let allHeard!: () => void;
    const sixHeard = new Promise<void>((resolve) => (allHeard = resolve));
    b.runs.onRun((run, trials) => {
      if (run.sessionId !== "hist-redis") return;
      heard.push(...trials);
      if (heard.length === 6) allHeard();
    });
    const { id, history } = await optimizeOnce(a, "hist-redis", () =>
      b.store.watch(
        "hist-redis",
        {},
        () => {},
        () => {},
      ),
    );
    // Host A records the run's end just after wait() resolves; B reads once it is there.
    await waitForAsync(
      async () => (await b.runs.list({ session: "hist-redis" }))[0]?.state === "exhausted",
      10_000,
      "the run's end on host B",
    );
    const stored = await b.runs.get("hist-redis", id);
    checkRun(stored.run, stored.trials, id, history);
    await sixHeard;
    assert.deepEqual(
      heard.map((t) => t.score),
      history.map((h) => h.score),
      "each trial, in order, as host A recorded it",
    );
  });
});
