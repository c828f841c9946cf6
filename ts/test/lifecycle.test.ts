// The bridge's lifecycle as scripts meet it: `await using` closes it, `unref: true` lets a
// script that forgets close() exit (and no sooner than its last call), and the Python
// processes go with the host in both cases.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Bridge } from "../src/index.js";
import { fixturesDir, isAlive, quietLogs, waitFor } from "./helpers.js";

describe("lifecycle", () => {
  test("`await using` closes the bridge when the block is left: no Python process is left", async () => {
    let pids: number[] = [];
    let leftOpen: Bridge | undefined;
    {
      await using bridge = await Bridge.start({ workers: 1, preload: [], healthIntervalMs: 0, ...quietLogs });
      leftOpen = bridge;
      pids = [bridge.forkServerPid!, ...bridge.stats().workers.map((w) => w.pid!)];
      assert.deepEqual(await bridge.execute("ping"), { ok: true });
      assert.ok(pids.every(isAlive));
    }
    assert.equal(leftOpen.status, "closed");
    await waitFor(() => !pids.some(isAlive), 10_000, "the fork server and workers to exit");
  });

  test("a script that forgets close() exits with `unref: true`, after its last call, and its Python processes go too", async () => {
    const child = spawn(process.execPath, [join(fixturesDir, "forgets-close.mjs")], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const killer = setTimeout(() => child.kill("SIGKILL"), 90_000); // only if it hangs: the failure this test is about
    const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
    clearTimeout(killer);
    assert.equal(code, 0, `the script exited by itself (stderr: ${err})`);
    const lines = out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { pids?: number[]; reply?: unknown });
    // The answer of the call in flight arrived: the idle bridge did not let go of the process during a call.
    assert.deepEqual(lines[1]?.reply !== undefined, true, out);
    const pids = lines[0]!.pids!;
    assert.equal(pids.length, 2);
    await waitFor(() => !pids.some(isAlive), 15_000, "the Python processes to exit after their host");
  });
});
