// Workers on every other supported Python the machine has. The bootstrap (scripts/bootstrap.mjs
// versionVenvs, run by `npm test`) makes a venv per supported version besides .venv's, from
// the same lock files, and lists them in .venvs/pythons.json; for each one a bridge started
// with `python` set to it says hello with that version, answers ping on uvloop, runs a DSPy
// Predict with the scripted LM and cancels a running call in Python. The Python suite itself
// runs on each of them too (scripts/run-tests.mjs).
import assert from "node:assert/strict";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Bridge, CancelledError } from "../src/index.js";
import { quietLogs, repoRoot } from "./helpers.js";

interface VersionVenv {
  version: string;
  patch: string;
  interpreter: string;
  python: string;
}
interface Manifest {
  default: string;
  venvs: VersionVenv[];
  missing: string[];
  skippedByRequest: string[];
}

const manifestPath = join(repoRoot, ".venvs/pythons.json");
const manifest: Manifest | undefined = existsSync(manifestPath)
  ? (JSON.parse(readFileSync(manifestPath, "utf8")) as Manifest)
  : undefined;

describe("workers on each supported Python", () => {
  test("the bootstrap has listed the venvs", () => {
    assert.ok(manifest, `${manifestPath} is missing: run \`node scripts/bootstrap.mjs --all-pythons\` (npm test does)`);
    if (manifest.missing.length)
      console.error(`# Python ${manifest.missing.join(", ")}: not on this machine, not tested`);
  });

  for (const v of manifest?.venvs ?? []) {
    test(`Python ${v.patch}: hello, ping, DSPy Predict, a cancelled call`, async () => {
      assert.ok(existsSync(v.python), `${v.python} is missing: run \`node scripts/bootstrap.mjs --all-pythons\``);
      const bridge = await Bridge.start({ python: v.python, workers: 1, healthIntervalMs: 0, ...quietLogs });
      try {
        assert.deepEqual(await bridge.execute("ping"), { ok: true });
        const { pid } = (await bridge.execute("worker_info")) as { pid: number };
        assert.equal(realpathSync(`/proc/${pid}/exe`), realpathSync(v.interpreter), "the worker runs this Python");
        assert.equal(await bridge.execute("dspy_version"), "3.4.1");
        assert.equal(await bridge.execute("event_loop_info"), "uvloop.Loop", "the lock's uvloop runs the worker");

        const p = await bridge.dspy.run({
          module: "Predict",
          signature: "question -> answer",
          inputs: { question: "What is 2+2?" },
          lm: { model: "scripted" },
        });
        assert.equal(typeof p.fields.answer, "string");
        assert.ok((p.fields.answer as string).length > 0);
        assert.equal(p.lm, "scripted");

        const probe = `py-versions-${v.version}-${process.pid}`;
        const controller = new AbortController();
        const call = bridge.execute("sleep", { seconds: 30, probe }, { signal: controller.signal });
        const started = performance.now();
        while ((await bridge.execute("cancellation_probe", { probe })) !== "running") {
          assert.ok(performance.now() - started < 10_000, "the sleep call started");
          await new Promise((r) => setTimeout(r, 20));
        }
        controller.abort();
        await assert.rejects(call, CancelledError);
        const seen = performance.now();
        while ((await bridge.execute("cancellation_probe", { probe })) !== "cancelled") {
          assert.ok(performance.now() - seen < 10_000, "the Python task saw its cancellation");
          await new Promise((r) => setTimeout(r, 20));
        }
        assert.deepEqual(await bridge.execute("ping"), { ok: true }, "the worker serves the next call");
      } finally {
        await bridge.close();
      }
    });
  }
});
