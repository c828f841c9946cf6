// Choosing a store: a malformed location, an unreadable SQLite file or an unreachable Redis
// is refused at start with a typed error that says what was wrong — before any worker starts.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { test } from "node:test";
import { promisify } from "node:util";
import { Bridge, FailedPreconditionError, InvalidArgumentError, StoreUnavailableError } from "../src/index.js";
import { openStore, parseStoreSpec } from "../src/store/index.js";
import { repoRoot } from "./helpers.js";
import { backends } from "./store-backends.js";

const invalid = (what: RegExp) => (e: unknown) =>
  e instanceof InvalidArgumentError && e.parameter === "store" && what.test(e.message);

test("a malformed store location is an InvalidArgumentError naming the store option", async () => {
  await assert.rejects(openStore("postgres://x"), invalid(/unknown store 'postgres:\/\/x'/));
  await assert.rejects(openStore("sqlite:"), invalid(/needs a file path/));
  await assert.rejects(
    openStore("sqlite:/tmp/x.db?synchronous=sometimes"),
    invalid(/synchronous must be 'full' or 'normal'/),
  );
  await assert.rejects(openStore("sqlite:/no/such/directory/x.db"), invalid(/cannot open the SQLite store/));
  await assert.rejects(Bridge.start({ workers: 1, preload: [], store: "nope" }), invalid(/unknown store 'nope'/));
});

test("a file that is not a SQLite database is refused, and left as it was", async () => {
  const location = backends.find((b) => b.name === "sqlite")!.fresh();
  const path = location.slice("sqlite:".length);
  writeFileSync(path, "this is not a database, and it is mine");
  await assert.rejects(openStore(location), FailedPreconditionError);
  const { readFileSync } = await import("node:fs");
  assert.equal(readFileSync(path, "utf8"), "this is not a database, and it is mine");
});

test("a SQLite file of another application, or of a newer store layout, is refused and left as it was", async () => {
  const { default: Database } = await import("better-sqlite3");
  const sqlite = backends.find((b) => b.name === "sqlite")!;
  const foreign = sqlite.fresh();
  const db = new Database(foreign.slice("sqlite:".length));
  db.exec("CREATE TABLE log (line TEXT); INSERT INTO log VALUES ('not ours')");
  db.close();
  await assert.rejects(
    openStore(foreign),
    (e: unknown) => e instanceof FailedPreconditionError && /not a dspy-bridge store/.test((e as Error).message),
  );
  const after = new Database(foreign.slice("sqlite:".length));
  assert.deepEqual(
    after.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all(),
    [{ name: "log" }],
    "no tables were added to it",
  );
  after.close();

  const newer = sqlite.fresh();
  const store = await openStore(newer);
  await store.createSession({ sessionId: "s" });
  await store.close();
  const file = new Database(newer.slice("sqlite:".length));
  assert.equal(file.pragma("user_version", { simple: true }), 1, "the layout is versioned");
  file.pragma("user_version = 99");
  file.close();
  await assert.rejects(
    openStore(newer),
    (e: unknown) => e instanceof FailedPreconditionError && /layout 99/.test((e as Error).message),
  );
  const again = new Database(newer.slice("sqlite:".length));
  assert.equal(again.pragma("user_version", { simple: true }), 99);
  again.close();
});

test("a Redis store of a newer key layout is refused and left as it was; one of layout 1 asks for the migration", async () => {
  const { Redis } = await import("ioredis");
  const location = backends.find((b) => b.name === "redis")!.fresh();
  const prefix = new URL(location).searchParams.get("prefix")!;
  const first = await openStore(location);
  await first.close();
  const raw = new Redis(location.split("?")[0]!);
  try {
    assert.equal(await raw.get(`${prefix}layout`), "2", "the layout is recorded");
    await raw.set(`${prefix}layout`, "99");
    await assert.rejects(
      openStore(location),
      (e: unknown) => e instanceof FailedPreconditionError && /layout 99/.test((e as Error).message),
    );
    assert.deepEqual(
      [await raw.get(`${prefix}layout`), await raw.keys(`${prefix}*`)],
      ["99", [`${prefix}layout`]],
      "nothing was written",
    );
    // A store of layout 1 (one log for every session) is refused too, and says how to migrate it.
    await raw.set(`${prefix}layout`, "1");
    await assert.rejects(
      openStore(location),
      (e: unknown) => e instanceof FailedPreconditionError && /layout 1\b.*store-migrate/.test((e as Error).message),
    );
  } finally {
    await raw.quit();
  }
});

test("a new SQLite store file is readable by its owner only", async () => {
  const location = backends.find((b) => b.name === "sqlite")!.fresh();
  const store = await openStore(location);
  try {
    await store.createSession({ sessionId: "s" });
    const { statSync } = await import("node:fs");
    const path = location.slice("sqlite:".length);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(`${path}-wal`).mode & 0o777, 0o600);
  } finally {
    await store.close();
  }
});

test("a Redis password never appears in the error", async () => {
  await assert.rejects(
    openStore("redis://user:hunter2@127.0.0.1:1/0"),
    (e: unknown) =>
      e instanceof StoreUnavailableError &&
      !/hunter2/.test((e as Error).message) &&
      /\*\*\*/.test((e as Error).message),
  );
});

test("an unreachable Redis is a StoreUnavailableError at start", async () => {
  const started = performance.now();
  await assert.rejects(
    openStore("redis://127.0.0.1:1/0"),
    (e: unknown) => e instanceof StoreUnavailableError && /cannot connect to Redis/.test((e as Error).message),
  );
  assert.ok(performance.now() - started < 6_000, "it fails within the connect timeout");
});

test("serve --store sqlite:PATH: what outside Python clients write is in the file after the host stops", async () => {
  const location = backends.find((b) => b.name === "sqlite")!.fresh();
  const dir = mkdtempSync(join(tmpdir(), "dspy-bridge-serve-store-"));
  const tokenFile = join(dir, "token");
  const env = { ...process.env };
  delete env.DSPY_BRIDGE_TOKEN;
  const server = spawn(
    process.execPath,
    [
      join(repoRoot, "ts/bin/dspy-bridge.js"),
      "serve",
      "--workers",
      "1",
      "--preload",
      "",
      "--token-file",
      tokenFile,
      "--store",
      location,
    ],
    {
      env,
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const lines = createInterface({ input: server.stdout! })[Symbol.asyncIterator]();
  const ready = JSON.parse((await lines.next()).value as string) as { event: string; address: string; store: string };
  assert.deepEqual([ready.event, ready.store], ["ready", "sqlite"]);
  const script = [
    "import asyncio, sys",
    "from dspy_bridge import SessionContext",
    "async def main():",
    "    ctx = await SessionContext.connect(sys.argv[1], 'served', token=sys.argv[2])",
    "    await ctx.register_variable('k', 'integer', 7)",
    "    await ctx.set_variable('k', 8)",
    "    await ctx.close()",
    "asyncio.run(main())",
  ].join("\n");
  await promisify(execFile)(
    join(repoRoot, ".venv/bin/python"),
    ["-c", script, ready.address, readFileSync(tokenFile, "utf8").trim()],
    {
      env: { ...process.env, PYTHONPATH: join(repoRoot, "python") },
    },
  );
  const exited = new Promise((resolve) => server.once("exit", resolve));
  server.kill("SIGTERM");
  assert.equal(await exited, 0);
  const store = await openStore(location);
  try {
    const k = await store.get("served", "k");
    assert.deepEqual([k.value, k.version], [8, 2]);
  } finally {
    await store.close();
  }
});

test("a Redis Cluster store spec names its nodes; a malformed one is refused by name", () => {
  assert.deepEqual(parseStoreSpec("redis+cluster://10.0.0.5:7000,10.0.0.6:7001/?prefix=app:"), {
    backend: "redis",
    url: "redis://10.0.0.5:7000",
    prefix: "app:",
    cluster: [
      { host: "10.0.0.5", port: 7000 },
      { host: "10.0.0.6", port: 7001 },
    ],
  });
  const tls = parseStoreSpec("rediss+cluster://user:pw@[::1]:7000");
  assert.equal(tls.backend === "redis" && tls.url, "rediss://user:pw@[::1]:7000");
  assert.deepEqual(tls.backend === "redis" && tls.cluster, [{ host: "::1", port: 7000 }]);
  assert.throws(
    () => parseStoreSpec("redis+cluster://user:secret@host-without-port"),
    (e: unknown) =>
      e instanceof InvalidArgumentError &&
      /host-without-port/.test((e as Error).message) &&
      !/secret/.test((e as Error).message),
  );
});
