// Durable stores: what a host restart keeps (SQLite), and what a kill -9 in the middle of
// a burst of writes keeps — every acknowledged write, and no commit half-written — on
// SQLite and on Redis. The hosts are real bridges (child processes for the kills).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import Database from "better-sqlite3";
import { Bridge, type SpaceDoc } from "../src/index.js";
import { openStore, type Store } from "../src/store/index.js";
import { openStoreReadOnly } from "../src/store/open-store.js";
import { fixturesDir, quietLogs } from "./helpers.js";
import { backends } from "./store-backends.js";

const sqlite = backends.find((b) => b.name === "sqlite")!;
const redis = backends.find((b) => b.name === "redis")!;

describe("SQLite: a host restart keeps the store", () => {
  test("sessions, variables, history, dependencies, permissions, configuration spaces, the revision and the watch log survive", async () => {
    const location = sqlite.fresh();
    const space = {
      variables: [
        { name: "temperature", type: "float", min: 0, max: 2, default: 0.5 },
        { name: "style", type: "choice", values: ["terse", "chatty"], default: "terse" },
      ],
    } as SpaceDoc;
    const first = await Bridge.start({ workers: 1, preload: [], healthIntervalMs: 0, ...quietLogs, store: location });
    const s = await first.sessions.create({ id: "keep", metadata: { owner: "ada" } });
    await s.variables.define("k", "integer", 1, { constraints: { min: 0, max: 10 }, metadata: { unit: "items" } });
    await s.variables.define("emb", "embedding", new Float32Array([0.5, 0.25]), { constraints: { dimensions: 2 } });
    await s.variables.define("secret", "string", "x", {
      accessRules: [{ sessionPattern: "keep", permissions: ["read", "write", "observe"] }],
    });
    await s.variables.set("k", 2);
    await s.variables.set("k", 3, { metadata: { why: "third" } });
    await s.variables.dependencies.add("k", "emb");
    const cfg = await s.configurations.register("tuning", space);
    await cfg.apply({ temperature: 1.25 });
    const before = first.store.currentRevision;
    await first.close();

    const second = await Bridge.start({ workers: 1, preload: [], healthIntervalMs: 0, ...quietLogs, store: location });
    try {
      const t = await second.sessions.get("keep");
      assert.deepEqual(t.info().metadata, { owner: "ada" });
      assert.equal(second.store.currentRevision, before, "the revision counter carries on from where it was");
      const k = await t.variables.info("k");
      assert.deepEqual(
        [k.value, k.version, k.metadata, k.constraints],
        [3, 3, { unit: "items", why: "third" }, { min: 0, max: 10 }],
      );
      assert.deepEqual(
        (await t.variables.history("k")).map((h) => h.value),
        [3, 2, 1],
      );
      assert.deepEqual(await t.variables.get("emb"), new Float32Array([0.5, 0.25]));
      assert.deepEqual(
        (await t.variables.dependencies.list("k")).map((d) => d.variable),
        ["emb"],
      );
      assert.equal(await t.variables.permissions.check("secret", "read", "intruder"), false, "access rules survive");
      assert.equal(await t.variables.permissions.check("secret", "read", "keep"), true);
      await assert.rejects(t.variables.set("k", 11), /max|constraint/i, "constraints survive");
      const again = t.configurations.get("tuning");
      assert.equal(again.info().version, 2);
      assert.deepEqual(again.getCurrentValues(), { temperature: 1.25, style: "terse" });
      assert.equal((await again.apply({ style: "chatty" })).version, 3);
      // A watch resumes across the restart: the log is durable too.
      const seen: number[] = [];
      const w = t.variables.watch(["k"], { startRevision: 1 });
      const next = await t.variables.set("k", 4);
      for await (const u of w) {
        seen.push(u.value as number);
        if (u.revision === next.modifyRevision) break;
      }
      assert.deepEqual(seen, [1, 2, 3, 4]);
      assert.ok(next.modifyRevision > before);
    } finally {
      await second.close();
    }
  });

  test("session TTLs carry across a restart: a session left alone past its TTL is gone when the host comes back", async () => {
    const location = sqlite.fresh();
    const one = await openStore(location);
    await one.createSession({ sessionId: "short", ttlMs: 300 });
    await one.createSession({ sessionId: "forever" });
    await one.register("short", [{ name: "v", type: "integer", initialValue: 1 }]);
    await one.close();
    // The host comes back 400 ms later by its clock: past the 300 ms TTL, without waiting for it.
    const two = await openStore(location, { now: () => Date.now() + 400 });
    try {
      assert.deepEqual(
        (await two.listSessions()).map((s) => s.sessionId),
        ["forever"],
      );
      await assert.rejects(two.get("short", "v"), /not found/);
    } finally {
      await two.close();
    }
    const db = new Database(location.slice("sqlite:".length));
    const sessions = db.prepare("SELECT field FROM kv_hash WHERE key = 's'").all() as { field: string }[];
    db.close();
    assert.deepEqual(
      sessions.map((r) => r.field),
      ["forever"],
      "the expiry was committed to the file, not just hidden",
    );
  });

  test("a file this host cannot read is refused with a typed error and released: once repaired it opens", async () => {
    const location = sqlite.fresh();
    const path = location.slice("sqlite:".length);
    const one = await openStore(location);
    await one.createSession({ sessionId: "s" });
    await one.register("s", [{ name: "v", type: "integer", initialValue: 4 }]);
    await one.close();
    const db = new Database(path);
    const good = (db.prepare("SELECT value FROM kv_hash WHERE key = 's' AND field = 's'").get() as { value: string })
      .value;
    db.prepare("UPDATE kv_hash SET value = '{broken' WHERE key = 's' AND field = 's'").run();
    db.close();
    await assert.rejects(
      openStore(location),
      (e: Error & { reason?: string }) => e.reason === "failed_precondition" && /cannot read/.test(e.message),
    );
    const repair = new Database(path); // the failed start let go of the file
    repair.prepare("UPDATE kv_hash SET value = ? WHERE key = 's' AND field = 's'").run(good);
    repair.close();
    const two = await openStore(location);
    try {
      assert.equal((await two.get("s", "v")).value, 4);
    } finally {
      await two.close();
    }
  });

  test("a second host cannot open a file another host is using", async () => {
    const location = sqlite.fresh();
    const one = await openStore(location);
    try {
      await assert.rejects(
        openStore(location),
        (e: Error & { reason?: string }) => e.reason === "failed_precondition" && /in use/.test(e.message),
      );
    } finally {
      await one.close();
    }
  });
});

describe("SQLite: one host per file, across processes and after kill -9", () => {
  test("a live host in another process keeps a second host and the read-only dashboard out; killed with -9, the file opens at once", async () => {
    const location = sqlite.fresh();
    const child = spawn(process.execPath, [join(fixturesDir, "store-burst-host.mjs"), location], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once("exit", (_c, signal) => resolve(signal)));
    try {
      const lines = createInterface({ input: child.stdout! });
      for await (const line of lines) if ((JSON.parse(line) as { event?: string }).event === "ready") break;
      // The host is writing (its burst): a second host is refused, and so is a reader.
      await assert.rejects(
        openStore(location),
        (e: Error & { reason?: string }) =>
          e.reason === "failed_precondition" && /in use by another host/.test(e.message),
      );
      await assert.rejects(
        openStoreReadOnly(location),
        (e: Error & { reason?: string }) =>
          e.reason === "failed_precondition" && /in use by a running host/.test(e.message),
      );
    } finally {
      child.kill("SIGKILL");
    }
    assert.equal(await exited, "SIGKILL");
    // The kernel let go of the dead host's lock: no stale lock to wait out or remove.
    const reader = await openStoreReadOnly(location);
    const acked = reader.sessionRecord("burst").variables.size;
    await reader.close();
    const store = await openStore(location);
    try {
      assert.equal(store.sessionRecord("burst").variables.size, acked);
      await store.register("burst", [{ name: "after-kill", type: "float", initialValue: 1 }]);
    } finally {
      await store.close();
    }
  });
});

interface Ack {
  kind: "update" | "define";
  i: number;
  revision?: number;
}

/** Starts the burst host on `location`, lets it write for a while, kills it with SIGKILL; returns what it acknowledged. */
async function burstThenKill(location: string, acksBeforeKill: number): Promise<Ack[]> {
  const child = spawn(process.execPath, [join(fixturesDir, "store-burst-host.mjs"), location], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const acks: Ack[] = [];
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const lines = createInterface({ input: child.stdout! });
  let killed = false;
  for await (const line of lines) {
    const msg = JSON.parse(line) as Ack & { event?: string };
    if (msg.event) continue;
    acks.push(msg);
    if (!killed && acks.length >= acksBeforeKill) {
      killed = true;
      child.kill("SIGKILL"); // mid-burst: four writers have commits in flight
    }
  }
  await exited;
  assert.ok(killed, "the host was killed in the middle of its burst");
  return acks;
}

/** Every acknowledged write is there; every commit is all there or not at all. */
async function checkAfterKill(store: Store, acks: Ack[]): Promise<void> {
  const names = new Set((await store.list("burst")).map((r) => r.name));
  const history = async (n: string) => (await store.history("burst", n, 0)).map((h) => h.value as number).reverse();
  const [a, b, c] = [await history("a"), await history("b"), await history("c")];
  assert.deepEqual(b, a, "a and b were always written together");
  assert.deepEqual(c, a, "a and c were always written together");
  const written = new Set(a);
  for (const ack of acks) {
    if (ack.kind === "update") assert.ok(written.has(ack.i), `acknowledged update ${ack.i} is in the history`);
    else assert.ok(names.has(`x${ack.i}`) && names.has(`y${ack.i}`), `acknowledged definition ${ack.i} is there`);
  }
  for (const n of names) {
    const m = /^([xy])(\d+)$/.exec(n);
    if (m) assert.ok(names.has(`${m[1] === "x" ? "y" : "x"}${m[2]}`), `${n} was defined with its pair`);
  }
  const maxRevision = Math.max(...acks.filter((x) => x.revision).map((x) => x.revision!));
  assert.ok(store.currentRevision >= maxRevision, "the revision counter includes every acknowledged commit");
}

describe("kill -9 in the middle of a burst of writes", () => {
  const stores: Store[] = [];
  after(async () => {
    for (const s of stores) await s.close();
  });

  test("SQLite: nothing acknowledged is lost, nothing is half-written", async () => {
    const location = sqlite.fresh();
    const acks = await burstThenKill(location, 400);
    const path = location.slice("sqlite:".length);
    const db = new Database(path);
    assert.equal(db.pragma("integrity_check", { simple: true }), "ok");
    db.close();
    const store = await openStore(location, { historyLimit: 1_000_000 });
    stores.push(store);
    await checkAfterKill(store, acks);
    // And the reopened store keeps working where the dead host stopped.
    const { revision } = await store.update("burst", [
      { name: "a", value: -1 },
      { name: "b", value: -1 },
      { name: "c", value: -1 },
    ]);
    assert.equal(revision, store.currentRevision);
  });

  test("Redis: nothing acknowledged is lost, nothing is half-written", async () => {
    const location = redis.fresh();
    const acks = await burstThenKill(location, 400);
    const store = await openStore(location, { historyLimit: 1_000_000 });
    stores.push(store);
    await checkAfterKill(store, acks);
  });
});
