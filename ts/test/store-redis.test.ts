// Several hosts on one Redis: each host's store sees the others' sessions and writes, feeds
// its own watchers from the shared log, honours compare-and-set across hosts, expires
// sessions by TTL whichever host used them last, and survives Redis restarting mid-run —
// every write either committed or failed with StoreUnavailableError, none silently lost.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import { NotFoundError, StoreUnavailableError, VersionConflictError } from "../src/errors/index.js";
import { MIN_REDIS_VERSION, RedisBackend, redisVersionProblem } from "../src/store/durable/redis-backend.js";
import { openStore, Store, type StoreOptions, type WatchMessage } from "../src/store/index.js";
import { repoRoot, waitFor } from "./helpers.js";
import { backends } from "./store-backends.js";

const redis = backends.find((b) => b.name === "redis")!;
const redisUrlOf = (location: string) => location.split("?")[0]!;
const opened: Store[] = [];
after(async () => {
  for (const s of opened) await s.close();
});

/** Two (or more) hosts' stores on the same Redis prefix. */
async function hosts(n: number, options: StoreOptions = {}, location = redis.fresh()): Promise<Store[]> {
  const out: Store[] = [];
  for (let i = 0; i < n; i++) out.push(await openStore(location, options));
  opened.push(...out);
  return out;
}

describe("Redis: the server's version", () => {
  test("the server the tests run on is new enough, and a server older than XTRIM MINID is refused by name", async () => {
    const [store] = await hosts(1); // opening checks the version: it did not throw
    assert.ok(store);
    const { Redis } = await import("ioredis");
    const client = new Redis(redisUrlOf(redis.fresh()), { lazyConnect: true });
    await client.connect();
    const info = await client.info("server");
    await client.quit();
    assert.equal(
      redisVersionProblem(info),
      undefined,
      `this Redis (${/redis_version:(\S+)/.exec(info)?.[1]}) passes the check`,
    );
    // The same reply with an older version line: what a Redis 6.0 server says.
    const older = info.replace(
      /^redis_version:\S+/m,
      `redis_version:${MIN_REDIS_VERSION[0]}.${MIN_REDIS_VERSION[1] - 2}.16`,
    );
    const problem = redisVersionProblem(older);
    assert.match(problem ?? "", /server version 6\.0 is older than 6\.2.*XTRIM MINID.*upgrade Redis/);
    assert.equal(
      redisVersionProblem(info.replace(/^redis_version:\S+/m, "redis_version:6.2.0")),
      undefined,
      "6.2 itself is enough",
    );
  });
});

describe("Redis: several hosts share one store", () => {
  test("a session and its writes made through one host are read and watched through another", async () => {
    const [a, b] = await hosts(2);
    await a.createSession({ sessionId: "s" });
    await a.register("s", [{ name: "t", type: "float", initialValue: 0.1, constraints: { min: 0, max: 1 } }]);
    assert.equal((await b.get("s", "t")).value, 0.1, "read-your-writes across hosts: b catches up before it reads");
    const seen: WatchMessage[] = [];
    await b.watch(
      "s",
      { names: ["t"] },
      (m) => seen.push(m),
      () => {},
    );
    const { revision } = await a.update("s", [{ name: "t", value: 0.7 }]);
    await waitFor(() => seen.length === 1, 2_000, "b's watcher to see a's write");
    const m = seen[0]!;
    assert.ok(
      m.kind === "commit" && m.revision === revision && m.changes[0]!.value === 0.7 && m.changes[0]!.oldValue === 0.1,
    );
    assert.equal(b.currentRevision, a.currentRevision, "both hosts agree on the revision");
    assert.deepEqual(
      (await b.history("s", "t")).map((h) => h.value),
      [0.7, 0.1],
    );
    await assert.rejects(
      b.update("s", [{ name: "t", value: 3 }]).then((r) => {
        if (!r.results[0]!.ok) throw r.results[0]!.error;
      }),
      /max|constraint/i,
    );
  });

  test("reads racing this host's own commits never end its watches (the barrier is not fooled by its own writes)", async () => {
    const [a] = await hosts(1);
    await a.createSession({ sessionId: "s" });
    await a.register("s", [{ name: "n", type: "integer", initialValue: 0 }]);
    const seen: number[] = [];
    let ended: unknown = "open";
    await a.watch(
      "s",
      {},
      (m) => m.kind === "commit" && seen.push(m.revision),
      (e) => (ended = e),
    );
    await Promise.all(Array.from({ length: 300 }, (_, i) => (i % 2 ? a.set("s", "n", i) : a.get("s", "n"))));
    assert.equal(ended, "open", "the watch is still open");
    assert.equal(seen.length, 150, "and saw every commit");
  });

  test("a session deleted on one host can be created again at once on another", async () => {
    const [a, b] = await hosts(2);
    for (let i = 0; i < 200; i++) {
      await a.createSession({ sessionId: "again" });
      assert.equal((await b.getSession("again")).sessionId, "again");
      assert.equal(await a.deleteSession("again"), true);
      const made = await b.createSession({ sessionId: "again", metadata: { round: i } });
      assert.deepEqual(made.metadata, { round: i }, `round ${i}: b saw the delete before it created`);
      assert.equal(await b.deleteSession("again"), true);
      await assert.rejects(a.getSession("again"), NotFoundError);
    }
  });

  test("compare-and-set holds across hosts: a stale expected version is refused wherever it comes from", async () => {
    const [a, b] = await hosts(2);
    await a.createSession({ sessionId: "s" });
    await a.register("s", [{ name: "n", type: "integer", initialValue: 0 }]);
    const seenByB = (await b.get("s", "n")).version;
    await a.set("s", "n", 1, { expectedVersion: seenByB });
    await assert.rejects(b.set("s", "n", 2, { expectedVersion: seenByB }), VersionConflictError);
    // Concurrent increments from both hosts with CAS and retry: none is lost.
    const increment = async (store: Store) => {
      for (;;) {
        const r = await store.get("s", "n");
        try {
          await store.set("s", "n", (r.value as number) + 1, { expectedVersion: r.version });
          return;
        } catch (err) {
          if (!(err instanceof VersionConflictError)) throw err;
        }
      }
    };
    await Promise.all(Array.from({ length: 20 }, (_, i) => increment(i % 2 ? a : b)));
    assert.equal((await a.get("s", "n")).value, 21);
    assert.equal((await b.get("s", "n")).value, 21);
  });

  test("an atomic update from one host and a racing one from another: each all or nothing, one order for everybody", async () => {
    const [a, b, c] = await hosts(3);
    await a.createSession({ sessionId: "s" });
    await a.register(
      "s",
      ["x", "y"].map((name) => ({ name, type: "integer", initialValue: 0 })),
    );
    const log: number[][] = [];
    await c.watch(
      "s",
      {},
      (m) => m.kind === "commit" && log.push(m.changes.map((ch) => ch.value as number)),
      () => {},
    );
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        (i % 2 ? a : b).update("s", [
          { name: "x", value: i },
          { name: "y", value: i },
        ]),
      ),
    );
    await waitFor(() => log.length === 30, 3_000, "c to see all 30 commits");
    for (const values of log) assert.deepEqual(values, [values[0], values[0]], "x and y arrive together, equal");
    const x = (await c.history("s", "x", 0)).map((h) => h.value);
    assert.deepEqual(
      (await a.history("s", "y", 0)).map((h) => h.value),
      x,
      "the same order on every host",
    );
  });

  test("dependencies, access rules and configuration spaces made on one host hold on the others", async () => {
    const [a, b] = await hosts(2);
    await a.createSession({ sessionId: "s" });
    await a.register(
      "s",
      ["p", "q", "r"].map((name) => ({ name, type: "integer", initialValue: 0 })),
    );
    await a.addDependency("s", "p", "q");
    await b.addDependency("s", "q", "r");
    await assert.rejects(a.addDependency("s", "r", "p"), /cycle/);
    await a.setPermissions("s", "r", [{ session_pattern: "s", permissions: ["read"] }]);
    assert.equal(await b.checkAccess("s", "r", "write"), false);
    await a.register("s", [{ name: "w", type: "float", initialValue: 0.5 }], "s", "configuration:c", {
      name: "c",
      doc: { variables: [] },
      version: 1,
      expectVersion: undefined,
    });
    assert.deepEqual(await b.configuration("s", "c"), { doc: { variables: [] }, version: 1 });
  });

  test("a watcher on another host that falls behind a trimmed log is told compacted; a new host loads the state", async () => {
    const location = redis.fresh();
    const [a] = await hosts(1, { eventLogLimit: 5 }, location);
    await a.createSession({ sessionId: "s" });
    await a.register("s", [{ name: "v", type: "integer", initialValue: 0 }]);
    for (let i = 1; i <= 20; i++) await a.set("s", "v", i);
    const [late] = await hosts(1, { eventLogLimit: 5 }, location);
    assert.equal((await late.get("s", "v")).value, 20);
    const messages: WatchMessage[] = [];
    let ended: unknown;
    await late.watch(
      "s",
      { startRevision: 2 },
      (m) => messages.push(m),
      (e) => (ended = e),
    );
    assert.equal(messages[0]?.kind, "compacted", "the stream no longer holds revision 2");
    assert.ok(ended instanceof Error && (ended as { reason?: string }).reason === "compacted");
    const tail: number[] = [];
    (
      await late.watch(
        "s",
        { startRevision: late.currentRevision - 2 },
        (m) => m.kind === "commit" && tail.push(m.revision),
        () => {},
      )
    ).cancel();
    assert.deepEqual(
      tail,
      [late.currentRevision - 2, late.currentRevision - 1, late.currentRevision],
      "the retained tail replays on the new host",
    );
  });

  test("a read on a host whose follower is cut off, behind a log trimmed past it, reloads before it answers", async () => {
    const { Redis } = await import("ioredis");
    const location = redis.fresh();
    const [a, b] = await hosts(2, { eventLogLimit: 5 }, location);
    await a.createSession({ sessionId: "s" });
    await a.register("s", [{ name: "v", type: "integer", initialValue: 0 }]);
    assert.equal((await b.get("s", "v")).value, 0);
    const raw = new Redis(redisUrlOf(location));
    try {
      // Cut every follower's connection (subscribed to the sessions' channels): b only learns of what follows by asking.
      const followers = ((await raw.client("LIST")) as string)
        .split("\n")
        .filter((l) => / cmd=(subscribe|ssubscribe)/.test(l));
      for (const line of followers) await raw.client("KILL", "ID", /id=(\d+)/.exec(line)![1]!);
      for (let i = 1; i <= 20; i++) await a.set("s", "v", i); // the stream keeps 5: b's next entry is gone
      assert.equal((await b.get("s", "v")).value, 20, "b reloaded before it answered");
    } finally {
      await raw.quit();
    }
  });

  test("a host keeps no more of the log than its own eventLogLimit, whatever another host's stream holds", async () => {
    const location = redis.fresh();
    const [a] = await hosts(1, { eventLogLimit: 1_000 }, location);
    await a.createSession({ sessionId: "s" });
    await a.register("s", [{ name: "v", type: "integer", initialValue: 0 }]);
    for (let i = 1; i <= 30; i++) await a.set("s", "v", i);
    const [small] = await hosts(1, { eventLogLimit: 5 }, location);
    await small.getSession("s"); // loads it: a Redis store's revisions count per session
    const replayed: number[] = [];
    let ended: unknown;
    (
      await small.watch(
        "s",
        { startRevision: small.revisionOf("s") - 4 },
        (m) => m.kind === "commit" && replayed.push(m.revision),
        (e) => (ended = e),
      )
    ).cancel();
    assert.equal(replayed.length, 5, "the last five commits replay");
    assert.equal(ended, undefined);
    const messages: WatchMessage[] = [];
    await small.watch(
      "s",
      { startRevision: small.revisionOf("s") - 5 },
      (m) => messages.push(m),
      () => {},
    );
    assert.deepEqual(
      messages.map((m) => m.kind),
      ["compacted"],
      "older ones are not kept",
    );
  });

  test("session TTL: kept alive by whichever host uses it, then expired for every host", async () => {
    const [a, b] = await hosts(2);
    await a.createSession({ sessionId: "ttl", ttlMs: 1_000 });
    await a.register("ttl", [{ name: "v", type: "integer", initialValue: 1 }]);
    a.startExpiry(100);
    b.startExpiry(100);
    let endedOnA: unknown;
    await a.watch(
      "ttl",
      {},
      () => {},
      (e) => (endedOnA = e),
    );
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 200));
      await b.get("ttl", "v"); // only b uses it: a must not expire it
    }
    assert.equal(endedOnA, undefined, "alive after 2 s, twice its TTL: b kept it alive");
    assert.equal((await a.getSession("ttl")).sessionId, "ttl");
    await waitFor(() => endedOnA instanceof NotFoundError, 5_000, "the session to expire once nobody uses it");
    await assert.rejects(b.getSession("ttl"), NotFoundError);
    assert.equal(
      (await a.listSessions()).some((s) => s.sessionId === "ttl"),
      false,
    );
  });
});

describe("a commit Redis refuses part-way", () => {
  test("writes nothing: the log append that can fail comes before every write", async () => {
    const { Redis } = await import("ioredis");
    const location = redis.fresh();
    const prefix = new URL(location).searchParams.get("prefix")!;
    const [a] = await hosts(1, {}, location);
    await a.createSession({ sessionId: "s" });
    await a.register("s", [{ name: "v", type: "integer", initialValue: 0 }]);
    await a.set("s", "v", 1);
    const raw = new Redis(redisUrlOf(location));
    try {
      const log = `${prefix}{s}:_log`; // the session's own log (its keys share the hash tag {s})
      await raw.rename(log, `${log}-kept`);
      await raw.set(log, "not a stream"); // XADD now fails inside the script
      await assert.rejects(a.set("s", "v", 2), StoreUnavailableError);
      await raw.del(log);
      await raw.rename(`${log}-kept`, log);
      const [fresh] = await hosts(1, {}, location);
      const v = await fresh.get("s", "v");
      assert.deepEqual([v.value, v.version], [1, 2], "the refused commit left no write behind");
      assert.deepEqual(
        (await fresh.history("s", "v", 0)).map((h) => h.value),
        [1, 0],
      );
      // The head key out of step with the stream (its last id is ahead): XADD refuses, and nothing is written either.
      await raw.xadd(log, "999999-0", "e", "{}");
      await assert.rejects(fresh.set("s", "v", 3), StoreUnavailableError);
      await raw.xdel(log, "999999-0");
      const [third] = await hosts(1, {}, location);
      assert.deepEqual(
        (await third.history("s", "v", 0)).map((h) => h.value),
        [1, 0],
      );
    } finally {
      await raw.quit();
    }
  });
});

describe("Redis loses its data", () => {
  test("every host notices, reloads, and ends its watches with compacted so watchers resync", async () => {
    const { Redis } = await import("ioredis");
    const location = redis.fresh();
    const [a, b] = await hosts(2, {}, location);
    await a.createSession({ sessionId: "s" });
    await a.register("s", [{ name: "v", type: "integer", initialValue: 1 }]);
    const messages: WatchMessage[] = [];
    let ended: unknown = "open";
    await b.watch(
      "s",
      {},
      (m) => messages.push(m),
      (e) => (ended = e),
    );
    const raw = new Redis(redisUrlOf(location));
    const prefix = new URL(location).searchParams.get("prefix")!;
    const doomed = await raw.keys(`${prefix}*`);
    await raw.del(...doomed); // as if Redis had restarted without its data
    await raw.quit();
    await waitFor(() => ended !== "open", 3_000, "b to notice the loss");
    assert.equal((ended as { reason?: string }).reason, "compacted");
    assert.equal(messages.at(-1)?.kind, "compacted");
    await assert.rejects(a.set("s", "v", 2), NotFoundError, "a reloads too: the session is gone, and says so");
    await a.createSession({ sessionId: "s" });
    assert.equal((await b.getSession("s")).sessionId, "s", "and both carry on with what Redis now holds");
  });

  test("a new history written at once past this host's revision is not taken for the continuation of the old one", async () => {
    const { Redis } = await import("ioredis");
    const location = redis.fresh();
    const [a, b] = await hosts(2, {}, location);
    await a.createSession({ sessionId: "old" });
    await a.register("old", [{ name: "v", type: "integer", initialValue: 0 }]);
    for (let i = 1; i <= 3; i++) await a.set("old", "v", i);
    await b.get("old", "v");
    let ended: unknown = "open";
    await b.watch(
      "old",
      {},
      () => {},
      (e) => (ended = e),
    );
    const raw = new Redis(redisUrlOf(location));
    await raw.del(...(await raw.keys(`${new URL(location).searchParams.get("prefix")!}*`)));
    await raw.quit();
    // A host started on the emptied Redis writes more revisions than the others had applied,
    // before their followers' idle check could notice that Redis went backwards.
    const [c] = await hosts(1, {}, location);
    await c.createSession({ sessionId: "new" });
    await c.register("new", [{ name: "w", type: "integer", initialValue: 0 }]);
    for (let i = 1; i <= 10; i++) await c.set("new", "w", i);
    for (const [name, host] of [
      ["a", a],
      ["b", b],
    ] as const) {
      await assert.rejects(host.getSession("old"), NotFoundError, `${name} no longer serves the lost session`);
      assert.equal((await host.get("new", "w")).value, 10, `${name} serves what Redis now holds`);
    }
    assert.equal(
      (ended as { reason?: string }).reason,
      "compacted",
      "b's watch of the lost history ended with compacted",
    );
  });
});

type PrivateRedis = {
  url: string;
  pid: number;
  restart(o?: { kill?: boolean; downMs?: number }): Promise<void>;
  stop(): Promise<void>;
};
async function privateRedis(): Promise<PrivateRedis> {
  const { startRedis } = (await import(pathToFileURL(join(repoRoot, "scripts/redis.mjs")).href)) as {
    startRedis(): Promise<PrivateRedis>;
  };
  return startRedis();
}

/** Settles within `ms` or says it hung. */
function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  const hung = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`${what} still pending after ${ms} ms`)), ms)),
  );
  return Promise.race([p, hung]).finally(() => clearTimeout(timer));
}

describe("Redis stops answering (a hung server or a silent network)", () => {
  test("calls fail with StoreUnavailableError within the command timeout instead of hanging; a commit in flight resolves once Redis answers again", async () => {
    const server = await privateRedis();
    try {
      const backend = await RedisBackend.connect({
        url: server.url,
        prefix: "hung:",
        logLimit: 1000,
        commandTimeoutMs: 1_000,
        outcomeTimeoutMs: 5_000,
      });
      const store = await new Store({}, backend).open();
      opened.push(store);
      await store.createSession({ sessionId: "s" });
      await store.register("s", [{ name: "v", type: "integer", initialValue: 0 }]);
      process.kill(server.pid, "SIGSTOP");
      let write: Promise<unknown>;
      try {
        await assert.rejects(within(4_000, "a read of a hung Redis", store.get("s", "v")), StoreUnavailableError);
        write = store.set("s", "v", 7).then(
          () => "committed",
          (err: unknown) => err,
        );
        await new Promise((r) => setTimeout(r, 1_300)); // the commit's own timeout passes while Redis is stopped
      } finally {
        process.kill(server.pid, "SIGCONT");
      }
      const outcome = await within(6_000, "the commit in flight", write);
      const fresh = await hosts(1, {}, `${server.url}?prefix=hung:`);
      const stored = (await fresh[0]!.get("s", "v")).value;
      if (outcome === "committed") assert.equal(stored, 7, "an acknowledged commit is in Redis");
      else {
        assert.ok(outcome instanceof StoreUnavailableError, `a typed error: ${String(outcome)}`);
        assert.equal(stored, 0, "a commit reported as not applied is not in Redis");
      }
      assert.equal(
        (await within(3_000, "a read after Redis is back", store.get("s", "v"))).value,
        stored,
        "the host carries on once Redis answers",
      );
    } finally {
      await server.stop();
    }
  });
});

describe("the outcome of a commit whose connection broke", () => {
  test("is found however many commits other hosts made since, beyond what the trimmed log keeps", async () => {
    const server = await privateRedis();
    try {
      // A log of 5 entries: the broken commit's entry is trimmed away by the commits after it.
      const backend = await RedisBackend.connect({
        url: server.url,
        prefix: "outcome:",
        logLimit: 5,
        commandTimeoutMs: 2_000,
        outcomeTimeoutMs: 3_000,
      });
      const store = await new Store({}, backend).open();
      opened.push(store);
      await store.createSession({ sessionId: "s" });
      await store.register("s", [{ name: "v", type: "integer", initialValue: 0 }]);
      // The commit whose answer was lost: watch which nonce it sends, as the wire would carry it.
      const internals = backend as unknown as {
        cmd: { bridgeCommit: (...args: string[]) => Promise<[string, string]> };
      };
      const real = internals.cmd.bridgeCommit.bind(internals.cmd);
      let nonce = "";
      internals.cmd.bridgeCommit = (...args: string[]) => {
        nonce = args[3]!;
        return real(...args);
      };
      await store.set("s", "v", 1);
      internals.cmd.bridgeCommit = real;
      const session = backend.partition("s"); // the session's part: where its outcome keys live
      // Twenty more commits from another host: the log no longer holds the first one.
      const [other] = await hosts(1, { eventLogLimit: 5 }, `${server.url}?prefix=outcome:`);
      for (let i = 2; i <= 21; i++) await other!.set("s", "v", i);
      const found = await session.outcome(nonce, new Error("connection lost"));
      assert.ok("id" in found, "the commit is known to have been applied");
      // And a nonce no script ran is reported as not applied, not as unknown.
      await assert.rejects(session.outcome("no-such-commit", new Error("connection lost")), (err: unknown) => {
        assert.ok(err instanceof StoreUnavailableError);
        assert.match((err as Error).message, /was not applied/);
        return true;
      });
    } finally {
      await server.stop();
    }
  });
});

describe("Redis restarts in the middle of a run", () => {
  test("clients reconnect and resync; every write either committed or failed with StoreUnavailableError", async () => {
    const server = await privateRedis();
    try {
      const location = `${server.url}?prefix=restart:`;
      const [a, b] = await hosts(2, { historyLimit: 100_000 }, location);
      await a.createSession({ sessionId: "s" });
      await a.register("s", [{ name: "n", type: "integer", initialValue: 0 }]);
      const watched: number[] = [];
      let watchEnd: unknown = "open";
      await b.watch(
        "s",
        { names: ["n"] },
        (m) => m.kind === "commit" && watched.push(...m.changes.map((c) => c.value as number)),
        (e) => (watchEnd = e),
      );
      const committed: number[] = [];
      const failures: unknown[] = [];
      let stop = false;
      let value = 0;
      const writer = async () => {
        while (!stop) {
          const v = ++value;
          try {
            await a.set("s", "n", v);
            committed.push(v);
          } catch (err) {
            failures.push(err);
            await new Promise((r) => setTimeout(r, 20));
          }
        }
      };
      const writers = [writer(), writer(), writer()];
      await waitFor(() => committed.length >= 50, 5_000, "writes before the restart");
      await server.restart({ kill: true, downMs: 300 });
      const atRestart = committed.length;
      await waitFor(() => committed.length >= atRestart + 50, 10_000, "writes to succeed again after the restart");
      stop = true;
      await Promise.all(writers);
      assert.ok(failures.length > 0, "writes were refused while Redis was down");
      for (const f of failures) assert.ok(f instanceof StoreUnavailableError, `a typed, retryable error: ${String(f)}`);
      // A fresh host reads Redis itself: every acknowledged write is there, nothing else is.
      const [fresh] = await hosts(1, { historyLimit: 100_000 }, location);
      const history = new Set((await fresh.history("s", "n", 0)).map((h) => h.value as number));
      for (const v of committed) assert.ok(history.has(v), `acknowledged write ${v} survived the restart`);
      assert.equal(history.size, committed.length + 1, "no write that failed was applied (+1: the initial value)");
      // Both hosts resynced: same value as Redis, and b's watcher saw every commit in order (or was told to resync).
      const final = (await fresh.get("s", "n")).value;
      assert.equal((await a.get("s", "n")).value, final);
      assert.equal((await b.get("s", "n")).value, final);
      if (watchEnd === "open") {
        await waitFor(() => watched.length === committed.length, 3_000, "b's watcher to catch up");
        assert.deepEqual(new Set(watched), new Set(committed), "b's watcher saw every committed write");
      } else {
        assert.equal((watchEnd as { reason?: string }).reason, "compacted");
      }
    } finally {
      await server.stop();
    }
  });
});
