// The store's in-memory state (store-state.ts) through the real store, on memory and on SQLite
// (whose reopen rebuilds the state from the file): what the size limits keep and drop, exactly
// at their boundaries; what a watcher is told (initial values, filtered commits, the end of its
// session, the store closing); what the commit log's replay carries; the session revision, the
// listeners and the metrics observer. Redis shares this state code; its own behaviour (other
// hosts, stamps, outages) is in store-redis*.test.ts.
//
// Sizes: a string of n characters with no metadata weighs n + 18 bytes (n + 2 for the string,
// 16 for the empty metadata map); a commit that replaces a value weighs the new value plus the
// one it replaces.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CompactedError, NotFoundError, PayloadTooLargeError } from "../src/errors/index.js";
import type { Store, WatchMessage } from "../src/store/index.js";
import { StoreState } from "../src/store/store-state.js";
import { backends, recorded, replay, storeOpeners } from "./store-backends.js";

const text = (c: string, n: number) => c.repeat(n);

// Memory and SQLite: one state, one revision counter for every session (a shared store's
// revisions count per session, and its behaviour is in store-redis*.test.ts, store-scale.test.ts).
for (const backend of backends.filter((b) => !b.shared)) {
  describe(`store state: ${backend.name}`, () => {
    const { open, reopen } = storeOpeners(backend);

    test("the watch log keeps eventLogBytesLimit bytes of commits: a commit that fills it exactly stays", async () => {
      // Commits: 1 register (18), 2 "a"*100 over "" (118 + 18 = 136), then 236 each.
      // After commit 6 the log holds 18+136+236*4 = 1098: commits 1 and 2 go, 944 left.
      const store = await open({ eventLogBytesLimit: 944 });
      await store.createSession({ sessionId: "s" });
      await store.register("s", [{ name: "v", type: "string", initialValue: "" }]);
      for (const c of "abcde") await store.set("s", "v", text(c, 100));
      assert.equal(store.currentRevision, 6);
      assert.deepEqual(await replay(store, "s", 3), [3, 4, 5, 6]);
      assert.equal(await replay(store, "s", 2), "compacted at 2");
      // One commit larger than the whole limit is still kept: the newest always is.
      await store.set("s", "v", text("z", 2000));
      assert.deepEqual(await replay(store, "s", 7), [7]);
      assert.equal(await replay(store, "s", 6), "compacted at 6");
    });

    test("the watch log keeps eventLogLimit commits", async () => {
      const store = await open({ eventLogLimit: 3 });
      await store.createSession({ sessionId: "s" });
      await store.register("s", [{ name: "v", type: "integer", initialValue: 0 }]);
      for (let i = 1; i <= 5; i++) await store.set("s", "v", i);
      assert.deepEqual(await replay(store, "s", 4), [4, 5, 6]);
      assert.equal(await replay(store, "s", 3), "compacted at 3");
    });

    if (backend.name === "sqlite") {
      test("a store reopened with smaller log limits keeps its own: the newest commits, the newest always", async () => {
        const location = backend.fresh();
        const store = await open({}, location);
        await store.createSession({ sessionId: "s" });
        await store.register("s", [{ name: "v", type: "integer", initialValue: 0 }]);
        for (let i = 1; i <= 5; i++) await store.set("s", "v", i);
        const counted = (await reopen(store, location, { eventLogLimit: 3 }))!;
        assert.deepEqual(await replay(counted, "s", 4), [4, 5, 6]);
        assert.equal(await replay(counted, "s", 3), "compacted at 3");
        // A byte limit smaller than one commit: only the newest is replayable.
        const weighed = (await reopen(counted, location, { eventLogBytesLimit: 1 }))!;
        assert.deepEqual(await replay(weighed, "s", 6), [6]);
        assert.equal(await replay(weighed, "s", 5), "compacted at 5");
        // Limits the whole log fits in keep all of it.
        const roomy = (await reopen(weighed, location, { eventLogLimit: 6 }))!;
        assert.deepEqual(await replay(roomy, "s", 1), [1, 2, 3, 4, 5, 6]);
      });
    }

    test("a variable keeps historyBytesLimit bytes of versions: exactly full stays, the current value always", async () => {
      const location = backend.fresh();
      const store = await open({ historyBytesLimit: 236 }, location);
      await store.createSession({ sessionId: "s" });
      await store.register("s", [{ name: "v", type: "string", initialValue: text("a", 100) }]);
      await store.set("s", "v", text("b", 100));
      await store.set("s", "v", text("c", 100));
      const versions = async (s: Store) => (await s.history("s", "v", 0)).map((h) => [h.version, String(h.value)[0]]);
      assert.deepEqual(await versions(store), [
        [3, "c"],
        [2, "b"],
      ]);
      await store.set("s", "v", text("d", 1000));
      assert.deepEqual(await versions(store), [[4, "d"]], "a value larger than the limit is kept alone");
      await store.set("s", "v", text("e", 100));
      assert.deepEqual(await versions(store), [[5, "e"]]);
      await store.set("s", "v", text("f", 100));
      assert.deepEqual(await versions(store), [
        [6, "f"],
        [5, "e"],
      ]);
      const again = await reopen(store, location, { historyBytesLimit: 236 });
      if (again)
        assert.deepEqual(await versions(again), [
          [6, "f"],
          [5, "e"],
        ]);
    });

    test("a session keeps sessionBytesLimit bytes: the oldest version of any variable goes first, current values never", async () => {
      const location = backend.fresh();
      // a and b: 118 bytes a version. Five versions fit in 590.
      const store = await open({ sessionBytesLimit: 590 }, location);
      await store.createSession({ sessionId: "s" });
      await store.register("s", [
        { name: "a", type: "string", initialValue: text("a", 100) },
        { name: "b", type: "string", initialValue: text("b", 100) },
      ]);
      await store.set("s", "a", text("A", 100));
      await store.set("s", "b", text("B", 100));
      await store.set("s", "a", text("1", 100)); // 590: exactly full, nothing goes
      const versions = async (s: Store, name: string) => (await s.history("s", name, 0)).map((h) => h.version);
      assert.deepEqual(
        [await versions(store, "a"), await versions(store, "b")],
        [
          [3, 2, 1],
          [2, 1],
        ],
      );
      await store.set("s", "b", text("2", 100)); // 708: one version of revision 1 goes (a's: names in order), 590 left
      assert.deepEqual(
        [await versions(store, "a"), await versions(store, "b")],
        [
          [3, 2],
          [3, 2, 1],
        ],
      );
      // b's write dropped a version of another variable, a: a reopen keeps the same.
      const again = await reopen(store, location, { sessionBytesLimit: 590 });
      if (again)
        assert.deepEqual(
          [await versions(again, "a"), await versions(again, "b")],
          [
            [3, 2],
            [3, 2, 1],
          ],
        );
      const current = again ?? store;
      await current.delete("s", ["b"]);
      await current.set("s", "a", text("3", 100)); // b's bytes left with it: room again
      assert.deepEqual(await versions(current, "a"), [4, 3, 2]);
    });

    test("a write that would make a session's current values larger than sessionBytesLimit is refused, and nothing changes", async () => {
      const store = await open({ sessionBytesLimit: 300 });
      await store.createSession({ sessionId: "s" });
      await store.register("s", [
        { name: "a", type: "string", initialValue: text("a", 100) },
        { name: "b", type: "string", initialValue: text("b", 100) },
      ]);
      const revision = store.currentRevision;
      let caught: unknown;
      try {
        await store.set("s", "a", text("x", 200)); // 218 + 118 = 336 once a's first version is gone
      } catch (err) {
        caught = err;
      }
      assert.ok(caught instanceof PayloadTooLargeError, String(caught));
      assert.equal(
        caught.message,
        'session "s" would hold 336 bytes of variable values, over the limit of 300 bytes (option sessionBytesLimit); its older versions are already dropped',
      );
      assert.equal(store.currentRevision, revision);
      assert.equal((await store.get("s", "a")).value, text("a", 100));
      assert.deepEqual(
        (await store.history("s", "a", 0)).map((h) => h.version),
        [1],
      );
      // The same size again fits: the old version makes room for the new one.
      await store.set("s", "a", text("y", 100));
      assert.deepEqual(
        (await store.history("s", "a", 0)).map((h) => h.version),
        [2],
      );
    });

    if (backend.name === "sqlite") {
      test("over a smaller limit after a reopen, a write that does not grow the session is accepted; one that grows it is not", async () => {
        const location = backend.fresh();
        const first = await open({}, location);
        await first.createSession({ sessionId: "s" });
        await first.register("s", [
          { name: "a", type: "string", initialValue: text("a", 100) },
          { name: "b", type: "string", initialValue: text("b", 100) },
        ]);
        const store = (await reopen(first, location, { sessionBytesLimit: 200 }))!;
        await store.set("s", "a", text("c", 100)); // same size: 236, over 200, but no larger
        await store.set("s", "a", text("d", 99)); // smaller
        await assert.rejects(store.set("s", "a", text("e", 101)), PayloadTooLargeError);
        assert.equal((await store.get("s", "a")).value, text("d", 99));
      });
    }

    test("a watch's initial values: the watched ones (by name or id), with what a reader needs, at the current revision", async () => {
      let clock = 1_000;
      const store = await open({ now: () => clock });
      await store.createSession({ sessionId: "s" });
      await store.createSession({ sessionId: "empty" });
      const [a] = await store.register(
        "s",
        [
          { name: "a", type: "integer", initialValue: 1 },
          { name: "b", type: "integer", initialValue: 2 },
          { name: "c", type: "integer", initialValue: 3 },
        ],
        "s",
        "setup",
      );
      clock = 2_000;
      await store.set("s", "a", 10, { metadata: { why: "tuned" }, source: "tuner" });
      const { messages } = await recorded(store, "s", { names: [a!.id, "c"], includeInitial: true });
      assert.equal(messages.length, 1);
      const m = messages[0]!;
      assert.ok(m.kind === "commit");
      assert.equal(m.initial, true);
      assert.equal(m.revision, store.currentRevision);
      assert.deepEqual(
        m.changes.map(({ kind, sessionId, name, id, type, value, oldValue, version, source, timestampMs }) => ({
          kind,
          sessionId,
          name,
          id,
          type,
          value,
          oldValue,
          version,
          source,
          timestampMs,
        })),
        [
          {
            kind: "put",
            sessionId: "s",
            name: "a",
            id: a!.id,
            type: "integer",
            value: 10,
            oldValue: null,
            version: 2,
            source: "tuner",
            timestampMs: 2_000,
          },
          {
            kind: "put",
            sessionId: "s",
            name: "c",
            id: "var_c_1",
            type: "integer",
            value: 3,
            oldValue: null,
            version: 1,
            source: "setup",
            timestampMs: 1_000,
          },
        ],
      );
      // An empty session still answers with its (empty) initial values; without includeInitial, nothing comes.
      const empty = await recorded(store, "empty", { includeInitial: true });
      assert.deepEqual(empty.messages, [
        { kind: "commit", revision: store.currentRevision, changes: [], initial: true },
      ]);
      const quiet = await recorded(store, "s", {});
      assert.deepEqual(quiet.messages, []);
    });

    test("a watcher is told only of commits that touch what it watches, in its own session", async () => {
      const store = await open();
      await store.createSession({ sessionId: "s" });
      await store.createSession({ sessionId: "t" });
      await store.register("s", [
        { name: "a", type: "integer", initialValue: 1 },
        { name: "b", type: "integer", initialValue: 2 },
      ]);
      await store.register("t", [{ name: "a", type: "integer", initialValue: 1 }]);
      const onlyA = await recorded(store, "s", { names: ["a"] });
      const all = await recorded(store, "s");
      await store.set("s", "b", 20);
      await store.set("t", "a", 100);
      await store.set("s", "a", 10);
      assert.deepEqual(
        onlyA.messages.map((m) => m.kind === "commit" && m.changes.map((c) => `${c.name}=${String(c.value)}`)),
        [["a=10"]],
      );
      assert.deepEqual(
        all.messages.map((m) => m.kind === "commit" && m.changes.map((c) => `${c.name}=${String(c.value)}`)),
        [["b=20"], ["a=10"]],
      );
    });

    test("a commit's changes carry ids, old values and versions, and replay the same from the log (after a reopen too)", async () => {
      const location = backend.fresh();
      let clock = 5_000;
      const store = await open({ now: () => clock }, location);
      await store.createSession({ sessionId: "s" });
      const live = await recorded(store, "s");
      await store.register("s", [{ name: "a", type: "string", initialValue: "one" }], "s", "setup"); // 1
      clock = 6_000;
      await store.set("s", "a", "two", { metadata: { step: "2" }, source: "tuner" }); // 2
      await store.delete("s", ["a"]); // 3
      await store.register("s", [{ name: "a", type: "string", initialValue: "again" }], "s", "setup"); // 4
      const changes = (messages: WatchMessage[]) =>
        messages.flatMap((m) =>
          m.kind === "commit"
            ? m.changes.map((c) => ({
                revision: m.revision,
                kind: c.kind,
                id: c.id,
                value: c.value,
                oldValue: c.oldValue,
                version: c.version,
                metadata: c.metadata,
                source: c.source,
                timestampMs: c.timestampMs,
              }))
            : [],
        );
      const expected = [
        {
          revision: 1,
          kind: "put",
          id: "var_a_1",
          value: "one",
          oldValue: null,
          version: 1,
          metadata: {},
          source: "setup",
          timestampMs: 5_000,
        },
        {
          revision: 2,
          kind: "put",
          id: "var_a_1",
          value: "two",
          oldValue: "one",
          version: 2,
          metadata: { step: "2" },
          source: "tuner",
          timestampMs: 6_000,
        },
        {
          revision: 3,
          kind: "delete",
          id: "var_a_1",
          value: null,
          oldValue: "two",
          version: 2,
          metadata: {},
          source: "s",
          timestampMs: 6_000,
        },
        {
          revision: 4,
          kind: "put",
          id: "var_a_4",
          value: "again",
          oldValue: null,
          version: 1,
          metadata: {},
          source: "setup",
          timestampMs: 6_000,
        },
      ];
      assert.deepEqual(changes(live.messages), expected);
      const replayed = await recorded(store, "s", { startRevision: 1 });
      replayed.handle.cancel();
      assert.deepEqual(changes(replayed.messages), expected);
      const again = await reopen(store, location);
      if (!again) return;
      const fromFile = await recorded(again, "s", { startRevision: 1 });
      fromFile.handle.cancel();
      assert.deepEqual(changes(fromFile.messages), expected);
    });

    test("a watch ends: once when cancelled, with NotFoundError when its session goes, normally when the store closes", async () => {
      let clock = 0;
      const store = await backend.open(backend.fresh(), { now: () => clock });
      for (const id of ["gone", "expires", "stays", "closing"])
        await store.createSession({ sessionId: id, ttlMs: id === "expires" ? 1_000 : 0 });
      const cancelled = await recorded(store, "stays");
      cancelled.handle.cancel();
      cancelled.handle.cancel();
      assert.deepEqual(cancelled.ends, [undefined], "cancelled: ended once, without an error");
      await store.register("stays", [{ name: "v", type: "integer", initialValue: 1 }]);
      assert.deepEqual(cancelled.messages, [], "nothing after the cancel");

      const dropped: string[] = [];
      store.onSessionDropped((id) => dropped.push(id));
      const gone = await recorded(store, "gone");
      const expires = await recorded(store, "expires");
      const stays = await recorded(store, "stays");
      const closing = await recorded(store, "closing");
      await store.deleteSession("gone");
      clock = 5_000;
      assert.equal(await store.sweep(), 1);
      assert.deepEqual(dropped, ["gone", "expires"]);
      assert.equal(gone.ends.length, 1);
      assert.ok(gone.ends[0] instanceof NotFoundError);
      assert.equal((gone.ends[0] as Error).message, "session 'gone' was deleted");
      assert.ok(expires.ends[0] instanceof NotFoundError);
      assert.equal((expires.ends[0] as Error).message, "session 'expires' was expired");
      assert.deepEqual(stays.ends, [], "a watch of another session goes on");
      await store.set("stays", "v", 2);
      assert.equal(stays.messages.length, 1);
      assert.equal(store.watcherCount, 2);
      await store.close();
      assert.deepEqual(stays.ends, [undefined]);
      assert.deepEqual(closing.ends, [undefined]);
      assert.equal(store.watcherCount, 0);
    });

    test("a watch from a compacted revision ends at once; cancelling it afterwards does nothing", async () => {
      const store = await open({ eventLogLimit: 1 });
      await store.createSession({ sessionId: "s" });
      await store.register("s", [{ name: "v", type: "integer", initialValue: 0 }]);
      await store.set("s", "v", 1);
      const w = await recorded(store, "s", { startRevision: 1, includeInitial: true });
      assert.deepEqual(w.messages, [{ kind: "compacted", revision: 2, compactRevision: 1 }]);
      assert.equal(w.ends.length, 1);
      assert.match((w.ends[0] as Error).message, /^revision 1 has been compacted \(oldest kept: 2\); resync/);
      w.handle.cancel();
      assert.equal(w.ends.length, 1);
      assert.equal(store.watcherCount, 0);
      // From the oldest kept revision, it replays.
      assert.deepEqual(await replay(store, "s", 2), [2]);
    });

    test("the session revision is its own last commit's, also after a reopen", async () => {
      const location = backend.fresh();
      const store = await open({}, location);
      await store.createSession({ sessionId: "s" });
      await store.createSession({ sessionId: "t" });
      await store.register("s", [{ name: "v", type: "integer", initialValue: 0 }]); // 1
      await store.register("t", [{ name: "v", type: "integer", initialValue: 0 }]); // 2
      await store.set("s", "v", 1); // 3
      await store.set("t", "v", 1); // 4
      await store.set("t", "v", 2); // 5
      assert.deepEqual([await store.sessionRevision("s"), await store.sessionRevision("t")], [3, 5]);
      const again = await reopen(store, location);
      if (again) assert.deepEqual([await again.sessionRevision("s"), await again.sessionRevision("t")], [3, 5]);
    });

    test("commit listeners, run listeners and the metrics observer are told of what was applied", async () => {
      const store = await open();
      await store.createSession({ sessionId: "s" });
      await store.createSession({ sessionId: "t" });
      const commits: string[] = [];
      const stop = store.onCommit((c) => commits.push(`${c.sessionId}@${c.revision}:${c.changes.length}`));
      const committed: number[] = [];
      const lags: number[] = [];
      store.observe({ committed: (n) => committed.push(n), delivered: (lag) => lags.push(lag) });
      await store.recordRun(run("r1", "s"), []);
      await store.register("s", [
        { name: "a", type: "integer", initialValue: 1 },
        { name: "b", type: "integer", initialValue: 2 },
      ]);
      const w = await recorded(store, "s", { names: ["a"], includeInitial: true });
      await store.set("s", "b", 3); // not delivered to the watcher of a
      await store.set("s", "a", 4);
      stop();
      await store.register("t", [{ name: "x", type: "integer", initialValue: 1 }]);
      assert.deepEqual(commits, ["s@1:2", "s@2:1", "s@3:1"]);
      assert.deepEqual(committed, [2, 1, 1, 1]);
      assert.equal(
        lags.length,
        1,
        "one delivery measured: not the initial values, not a commit the watcher did not see",
      );
      assert.ok(lags[0]! >= 0 && lags[0]! < 60_000);
      assert.equal(w.messages.length, 2);
      store.observe(undefined);
      await store.set("s", "a", 5);
      assert.deepEqual(committed, [2, 1, 1, 1]);
    });

    test("a run keeps its newest 10,000 trials, over any number of records; listeners get each record's own", async () => {
      const store = await open();
      await store.createSession({ sessionId: "s" });
      const told: [string, number][] = [];
      store.onRun((r, trials) => told.push([r.state, trials.length]));
      const trials = (from: number, n: number) =>
        Array.from({ length: n }, (_, i) => ({ iteration: from + i, score: 0, values: {}, metrics: {}, atMs: 0 }));
      await store.recordRun(run("r", "s"), trials(1, 6_000));
      await store.recordRun({ ...run("r", "s"), state: "converged", iterations: 10_001 }, trials(6_001, 4_001));
      const kept = await store.getRun("s", "r");
      assert.equal(kept.run.state, "converged");
      assert.equal(kept.trials.length, 10_000);
      assert.equal(kept.trials[0]!.iteration, 2);
      assert.equal(kept.trials.at(-1)!.iteration, 10_001);
      assert.deepEqual(told, [
        ["running", 6_000],
        ["converged", 4_001],
      ]);
      await store.recordRun(run("other", "s"), trials(1, 3));
      assert.equal((await store.getRun("s", "other")).trials.length, 3);
      assert.equal((await store.getRun("s", "r")).trials.length, 10_000);
    });

    test("stored programs: a put makes the next revision, a delete removes it, each session its own; a reopen reads them back", async () => {
      const location = backend.fresh();
      const store = await open({}, location);
      await store.createSession({ sessionId: "s" });
      await store.createSession({ sessionId: "t" });
      const first = await store.putProgram({ sessionId: "s", programId: "p", etag: "e1", definition: { a: 1 } });
      assert.equal(first.revision, 1);
      const second = await store.putProgram({ sessionId: "s", programId: "p", etag: "e2", definition: { a: 2 } });
      assert.equal(second.revision, 2);
      await store.putProgram({ sessionId: "s", programId: "q", etag: "e", definition: {} });
      const listed = async (st: Store, sid: string) =>
        (await st.listPrograms(sid)).map((p) => [p.programId, p.revision, p.etag, p.definition]);
      assert.deepEqual(await listed(store, "s"), [
        ["p", 2, "e2", { a: 2 }],
        ["q", 1, "e", {}],
      ]);
      assert.deepEqual(await listed(store, "t"), []);
      assert.equal(await store.deleteProgram("s", "q"), true);
      assert.equal(await store.getProgram("s", "q"), undefined);
      assert.deepEqual(await listed(store, "s"), [["p", 2, "e2", { a: 2 }]]);
      const again = await reopen(store, location);
      if (again) assert.deepEqual(await listed(again, "s"), [["p", 2, "e2", { a: 2 }]]);
    });

    test("deleting a variable takes its dependencies with it; removing one edge keeps the others", async () => {
      const store = await open();
      await store.createSession({ sessionId: "s" });
      await store.register(
        "s",
        ["a", "b", "c"].map((n) => ({ name: n, type: "integer", initialValue: 0 })),
      );
      await store.addDependency("s", "a", "b");
      await store.addDependency("s", "a", "c");
      await store.removeDependency("s", "a", "c");
      assert.deepEqual(
        (await store.dependencies("s", "a")).map((d) => d.variable),
        ["b"],
      );
      await store.delete("s", ["b"]);
      assert.deepEqual(await store.dependencies("s", "a"), []);
      const stats = (await store.stats("s", "a")) as { write_count: number };
      assert.equal(stats.write_count, 1);
    });
  });
}

// What only a shared store's host does to its state (a reload after it lost track of the log,
// then every watch ended with `compacted`), driven on the state itself: no other path reaches it.
test("a reload drops the sessions the snapshot lacks, telling the listeners; compactAll ends every watch with compacted", () => {
  const state = new StoreState(100, 1_000);
  const info = (sessionId: string) => ({ sessionId, createdAtMs: 0, lastAccessedAtMs: 0, ttlMs: 0, metadata: {} });
  state.apply({ t: "session", info: info("s") }, { rev: 0, seq: 1 });
  state.apply({ t: "session", info: info("t") }, { rev: 0, seq: 2 });
  const dropped: string[] = [];
  state.droppedListeners.add((sid) => dropped.push(sid));
  const messages: WatchMessage[] = [];
  const ends: unknown[] = [];
  const handle = state.subscribe(
    state.sessions.get("s")!,
    { sessionId: "s", names: undefined, caller: "s", onMessage: (m) => messages.push(m), onEnd: (e) => ends.push(e) },
    0,
    false,
  );
  state.load({ head: { rev: 7, seq: 0 }, hashes: new Map(), lists: new Map(), log: [] });
  assert.deepEqual(dropped.sort(), ["s", "t"]);
  assert.equal(state.sessions.size, 0);
  assert.deepEqual(state.applied, { rev: 7, seq: 0 });
  assert.equal(state.compactedRevision, 7);
  assert.deepEqual(messages, []);
  state.compactAll();
  assert.deepEqual(messages, [{ kind: "compacted", revision: 7, compactRevision: 7 }]);
  assert.equal(ends.length, 1);
  assert.ok(ends[0] instanceof CompactedError && /lost track of the shared store's log/.test(ends[0].message));
  assert.equal(state.watchers.size, 0);
  // Ended once: cancelling it, or compacting again, tells it nothing more.
  handle.cancel();
  state.compactAll();
  assert.equal(messages.length, 1);
  assert.equal(ends.length, 1);
});

function run(id: string, sessionId: string) {
  return {
    id,
    kind: "optimization" as const,
    sessionId,
    target: "v",
    optimizer: "random",
    state: "running",
    startedAtMs: 0,
    updatedAtMs: 0,
    iterations: 0,
    bestScore: null,
    direction: "maximize" as const,
    error: null,
    details: {},
  };
}
