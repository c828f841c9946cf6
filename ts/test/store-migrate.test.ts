// Migrating a Redis store of key layout 1 (one log stream and one revision counter for every
// session) to layout 2 (each session under its own hash tag). The store in
// fixtures/redis-layout1.json was written by the version before the change (its keys as they
// were, and what that version answered for them); it is restored into a private prefix,
// refused as it is, migrated by the documented command, and must read back the same.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { FailedPreconditionError } from "../src/errors/index.js";
import { migrateStore, openStore, type Store } from "../src/store/index.js";
import { fixturesDir, repoRoot } from "./helpers.js";
import { backends } from "./store-backends.js";

interface Dumped {
  key: string;
  type: "hash" | "list" | "string" | "stream";
  value: unknown;
  pttl?: number;
}
const fixture = JSON.parse(readFileSync(join(fixturesDir, "redis-layout1.json"), "utf8")) as {
  keys: Dumped[];
  expected: Record<string, unknown> & { revision: number; alpha: unknown; beta: unknown };
};
const BETA = "beta b}{"; // a brace in the id: its hash tag is the id's bytes in hex

const redis = backends.find((b) => b.name === "redis")!;
const cluster = backends.find((b) => b.name === "redis-cluster");
const opened: Store[] = [];
after(async () => {
  for (const s of opened) await s.close().catch(() => {});
});

/** Writes the fixture's keys under the location's prefix, as the old version left them. */
async function restore(location: string): Promise<void> {
  const { Redis } = await import("ioredis");
  const raw = new Redis(location.split("?")[0]!);
  const prefix = new URL(location).searchParams.get("prefix")!;
  try {
    for (const { key, type, value, pttl } of fixture.keys) {
      const k = `${prefix}${key}`;
      if (type === "hash") await raw.hset(k, value as Record<string, string>);
      else if (type === "list") await raw.rpush(k, ...(value as string[]));
      else if (type === "string") {
        if (pttl !== undefined && pttl > 0) await raw.set(k, value as string, "PX", pttl);
        else await raw.set(k, value as string);
      } else for (const [id, fields] of value as [string, string[]][]) await raw.xadd(k, id, ...fields);
    }
  } finally {
    await raw.quit();
  }
}

async function picture(store: Store, sid: string) {
  return {
    session: (({ sessionId, ttlMs, metadata }) => ({ sessionId, ttlMs, metadata }))(await store.getSession(sid)),
    variables: (await store.list(sid))
      .map((r) => ({
        id: r.id,
        name: r.name,
        type: r.type,
        value: r.value,
        version: r.version,
        createRevision: r.createRevision,
        modifyRevision: r.modifyRevision,
        rules: r.accessRules,
        metadata: r.metadata,
      }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    histories: Object.fromEntries(
      await Promise.all(
        (await store.list(sid)).map(async (r) => [
          r.name,
          (await store.history(sid, r.name, 0)).map((h) => [h.version, h.value, h.revision]),
        ]),
      ),
    ),
    replay: await (async () => {
      const out: string[] = [];
      (
        await store.watch(
          sid,
          { startRevision: 1 },
          (m) =>
            m.kind === "commit" && out.push(`${m.revision}:${m.changes.map((c) => `${c.kind}:${c.name}`).join(",")}`),
          () => {},
        )
      ).cancel();
      return out;
    })(),
  };
}

/** Everything the old version answered reads back the same from `store`. */
async function sameAsBefore(store: Store): Promise<void> {
  const { expected } = fixture;
  assert.deepEqual(await picture(store, "alpha"), expected.alpha);
  assert.deepEqual(await picture(store, BETA), expected.beta);
  assert.deepEqual(await store.dependencies("alpha", "f"), expected.dependencies);
  assert.deepEqual(await store.configuration("alpha", "space"), expected.space);
  assert.deepEqual(JSON.parse(JSON.stringify(await store.getRun("alpha", "run-1"))), expected.runs);
  assert.deepEqual((await store.listSessions()).map((s) => s.sessionId).sort(), ["alpha", BETA]);
}

describe("migrating a Redis store of key layout 1", () => {
  test("is refused as it is, migrated in place by `dspy-bridge store-migrate`, and reads back the same", async () => {
    const location = redis.fresh();
    await restore(location);
    await assert.rejects(
      openStore(location),
      (e: unknown) => e instanceof FailedPreconditionError && /layout 1\b.*store-migrate/.test((e as Error).message),
    );
    const run = spawnSync(
      process.execPath,
      [join(repoRoot, "ts/bin/dspy-bridge.js"), "store-migrate", "--store", location, "--json"],
      { encoding: "utf8", timeout: 60_000 },
    );
    assert.equal(run.status, 0, run.stderr);
    const report = JSON.parse(run.stdout.trim().split("\n").at(-1)!) as Record<string, unknown>;
    assert.deepEqual([report.outcome, report.sessions, report.revision], ["migrated", 2, fixture.expected.revision]);
    const store = await openStore(location, { historyLimit: 1000 });
    opened.push(store);
    await sameAsBefore(store);
    // Revisions go on from the old store's: nothing a worker or a watch already saw comes again.
    assert.equal((await store.set("alpha", "f", 0.9)).modifyRevision, fixture.expected.revision + 1);
    assert.equal((await store.set(BETA, "s", "again")).modifyRevision, fixture.expected.revision + 1);
    // The old keys are gone; run again, it has nothing to do.
    const { Redis } = await import("ioredis");
    const raw = new Redis(location.split("?")[0]!);
    const prefix = new URL(location).searchParams.get("prefix")!;
    try {
      const left = (await raw.keys(`${prefix}*`)).map((k) => k.slice(prefix.length)).filter((k) => !k.includes("{"));
      assert.deepEqual(left.sort(), ["expiry", "layout", "sessions"]);
      assert.equal(await raw.get(`${prefix}layout`), "2");
    } finally {
      await raw.quit();
    }
    assert.equal((await migrateStore(location)).outcome, "already");
  });

  test("--to a Redis Cluster: the sessions move there, the source is left as it was", async () => {
    const location = redis.fresh();
    await restore(location);
    const target = cluster!.fresh();
    const report = await migrateStore(location, target);
    assert.equal(report.sessions, 2);
    const store = await openStore(target, { historyLimit: 1000 });
    opened.push(store);
    await sameAsBefore(store);
    await assert.rejects(openStore(location), FailedPreconditionError, "the source is still of layout 1");
  });
});
