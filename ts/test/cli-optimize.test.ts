// `dspy-bridge optimize`: a DSPy optimizer job and a variable optimization from the command
// line, as JSON lines (--json) and as plain progress lines when stderr is not a TTY.
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { renderBar, renderCount } from "../src/cli/progress.js";
import { fixturesDir, repoRoot } from "./helpers.js";

const run = promisify(execFile);
const cli = join(repoRoot, "ts/bin/dspy-bridge.js");
const dir = mkdtempSync(join(tmpdir(), "dspy-bridge-cli-optimize-"));
const trainset = join(dir, "train.jsonl");
writeFileSync(
  trainset,
  [
    { question: "What is 1 + 2?", answer: "3" },
    { question: "What is 3 + 4?", answer: "7" },
    { question: "What is 5 + 6?", answer: "11" },
    { question: "Capital of France?", answer: "Paris" },
  ]
    .map((r) => JSON.stringify(r))
    .join("\n"),
);

/** `dspy-bridge optimize ARGS` run to its end; a non-zero exit rejects with its code, stdout and stderr. */
const optimize = (args: string[]) => run(process.execPath, [cli, "optimize", ...args]);

/** The same as a child process, for the tests that interrupt it. */
const startOptimize = (args: string[]): ChildProcess =>
  spawn(process.execPath, [cli, "optimize", ...args], { stdio: ["ignore", "pipe", "pipe"] });

/** A variable optimization of `temperature` in [0, 1] against an objective of the fixtures' py_tools module. */
const tuneTemperature = (objective: string, extra: string[] = []): string[] => [
  "--json",
  "--variable",
  "temperature",
  "--min",
  "0",
  "--max",
  "1",
  "--objective",
  objective,
  "--modules",
  "py_tools",
  "--python-path",
  fixturesDir,
  ...extra,
];

const events = (stdout: string): Record<string, unknown>[] =>
  stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);

test("optimize --json: started, progress lines, result; the compiled program is saved", async () => {
  const saved = join(dir, "compiled.json");
  const { stdout } = await optimize([
    "--json",
    "--optimizer",
    "BootstrapFewShot",
    "--signature",
    "question -> answer",
    "--trainset",
    trainset,
    "--metric",
    "exact_match",
    "--param",
    "max_bootstrapped_demos=2",
    "--param",
    "max_labeled_demos=0",
    "--lm",
    "scripted",
    "--lm-latency-ms",
    "20",
    "--save",
    saved,
  ]);
  const out = events(stdout);
  assert.equal(out[0]!.event, "started");
  assert.equal(out[0]!.optimizer, "BootstrapFewShot");
  assert.equal(out[0]!.trainset_size, 4);
  const progress = out.filter((e) => e.event === "progress");
  assert.ok(progress.length >= 1);
  const result = out[out.length - 1]!;
  assert.equal(result.event, "result");
  assert.equal(result.saved_to, saved);
  assert.equal(progress[progress.length - 1]!.evaluations, result.evaluations);
  const program = JSON.parse(readFileSync(saved, "utf8")) as { module: string; state: { demos: unknown[] } };
  assert.equal(program.module, "Predict");
  assert.equal(program.state.demos.length, 2, "two bootstrapped demos");
});

test("optimize without a TTY prints plain progress lines (no carriage returns) and a summary", async () => {
  const { stdout, stderr } = await optimize([
    "--optimizer",
    "LabeledFewShot",
    "--signature",
    "question -> answer",
    "--trainset",
    trainset,
    "--param",
    "k=2",
    "--lm",
    "scripted",
  ]);
  assert.ok(!stderr.includes("\r"), "no in-place redraws when stderr is a pipe");
  assert.match(stderr, /LabeledFewShot \[#+\] 0\/0|LabeledFewShot on Predict/);
  assert.match(stdout, /LabeledFewShot: 0 metric calls/);
  assert.equal((JSON.parse(stdout.trim().split("\n").pop()!) as { demos: unknown[] }).demos.length, 2);
});

test("optimize --variable --json: a random search of a variable with a Python objective", async () => {
  const { stdout } = await optimize(tuneTemperature("peak_at_0_3", ["--iterations", "15", "--seed", "3"]));
  const out = events(stdout);
  assert.equal(out[0]!.event, "started");
  assert.equal(out.filter((e) => e.event === "progress").length, 15);
  const result = out[out.length - 1]!;
  assert.equal(result.event, "result");
  const best = result.best_value as { temperature: number } | number;
  const t = typeof best === "number" ? best : best.temperature;
  assert.ok(Math.abs(t - 0.3) < 0.2, `best temperature ${t} is near the optimum 0.3`);
});

test("optimize --variable --store sqlite --session: the result is kept in the session, and a second run continues from it", async () => {
  const db = join(dir, "optimize.db");
  const args = (iterations: string, extra: string[] = []) =>
    tuneTemperature("peak_at_0_3", [
      "--iterations",
      iterations,
      "--seed",
      "5",
      "--store",
      `sqlite:${db}`,
      "--session",
      "tuning",
      ...extra,
    ]);
  const first = events((await optimize(args("8"))).stdout);
  assert.equal(first[0]!.session, "tuning");
  assert.equal(first[0]!.reused, false);
  const best = first[first.length - 1]!.best_value as { temperature: number } | number;
  const bestT = typeof best === "number" ? best : best.temperature;

  // Another process opens the same store: the session and the tuned value are there.
  const { Bridge } = await import("../src/index.js");
  const bridge = await Bridge.start({ workers: 1, store: `sqlite:${db}`, onLog: () => {} });
  try {
    const session = await bridge.sessions.get("tuning");
    const info = await session.variables.info("temperature");
    assert.equal(info.value, bestT, "the variable holds the best value the run found");
    assert.ok(info.version > 1, "the run's values are versions of the variable");
  } finally {
    await bridge.close();
  }

  // A second run reuses the variable's definition (its constraints, not the flags') and its history.
  const second = events((await optimize(args("3", ["--min", "0.5"]))).stdout);
  assert.equal(second[0]!.reused, true);
  assert.equal(second[second.length - 1]!.event, "result");
});

test("optimize errors: bad usage exits 2; a typed failure prints an error event and exits 1", async () => {
  await assert.rejects(optimize(["--optimizer", "COPRO"]), (err: { code: number; stderr: string }) => {
    assert.equal(err.code, 2);
    assert.match(err.stderr, /needs --signature/);
    return true;
  });
  for (const [flag, value] of [
    ["--iterations", "0"],
    ["--seed", "-1"],
  ]) {
    await assert.rejects(optimize(tuneTemperature("o", [flag!, value!])), (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 2, `${flag} ${value}`);
      assert.match(err.stderr, new RegExp(`${flag} needs a`));
      return true;
    });
  }
  await assert.rejects(
    optimize([
      "--json",
      "--optimizer",
      "Telepathy",
      "--signature",
      "question -> answer",
      "--trainset",
      trainset,
      "--lm",
      "scripted",
    ]),
    (err: { code: number; stdout: string }) => {
      assert.equal(err.code, 1);
      const last = events(err.stdout).pop()!;
      assert.equal(last.event, "error");
      assert.equal(last.reason, "invalid_argument");
      assert.match(last.message as string, /unknown optimizer 'Telepathy'/);
      return true;
    },
  );
});

/** Sends SIGINT once the run printed a progress line; checks it exits 130; its last event. */
async function interruptedAfterProgress(child: ChildProcess): Promise<Record<string, unknown>> {
  let stdout = "";
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    // Generous: the CLI starts a pool first (seconds when idle, half a minute on a loaded machine).
    const timer = setTimeout(() => reject(new Error(`no progress line within 120 s; stdout: ${stdout}`)), 120_000);
    child.stdout!.on("data", (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes('"event":"progress"')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  child.kill("SIGINT");
  assert.equal(await exited, 130);
  return events(stdout).pop()!;
}

test("Ctrl-C cancels the job: an error event saying so, exit code 130", async () => {
  const child = startOptimize([
    "--json",
    "--optimizer",
    "COPRO",
    "--signature",
    "question -> answer",
    "--trainset",
    trainset,
    "--metric",
    "exact_match",
    "--param",
    "breadth=5",
    "--param",
    "depth=4",
    "--param",
    'eval_kwargs={"num_threads":1}',
    "--lm",
    "scripted",
    "--lm-latency-ms",
    "50",
  ]);
  const last = await interruptedAfterProgress(child);
  assert.equal(last.event, "error");
  assert.equal(last.reason, "cancelled");
  assert.match(last.message as string, /interrupted by a signal/);
});

test("optimize --variable: a failed run prints the typed error event (exit 1); Ctrl-C stops it with the best so far (exit 130)", async () => {
  await assert.rejects(
    optimize(tuneTemperature("no_such_objective", ["--iterations", "3"])),
    (err: { code: number; stdout: string }) => {
      assert.equal(err.code, 1);
      const last = events(err.stdout).pop()!;
      assert.equal(last.event, "error");
      assert.equal(last.reason, "not_found", JSON.stringify(last));
      assert.match(last.message as string, /no_such_objective/);
      return true;
    },
  );
  const child = startOptimize(tuneTemperature("slow_peak_at_0_3", ["--iterations", "100000"]));
  const last = await interruptedAfterProgress(child);
  assert.equal(last.event, "result");
  assert.equal(last.state, "stopped");
  assert.ok((last.iterations as number) >= 1 && (last.iterations as number) < 100000);
});

test("the bar renders done/total, and a moving block when the total is unknown", () => {
  assert.equal(renderBar(5, 10, 12), "[#####-----]");
  assert.equal(renderBar(20, 10, 12), "[##########]");
  assert.equal(renderCount(3, 12), "3/12  25%");
  assert.equal(renderCount(3, null), "3 done");
  assert.notEqual(renderBar(1, null, 12, 0), renderBar(1, null, 12, 4));
  assert.equal(renderBar(1, null, 12, 0).length, 12);
});
