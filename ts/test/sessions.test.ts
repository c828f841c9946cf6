// session.variables through a real Bridge: the TypeScript API over the host store, and
// bad input that must be refused with a typed error while nothing already stored changes.
// Once per store backend: memory, SQLite, Redis, Redis Cluster.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  AlreadyExistsError,
  type Bridge,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  Tensor,
  VersionConflictError,
  type Session,
  type VariableUpdate,
} from "../src/index.js";
import { startPool, waitForAsync } from "./helpers.js";
import { backends } from "./store-backends.js";

for (const backend of backends) {
  describe(`sessions on the ${backend.name} store`, () => {
    let bridge: Bridge;
    before(async () => {
      bridge = await startPool({ workers: 1, store: backend.fresh() });
    });
    after(() => bridge.close());

    /** Runs `fn`, expects it to throw, and checks the store did not change at all. */
    async function refusedWithoutChange(
      session: Session,
      fn: () => Promise<unknown>,
      check: (err: unknown) => boolean,
    ): Promise<void> {
      const revision = bridge.store.currentRevision;
      const snapshot = (await session.variables.list()).map((v) => [v.name, v.version, v.value]);
      await assert.rejects(fn, check);
      assert.equal(bridge.store.currentRevision, revision, "no new revision");
      assert.deepEqual(
        (await session.variables.list()).map((v) => [v.name, v.version, v.value]),
        snapshot,
        "nothing changed",
      );
    }

    describe("session.variables", () => {
      test("define, get, set, update, history, rollback", async () => {
        const s = await bridge.sessions.create({ id: "ts-basic" });
        const t = await s.variables.define("temperature", "float", 0.7, {
          constraints: { min: 0, max: 2 },
          metadata: { description: "LM temperature" },
        });
        assert.equal(t.version, 1);
        assert.match(t.id, /^var_temperature_/);
        assert.equal(await s.variables.get("temperature"), 0.7);
        assert.equal(await s.variables.get(t.id), 0.7, "by id too");
        await s.variables.set("temperature", 0.9, { metadata: { reason: "user_preference" } });
        await s.variables.define("max_tokens", "integer", 256, { constraints: { min: 1, max: 4096 } });
        const { results, revision } = await s.variables.update({ temperature: 1.1, max_tokens: 512 });
        assert.deepEqual(results, { temperature: true, max_tokens: true });
        assert.equal(revision, bridge.store.currentRevision);
        assert.deepEqual(await s.variables.getMany(["temperature", "max_tokens", "missing"]), {
          temperature: 1.1,
          max_tokens: 512,
        });
        const history = await s.variables.history("temperature");
        assert.deepEqual(
          history.map((h) => [h.version, h.value]),
          [
            [3, 1.1],
            [2, 0.9],
            [1, 0.7],
          ],
        );
        assert.equal(history[1]!.metadata.reason, "user_preference");
        const rolled = await s.variables.rollback("temperature", 1, "diverged");
        assert.equal(rolled.version, 4);
        assert.equal(rolled.value, 0.7);
        assert.equal((await s.variables.history("temperature", { limit: 1 }))[0]!.metadata.reason, "diverged");
        assert.equal(await s.variables.get("nope", { default: 42 }), 42);
      });

      test("embeddings and tensors are typed arrays", async () => {
        const s = await bridge.sessions.create({ id: "ts-arrays" });
        await s.variables.define("emb", "embedding", new Float32Array([3, 4]), {
          constraints: { dimensions: 2, normalize: true },
        });
        const emb = (await s.variables.get("emb")) as Float32Array;
        assert.ok(emb instanceof Float32Array);
        assert.ok(Math.abs(emb[0]! - 0.6) < 1e-6 && Math.abs(emb[1]! - 0.8) < 1e-6, "normalized on the way in");
        await s.variables.define("t", "tensor", new Tensor("float64", [2, 2], new Float64Array([1, 2, 3, 4])), {
          constraints: { shape: [2, -1] },
        });
        const t = (await s.variables.get("t")) as Tensor;
        assert.deepEqual([...t.shape], [2, 2]);
        assert.deepEqual([...(t.data as Float64Array)], [1, 2, 3, 4]);
      });

      test("watch: initial values, then one update per commit carrying its revision", async () => {
        const s = await bridge.sessions.create({ id: "ts-watch" });
        await s.variables.defineMany([
          { name: "a", type: "integer", initialValue: 1 },
          { name: "b", type: "integer", initialValue: 2 },
        ]);
        const w = s.variables.watch(["a", "b"], { includeInitial: true });
        const got: VariableUpdate[] = [];
        const reader = (async () => {
          for await (const u of w) {
            got.push(u);
            if (got.length === 5) break;
          }
        })();
        await s.variables.set("a", 10);
        const { revision } = await s.variables.update({ a: 11, b: 21 });
        await reader;
        assert.deepEqual(
          got.slice(0, 2).map((u) => [u.name, u.value, u.initial]),
          [
            ["a", 1, true],
            ["b", 2, true],
          ],
        );
        assert.deepEqual(
          got.slice(2).map((u) => [u.name, u.value, u.oldValue]),
          [
            ["a", 10, 1],
            ["a", 11, 10],
            ["b", 21, 2],
          ],
        );
        assert.equal(got[3]!.revision, revision);
        assert.equal(got[4]!.revision, revision, "an atomic update shares one revision");
        assert.equal(bridge.store.watcherCount, 0, "breaking out cancelled the watch");
      });

      test("dependencies: transitive queries and cycles refused", async () => {
        const s = await bridge.sessions.create({ id: "ts-deps" });
        await s.variables.defineMany([
          { name: "base", type: "float", initialValue: 0.7 },
          { name: "style", type: "float", initialValue: 1 },
          { name: "effective", type: "float", initialValue: 0.7, dependencies: ["base", "style"] },
          { name: "final", type: "float", initialValue: 0.7, dependencies: ["effective"] },
        ]);
        assert.deepEqual(
          (await s.variables.dependencies.list("final", { transitive: true })).map((d) => [d.variable, d.depth]),
          [
            ["effective", 1],
            ["base", 2],
            ["style", 2],
          ],
        );
        assert.deepEqual(
          (await s.variables.dependencies.list("base", { dependents: true, transitive: true })).map((d) => d.variable),
          ["effective", "final"],
        );
        await assert.rejects(s.variables.dependencies.add("base", "final"), (err: unknown) => {
          assert.ok(err instanceof InvalidArgumentError);
          assert.match(err.message, /cycle: base -> final -> effective -> base/);
          return true;
        });
      });

      test("export and import round trip, json and yaml, with merge strategies", async () => {
        const s = await bridge.sessions.create({ id: "ts-export" });
        await s.variables.define("cfg", "map", { a: 1, nested: { x: 1 } });
        await s.variables.define("emb", "embedding", new Float64Array([0.5, 0.25]));
        for (const format of ["json", "yaml"] as const) {
          const data = await s.variables.export({ format, includeHistory: true });
          const target = await bridge.sessions.create({ id: `ts-import-${format}` });
          const dry = await target.variables.import(data, { format, dryRun: true });
          assert.equal(dry.imported, 2);
          assert.deepEqual(await target.variables.list(), [], "dry run changes nothing");
          const summary = await target.variables.import(data, { format });
          assert.equal(summary.errors, 0);
          assert.deepEqual(await target.variables.get("cfg"), { a: 1, nested: { x: 1 } });
          assert.deepEqual([...((await target.variables.get("emb")) as Float64Array)], [0.5, 0.25]);
        }
        const target = await bridge.sessions.get("ts-import-json");
        await target.variables.set("cfg", { a: 2, nested: { y: 2 } });
        const data = await s.variables.export();
        assert.equal((await target.variables.import(data, { mergeStrategy: "keep" })).skipped, 2);
        assert.deepEqual(await target.variables.get("cfg"), { a: 2, nested: { y: 2 } });
        await target.variables.import(data, { mergeStrategy: "merge" });
        assert.deepEqual(
          await target.variables.get("cfg"),
          { a: 1, nested: { y: 2, x: 1 } },
          "deep merge, imported keys win",
        );
        await target.variables.import(data, { mergeStrategy: "replace" });
        assert.deepEqual(await target.variables.get("cfg"), { a: 1, nested: { x: 1 } });
      });

      test("sessions: open, list, delete, and TTL expiry", async () => {
        const s = await bridge.sessions.open("ts-ttl", { ttlMs: 150 });
        await s.variables.define("v", "integer", 1);
        assert.ok((await bridge.sessions.list()).some((i) => i.sessionId === "ts-ttl"));
        await waitForAsync(
          async () => !(await bridge.sessions.list()).some((i) => i.sessionId === "ts-ttl"),
          5_000,
          "the session's TTL to expire it",
        );
        await assert.rejects(s.variables.get("v"), NotFoundError);
        assert.ok(!(await bridge.sessions.list()).some((i) => i.sessionId === "ts-ttl"));
        const d = await bridge.sessions.create({ id: "ts-del" });
        assert.equal(await bridge.sessions.delete("ts-del"), true);
        await assert.rejects(d.variables.list(), NotFoundError);
        await assert.rejects(bridge.sessions.create({ id: "ts-basic" }), AlreadyExistsError);
      });
    });

    describe("bad input leaves the store untouched", () => {
      test("wrong types, violated constraints, unknown names, CAS conflicts, forbidden access, cycles", async () => {
        const s = await bridge.sessions.create({ id: "ts-bad" });
        await s.variables.define("temp", "float", 0.7, { constraints: { min: 0, max: 2 } });
        await s.variables.define("model", "choice", "gpt-4", { constraints: { choices: ["gpt-4", "claude-3"] } });
        await s.variables.define("api_key", "string", "k", {
          accessRules: [
            { sessionPattern: "any", permissions: ["read"] },
            { sessionPattern: "admin_*", permissions: ["read", "write"] },
          ],
        });
        const reason = (r: string) => (err: unknown) => (err as { reason?: string }).reason === r;
        await refusedWithoutChange(s, () => s.variables.set("temp", 2.5), reason("constraint_violation"));
        await refusedWithoutChange(s, () => s.variables.set("temp", "hot"), reason("type_mismatch"));
        await refusedWithoutChange(s, () => s.variables.set("model", "llama"), reason("constraint_violation"));
        await refusedWithoutChange(
          s,
          () => s.variables.set("missing", 1),
          (e) => e instanceof NotFoundError,
        );
        await refusedWithoutChange(
          s,
          () => s.variables.set("temp", 1, { expectedVersion: 7 }),
          (e) => e instanceof VersionConflictError,
        );
        // A stale version: what a client holds after someone else wrote.
        await s.variables.define("counter", "integer", 1);
        await s.variables.set("counter", 2);
        await refusedWithoutChange(
          s,
          () => s.variables.set("counter", 3, { expectedVersion: 1 }),
          (e) => e instanceof VersionConflictError && /at version 2, not the expected 1/.test((e as Error).message),
        );
        await refusedWithoutChange(
          s,
          () => s.variables.set("api_key", "stolen"),
          (e) => e instanceof PermissionDeniedError,
        );
        await refusedWithoutChange(
          s,
          () => s.variables.define("temp", "float", 1),
          (e) => e instanceof AlreadyExistsError,
        );
        await refusedWithoutChange(
          s,
          () => s.variables.define("x", "no_such_type" as "float", 1),
          (e) => e instanceof InvalidArgumentError,
        );
        await refusedWithoutChange(
          s,
          () =>
            s.variables.defineMany([
              { name: "ok1", type: "integer", initialValue: 1 },
              { name: "bad", type: "integer", initialValue: 1.5 },
            ]),
          reason("type_mismatch"),
        );
        const atomic = await s.variables.update({ temp: 1.5, model: "nope" });
        assert.equal(atomic.revision, 0);
        assert.equal(await s.variables.get("temp"), 0.7, "an atomic update with one bad value applies nothing");
        assert.equal((atomic.results.model as Error).message.includes("nope"), true);
        assert.equal(await s.variables.permissions.check("api_key", "write", "admin_1"), true);
        assert.equal(await s.variables.permissions.check("api_key", "write"), false);
      });

      test("a malformed or inconsistent import changes nothing; pickle is refused", async () => {
        const s = await bridge.sessions.create({ id: "ts-bad-import" });
        await s.variables.define("keep", "integer", 5);
        await refusedWithoutChange(
          s,
          () => s.variables.import("{not json"),
          (e) => e instanceof InvalidArgumentError && /malformed json/.test((e as Error).message),
        );
        await refusedWithoutChange(
          s,
          () => s.variables.import(JSON.stringify({ hello: 1 })),
          (e) => /not a dspy-bridge export/.test((e as Error).message),
        );
        await refusedWithoutChange(
          s,
          () => s.variables.export({ format: "pickle" as "json" }),
          (e) => /pickle is refused|executes arbitrary code/.test((e as Error).message),
        );
        const good = JSON.parse((await s.variables.export()).toString());
        good.variables.push({ ...good.variables[0], name: "bad", type: "integer", value: { json: "1.5" } });
        const revision = bridge.store.currentRevision;
        const summary = await s.variables.import(JSON.stringify(good), { mergeStrategy: "replace" });
        assert.equal(summary.errors, 1);
        assert.equal(summary.imported, 0);
        assert.equal(bridge.store.currentRevision, revision);
        await assert.rejects(s.variables.get("bad"), NotFoundError);
      });

      test("a 10,000-variable import lands in one piece", async () => {
        const source = await bridge.sessions.create({ id: "ts-big-src" });
        await source.variables.defineMany(
          Array.from({ length: 10_000 }, (_, i) => ({ name: `v${i}`, type: "integer", initialValue: i })),
        );
        const data = await source.variables.export();
        const target = await bridge.sessions.create({ id: "ts-big-dst" });
        const summary = await target.variables.import(data);
        assert.equal(summary.imported, 10_000);
        assert.equal(summary.errors, 0);
        assert.equal((await target.variables.list()).length, 10_000);
        assert.equal(await target.variables.get("v9999"), 9999);
      });
    });

    describe("concurrent clients", () => {
      test("read-modify-write with compare-and-set loses no increment across 8 interleaved clients", async () => {
        const s = await bridge.sessions.create({ id: "ts-cas" });
        await s.variables.define("counter", "integer", 0);
        let conflicts = 0;
        const client = async (n: number) => {
          for (let done = 0; done < n; ) {
            const { value, version } = await s.variables.info("counter");
            await new Promise((r) => setImmediate(r)); // let the other clients interleave here
            try {
              await s.variables.set("counter", (value as number) + 1, { expectedVersion: version });
              done++;
            } catch (err) {
              assert.equal((err as { reason?: string }).reason, "version_conflict");
              conflicts++;
            }
          }
        };
        await Promise.all(Array.from({ length: 8 }, () => client(25)));
        assert.equal(await s.variables.get("counter"), 200, "every increment landed exactly once");
        assert.ok(conflicts > 0, "the clients really did interleave");
        assert.equal((await s.variables.info("counter")).version, 201);
      });
    });

    describe("workers read session variables", () => {
      test("through a cache the watch stream keeps fresh: a TypeScript write reaches the worker's cached read", async () => {
        const s = await bridge.sessions.create({ id: "ts-worker-read" });
        await s.variables.define("temperature", "float", 0.7);
        const first = await s.execute<{ value: number; cache_hit: boolean }>("session.get_variable", {
          name: "temperature",
        });
        assert.deepEqual([first.value, first.cache_hit], [0.7, false]);
        const second = await s.execute<{ value: number; cache_hit: boolean }>("session.get_variable", {
          name: "temperature",
        });
        assert.deepEqual(
          [second.value, second.cache_hit],
          [0.7, true],
          "the second read is served from the worker's cache",
        );
        await s.variables.set("temperature", 0.9);
        let value = 0.7;
        const start = performance.now();
        while (value !== 0.9 && performance.now() - start < 3_000) {
          value = (await s.execute<{ value: number }>("session.get_variable", { name: "temperature" })).value;
        }
        assert.equal(value, 0.9, "the change reached the worker's cache");
        await assert.rejects(
          bridge.execute("session.get_variable", { name: "temperature" }),
          InvalidArgumentError,
          "needs a session",
        );
      });
    });
  });
}
