// A host loading a large session from Redis (a restart, or the first read of a session another
// host made) reads it in one atomic snapshot whose reply grows with the session: it must not
// fail merely because the reply takes longer than a command's limit (a restarted host on a busy
// machine took over 5 s for 20,000 variables and could not load them at all), yet a frozen
// Redis must still fail it as soon as it fails any command.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { pathToFileURL } from "node:url";
import { StoreUnavailableError } from "../src/errors/index.js";
import { RedisBackend } from "../src/store/durable/redis-backend.js";
import { importVariables, Store } from "../src/store/index.js";
import { exportDocument, VALUES } from "./export-documents.js";
import { freezeProcess, repoRoot } from "./helpers.js";

type PrivateRedis = { url: string; pid: number; stop(): Promise<void> };
let server: PrivateRedis;
/** Variables in the session: a snapshot reply of megabytes. */
const N = 5_000;
/** The command limit of the loading host: above what Redis takes to run the snapshot's script (about 0.1 s). */
const COMMAND_MS = 1_000;
/** How long the loading host's event loop is held while the reply comes. */
const HOLD_MS = 2_500;
const prefix = `large-load-${process.pid}:`;
before(async () => {
  const { startRedis } = (await import(pathToFileURL(join(repoRoot, "scripts/redis.mjs")).href)) as {
    startRedis(): Promise<PrivateRedis>;
  };
  server = await startRedis();
  const writer = await openHost(5_000);
  try {
    await writer.createSession({ sessionId: "big" });
    const result = await importVariables(writer, "big", exportDocument(N), { format: "json" });
    assert.equal(result.imported, N);
  } finally {
    await writer.close();
  }
});
after(async () => {
  try {
    process.kill(server.pid, "SIGCONT"); // never leave it frozen, even after a failure
  } catch {}
  await server.stop();
});

async function openHost(commandTimeoutMs: number): Promise<Store> {
  const backend = await RedisBackend.connect({ url: server.url, prefix, logLimit: 1_000, commandTimeoutMs });
  return new Store({ eventLogLimit: 1_000 }, backend).open();
}

/** SIGSTOP the private Redis: nothing sent after this is answered. */
const freeze = () => freezeProcess(server.pid);

test("a session whose snapshot takes longer than a command's limit loads whole while Redis answers, even with this host's loop held meanwhile", async () => {
  const backend = await RedisBackend.connect({
    url: server.url,
    prefix,
    logLimit: 1_000,
    commandTimeoutMs: COMMAND_MS,
  });
  const reader = await new Store({ eventLogLimit: 1_000 }, backend).open();
  try {
    await reader.createSession({ sessionId: "small" }); // the snapshot's connection is open
    // Right after the snapshot is asked for, this host's event loop is held past the command's
    // limit (as a busy machine holds it): the reply is read after the timers fire.
    const snapshot = backend.snapshot.bind(backend);
    let held = 0;
    backend.snapshot = (base: string) => {
      const reply = snapshot(base);
      setTimeout(() => {
        const until = performance.now() + HOLD_MS;
        while (performance.now() < until) held++;
      }, 0);
      return reply;
    };
    const started = performance.now();
    const session = await reader.getSession("big");
    const tookMs = performance.now() - started;
    assert.ok(held > 0 && tookMs > COMMAND_MS * 2, `the load took ${tookMs.toFixed(0)} ms: not a test of the limit`);
    assert.equal(session.sessionId, "big");
    assert.equal(reader.sessionRecord("big").variables.size, N);
    assert.deepEqual((await reader.get("big", `v${N - 1}`)).value, VALUES[(N - 1) % 3]);
    // The session it loaded is followed like any other: a write lands and is read back.
    await reader.set("big", "v0", 42);
    assert.equal((await reader.get("big", "v0")).value, 42);
  } finally {
    await reader.close();
  }
});

test("a frozen Redis fails the load as it fails a command (typed, within its limit), and the next load after it succeeds", async () => {
  const reader = await openHost(COMMAND_MS);
  try {
    // Connections made (a first small read) before Redis stops.
    await reader.createSession({ sessionId: "small-2" });
    freeze();
    const started = performance.now();
    try {
      await assert.rejects(reader.getSession("big"), (err: unknown) => {
        assert.ok(err instanceof StoreUnavailableError, `not typed: ${String(err)}`);
        return true;
      });
      const tookMs = performance.now() - started;
      // The command's limit; the rest is slack for a loaded machine, far below the snapshot's cap.
      assert.ok(tookMs < COMMAND_MS + 3_000, `the load failed only after ${tookMs.toFixed(0)} ms`);
    } finally {
      process.kill(server.pid, "SIGCONT");
    }
    const session = await reader.getSession("big");
    assert.equal(session.sessionId, "big");
    assert.equal(reader.sessionRecord("big").variables.size, N);
  } finally {
    await reader.close();
  }
});
