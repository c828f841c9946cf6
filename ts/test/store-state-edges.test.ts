// The store's in-memory state (store-state.ts) at the edges store-state.test.ts leaves open, through
// the real store on memory and on SQLite (whose reopen rebuilds the state from the file): what a
// live watcher is told when a commit touches several variables (by id, filtered, shared arrays,
// the observe permission), the history count limit, access rules and session metadata as applied,
// a large registration (the maps built in slices), the durable log trimmed by its byte limit as
// commits are appended, and the stamps a shared store compares (the same state code on every backend).
//
// Sizes: a string of n characters with no metadata weighs n + 18 bytes (n + 2 for the string,
// 16 for the empty metadata map); a commit that replaces a value weighs the new value plus the
// one it replaces, a delete the value it removes.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { NotFoundError, PayloadTooLargeError, PermissionDeniedError } from "../src/errors/index.js";
import { keys } from "../src/store/durable/layout.js";
import type { Entry, PutChange } from "../src/store/entries.js";
import { DEFAULT_SIZE_LIMITS } from "../src/store/limits.js";
import type { Change } from "../src/store/records.js";
import type { Store, WatchMessage } from "../src/store/index.js";
import { StoreState } from "../src/store/store-state.js";
import { backends, recorded, replay, storeOpeners } from "./store-backends.js";

const text = (c: string, n: number) => c.repeat(n);

/** The changes of a watch's commit messages, as `name=value`. */
const seen = (messages: WatchMessage[]) =>
  messages.map((m) => (m.kind === "commit" ? m.changes.map((c) => `${c.name}=${String(c.value)}`) : m.kind));

/** The error an operation fails with (the test fails if it succeeds). */
async function failure(op: Promise<unknown>): Promise<unknown> {
  try {
    await op;
  } catch (err) {
    return err;
  }
  assert.fail("expected the operation to fail");
}

for (const backend of backends.filter((b) => !b.shared)) {
  describe(`store state edges: ${backend.name}`, () => {
    const { open, reopen } = storeOpeners(backend);

    test("a commit of several variables: a watcher by id gets its own, a named watcher its part, whole-session watchers share one array", async () => {
      const store = await open();
      await store.createSession({ sessionId: "s" });
      const [a] = await store.register(
        "s",
        ["a", "b", "c"].map((name, i) => ({ name, type: "integer", initialValue: i })),
      );
      const byId = await recorded(store, "s", { names: [a!.id] });
      const part = await recorded(store, "s", { names: ["a", "b"] });
      const whole = await recorded(store, "s");
      const alsoWhole = await recorded(store, "s");
      const { results } = await store.update(
        "s",
        [
          { name: "a", value: 10 },
          { name: "b", value: 20 },
          { name: "c", value: 30 },
        ],
        { atomic: true },
      );
      assert.deepEqual(
        results.map((r) => [r.name, r.ok, r.version]),
        [
          ["a", true, 2],
          ["b", true, 2],
          ["c", true, 2],
        ],
      );
      assert.deepEqual(seen(byId.messages), [["a=10"]]);
      assert.deepEqual(seen(part.messages), [["a=10", "b=20"]]);
      assert.deepEqual(seen(whole.messages), [["a=10", "b=20", "c=30"]]);
      assert.deepEqual(
        whole.messages.map((m) => m.kind === "commit" && m.initial),
        [false],
        "a live commit is not an initial value",
      );
      const changesOf = (m: WatchMessage | undefined): Change[] => (m?.kind === "commit" ? m.changes : []);
      // One array for every watcher that sees the whole commit: the transport encodes it once.
      assert.equal(changesOf(whole.messages[0]), changesOf(alsoWhole.messages[0]));
      assert.notEqual(changesOf(part.messages[0]), changesOf(whole.messages[0]));
      // A commit touching none of a watcher's variables tells it nothing.
      await store.set("s", "c", 31);
      assert.equal(byId.messages.length, 1);
      assert.equal(part.messages.length, 1);
      assert.equal(whole.messages.length, 2);
    });

    test("a live watcher is told nothing of variables its caller may not observe; its initial values carry metadata and rules", async () => {
      let clock = 1_000;
      const store = await open({ now: () => clock });
      await store.createSession({ sessionId: "s" });
      const rules = [{ session_pattern: "owner", permissions: ["read", "write", "observe"] }];
      await store.register(
        "s",
        [
          { name: "secret", type: "string", initialValue: "x", metadata: { kind: "key" }, accessRules: rules },
          { name: "open", type: "integer", initialValue: 1 },
        ],
        "owner",
      );
      const intruder = await recorded(store, "s", { caller: "intruder", includeInitial: true });
      const owner = await recorded(store, "s", { caller: "owner", includeInitial: true });
      clock = 2_000;
      await store.update(
        "s",
        [
          { name: "secret", value: "y" },
          { name: "open", value: 2 },
        ],
        { atomic: true, caller: "owner" },
      );
      assert.deepEqual(seen(intruder.messages), [["open=1"], ["open=2"]]);
      assert.deepEqual(
        seen(owner.messages).map((names) => (Array.isArray(names) ? names.sort() : names)),
        [
          ["open=1", "secret=x"],
          ["open=2", "secret=y"],
        ],
      );
      const initialSecret = changesNamed(owner.messages[0], "secret");
      assert.deepEqual(initialSecret.metadata, { kind: "key" });
      assert.deepEqual(
        initialSecret.rules.map((r) => [r.sessionPattern, r.permissions]),
        [["owner", ["read", "write", "observe"]]],
      );
      assert.equal(initialSecret.timestampMs, 1_000);
      assert.equal(initialSecret.source, "owner");
      // A watch that names the secret is refused outright.
      const refused = await failure(
        store.watch(
          "s",
          { caller: "intruder", names: ["secret"] },
          () => {},
          () => {},
        ),
      );
      assert.ok(refused instanceof PermissionDeniedError, String(refused));
    });

    test("a watch replays only its own session's commits, from the start revision on", async () => {
      const store = await open();
      await store.createSession({ sessionId: "s" });
      await store.createSession({ sessionId: "t" });
      await store.register("s", [{ name: "v", type: "integer", initialValue: 0 }]); // 1
      await store.register("t", [{ name: "v", type: "integer", initialValue: 0 }]); // 2
      await store.set("t", "v", 1); // 3
      await store.set("s", "v", 1); // 4
      await store.set("t", "v", 2); // 5
      assert.deepEqual(await replay(store, "s", 1), [1, 4]);
      assert.deepEqual(await replay(store, "t", 1), [2, 3, 5]);
      assert.deepEqual(await replay(store, "t", 3), [3, 5]);
      assert.deepEqual(await replay(store, "s", 5), []);
    });

    test("a variable keeps historyLimit versions: exactly full stays, one more drops the oldest, a reopen keeps the same", async () => {
      const location = backend.fresh();
      const store = await open({ historyLimit: 3 }, location);
      await store.createSession({ sessionId: "s" });
      await store.register("s", [{ name: "v", type: "integer", initialValue: 1 }]);
      const versions = async (s: Store) => (await s.history("s", "v", 0)).map((h) => h.version);
      await store.set("s", "v", 2);
      await store.set("s", "v", 3);
      assert.deepEqual(await versions(store), [3, 2, 1]);
      await store.set("s", "v", 4);
      assert.deepEqual(await versions(store), [4, 3, 2]);
      const again = await reopen(store, location, { historyLimit: 3 });
      if (!again) return;
      assert.deepEqual(await versions(again), [4, 3, 2]);
      await again.set("s", "v", 5);
      assert.deepEqual(await versions(again), [5, 4, 3]);
    });

    test("a history entry records its write: version, value, time, source, metadata", async () => {
      let clock = 1_000;
      const store = await open({ now: () => clock });
      await store.createSession({ sessionId: "s" });
      await store.register("s", [{ name: "v", type: "integer", initialValue: 1 }], "s", "setup");
      clock = 2_000;
      await store.set("s", "v", 2, { metadata: { why: "tuned" }, source: "tuner" });
      assert.deepEqual(
        (await store.history("s", "v", 0)).map(({ version, value, updatedAtMs, updatedBy, metadata }) => ({
          version,
          value,
          updatedAtMs,
          updatedBy,
          metadata,
        })),
        [
          { version: 2, value: 2, updatedAtMs: 2_000, updatedBy: "tuner", metadata: { why: "tuned" } },
          { version: 1, value: 1, updatedAtMs: 1_000, updatedBy: "setup", metadata: {} },
        ],
      );
      const record = await store.get("s", "v");
      assert.deepEqual(
        [record.version, record.value, record.updatedAtMs, record.updatedBy, record.metadata],
        [2, 2, 2_000, "tuner", { why: "tuned" }],
      );
      assert.deepEqual([record.createdAtMs, record.createRevision, record.modifyRevision], [1_000, 1, 2]);
      const stats = (await store.stats("s", "v")) as { write_count: number; last_write_ms: number };
      assert.deepEqual([stats.write_count, stats.last_write_ms], [2, 2_000]);
    });

    test("access rules set after registration apply at once, to reads and watches, and after a reopen", async () => {
      const location = backend.fresh();
      const store = await open({}, location);
      await store.createSession({ sessionId: "s" });
      await store.register("s", [
        { name: "v", type: "integer", initialValue: 1 },
        { name: "w", type: "integer", initialValue: 2 },
      ]);
      assert.equal((await store.get("s", "v", "other")).value, 1);
      await store.setPermissions("s", "v", [{ session_pattern: "s", permissions: ["read", "write", "observe"] }]);
      const check = async (s: Store) => {
        const denied = await failure(s.get("s", "v", "other"));
        assert.ok(denied instanceof PermissionDeniedError, String(denied));
        assert.equal((await s.get("s", "v")).value, 1);
        const initial = await recorded(s, "s", { caller: "other", includeInitial: true });
        initial.handle.cancel();
        assert.deepEqual(seen(initial.messages), [["w=2"]]);
      };
      await check(store);
      const again = await reopen(store, location);
      if (again) await check(again);
    });

    test("a session keeps its metadata; after a reopen a session with a TTL still expires", async () => {
      let clock = 0;
      const location = backend.fresh();
      const store = await open({ now: () => clock }, location);
      await store.createSession({ sessionId: "s", metadata: { owner: "ada", n: 3 } });
      await store.createSession({ sessionId: "brief", ttlMs: 1_000 });
      assert.deepEqual((await store.getSession("s")).metadata, { owner: "ada", n: 3 });
      const current = (await reopen(store, location, { now: () => clock })) ?? store;
      assert.deepEqual((await current.getSession("s")).metadata, { owner: "ada", n: 3 });
      const dropped: string[] = [];
      current.onSessionDropped((id) => dropped.push(id));
      assert.equal(await current.sweep(), 0);
      clock = 5_000;
      assert.equal(await current.sweep(), 1);
      assert.deepEqual(dropped, ["brief"]);
      const gone = await failure(current.getSession("brief"));
      assert.ok(gone instanceof NotFoundError, String(gone));
      assert.equal((await current.getSession("s")).sessionId, "s");
      // A session deleted before its TTL ran out, then created again without one: the sweep
      // takes the old record's expiry for what it is, stale, and the new session stays.
      await current.createSession({ sessionId: "again", ttlMs: 1_000 });
      await current.deleteSession("again");
      await current.createSession({ sessionId: "again" });
      clock = 10_000;
      assert.equal(await current.sweep(), 0);
      assert.equal((await current.getSession("again")).ttlMs, 0);
      assert.deepEqual(dropped, ["brief", "again"], "the delete, not the sweep");
    });

    test("a configuration space registered with variables is kept with its version", async () => {
      const location = backend.fresh();
      const store = await open({}, location);
      await store.createSession({ sessionId: "s" });
      await store.register("s", [{ name: "v", type: "integer", initialValue: 1 }], "s", "s", {
        name: "space",
        doc: { params: ["v"] },
        version: 1,
        expectVersion: undefined,
      });
      assert.deepEqual(await store.configuration("s", "space"), { doc: { params: ["v"] }, version: 1 });
      assert.equal(await store.configuration("s", "other"), undefined);
      const again = await reopen(store, location);
      if (again) assert.deepEqual(await again.configuration("s", "space"), { doc: { params: ["v"] }, version: 1 });
    });

    test("a large registration (1,000 variables) joins the session's variables whole: by name, by id, in one commit", async () => {
      const location = backend.fresh();
      const store = await open({}, location);
      await store.createSession({ sessionId: "s" });
      const [old] = await store.register("s", [{ name: "old", type: "integer", initialValue: -1 }]);
      const watch = await recorded(store, "s");
      const made = await store.register(
        "s",
        Array.from({ length: 1_000 }, (_, i) => ({ name: `v${i}`, type: "integer", initialValue: i })),
      );
      assert.equal(made.length, 1_000);
      assert.equal(watch.messages.length, 1, "one commit");
      assert.equal(changesNamed(watch.messages[0], "v999").value, 999);
      const check = async (s: Store) => {
        assert.equal((await s.list("s")).length, 1_001);
        assert.equal((await s.get("s", "old")).value, -1);
        assert.equal((await s.get("s", old!.id)).name, "old");
        assert.equal((await s.get("s", "v500")).value, 500);
        assert.equal((await s.get("s", made[500]!.id)).name, "v500");
        assert.equal(made[500]!.id, "var_v500_2");
      };
      await check(store);
      // The new ones are written, and deleted, as any other.
      await store.set("s", "v7", 70);
      assert.deepEqual(
        (await store.history("s", "v7", 0)).map((h) => h.version),
        [2, 1],
      );
      await store.delete("s", ["v8"]);
      const gone = await failure(store.get("s", made[8]!.id));
      assert.ok(gone instanceof NotFoundError, String(gone));
      const again = await reopen(store, location);
      if (!again) return;
      assert.equal((await again.list("s")).length, 1_000);
      assert.equal((await again.get("s", made[500]!.id)).name, "v500");
      assert.equal((await again.get("s", "v7")).value, 70);
    });

    test("a large update that creates 1,000 variables and writes an existing one is one commit, both applied", async () => {
      const store = await open();
      await store.createSession({ sessionId: "s" });
      await store.register("s", [{ name: "old", type: "integer", initialValue: 0 }]);
      const updates = [
        { name: "old", value: 1 },
        ...Array.from({ length: 1_000 }, (_, i) => ({ name: `n${i}`, value: i })),
      ];
      const { revision, results } = await store.update("s", updates, { createIfMissing: true, atomic: true });
      assert.equal(revision, 2);
      assert.ok(results.every((r) => r.ok));
      assert.deepEqual(
        (await store.history("s", "old", 0)).map((h) => [h.version, h.value]),
        [
          [2, 1],
          [1, 0],
        ],
      );
      assert.equal((await store.get("s", "n999")).value, 999);
      assert.equal((await store.list("s")).length, 1_001);
    });

    test("what a trim drops leaves the session's count: a variable trimmed by historyLimit leaves room exactly for more", async () => {
      // historyLimit 2: a keeps two versions, 236 bytes; 354 then holds exactly one more 118-byte variable.
      const store = await open({ historyLimit: 2, sessionBytesLimit: 354 });
      await store.createSession({ sessionId: "s" });
      await store.register("s", [{ name: "a", type: "string", initialValue: text("a", 100) }]);
      for (const c of "bcde") await store.set("s", "a", text(c, 100));
      assert.deepEqual(
        (await store.history("s", "a", 0)).map((h) => h.version),
        [5, 4],
      );
      await store.register("s", [{ name: "b", type: "string", initialValue: text("b", 100) }]);
      assert.deepEqual(
        (await store.history("s", "a", 0)).map((h) => h.version),
        [5, 4],
        "nothing more dropped: the session is exactly full",
      );
      // One more variable: a's older version makes room for it.
      await store.register("s", [{ name: "c", type: "string", initialValue: "" }]);
      assert.deepEqual(
        (await store.history("s", "a", 0)).map((h) => h.version),
        [5],
      );
    });

    test("what the session's byte limit drops from another variable leaves the session's count", async () => {
      // As in store-state.test.ts: a and b at 118 bytes a version, 590 hold five.
      const store = await open({ sessionBytesLimit: 590 });
      await store.createSession({ sessionId: "s" });
      await store.register("s", [
        { name: "a", type: "string", initialValue: text("a", 100) },
        { name: "b", type: "string", initialValue: text("b", 100) },
      ]);
      await store.set("s", "a", text("A", 100));
      await store.set("s", "b", text("B", 100));
      await store.set("s", "a", text("1", 100));
      await store.set("s", "b", text("2", 100)); // a's version 1 goes: 590 left
      await store.set("s", "a", text("3", 100)); // one more goes, the oldest: b's version 1
      const versions = async (name: string) => (await store.history("s", name, 0)).map((h) => h.version);
      assert.deepEqual(
        [await versions("a"), await versions("b")],
        [
          [4, 3, 2],
          [3, 2],
        ],
      );
    });

    test("a value over both a variable's and the session's byte limits is refused, not kept alone", async () => {
      const store = await open({ historyBytesLimit: 200, sessionBytesLimit: 300 });
      await store.createSession({ sessionId: "s" });
      await store.register("s", [{ name: "a", type: "string", initialValue: "" }]);
      const refused = await failure(store.set("s", "a", text("x", 400)));
      assert.ok(refused instanceof PayloadTooLargeError, String(refused));
      assert.deepEqual([refused.size, refused.limit], [418, 300]);
      assert.equal((await store.get("s", "a")).value, "");
    });

    test("commits the count limit drops leave the log's byte count: the newest that fit the bytes stay", async () => {
      // eventLogLimit 2; commits: 1 register (18), 2 "a"*100 over "" (136), then 236 each: 472 holds exactly two.
      const store = await open({ eventLogLimit: 2, eventLogBytesLimit: 472 });
      await store.createSession({ sessionId: "s" });
      await store.register("s", [{ name: "v", type: "string", initialValue: "" }]);
      for (const c of "abc") await store.set("s", "v", text(c, 100));
      assert.deepEqual(await replay(store, "s", 3), [3, 4]);
      assert.equal(await replay(store, "s", 2), "compacted at 2");
    });

    test("a delete weighs the value it removes in the watch log", async () => {
      // Commit 1 registers a (118 bytes), commit 2 deletes it (118): 236, one byte over the limit.
      const store = await open({ eventLogBytesLimit: 235 });
      await store.createSession({ sessionId: "s" });
      await store.register("s", [{ name: "a", type: "string", initialValue: text("a", 100) }]);
      await store.delete("s", ["a"]);
      assert.equal(await replay(store, "s", 1), "compacted at 1");
      assert.deepEqual(await replay(store, "s", 2), [2]);
      const roomy = await open({ eventLogBytesLimit: 236 });
      await roomy.createSession({ sessionId: "s" });
      await roomy.register("s", [{ name: "a", type: "string", initialValue: text("a", 100) }]);
      await roomy.delete("s", ["a"]);
      assert.deepEqual(await replay(roomy, "s", 1), [1, 2]);
    });

    test("a write over the session's byte limit says how large it would be and what the limit is", async () => {
      const store = await open({ sessionBytesLimit: 300 });
      await store.createSession({ sessionId: "s" });
      await store.register("s", [
        { name: "a", type: "string", initialValue: text("a", 100) },
        { name: "b", type: "string", initialValue: text("b", 100) },
      ]);
      const refused = await failure(store.set("s", "a", text("x", 200)));
      assert.ok(refused instanceof PayloadTooLargeError, String(refused));
      assert.deepEqual([refused.size, refused.limit], [336, 300]);
      // A new variable that does not fit is refused the same way: 236 + 118.
      const more = await failure(store.register("s", [{ name: "c", type: "string", initialValue: text("c", 100) }]));
      assert.ok(more instanceof PayloadTooLargeError, String(more));
      assert.deepEqual([more.size, more.limit], [354, 300]);
      assert.equal((await store.list("s")).length, 2);
    });

    // A stamp is the log position of the last entry that changed a field of the session (a
    // variable, the edges, a configuration space, a program, the session itself): a shared
    // store commits only if the fields it read still carry the stamps this host holds (an
    // unshared file keeps none: it has no other writer to guard against).
    test("every entry stamps the fields it changes with its log position", async () => {
      const store = await open();
      await store.createSession({ sessionId: "s" }); // 0-1
      await store.register(
        "s",
        ["a", "b", "c"].map((name) => ({ name, type: "integer", initialValue: 0 })),
      ); // 1-0
      await store.set("s", "a", 1); // 2-0
      await store.addDependency("s", "a", "b"); // 2-1
      await store.setPermissions("s", "b", [{ session_pattern: "s", permissions: ["read", "write", "observe"] }]); // 2-2
      await store.putProgram({ sessionId: "s", programId: "p", etag: "e", definition: {} }); // 2-3
      await store.putProgram({ sessionId: "s", programId: "q", etag: "e", definition: {} }); // 2-4
      await store.deleteProgram("s", "q"); // 2-5
      await store.delete("s", ["c"]); // 3-0
      await store.register("s", [{ name: "d", type: "integer", initialValue: 0 }], "s", "s", {
        name: "space",
        doc: {},
        version: 1,
        expectVersion: undefined,
      }); // 4-0
      const stamps = (s: Store) => Object.fromEntries([...s.sessionRecord("s").stamps].sort());
      const expected = Object.fromEntries(
        [
          ["\u0000session", "0-1"],
          ["a", "2-0"],
          ["b", "2-2"],
          ["\u0000edges", "3-0"],
          ["\u0000program:p", "2-3"],
          ["\u0000program:q", "2-5"],
          ["d", "4-0"],
          ["\u0000config:space", "4-0"],
        ].sort(),
      );
      assert.deepEqual(stamps(store), expected);
      await store.removeDependency("s", "a", "b"); // 4-1
      expected["\u0000edges"] = "4-1";
      // A large registration stamps every new variable with its position too.
      await store.register(
        "s",
        Array.from({ length: 1_000 }, (_, i) => ({ name: `v${i}`, type: "integer", initialValue: i })),
      ); // 5-0
      for (let i = 0; i < 1_000; i++) expected[`v${i}`] = "5-0";
      assert.deepEqual(stamps(store), expected);
    });

    if (backend.name === "sqlite") {
      test("the file's log is trimmed by the byte limit as commits are appended: a reopen with roomier limits replays only what was kept", async () => {
        // Commits: 1 register (18), 2 "a"*100 over "" (118 + 18 = 136), then 236 each; 944 bytes
        // hold commits 3 to 6 (store-state.test.ts: the same in memory).
        const location = backend.fresh();
        const store = await open({ eventLogBytesLimit: 944 }, location);
        await store.createSession({ sessionId: "s" });
        await store.register("s", [{ name: "v", type: "string", initialValue: "" }]);
        for (const c of "abcde") await store.set("s", "v", text(c, 100));
        const roomy = (await reopen(store, location))!;
        assert.deepEqual(await replay(roomy, "s", 3), [3, 4, 5, 6]);
        assert.equal(await replay(roomy, "s", 2), "compacted at 2");
        // Appending to a log that is within its limit trims nothing.
        await roomy.set("s", "v", text("f", 100));
        const again = (await reopen(roomy, location, { eventLogBytesLimit: 944 }))!;
        // One commit larger than the whole limit: the older ones all go, the newest stays.
        await again.set("s", "v", text("z", 2_000));
        const last = (await reopen(again, location))!;
        assert.deepEqual(await replay(last, "s", 8), [8]);
        assert.equal(await replay(last, "s", 7), "compacted at 7");
      });

      test("a reopen with a smaller byte limit keeps the newest commits that fit, weighed by their logged text", async () => {
        // Each set of a 1,000-character string over another logs both (about 2,300 bytes of
        // text with the entry's fields): 5,000 bytes hold the newest two, not three.
        const location = backend.fresh();
        const store = await open({}, location);
        await store.createSession({ sessionId: "s" });
        await store.register("s", [{ name: "v", type: "string", initialValue: "" }]); // 1
        for (const c of "abcd") await store.set("s", "v", text(c, 1_000)); // 2..5
        const weighed = (await reopen(store, location, { eventLogBytesLimit: 5_000 }))!;
        assert.deepEqual(await replay(weighed, "s", 4), [4, 5]);
        assert.equal(await replay(weighed, "s", 3), "compacted at 3");
      });

      test("a reopen reads a log that still holds commits of a session deleted since", async () => {
        const location = backend.fresh();
        const store = await open({}, location);
        await store.createSession({ sessionId: "s" });
        await store.createSession({ sessionId: "gone" });
        await store.register("gone", [{ name: "v", type: "integer", initialValue: 0 }]); // 1
        await store.register("s", [{ name: "v", type: "integer", initialValue: 0 }]); // 2
        await store.set("gone", "v", 1); // 3
        await store.deleteSession("gone");
        await store.register("s", [{ name: "w", type: "integer", initialValue: 0 }]); // 4
        await store.delete("s", ["w"]); // 5: no variable left carries this revision, the log does
        const again = (await reopen(store, location))!;
        assert.deepEqual(await again.sessionRevision("s"), 5);
        const gone = await failure(again.getSession("gone"));
        assert.ok(gone instanceof NotFoundError, String(gone));
        assert.deepEqual(await replay(again, "s", 1), [2, 4, 5]);
      });

      test("a delete on a session over a smaller limit after a reopen drops no other variable's versions", async () => {
        const location = backend.fresh();
        const first = await open({}, location);
        await first.createSession({ sessionId: "s" });
        await first.register("s", [
          { name: "a", type: "string", initialValue: text("a", 100) },
          { name: "b", type: "string", initialValue: text("b", 100) },
        ]);
        await first.set("s", "a", text("c", 100));
        await first.set("s", "a", text("d", 100)); // a: 3 versions (354 bytes), b: 118
        const store = (await reopen(first, location, { sessionBytesLimit: 300 }))!;
        await store.delete("s", ["b"]);
        const versions = async () => (await store.history("s", "a", 0)).map((h) => h.version);
        assert.deepEqual(await versions(), [3, 2, 1]);
        // The next write to a keeps what fits: 118 x 2 (the new value and one older).
        await store.set("s", "a", text("e", 100));
        assert.deepEqual(await versions(), [4, 3]);
      });
    }
  });
}

// What only a shared store's host meets, driven on the state itself as store-state.test.ts does:
// entries other hosts wrote for a session this host already dropped, and a snapshot that says
// how far its log was compacted.
test("entries for a session this host dropped move its position on and change nothing", () => {
  const state = new StoreState(100, 1_000);
  const info = { sessionId: "s", createdAtMs: 0, lastAccessedAtMs: 0, ttlMs: 0, metadata: {} };
  state.apply({ t: "session", info }, { rev: 0, seq: 1 });
  state.apply({ t: "drop", sid: "s", why: "deleted" }, { rev: 0, seq: 2 });
  const told: number[] = [];
  state.commitListeners.add((c) => told.push(c.revision));
  const commit = {
    t: "commit" as const,
    sid: "s",
    source: "h2",
    at: 0,
    puts: [],
    dels: [],
    edges: [],
    config: undefined,
  };
  state.apply(commit, { rev: 1, seq: 0 });
  assert.deepEqual(state.applied, { rev: 1, seq: 0 });
  state.apply({ t: "rules", sid: "s", name: "v", rules: [] }, { rev: 1, seq: 1 });
  assert.deepEqual(state.applied, { rev: 1, seq: 1 });
  assert.equal(state.sessions.size, 0);
  assert.deepEqual(told, [], "no commit applied");
});

test("a reload tells the listeners only of the sessions the snapshot lacks", () => {
  const state = new StoreState(100, 1_000);
  const info = (sessionId: string) => ({ sessionId, createdAtMs: 0, lastAccessedAtMs: 0, ttlMs: 0, metadata: {} });
  state.apply({ t: "session", info: info("s") }, { rev: 0, seq: 1 });
  state.apply({ t: "session", info: info("t") }, { rev: 0, seq: 2 });
  const dropped: string[] = [];
  state.droppedListeners.add((sid) => dropped.push(sid));
  const sessions = new Map([[keys.sessions, new Map([["s", JSON.stringify(info("s"))]])]]);
  state.load({ head: { rev: 0, seq: 2 }, hashes: sessions, lists: new Map(), log: [] });
  assert.deepEqual(dropped, ["t"]);
  assert.deepEqual([...state.sessions.keys()], ["s"]);
});

test("a reload keeps the newest logged commits whose text fits the byte limit exactly", () => {
  const text = JSON.stringify({ t: "commit", sid: "s", source: "x", at: 0, puts: [], dels: [], edges: [] });
  // Three commits of the same text: a limit of exactly two of them keeps revisions 2 and 3.
  const state = new StoreState(100, 1_000, { ...DEFAULT_SIZE_LIMITS, eventLogBytesLimit: 2 * text.length });
  const log = [1, 2, 3].map((rev) => ({ id: { rev, seq: 0 }, entry: text }));
  state.load({ head: { rev: 3, seq: 0 }, hashes: new Map(), lists: new Map(), log });
  assert.equal(state.compactedRevision, 1);
  const tight = new StoreState(100, 1_000, { ...DEFAULT_SIZE_LIMITS, eventLogBytesLimit: 2 * text.length - 1 });
  tight.load({ head: { rev: 3, seq: 0 }, hashes: new Map(), lists: new Map(), log });
  assert.equal(tight.compactedRevision, 2);
});

test("a snapshot that says how far its log was compacted sets the compacted revision; one without, from its first entry", () => {
  const state = new StoreState(100, 1_000);
  const empty = { hashes: new Map(), lists: new Map(), log: [] };
  state.load({ ...empty, head: { rev: 9, seq: 0 }, compacted: 4 });
  assert.equal(state.compactedRevision, 4);
  state.load({ ...empty, head: { rev: 9, seq: 0 } });
  assert.equal(state.compactedRevision, 9);
  // A log that starts after revision 3's commit (at its entry 3-2): revision 3 can no longer be replayed.
  state.load({
    ...empty,
    head: { rev: 9, seq: 0 },
    log: [{ id: { rev: 3, seq: 2 }, entry: JSON.stringify({ t: "drop", sid: "x", why: "deleted" }) }],
  });
  assert.equal(state.compactedRevision, 3);
});

test("commits without sizes or kept counts (entries of an older host) are weighed on arrival and kept to the history limit", () => {
  // historyLimit 2; a session and a watch log of at most 300 bytes each (a 100-character string weighs 118).
  const state = new StoreState(2, 1_000, { ...DEFAULT_SIZE_LIMITS, sessionBytesLimit: 300, eventLogBytesLimit: 300 });
  const info = { sessionId: "s", createdAtMs: 0, lastAccessedAtMs: 0, ttlMs: 0, metadata: {} };
  state.apply({ t: "session", info }, { rev: 0, seq: 1 });
  const put = (name: string, value: string, version: number): PutChange => ({
    name,
    type: "string",
    value,
    oldValue: null,
    version,
    metadata: {},
    recordMetadata: {},
    constraints: {},
    rules: [],
    fresh: version === 1,
    createRevision: 1,
    createdAtMs: 0,
  });
  const commit = (p: PutChange): Extract<Entry, { t: "commit" }> => ({
    t: "commit",
    sid: "s",
    source: "older-host",
    at: 0,
    puts: [p],
    dels: [],
    edges: [],
    config: undefined,
  });
  state.apply(commit(put("v", "a".repeat(100), 1)), { rev: 1, seq: 0 });
  const v = state.sessions.get("s")!.variables.get("v")!;
  assert.deepEqual(
    v.history.map((h) => h.version),
    [1],
  );
  state.apply(commit(put("v", "b".repeat(100), 2)), { rev: 2, seq: 0 });
  state.apply(commit(put("v", "c".repeat(100), 3)), { rev: 3, seq: 0 });
  // The watch log weighs them too (118, then 236 each: new value and old): 300 bytes hold the newest only.
  assert.equal(state.compactedRevision, 2);
  assert.deepEqual(
    v.history.map((h) => [h.version, h.revision]),
    [
      [2, 2],
      [3, 3],
    ],
  );
  // This host's next commit is planned against what those weigh: 236 + 118 is over 300, so v's older version goes.
  const next = commit(put("w", "d".repeat(100), 1));
  state.planHistory(next);
  assert.deepEqual(next.trims, [{ name: "v", keep: 1 }]);
  assert.equal(next.puts[0]!.keep, 1);
});

/** The change of `name` in a commit message. */
function changesNamed(m: WatchMessage | undefined, name: string): Change {
  assert.ok(m?.kind === "commit", `a commit message, not ${JSON.stringify(m?.kind)}`);
  const change = m.changes.find((c) => c.name === name);
  assert.ok(change, `a change of ${name}`);
  return change;
}
