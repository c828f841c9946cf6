// The store's conformance suite, once per backend (memory, SQLite, Redis, Redis Cluster). Model-based
// (fast-check): random sequences of operations from several clients run against the real
// store and a deliberately simple reference model; after every step their states must
// agree. A watcher records everything; the watch validators then check the recorded
// history: ordered, unique, atomic, resumable, and compaction that forces a resync.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import fc from "fast-check";
import {
  AlreadyExistsError,
  InvalidArgumentError,
  NotFoundError,
  StoreUnavailableError,
  VersionConflictError,
} from "../src/errors/index.js";
import {
  exportVariables,
  importVariables,
  type Store,
  type StoreOptions,
  type WatchMessage,
} from "../src/store/index.js";
import { Tensor } from "../src/values/index.js";
import { waitFor } from "./helpers.js";
import { backends } from "./store-backends.js";

for (const backend of backends) {
  describe(`store conformance: ${backend.name}`, () => {
    const opened: Store[] = [];
    after(async () => {
      for (const s of opened) await s.close();
    });
    const open = async (options: StoreOptions = {}): Promise<Store> => {
      const store = await backend.open(backend.fresh(), options);
      opened.push(store);
      return store;
    };
    const runs = backend.name === "memory" ? 150 : 30;

    type ModelVar = { value: number; version: number; history: number[] };
    const NAMES = ["a", "b", "c", "d"];

    type Op =
      | { kind: "register"; names: string[]; value: number }
      | { kind: "set"; client: number; name: string; value: number; cas: "none" | "seen" | "stale" }
      | { kind: "update"; names: string[]; value: number; atomic: boolean }
      | { kind: "delete"; name: string }
      | { kind: "rollback"; name: string; back: number };

    const value = fc.integer({ min: -20, max: 120 }); // constraints are [0, 100]: some writes must fail
    const name = fc.constantFrom(...NAMES);
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({
        kind: fc.constant("register" as const),
        names: fc.uniqueArray(name, { minLength: 1, maxLength: 3 }),
        value,
      }),
      // cas "stale": a version one behind the current one (what a client holds after someone else wrote).
      fc.record({
        kind: fc.constant("set" as const),
        client: fc.integer({ min: 0, max: 2 }),
        name,
        value,
        cas: fc.constantFrom("none" as const, "seen" as const, "stale" as const),
      }),
      fc.record({
        kind: fc.constant("update" as const),
        names: fc.uniqueArray(name, { minLength: 1, maxLength: 4 }),
        value,
        atomic: fc.boolean(),
      }),
      fc.record({ kind: fc.constant("delete" as const), name }),
      fc.record({ kind: fc.constant("rollback" as const), name, back: fc.integer({ min: 1, max: 3 }) }),
    );

    const valid = (v: number) => v >= 0 && v <= 100;

    /**
     * Runs one operation the model says succeeds (`expected` undefined) or fails with an error
     * for which `expected` holds; an unexpected success or the wrong error fails the test.
     */
    const outcome = async (
      what: string,
      run: () => Promise<unknown>,
      expected: ((e: unknown) => boolean) | undefined,
    ): Promise<boolean> => {
      let error: unknown;
      try {
        await run();
      } catch (e) {
        error = e;
      }
      if (expected === undefined) {
        assert.equal(error, undefined, `${what} failed where the model says it must succeed`);
        return true;
      }
      assert.notEqual(error, undefined, `${what} succeeded where the model says it must fail`);
      assert.ok(expected(error), `${what} failed with the wrong error: ${String(error)}`);
      return false;
    };
    const is = (type: abstract new (...args: never[]) => Error) => (e: unknown) => e instanceof type;

    test("the store agrees with a reference model over random operation sequences from several clients", async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 60 }), async (ops) => {
          // On Redis (and a Redis Cluster) the clients are spread over two hosts sharing the store, and the watcher
          // sits on the second: the model must hold whichever host serves a request.
          const location = backend.fresh();
          const first = await backend.open(location, { historyLimit: 1000 });
          const second = backend.shared ? await backend.open(location, { historyLimit: 1000 }) : first;
          opened.push(first, second);
          const hostOf = (n: number) => (n % 2 ? second : first);
          await first.createSession({ sessionId: "s" });
          const model = new Map<string, ModelVar>();
          let revision = 0;
          // What each client last read of each variable: the version it will CAS against.
          const seen: Map<string, number>[] = [new Map(), new Map(), new Map()];
          const log: WatchMessage[] = [];
          await second.watch(
            "s",
            { includeInitial: false },
            (m) => log.push(m),
            () => {},
          );

          for (const [index, o] of ops.entries()) {
            const store = hostOf(o.kind === "set" ? o.client : index);
            const before = revision;
            if (o.kind === "register") {
              const exists = o.names.some((n) => model.has(n));
              const ok = await outcome(
                `register ${o.names.join(",")}=${o.value}`,
                () =>
                  store.register(
                    "s",
                    o.names.map((n) => ({
                      name: n,
                      type: "integer",
                      initialValue: o.value,
                      constraints: { min: 0, max: 100 },
                    })),
                  ),
                // Both faults in one request: whichever variable comes first names its own.
                exists || !valid(o.value)
                  ? (e) =>
                      (exists && e instanceof AlreadyExistsError) ||
                      (!valid(o.value) && e instanceof InvalidArgumentError)
                  : undefined,
              );
              if (ok) {
                revision++;
                for (const n of o.names) model.set(n, { value: o.value, version: 1, history: [o.value] });
              }
            } else if (o.kind === "set") {
              const m = model.get(o.name);
              const expected =
                o.cas === "none"
                  ? 0
                  : o.cas === "seen"
                    ? (seen[o.client]!.get(o.name) ?? 1)
                    : Math.max(1, (m?.version ?? 1) - 1);
              const conflict = o.cas !== "none" && m !== undefined && expected !== m.version;
              // The store checks the name, then the version, then the value.
              const ok = await outcome(
                `set ${o.name}=${o.value} (cas ${expected})`,
                () => store.set("s", o.name, o.value, { expectedVersion: expected }),
                m === undefined
                  ? is(NotFoundError)
                  : conflict
                    ? is(VersionConflictError)
                    : !valid(o.value)
                      ? is(InvalidArgumentError)
                      : undefined,
              );
              if (ok) {
                revision++;
                m!.value = o.value;
                m!.version++;
                m!.history.push(o.value);
                seen[o.client]!.set(o.name, m!.version);
              } else if (m) seen[o.client]!.set(o.name, m.version); // the client re-reads after a conflict
            } else if (o.kind === "update") {
              const results = (
                await store.update(
                  "s",
                  o.names.map((n) => ({ name: n, value: o.value })),
                  { atomic: o.atomic },
                )
              ).results;
              const good = o.names.filter((n) => model.has(n) && valid(o.value));
              const applied = o.atomic ? (good.length === o.names.length ? good : []) : good;
              assert.deepEqual(
                results
                  .filter((r) => r.ok)
                  .map((r) => r.name)
                  .sort(),
                [...applied].sort(),
              );
              if (applied.length) revision++;
              for (const n of applied) {
                const m = model.get(n)!;
                m.value = o.value;
                m.version++;
                m.history.push(o.value);
              }
            } else if (o.kind === "delete") {
              if (
                await outcome(
                  `delete ${o.name}`,
                  () => store.delete("s", [o.name]),
                  model.has(o.name) ? undefined : is(NotFoundError),
                )
              ) {
                revision++;
                model.delete(o.name);
              }
            } else {
              const m = model.get(o.name);
              const target = m ? m.version - o.back : 0;
              const ok = await outcome(
                `rollback ${o.name} to ${target}`,
                () => store.rollback("s", o.name, target),
                m === undefined ? is(NotFoundError) : target < 1 ? is(InvalidArgumentError) : undefined,
              );
              if (ok) {
                revision++;
                m!.value = m!.history[target - 1]!;
                m!.version++;
                m!.history.push(m!.value);
              }
            }
            assert.equal(store.currentRevision, revision, "one revision per successful commit, none for a failed one");
            assert.ok(store.currentRevision === before || store.currentRevision === before + 1);
            // Full state comparison, through the other host.
            const listed = await hostOf(index + 1).list("s");
            assert.deepEqual(listed.map((r) => r.name).sort(), [...model.keys()].sort());
            for (const r of listed) {
              assert.equal(r.value, model.get(r.name)!.value, `${r.name} value`);
              assert.equal(r.version, model.get(r.name)!.version, `${r.name} version`);
            }
          }

          // Watch validators over the recorded history.
          const store = second;
          await waitFor(() => log.length >= revision, 3_000, "the watcher to receive every commit");
          const commits = log.filter((m): m is Extract<WatchMessage, { kind: "commit" }> => m.kind === "commit");
          const revisions = commits.map((c) => c.revision);
          assert.deepEqual(
            revisions,
            [...revisions].sort((x, y) => x - y),
            "ordered",
          );
          assert.equal(new Set(revisions).size, revisions.length, "unique: one message per revision");
          assert.equal(commits.length, revision, "every commit was delivered");
          // Resumable: a watcher that starts from any revision replays exactly the tail.
          for (const start of [1, Math.ceil(revision / 2), revision]) {
            if (start < 1 || start > revision) continue;
            const replay: number[] = [];
            const h = await store.watch(
              "s",
              { startRevision: start },
              (m) => m.kind === "commit" && replay.push(m.revision),
              () => {},
            );
            h.cancel();
            assert.deepEqual(
              replay,
              revisions.filter((r) => r >= start),
              `resume from ${start}`,
            );
          }
          await first.close();
          await second.close();
        }),
        { numRuns: runs },
      );
    });

    test("an atomic multi-variable update arrives as one message under one revision", async () => {
      const store = await open();
      await store.createSession({ sessionId: "s" });
      await store.register(
        "s",
        ["x", "y", "z"].map((n) => ({ name: n, type: "float", initialValue: 0 })),
      );
      const seen: WatchMessage[] = [];
      await store.watch(
        "s",
        { names: ["x", "z"] },
        (m) => seen.push(m),
        () => {},
      );
      const { revision } = await store.update(
        "s",
        [
          { name: "x", value: 1 },
          { name: "y", value: 2 },
          { name: "z", value: 3 },
        ],
        { atomic: true },
      );
      assert.equal(seen.length, 1);
      const m = seen[0]!;
      assert.equal(m.kind, "commit");
      if (m.kind !== "commit") return;
      assert.equal(m.revision, revision);
      assert.deepEqual(
        m.changes.map((c) => [c.name, c.value, c.oldValue]),
        [
          ["x", 1, 0],
          ["z", 3, 0],
        ],
        "only watched names, with old values",
      );
    });

    test("a start revision older than the log answers compacted, and a resync from the current revision sees everything after", async () => {
      const store = await open({ eventLogLimit: 5 });
      await store.createSession({ sessionId: "s" });
      await store.register("s", [{ name: "v", type: "integer", initialValue: 0 }]);
      for (let i = 1; i <= 20; i++) await store.set("s", "v", i);
      const messages: WatchMessage[] = [];
      let ended: unknown = "not yet";
      await store.watch(
        "s",
        { startRevision: 2 },
        (m) => messages.push(m),
        (e) => (ended = e),
      );
      assert.equal(messages.length, 1);
      assert.equal(messages[0]!.kind, "compacted");
      assert.ok(ended instanceof Error && (ended as { reason?: string }).reason === "compacted");
      // Resync: read, then watch from the next revision.
      const current = store.currentRevision;
      assert.equal((await store.get("s", "v")).value, 20);
      const after: number[] = [];
      await store.watch(
        "s",
        { startRevision: current + 1 },
        (m) => m.kind === "commit" && after.push(m.changes[0]!.value as number),
        () => {},
      );
      await store.set("s", "v", 21);
      assert.deepEqual(after, [21]);
      // The retained tail is still replayable.
      const tail: number[] = [];
      (
        await store.watch(
          "s",
          { startRevision: current - 2 },
          (m) => m.kind === "commit" && tail.push(m.revision),
          () => {},
        )
      ).cancel();
      assert.deepEqual(tail, [current - 2, current - 1, current, current + 1]);
    });

    test("watchers never see changes of variables they may not observe: not deletes, not replays after a delete", async () => {
      const store = await open();
      await store.createSession({ sessionId: "s" });
      await store.register(
        "s",
        [
          {
            name: "secret",
            type: "string",
            initialValue: "hunter2",
            accessRules: [{ session_pattern: "owner", permissions: ["read", "write", "observe"] }],
          },
        ],
        "owner",
      );
      const live: string[] = [];
      await store.watch(
        "s",
        { caller: "intruder" },
        (m) => m.kind === "commit" && live.push(...m.changes.map((c) => `${c.kind}:${c.name}`)),
        () => {},
      );
      await store.set("s", "secret", "hunter3", { caller: "owner" });
      await store.delete("s", ["secret"], "owner");
      assert.deepEqual(live, [], "neither the write nor the delete reached the intruder");
      const replay: string[] = [];
      (
        await store.watch(
          "s",
          { caller: "intruder", startRevision: 1 },
          (m) => m.kind === "commit" && replay.push(...m.changes.map((c) => `${c.kind}:${c.name}`)),
          () => {},
        )
      ).cancel();
      assert.deepEqual(replay, [], "a replay after the delete shows nothing either");
      const owner: string[] = [];
      (
        await store.watch(
          "s",
          { caller: "owner", startRevision: 1 },
          (m) => m.kind === "commit" && owner.push(...m.changes.map((c) => `${c.kind}:${c.name}`)),
          () => {},
        )
      ).cancel();
      assert.deepEqual(owner, ["put:secret", "put:secret", "delete:secret"]);
    });

    test("a watch's initial values leave out the variables its caller may not observe", async () => {
      const store = await open();
      await store.createSession({ sessionId: "s" });
      await store.register(
        "s",
        [
          {
            name: "secret",
            type: "string",
            initialValue: "hunter2",
            accessRules: [{ session_pattern: "owner", permissions: ["read", "write", "observe"] }],
          },
        ],
        "owner",
      );
      await store.register("s", [{ name: "open", type: "integer", initialValue: 7 }], "owner");
      const initial = async (caller: string) => {
        const seen: string[] = [];
        (
          await store.watch(
            "s",
            { caller, includeInitial: true },
            (m) =>
              m.kind === "commit" && m.initial && seen.push(...m.changes.map((c) => `${c.name}=${String(c.value)}`)),
            () => {},
          )
        ).cancel();
        return seen.sort();
      };
      assert.deepEqual(await initial("intruder"), ["open=7"]);
      assert.deepEqual(await initial("owner"), ["open=7", "secret=hunter2"]);
    });

    test("a variable keeps its last 100 versions by default (historyLimit), the oldest dropped first, after a reopen too", async () => {
      const location = backend.fresh();
      const first = await backend.open(location);
      opened.push(first);
      await first.createSession({ sessionId: "s" });
      await first.register("s", [{ name: "v", type: "integer", initialValue: 1 }]);
      for (let i = 2; i <= 105; i++) await first.set("s", "v", i);
      const kept = async (store: Store) => (await store.history("s", "v", 0)).map((h) => [h.version, h.value]);
      const expected = Array.from({ length: 100 }, (_, i) => [105 - i, 105 - i]);
      assert.deepEqual(await kept(first), expected, "versions 105..6, newest first");
      await assert.rejects(
        first.rollback("s", "v", 5),
        (e: unknown) => e instanceof InvalidArgumentError && /no version 5 .*kept: 6\.\.105/.test((e as Error).message),
      );
      // A smaller limit is kept the same way.
      const small = await backend.open(backend.fresh(), { historyLimit: 3 });
      opened.push(small);
      await small.createSession({ sessionId: "s" });
      await small.register("s", [{ name: "v", type: "integer", initialValue: 1 }]);
      for (let i = 2; i <= 6; i++) await small.set("s", "v", i);
      assert.deepEqual(await kept(small), [
        [6, 6],
        [5, 5],
        [4, 4],
      ]);
      if (backend.name === "memory") return; // nothing to reopen
      await first.close();
      const second = await backend.open(location);
      opened.push(second);
      assert.deepEqual(await kept(second), expected);
    });

    test("a named watch resumes after one of its variables was deleted, and receives the delete", async () => {
      const store = await open();
      await store.createSession({ sessionId: "s" });
      await store.register("s", [
        { name: "a", type: "integer", initialValue: 1 },
        { name: "b", type: "integer", initialValue: 2 },
      ]);
      const from = store.currentRevision + 1;
      await store.set("s", "b", 3);
      await store.delete("s", ["a"]);
      const seen: string[] = [];
      (
        await store.watch(
          "s",
          { names: ["a", "b"], startRevision: from },
          (m) => m.kind === "commit" && seen.push(...m.changes.map((c) => `${c.kind}:${c.name}`)),
          () => {},
        )
      ).cancel();
      assert.deepEqual(seen, ["put:b", "delete:a"]);
    });

    test("every variable type, history, dependencies, rules and configuration spaces read back the same after a reopen", async () => {
      const location = backend.fresh();
      const first = await backend.open(location);
      opened.push(first);
      await first.createSession({ sessionId: "s", ttlMs: 0, metadata: { team: "blue" } });
      await first.register(
        "s",
        [
          { name: "f", type: "float", initialValue: 0.25, constraints: { min: 0, max: 1 } },
          { name: "i", type: "integer", initialValue: 3 },
          { name: "str", type: "string", initialValue: 'héllo \u0000 | "quoted"', constraints: { max_length: 64 } },
          { name: "b", type: "boolean", initialValue: true },
          { name: "ch", type: "choice", initialValue: "x", constraints: { choices: ["x", "y"] } },
          {
            name: "m",
            type: "module",
            initialValue: "Predict",
            constraints: { choices: ["Predict", "ChainOfThought"] },
          },
          { name: "l", type: "list", initialValue: [1, "two", { three: 3 }] },
          { name: "d", type: "map", initialValue: { nested: { deep: [1, 2] }, empty: {} } },
          { name: "e", type: "embedding", initialValue: new Float32Array([0.5, -0.25, 1e-7]) },
          { name: "t", type: "tensor", initialValue: new Tensor("float64", [2, 2], new Float64Array([1, 2, 3, 4])) },
        ],
        "s",
        "setup",
        {
          name: "space",
          doc: { variables: [{ name: "f", type: "float", min: 0, max: 1 }] },
          version: 1,
          expectVersion: undefined,
        },
      );
      await first.set("s", "f", 0.5, { metadata: { why: "tuned" } });
      await first.set("s", "f", 0.75);
      await first.rollback("s", "f", 2, "too hot");
      await first.addDependency("s", "f", "i", "constraint");
      await first.addDependency("s", "i", "b");
      await first.setPermissions("s", "str", [{ session_pattern: "s", permissions: ["read", "write"] }]);
      await first.update(
        "s",
        [{ name: "f", value: 0.1 }],
        { source: "optimizer" },
        {
          name: "space",
          doc: { variables: [{ name: "f", type: "float", min: 0, max: 1 }] },
          version: 2,
          expectVersion: 1,
        },
      );
      await first.delete("s", ["ch"]);
      const picture = async (store: Store) => ({
        session: (({ sessionId, ttlMs, metadata }) => ({ sessionId, ttlMs, metadata }))(await store.getSession("s")),
        revision: store.currentRevision,
        variables: (await store.list("s"))
          .map((r) => ({
            id: r.id,
            name: r.name,
            type: r.type,
            value: r.value,
            constraints: r.constraints,
            metadata: r.metadata,
            version: r.version,
            createRevision: r.createRevision,
            modifyRevision: r.modifyRevision,
            updatedBy: r.updatedBy,
            rules: r.accessRules,
          }))
          .sort((x, y) => x.name.localeCompare(y.name)),
        history: (await store.history("s", "f", 0)).map(({ version, value, updatedBy, metadata, revision }) => ({
          version,
          value,
          updatedBy,
          metadata,
          revision,
        })),
        dependsOn: await store.dependencies("s", "f", true),
        dependents: await store.dependencies("s", "b", true, true),
        denied: await store.checkAccess("s", "str", "read", "someone-else"),
        space: await store.configuration("s", "space"),
      });
      const before = await picture(first);
      assert.equal(before.variables.length, 9);
      assert.deepEqual(
        before.history.map((h) => h.value),
        [0.1, 0.5, 0.75, 0.5, 0.25],
      );
      assert.deepEqual(before.space?.version, 2);
      if (backend.name === "memory") return; // nothing to reopen
      await first.close();
      const second = await backend.open(location);
      opened.push(second);
      assert.deepEqual(await picture(second), before);
      // Replay of the whole log from the reopened store: every commit, in order, with its changes.
      const replay: string[] = [];
      (
        await second.watch(
          "s",
          { startRevision: 1 },
          (m) =>
            m.kind === "commit" &&
            replay.push(`${m.revision}:${m.changes.map((c) => `${c.kind}:${c.name}`).join(",")}`),
          () => {},
        )
      ).cancel();
      assert.equal(replay.length, before.revision);
      assert.equal(replay.at(-1), `${before.revision}:delete:ch`);
    });

    test("one variable named twice in an update (by name and by id) is refused", async () => {
      const store = await open();
      await store.createSession({ sessionId: "s" });
      const [k] = await store.register("s", [{ name: "k", type: "integer", initialValue: 1 }]);
      const { revision, results } = await store.update(
        "s",
        [
          { name: "k", value: 2 },
          { name: k!.id, value: 3 },
        ],
        { atomic: true },
      );
      assert.equal(revision, 0);
      assert.ok(results.every((r) => !r.ok));
      assert.equal((await store.get("s", "k")).version, 1);
    });

    test("an import is one commit: its new variables, replaced ones and dependencies arrive together or not at all", async () => {
      const store = await open();
      await store.createSession({ sessionId: "from" });
      await store.register("from", [
        { name: "kept", type: "integer", initialValue: 5 },
        { name: "added", type: "string", initialValue: "hello" },
      ]);
      await store.addDependency("from", "added", "kept");
      const data = (await exportVariables(store, "from", { includeDependencies: true })).data;
      await store.createSession({ sessionId: "to" });
      await store.register("to", [{ name: "kept", type: "integer", initialValue: 1 }]);
      const commits: WatchMessage[] = [];
      await store.watch(
        "to",
        {},
        (m) => commits.push(m),
        () => {},
      );
      const summary = await importVariables(store, "to", data, { mergeStrategy: "replace" });
      assert.equal(summary.imported, 2);
      assert.equal(commits.length, 1, "one commit");
      const only = commits[0]!;
      assert.ok(only.kind === "commit" && only.revision === summary.revision);
      assert.deepEqual(only.changes.map((c) => [c.name, c.value]).sort(), [
        ["added", "hello"],
        ["kept", 5],
      ]);
      assert.deepEqual(
        (await store.dependencies("to", "added")).map((d) => d.variable),
        ["kept"],
      );
    });

    test("a closed store answers every call with StoreUnavailableError, reads included", async () => {
      const store = await backend.open(backend.fresh());
      await store.createSession({ sessionId: "s" });
      await store.register("s", [{ name: "k", type: "integer", initialValue: 1 }]);
      await store.close();
      const closed = (e: unknown) => e instanceof StoreUnavailableError && /closed/.test((e as Error).message);
      await assert.rejects(store.get("s", "k"), closed);
      await assert.rejects(store.list("s"), closed);
      await assert.rejects(store.getSession("s"), closed);
      await assert.rejects(
        store.watch(
          "s",
          {},
          () => {},
          () => {},
        ),
        closed,
      );
      await assert.rejects(store.set("s", "k", 2), closed);
      await assert.rejects(store.createSession({ sessionId: "t" }), closed);
    });
  });
}
