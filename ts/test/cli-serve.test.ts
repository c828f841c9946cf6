// `dspy-bridge serve`: the host outside Python clients reach.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { test } from "node:test";
import { fixturesDir, repoRoot } from "./helpers.js";

const run = promisify(execFile);

test("serve prints one ready line, writes the secret to a 0600 token file, serves clients and stops on SIGTERM", async () => {
  const dir = mkdtempSync(join(tmpdir(), "dspy-bridge-serve-test-"));
  const tokenFile = join(dir, "token");
  const env = { ...process.env };
  delete env.DSPY_BRIDGE_TOKEN;
  const server = spawn(
    process.execPath,
    [
      join(repoRoot, "ts/bin/dspy-bridge.js"),
      "serve",
      "--listen",
      `unix:${join(dir, "bridge.sock")}`,
      "--workers",
      "1",
      "--preload",
      "",
      "--token-file",
      tokenFile,
      "--dashboard",
      "127.0.0.1:0",
    ],
    { env, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  server.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line; stdout: ${stdout}`)), 20_000);
    server.stdout!.on("data", () => {
      if (stdout.includes("\n")) {
        clearTimeout(timer);
        resolve();
      }
    });
    server.on("exit", (code) => reject(new Error(`serve exited with ${code}`)));
  });
  const ready = JSON.parse(stdout.split("\n")[0]!) as { event: string; address: string; dashboard: string };
  assert.equal(ready.event, "ready");
  assert.equal(ready.address, `unix:${join(dir, "bridge.sock")}`);
  assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
  const token = readFileSync(tokenFile, "utf8").trim();
  assert.ok(token.length >= 32);
  // The dashboard: its address in the ready line (without the token), readable with the token only.
  assert.match(ready.dashboard, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  assert.equal((await fetch(`${ready.dashboard}api/state`)).status, 401);
  const state = await fetch(`${ready.dashboard}api/state`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(state.status, 200);
  assert.equal(((await state.json()) as { workers: { workers: unknown[] } }).workers.workers.length, 1);
  const { stdout: clientOut } = await run(
    join(repoRoot, ".venv/bin/python"),
    [join(fixturesDir, "outside_client.py"), ready.address, token],
    {
      env: { ...process.env, PYTHONPATH: join(repoRoot, "python") },
    },
  );
  assert.equal((JSON.parse(clientOut) as { ping: { workers_ready: number } }).ping.workers_ready, 1);
  const exited = new Promise<number | null>((resolve) => server.on("exit", (code) => resolve(code)));
  server.kill("SIGTERM");
  assert.equal(await exited, 0);
  assert.match(stdout, /"event":"stopped"/);
});

test("serve without DSPY_BRIDGE_TOKEN or --token-file refuses to start, saying why", async () => {
  const env = { ...process.env };
  delete env.DSPY_BRIDGE_TOKEN;
  await assert.rejects(
    run(process.execPath, [join(repoRoot, "ts/bin/dspy-bridge.js"), "serve"], { env }),
    (err: unknown) => {
      assert.match((err as { stderr: string }).stderr, /--token-file/);
      return true;
    },
  );
});
