// The commit log of a store that is not shared (memory, SQLite: commit-log.ts's synchronous
// path and its paced one): an import's commit runs alone, so a write that arrives meanwhile
// waits for it and commits after it; closing the store while the import is applied lets it
// finish and refuses what was still waiting; an import with nothing to do commits nothing; a SQLite file whose
// log cannot be read is refused and let go of. The shared (Redis) path is in store-redis*.test.ts.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { closeSync, openSync, writeSync } from "node:fs";
import Database from "better-sqlite3";
import {
  FailedPreconditionError,
  InternalError,
  NotFoundError,
  PayloadTooLargeError,
  StoreUnavailableError,
} from "../src/errors/index.js";
import type { CommitRequest, CommitResult, LoggedEntry, RawSnapshot } from "../src/store/durable/layout.js";
import type { LogId } from "../src/store/log-id.js";
import { SLICE_MS } from "../src/store/pacing.js";
import { exportVariables, importVariables, openStore, Store, type StoreOptions } from "../src/store/index.js";
import type { StoreBackend } from "../src/store/store-backend.js";
import { backends } from "./store-backends.js";

const VARIABLES = 60;

/** A store with session "src" holding VARIABLES integers, their export, and an empty session "dst". */
async function withExport(store: Store): Promise<Buffer> {
  await store.createSession({ sessionId: "src" });
  await store.register(
    "src",
    Array.from({ length: VARIABLES }, (_, i) => ({ name: `v${i}`, type: "integer", initialValue: i })),
  );
  await store.createSession({ sessionId: "dst" });
  return (await exportVariables(store, "src", { format: "json" })).data;
}

for (const backend of backends.filter((b) => !b.shared)) {
  describe(`commit log: ${backend.name}`, () => {
    const opened: Store[] = [];
    after(async () => {
      for (const s of opened) await s.close();
    });
    const open = async (location = backend.fresh(), options?: StoreOptions): Promise<Store> => {
      const store = await backend.open(location, options);
      opened.push(store);
      return store;
    };

    test("a write that arrives while an import commits waits for it, and commits after it", async () => {
      const store = await open();
      const data = await withExport(store);
      const before = store.currentRevision;
      let write: Promise<number> | undefined;
      const applied: number[] = [];
      const summary = await importVariables(store, "dst", data, {
        format: "json",
        onProgress: (p) => {
          // The import's commit is planned from here on: this write must not get in between.
          if (p.phase === "commit" && !write) write = store.set("src", "v0", 100).then((r) => r.modifyRevision);
          if (p.phase === "apply" && p.done === 0) applied.push(p.total);
        },
      });
      assert.ok(write, "the import reported its commit phase");
      // Applied a put at a time: the progress counts the commit's puts.
      assert.deepEqual(applied, [VARIABLES]);
      assert.equal(summary.imported, VARIABLES);
      assert.equal(summary.revision, before + 1);
      assert.equal(await write, before + 2);
      assert.equal(store.currentRevision, before + 2);
      assert.equal((await store.get("dst", `v${VARIABLES - 1}`)).value, VARIABLES - 1);
      assert.equal((await store.get("src", "v0")).value, 100);
    });

    test("closing the store while an import commits lets it finish and refuses the write waiting behind it", async () => {
      const location = backend.fresh();
      const store = await open(location);
      const data = await withExport(store);
      const before = store.currentRevision;
      let write: Promise<unknown> | undefined;
      let closed: Promise<void> | undefined;
      const summary = await importVariables(store, "dst", data, {
        format: "json",
        onProgress: (p) => {
          // Planned from here on (a close while it is still planned refuses it, as any call after close):
          // SQLite writes it then applies it, memory only applies it.
          if (p.phase !== (backend.name === "sqlite" ? "write" : "apply") || write) return;
          write = store.set("src", "v0", 100);
          closed = store.close();
          // This slice runs past its time, so the commit yields right after its first item, with
          // its transaction open: the close must wait for it then, not let go of the file under it.
          const until = performance.now() + SLICE_MS + 1;
          while (performance.now() < until);
        },
      });
      assert.ok(write && closed);
      assert.equal(summary.revision, before + 1);
      await assert.rejects(
        write,
        (e: unknown) => e instanceof StoreUnavailableError && e.message === "the store is closed",
      );
      await closed;
      if (backend.name === "sqlite") {
        // Closed after the import was written, and before the refused write could be.
        const again = await open(location);
        assert.equal(again.currentRevision, before + 1);
        assert.equal((await again.get("dst", "v7")).value, 7);
        assert.equal((await again.get("src", "v0")).value, 0);
      }
    });

    test("an import's commit waiting behind another when the store closes, or asked for after, is refused before it starts", async () => {
      const store = await open();
      const data = await withExport(store);
      const nothing = { creates: [], updates: [], edges: [] };
      // A refused commit is not planned at all: it reports no progress.
      const progress: string[] = [];
      const report = (p: { phase: string }) => void progress.push(p.phase);
      let waiting: Promise<unknown> | undefined;
      let closed: Promise<void> | undefined;
      const summary = await importVariables(store, "dst", data, {
        format: "json",
        onProgress: (p) => {
          // Planned from here on (SQLite writes it, then applies it; memory only applies it).
          if (p.phase !== (backend.name === "sqlite" ? "write" : "apply") || waiting) return;
          // This commit holds the host's other commits back: the next one waits for it, and
          // finds the store closed once it may go.
          waiting = store.commitImport("src", nothing, "src", "import", report).then(
            () => undefined,
            (e: unknown) => e,
          );
          closed = store.close();
        },
      });
      assert.equal(summary.imported, VARIABLES);
      const refused = await waiting;
      assert.ok(refused instanceof StoreUnavailableError && refused.message === "the store is closed", `${refused}`);
      await closed;
      await assert.rejects(
        store.commitImport("src", nothing, "src", "import", report),
        (e: unknown) => e instanceof StoreUnavailableError && e.message === "the store is closed",
      );
      assert.deepEqual(progress, []);
    });

    test("a session created or deleted after close is refused as closed, not written", async () => {
      const location = backend.fresh();
      const store = await open(location);
      await store.createSession({ sessionId: "kept" });
      await store.close();
      // Neither plan reads a session through the store's own open check: the log refuses them.
      const closed = (e: unknown) => e instanceof StoreUnavailableError && e.message === "the store is closed";
      await assert.rejects(store.createSession({ sessionId: "late" }), closed);
      await assert.rejects(store.deleteSession("kept"), closed);
      if (backend.name === "sqlite") {
        const again = await open(location);
        assert.deepEqual(
          (await again.listSessions()).map((s) => s.sessionId),
          ["kept"],
        );
      }
    });

    test("two imports at once commit one after the other, each whole", async () => {
      const store = await open();
      const data = await withExport(store);
      await store.createSession({ sessionId: "dst2" });
      const before = store.currentRevision;
      const [a, b] = await Promise.all([
        importVariables(store, "dst", data, { format: "json" }),
        importVariables(store, "dst2", data, { format: "json" }),
      ]);
      assert.deepEqual([a.revision, b.revision].sort(), [before + 1, before + 2]);
      assert.equal(store.currentRevision, before + 2);
      for (const sid of ["dst", "dst2"]) assert.equal((await store.list(sid)).length, VARIABLES);
    });

    test("an import with nothing to change commits nothing and answers revision 0", async () => {
      const store = await open();
      const data = await withExport(store);
      await importVariables(store, "dst", data, { format: "json" });
      const before = store.currentRevision;
      const summary = await importVariables(store, "dst", data, { format: "json", mergeStrategy: "keep" });
      assert.equal(summary.revision, 0);
      assert.equal(summary.skipped, VARIABLES);
      assert.equal(store.currentRevision, before);
      // The commit itself, asked with nothing in it, plans no entry and reports no apply.
      const phases: string[] = [];
      const nothing = { creates: [], updates: [], edges: [] };
      assert.equal(await store.commitImport("dst", nothing, "dst", "import", (p) => void phases.push(p.phase)), 0);
      assert.deepEqual(phases, ["commit"]);
      assert.equal(store.currentRevision, before);
    });

    test("an import that would take its session over the byte limit is refused whole, before anything is written", async () => {
      const store = await open(backend.fresh(), { sessionBytesLimit: 4_000 });
      const data = await withExport(store);
      await store.register("dst", [{ name: "big", type: "string", initialValue: "x".repeat(3_700) }]);
      const before = store.currentRevision;
      const phases: string[] = [];
      await assert.rejects(
        importVariables(store, "dst", data, {
          format: "json",
          onProgress: (p) => void (phases.at(-1) !== p.phase && phases.push(p.phase)),
        }),
        (e: unknown) =>
          e instanceof PayloadTooLargeError &&
          e.message ===
            'session "dst" would hold 5158 bytes of variable values, over the limit of 4000 bytes (option sessionBytesLimit); its older versions are already dropped',
      );
      assert.equal(phases.at(-1), "commit", "refused while it was planned");
      assert.equal(store.currentRevision, before);
      assert.deepEqual(
        (await store.list("dst")).map((v) => v.name),
        ["big"],
      );
    });

    test("each commit answers with its own revision: a session entry keeps the revision, a commit takes the next", async () => {
      const store = await open();
      const start = store.currentRevision;
      await store.createSession({ sessionId: "s" });
      assert.equal(store.currentRevision, start);
      const [v] = await store.register("s", [{ name: "n", type: "integer", initialValue: 1 }]);
      assert.equal(v!.modifyRevision, start + 1);
      assert.equal((await store.set("s", "n", 2)).modifyRevision, start + 2);
      assert.equal(await store.sessionRevision("s"), start + 2);
      // A call that changes nothing commits nothing.
      assert.equal(await store.deleteSession("no-such-session"), false);
      assert.equal(await store.deleteProgram("s", "no-such-program"), false);
      assert.equal(store.currentRevision, start + 2);
    });
  });
}

test("a SQLite store whose log this host cannot read is refused by what is wrong, and its file let go of", async () => {
  const sqlite = backends.find((b) => b.name === "sqlite")!;
  const location = sqlite.fresh();
  const store = await sqlite.open(location);
  await store.createSession({ sessionId: "s" });
  await store.register("s", [{ name: "n", type: "integer", initialValue: 1 }]);
  await store.close();
  const file = location.slice("sqlite:".length);
  const db = new Database(file);
  db.prepare("UPDATE log SET entry = ?").run("{not an entry");
  db.close();
  await assert.rejects(
    openStore(location),
    (e: unknown) =>
      e instanceof FailedPreconditionError &&
      /the sqlite store holds data this host cannot read/.test(e.message) &&
      e.cause instanceof Error,
  );
  // The store that did not open holds no lock on the file: another connection can write it.
  const writer = new Database(file, { timeout: 0 });
  try {
    writer.exec("BEGIN EXCLUSIVE; DELETE FROM log; COMMIT");
  } finally {
    writer.close();
  }
});

/**
 * A SQLite store holding session "s" with a string "n" = "ok" (and what `prepare` adds),
 * closed, then given a trigger that makes SQLite refuse (and roll back) any log entry
 * carrying `marker`: a real transaction SQLite fails, as on a full disk or a file gone read-only.
 */
async function sqliteRefusing<T>(
  marker: string,
  prepare: (store: Store) => Promise<T>,
): Promise<{ location: string; prepared: T }> {
  const sqlite = backends.find((b) => b.name === "sqlite")!;
  const location = sqlite.fresh();
  const store = await sqlite.open(location);
  await store.createSession({ sessionId: "s" });
  await store.register("s", [{ name: "n", type: "string", initialValue: "ok" }]);
  const prepared = await prepare(store);
  await store.close();
  const db = new Database(location.slice("sqlite:".length));
  db.exec(
    `CREATE TRIGGER refuse BEFORE INSERT ON log WHEN instr(NEW.entry, '${marker}') > 0 BEGIN SELECT RAISE(ABORT, 'refused: ${marker}'); END`,
  );
  db.close();
  return { location, prepared };
}

const couldNotCommit = (marker: string) => (e: unknown) =>
  e instanceof StoreUnavailableError &&
  e.message === `the sqlite store could not commit: refused: ${marker}` &&
  e.cause instanceof Error &&
  e.cause.message === `refused: ${marker}`;

test("a SQLite commit the file refuses is not applied, fails naming why, and the next commit takes its revision", async () => {
  const { location } = await sqliteRefusing("no-disk-left", async () => undefined);
  const store = await openStore(location);
  try {
    const before = store.currentRevision;
    await assert.rejects(store.set("s", "n", "no-disk-left"), couldNotCommit("no-disk-left"));
    assert.equal(store.currentRevision, before);
    assert.equal((await store.get("s", "n")).value, "ok");
    assert.equal((await store.set("s", "n", "fine")).modifyRevision, before + 1);
  } finally {
    await store.close();
  }
  const again = await openStore(location);
  try {
    const n = await again.get("s", "n");
    assert.deepEqual([n.value, n.version, n.modifyRevision], ["fine", 2, again.currentRevision]);
  } finally {
    await again.close();
  }
});

test("a SQLite import the file refuses imports nothing, fails naming why, and the write waiting behind it commits", async () => {
  const { location, prepared: data } = await sqliteRefusing("no-disk-left", async (store) => {
    await store.createSession({ sessionId: "src" });
    await store.register(
      "src",
      Array.from({ length: VARIABLES }, (_, i) => ({
        name: `v${i}`,
        type: "string",
        initialValue: i === VARIABLES - 1 ? "no-disk-left" : `v${i}`,
      })),
    );
    await store.createSession({ sessionId: "dst" });
    return (await exportVariables(store, "src", { format: "json" })).data;
  });
  const store = await openStore(location);
  try {
    const before = store.currentRevision;
    let write: Promise<number> | undefined;
    const phases: string[] = [];
    await assert.rejects(
      importVariables(store, "dst", data, {
        format: "json",
        onProgress: (p) => {
          if (phases.at(-1) !== p.phase) phases.push(p.phase);
          // Written in one transaction from here on: this write waits until it is over.
          if (p.phase === "write" && !write) write = store.set("s", "n", "after").then((r) => r.modifyRevision);
        },
      }),
      couldNotCommit("no-disk-left"),
    );
    assert.ok(write, "the import reached its write phase");
    assert.equal(phases.at(-1), "write", "nothing was applied");
    assert.equal(await write, before + 1);
    assert.deepEqual(await store.list("dst"), []);
    assert.equal(store.currentRevision, before + 1);
  } finally {
    await store.close();
  }
});

test("a SQLite file that opens but whose tables cannot be read is refused as unavailable, and let go of", async () => {
  const sqlite = backends.find((b) => b.name === "sqlite")!;
  const location = sqlite.fresh();
  const store = await sqlite.open(location);
  await store.createSession({ sessionId: "s" });
  await store.register("s", [{ name: "n", type: "integer", initialValue: 1 }]);
  await store.close();
  const file = location.slice("sqlite:".length);
  const db = new Database(file);
  const { rootpage } = db.prepare("SELECT rootpage FROM sqlite_master WHERE name = 'kv_list'").get() as {
    rootpage: number;
  };
  const pageSize = db.pragma("page_size", { simple: true }) as number;
  db.close();
  // The history table's first page overwritten (a damaged disk): the file still opens, its tables are listed, reading them fails.
  const fd = openSync(file, "r+");
  writeSync(fd, Buffer.alloc(pageSize, 0xff), 0, pageSize, (rootpage - 1) * pageSize);
  closeSync(fd);
  await assert.rejects(
    openStore(location),
    (e: unknown) =>
      e instanceof StoreUnavailableError &&
      e.message === "the sqlite store is unavailable: database disk image is malformed" &&
      e.cause instanceof Error,
  );
  const writer = new Database(file, { timeout: 0 });
  try {
    writer.exec("BEGIN EXCLUSIVE; COMMIT");
  } finally {
    writer.close();
  }
});

test("a SQLite import past the event log's byte limit drops the older entries from the file's log too", async () => {
  const sqlite = backends.find((b) => b.name === "sqlite")!;
  const location = sqlite.fresh();
  const store = await sqlite.open(location, { eventLogBytesLimit: 2_000 });
  await store.createSession({ sessionId: "src" });
  await store.register(
    "src",
    Array.from({ length: VARIABLES }, (_, i) => ({ name: `v${i}`, type: "string", initialValue: `${i}`.repeat(50) })),
  );
  await store.createSession({ sessionId: "dst" });
  const data = (await exportVariables(store, "src", { format: "json" })).data;
  for (let i = 1; i <= 3; i++) await store.set("src", "v0", `${i}`);
  const summary = await importVariables(store, "dst", data, { format: "json" });
  await store.close();
  const db = new Database(location.slice("sqlite:".length), { readonly: true });
  try {
    const revs = (db.prepare("SELECT rev FROM log ORDER BY rev, seq").all() as { rev: number }[]).map((r) => r.rev);
    // The import's entry alone is over the limit: it is all the log keeps.
    assert.deepEqual(revs, [summary.revision]);
  } finally {
    db.close();
  }
});

test("a SQLite store keeps a variable's access rules across a restart", async () => {
  const sqlite = backends.find((b) => b.name === "sqlite")!;
  const location = sqlite.fresh();
  const store = await sqlite.open(location);
  await store.createSession({ sessionId: "s" });
  await store.register("s", [{ name: "n", type: "integer", initialValue: 1 }]);
  const before = store.currentRevision;
  await store.setPermissions("s", "n", [{ session_pattern: "reader", permissions: ["read"] }]);
  assert.equal(store.currentRevision, before, "rules are not a commit: the revision stays");
  await store.close();
  const again = await sqlite.open(location);
  try {
    assert.equal(await again.checkAccess("s", "n", "read", "reader"), true);
    assert.equal(await again.checkAccess("s", "n", "write", "reader"), false);
    assert.equal(await again.checkAccess("s", "n", "read", "someone-else"), false);
  } finally {
    await again.close();
  }
});

test("a memory store opened explicitly has nothing to load and works as one never opened", async () => {
  const store = await new Store().open();
  try {
    await store.createSession({ sessionId: "s" });
    const [v] = await store.register("s", [{ name: "n", type: "integer", initialValue: 1 }]);
    assert.equal(v!.modifyRevision, 1);
  } finally {
    await store.close();
  }
});

/**
 * A backend that is not shared and answers commits as told: rightly (the next position, as
 * SQLite does), or wrongly — a conflict, another position, an answer that comes later. No
 * real store answers wrongly (SQLite takes the position from the same head the state
 * loaded): this exercises the log's defensive check of such an answer, which only a faulty
 * backend can reach.
 */
class ScriptedBackend implements StoreBackend {
  readonly kind = "scripted";
  readonly shared = false;
  answer: "right" | "conflict" | "elsewhere" | "later" = "right";
  private position: LogId = { rev: 0, seq: 0 };

  async load(): Promise<RawSnapshot> {
    return { head: this.position, hashes: new Map(), lists: new Map(), log: [] };
  }

  commit(request: CommitRequest): CommitResult | Promise<CommitResult> {
    const at = this.position;
    const next = request.commit ? { rev: at.rev + 1, seq: 0 } : { rev: at.rev, seq: at.seq + 1 };
    // A field name longer than an error message should carry.
    if (this.answer === "conflict") return { conflict: "f".repeat(150) };
    if (this.answer === "later") return Promise.resolve({ id: next });
    if (this.answer === "elsewhere") return { id: { rev: next.rev + 5, seq: next.seq } };
    this.position = next;
    return { id: next };
  }

  async head(): Promise<LogId> {
    return this.position;
  }

  async readAfter(): Promise<LoggedEntry[]> {
    return [];
  }

  touch(): void {}

  async close(): Promise<void> {}
}

test("a backend that is not shared yet answers a commit wrongly gets an internal error, and the commit is not applied", async () => {
  const backend = new ScriptedBackend();
  const store = await new Store({}, backend).open();
  try {
    await store.createSession({ sessionId: "src" });
    await store.register(
      "src",
      Array.from({ length: VARIABLES }, (_, i) => ({ name: `v${i}`, type: "integer", initialValue: i })),
    );
    await store.createSession({ sessionId: "dst" });
    const data = (await exportVariables(store, "src", { format: "json" })).data;
    const before = store.currentRevision;
    const wrong = (message: string) => (e: unknown) =>
      e instanceof InternalError &&
      e.message === `the scripted store, which is not shared, ${message}: the commit was not applied on this host`;
    const cases = [
      ["conflict", `refused it for a conflict on '${"f".repeat(100)}', which only a shared store can have`],
      ["elsewhere", `committed it at ${before + 6}-0, not at ${before + 1}-0 as planned`],
      ["later", "answered later, as only a shared store may"],
    ] as const;
    for (const [answer, message] of cases) {
      backend.answer = answer;
      // A commit (synchronous path), a session entry (it keeps the revision), an import (paced path).
      await assert.rejects(store.set("src", "v0", 100), wrong(message));
      if (answer === "elsewhere")
        await assert.rejects(
          store.createSession({ sessionId: "late" }),
          wrong(`committed it at ${before + 5}-2, not at ${before}-2 as planned`),
        );
      if (answer !== "later")
        await assert.rejects(importVariables(store, "dst", data, { format: "json" }), wrong(message));
      assert.equal(store.currentRevision, before);
      assert.equal((await store.get("src", "v0")).value, 0);
      assert.deepEqual(await store.list("dst"), []);
      await assert.rejects(store.getSession("late"), NotFoundError);
    }
    // Answered rightly again, it commits where it was planned.
    backend.answer = "right";
    assert.equal((await store.set("src", "v0", 100)).modifyRevision, before + 1);
  } finally {
    await store.close();
  }
});
