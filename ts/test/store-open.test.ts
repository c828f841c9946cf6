// Choosing a store: a malformed location, an unreadable SQLite file or an unreachable Redis
// is refused at start with a typed error that says what was wrong — before any worker starts.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { test } from "node:test";
import { Bridge, FailedPreconditionError, InvalidArgumentError, StoreUnavailableError } from "../src/index.js";
import { openStore } from "../src/store/index.js";
import { backends } from "./store-backends.js";

const invalid = (what: RegExp) => (e: unknown) => e instanceof InvalidArgumentError && e.parameter === "store" && what.test(e.message);

test("a malformed store location is an InvalidArgumentError naming the store option", async () => {
  await assert.rejects(openStore("postgres://x"), invalid(/unknown store 'postgres:\/\/x'/));
  await assert.rejects(openStore("sqlite:"), invalid(/needs a file path/));
  await assert.rejects(openStore("sqlite:/tmp/x.db?synchronous=sometimes"), invalid(/synchronous must be 'full' or 'normal'/));
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

test("an unreachable Redis is a StoreUnavailableError at start", async () => {
  const started = performance.now();
  await assert.rejects(openStore("redis://127.0.0.1:1/0"), (e: unknown) => e instanceof StoreUnavailableError && /cannot connect to Redis/.test((e as Error).message));
  assert.ok(performance.now() - started < 6_000, "it fails within the connect timeout");
});
