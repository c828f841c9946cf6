// A store partitioned by session (Redis, Redis Cluster): a host holds only the sessions it
// uses and lets idle ones go, a watch on a session that was let go resumes without missing a
// change, and two hosts share sessions — one killed with kill -9 in the middle of a burst,
// the other serves its sessions with every acknowledged write.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, describe, test } from "node:test";
import type { Store, WatchMessage } from "../src/store/index.js";
import { fixturesDir, waitFor } from "./helpers.js";
import { backends } from "./store-backends.js";

const opened: Store[] = [];
after(async () => {
  for (const s of opened) await s.close().catch(() => {});
});

for (const backend of backends.filter((b) => b.shared)) {
  describe(`sessions partitioned over ${backend.name}`, () => {
    const open = async (location: string, options = {}) => {
      const store = await backend.open(location, options);
      opened.push(store);
      return store;
    };

    test("a host that served 1,000 sessions and went idle holds none of them after the idle timeout", async () => {
      const location = backend.fresh();
      const host = await open(location, { sessionIdleMs: 300 });
      let most = 0;
      for (let i = 0; i < 1_000; i += 25) {
        await Promise.all(
          Array.from({ length: 25 }, async (_, j) => {
            const id = `u-${i + j}`;
            await host.createSession({ sessionId: id });
            await host.register(id, [{ name: "n", type: "integer", initialValue: i + j }]);
            assert.equal((await host.get(id, "n")).value, i + j);
          }),
        );
        most = Math.max(most, host.heldSessions);
      }
      assert.ok(most >= 25, `the sessions in use were held (at most ${most} at once)`);
      await waitFor(() => host.heldSessions === 0, 15_000, "every idle session to be let go");
      assert.equal(host.watcherCount, 0);
      // Still in the store: listed, and loaded again on first use.
      assert.equal((await host.listSessions()).length, 1_000);
      assert.equal((await host.get("u-7", "n")).value, 7);
      assert.equal(host.heldSessions, 1, "only the session just used");
    });

    test("a watch on a session that was let go sees every change when it resumes, and a watched session is kept", async () => {
      const location = backend.fresh();
      let clock = Date.now();
      const a = await open(location, { sessionIdleMs: 1_000, now: () => clock });
      const b = await open(location);
      await b.createSession({ sessionId: "w" });
      await b.register("w", [{ name: "x", type: "integer", initialValue: 0 }]);
      const values = (m: WatchMessage) => (m.kind === "commit" ? m.changes.map((c) => c.value as number) : []);
      const first: number[] = [];
      const handle = await a.watch(
        "w",
        {},
        (m) => first.push(...values(m)),
        () => {},
      );
      await b.set("w", "x", 1);
      await waitFor(() => first.length === 1, 3_000, "a's watch to see b's write");
      const seenUpTo = a.revisionOf("w");
      clock += 5_000;
      assert.equal(a.evictIdle(), 0, "a watched session is kept however long it is idle");
      handle.cancel();
      assert.equal(a.evictIdle(), 1, "once nobody watches it, the idle session goes");
      assert.equal(a.heldSessions, 0);
      for (let v = 2; v <= 6; v++) await b.set("w", "x", v);
      const resumed: number[] = [];
      const revisions: number[] = [];
      await a.watch(
        "w",
        { startRevision: seenUpTo + 1 },
        (m) => {
          resumed.push(...values(m));
          if (m.kind === "commit") revisions.push(m.revision);
        },
        () => {},
      );
      assert.deepEqual(resumed, [2, 3, 4, 5, 6], "every change made while it was let go, in order");
      assert.deepEqual(
        revisions,
        [...revisions].sort((x, y) => x - y),
        "in revision order",
      );
      await b.set("w", "x", 7);
      await waitFor(() => resumed.length === 6, 3_000, "the resumed watch to go on live");
      assert.equal(resumed.at(-1), 7);
    });

    test("commits are ordered per session: each session counts its own revisions", async () => {
      const location = backend.fresh();
      const a = await open(location);
      for (const id of ["p", "q"]) {
        await a.createSession({ sessionId: id });
        await a.register(id, [{ name: "x", type: "integer", initialValue: 0 }]);
      }
      for (let i = 1; i <= 3; i++) await a.set("p", "x", i);
      await a.set("q", "x", 1);
      assert.equal(a.revisionOf("p"), 4, "p: its register and three sets");
      assert.equal(a.revisionOf("q"), 2, "q: its own two commits, whatever p did");
    });
  });
}

const cluster = backends.find((b) => b.name === "redis-cluster");
describe("two hosts on one Redis Cluster", { skip: cluster ? false : "redis-cluster not selected" }, () => {
  test("sessions spread over the cluster's nodes, each session's keys on one node", async () => {
    const location = cluster!.fresh();
    const prefix = new URLSearchParams(location.split("?")[1]).get("prefix")!;
    const store = await cluster!.open(location);
    opened.push(store);
    for (let i = 0; i < 30; i++) {
      await store.createSession({ sessionId: `spread-${i}` });
      await store.register(`spread-${i}`, [{ name: "x", type: "integer", initialValue: i }]);
    }
    const { Cluster } = await import("ioredis");
    const nodes = location
      .slice("redis+cluster://".length)
      .split("?")[0]!
      .split(",")
      .map((n) => ({ host: n.split(":")[0]!, port: Number(n.split(":")[1]) }));
    const raw = new Cluster(nodes);
    try {
      await new Promise((resolve) => raw.once("ready", resolve));
      const perNode = await Promise.all(raw.nodes("master").map((node) => node.keys(`${prefix}{spread-*`)));
      const sessionsOf = (keys: string[]) => new Set(keys.map((k) => /\{(spread-\d+)\}/.exec(k)![1]));
      const held = perNode.map(sessionsOf);
      assert.ok(
        held.filter((s) => s.size > 0).length >= 2,
        `sessions on ${held.map((s) => s.size).join(", ")} per node`,
      );
      const all = held.flatMap((s) => [...s]);
      assert.equal(all.length, 30, "each session on exactly one node");
      assert.equal(new Set(all).size, 30);
    } finally {
      raw.disconnect();
    }
  });

  test("what host A writes host B reads; A killed with kill -9 mid-burst, B serves its sessions with every acknowledged write", async () => {
    const location = cluster!.fresh();
    const child = spawn(process.execPath, [join(fixturesDir, "store-scale-host.mjs"), location], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    const lines = createInterface({ input: child.stdout! });
    const queue: Record<string, unknown>[] = [];
    let wake: (() => void) | undefined;
    let ended = false;
    lines.on("line", (line) => {
      queue.push(JSON.parse(line) as Record<string, unknown>);
      wake?.();
    });
    lines.on("close", () => {
      ended = true;
      wake?.();
    });
    const next = async (): Promise<Record<string, unknown> | undefined> => {
      while (queue.length === 0 && !ended) await new Promise<void>((r) => (wake = r));
      return queue.shift();
    };
    try {
      assert.equal((await next())?.event, "ready");
      const sessions = Array.from({ length: 8 }, (_, i) => `k${i}`);
      child.stdin!.write(`${JSON.stringify({ op: "init", sessions })}\n`);
      assert.equal((await next())?.op, "init");
      const b = await cluster!.open(location, { historyLimit: 100_000 });
      opened.push(b);
      for (const id of sessions) assert.equal((await b.get(id, "n")).value, 0, `B reads ${id}, made on A`);
      const watched: number[] = [];
      await b.watch(
        "k0",
        {},
        (m) => m.kind === "commit" && watched.push(...m.changes.map((c) => c.value as number)),
        () => {},
      );
      child.stdin!.write(`${JSON.stringify({ op: "burst", sessions })}\n`);
      const acked = new Map<string, number[]>(sessions.map((id) => [id, []]));
      let count = 0;
      while (count < 400) {
        const m = await next();
        if (m?.op === "ack") {
          acked.get(m.session as string)!.push(m.value as number);
          count++;
        }
      }
      child.kill("SIGKILL");
      for (;;) {
        const m = await next(); // acks printed before the kill
        if (!m) break;
        if (m.op === "ack") acked.get(m.session as string)!.push(m.value as number);
      }
      for (const id of sessions) {
        const history = new Set((await b.history(id, "n", 0)).map((h) => h.value as number));
        for (const v of acked.get(id)!) assert.ok(history.has(v), `acknowledged write ${id}.n=${v} survived A's death`);
        assert.equal((await b.set(id, "n", -1)).value, -1, `B writes ${id}`);
      }
      await waitFor(() => watched.at(-1) === -1, 3_000, "B's watch to see its own write after A's");
      const before = watched.slice(0, -1);
      assert.deepEqual(
        before,
        before.map((_, i) => i + 1),
        "B's watch saw A's writes to k0 in order, none missing",
      );
    } finally {
      child.kill("SIGKILL");
    }
  });
});
