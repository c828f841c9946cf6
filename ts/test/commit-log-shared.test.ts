// The commit log of a shared store (commit-log.ts's Redis path), quickly: hosts on one private
// Redis following each other, a commit that loses to another host's and is planned again
// (up to its limit), a commit that lands after entries this host has not applied (waiting for
// a read's catch-up already under way instead of reading the log again), a follower
// behind a trimmed log or a log that went back, a session another host let expire, a large
// commit (an import) with another host's commit arriving while it is sent, another host's
// large commit applied in slices (by the follower, or by a read's catch-up), and Redis stopping
// (SIGSTOP) with short limits: a read, a commit in flight, an import as it is sent (its hold let
// go), a commit waiting for its turn (never sent once it gave up, even when Redis comes back),
// a catch-up after an applied commit; another host's large commit arriving while this host
// prepares an import (held back and applied before it, or let go when the import fails before
// it is sent), a final conflict (a drop another host's use of the session beat: never sent
// again), and a catch-up whose log read finds a gap or another history (a reload). The slower
// whole-system runs are store-redis*.test.ts.
//
// Other hosts' commits are made to land at exact points (right before this host's commit
// goes out) through the session backend this host's store uses, so no outcome depends on
// how the event loop happens to order a follower's delivery.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import { Redis } from "ioredis";
import { FailedPreconditionError, NotFoundError, StoreUnavailableError } from "../src/errors/index.js";
import type { LoggedEntry } from "../src/store/durable/layout.js";
import { RedisBackend, type RedisSessionBackend } from "../src/store/durable/redis-backend.js";
import { LARGE_ENTRY_CHARS } from "../src/store/entries.js";
import { exportVariables, importVariables, Store, type WatchMessage } from "../src/store/index.js";
import { freezeProcess, repoRoot, waitFor } from "./helpers.js";

type PrivateRedis = { url: string; pid: number; stop(): Promise<void> };
let server: PrivateRedis;
let raw: Redis;
const opened: Store[] = [];
before(async () => {
  const { startRedis } = (await import(pathToFileURL(join(repoRoot, "scripts/redis.mjs")).href)) as {
    startRedis(): Promise<PrivateRedis>;
  };
  server = await startRedis();
  raw = new Redis(server.url);
});
after(async () => {
  try {
    process.kill(server.pid, "SIGCONT"); // never leave it frozen, even after a failure
  } catch {}
  for (const s of opened) await s.close().catch(() => {});
  raw.disconnect();
  await server.stop();
});

/** SIGSTOP the private Redis: nothing sent after this is answered. */
const freeze = () => freezeProcess(server.pid);
const thaw = () => process.kill(server.pid, "SIGCONT");

let prefixes = 0;
const freshPrefix = () => `cls${process.pid}-${++prefixes}:`;

interface Host {
  store: Store;
  /** The session backends this host's store made (one per session it holds), newest last. */
  sessions: RedisSessionBackend[];
  /** Changes made to every session backend of `sid` this host makes from now on (and to the one it holds). */
  patch(sid: string, change: (s: RedisSessionBackend) => void): void;
}

/** A host: a store on the private Redis under `prefix`, its session backends within reach. */
async function host(
  prefix: string,
  o: {
    logLimit?: number;
    commandTimeoutMs?: number;
    outcomeTimeoutMs?: number;
    checkEveryMs?: number;
    sessionIdleMs?: number;
    now?: () => number;
  } = {},
): Promise<Host> {
  const backend = await RedisBackend.connect({
    url: server.url,
    prefix,
    logLimit: o.logLimit ?? 1_000,
    commandTimeoutMs: o.commandTimeoutMs ?? 5_000,
    outcomeTimeoutMs: o.outcomeTimeoutMs ?? 10_000,
    ...(o.checkEveryMs ? { checkEveryMs: o.checkEveryMs } : {}),
  });
  const sessions: RedisSessionBackend[] = [];
  const patches: { sid: string; change: (s: RedisSessionBackend) => void }[] = [];
  const partition = backend.partition.bind(backend);
  backend.partition = (sid: string) => {
    const p = partition(sid);
    for (const x of patches) if (x.sid === sid) x.change(p);
    sessions.push(p);
    return p;
  };
  const store = await new Store(
    {
      eventLogLimit: o.logLimit ?? 1_000,
      ...(o.now ? { now: o.now } : {}),
      ...(o.sessionIdleMs ? { sessionIdleMs: o.sessionIdleMs } : {}),
    },
    backend,
  ).open();
  opened.push(store);
  const patch = (sid: string, change: (s: RedisSessionBackend) => void) => {
    patches.push({ sid, change });
    const held = sessions.findLast((s) => s.sessionId === sid);
    if (held) change(held);
  };
  return { store, sessions, patch };
}

/** The session backend `h` holds for `sid` (loaded by a read first). */
function sessionOf(h: Host, sid: string): RedisSessionBackend {
  const found = h.sessions.findLast((s) => s.sessionId === sid);
  assert.ok(found, `the host holds session ${sid}`);
  return found;
}

/**
 * As each of `h`'s large commits on `sid` goes out, `also` runs (after this host's own step
 * there); `after` runs once Redis has answered it, before this host handles the answer.
 */
function whenSending(h: Host, sid: string, also: (s: RedisSessionBackend) => void, after?: () => Promise<void>): void {
  h.patch(sid, (s) => {
    const commit = s.commit.bind(s);
    s.commit = async (request, deadline, large) => {
      const result = await commit(
        request,
        deadline,
        large && {
          ...large,
          sending: () => {
            large.sending();
            also(s);
          },
        },
      );
      await after?.();
      return result;
    };
  });
}

/** Runs `f` right before the host's next commits on session `sid` go out (`times` of them), then sends them. */
function beforeCommits(h: Host, sid: string, times: number, f: () => Promise<unknown>): void {
  let left = times;
  h.patch(sid, (s) => {
    const commit = s.commit.bind(s);
    s.commit = async (...args) => {
      if (left-- > 0) await f();
      return commit(...args);
    };
  });
}

/** The host hears of other hosts' commits only when it asks (its follower and periodic check silenced). */
function deafen(h: Host, sid: string): void {
  h.patch(sid, (s) => {
    s.notified = () => {};
    s.check = async () => {};
  });
}

/** A session `sid` on host `a` with integer variables (initial 0), loaded by every other host. */
async function session(a: Host, sid: string, names: string[], others: Host[] = []): Promise<void> {
  await a.store.createSession({ sessionId: sid });
  await a.store.register(
    sid,
    names.map((name) => ({ name, type: "integer", initialValue: 0 })),
  );
  for (const o of others) await o.store.getSession(sid);
}

/** Calls `seen` with what `h`'s follower of `sid` hands to the log, after handing it on unchanged. */
function onFollowerHands(h: Host, sid: string, seen: (entries: LoggedEntry[]) => void): void {
  h.patch(sid, (s) => {
    const follow = s.follow.bind(s);
    s.follow = (position, onNew, onBehind) =>
      follow(
        position,
        (entries) => {
          onNew(entries);
          seen(entries);
        },
        onBehind,
      );
  });
}

/** Resolves once `h`'s follower of `sid` has handed on (unchanged) an entry of a large commit. */
function followerHandedLarge(h: Host, sid: string): Promise<void> {
  return new Promise<void>((heard) =>
    onFollowerHands(h, sid, (entries) => entries.some((e) => e.entry.length >= LARGE_ENTRY_CHARS) && heard()),
  );
}

/** Session "s" on `a` with a string v ("") and an integer w (0), loaded by `b`; resolves with its revision. */
async function stringAndIntegerSession(a: Host, b: Host): Promise<number> {
  await a.store.createSession({ sessionId: "s" });
  await a.store.register("s", [
    { name: "v", type: "string", initialValue: "" },
    { name: "w", type: "integer", initialValue: 0 },
  ]);
  await b.store.getSession("s");
  return a.store.sessionRevision("s");
}

/** Two hosts on a fresh prefix whose log keeps 3 entries, and session "s" (integer v) on the first, loaded by the second. */
async function twoHostsOnAShortLog(): Promise<{ a: Host; b: Host }> {
  const prefix = freshPrefix();
  const a = await host(prefix, { logLimit: 3 });
  const b = await host(prefix, { logLimit: 3 });
  await session(a, "s", ["v"], [b]);
  return { a, b };
}

/**
 * Two hosts on a fresh prefix, and an export (JSON) of session "src" on the first: `count`
 * integers v0, v1, … (0, but v3 = 3 and v39 = 39). 1,000 or more make an import that is staged.
 */
async function twoHostsAndAnImport(count = 40): Promise<{ a: Host; b: Host; data: Uint8Array; names: string[] }> {
  const prefix = freshPrefix();
  const a = await host(prefix);
  const b = await host(prefix);
  const names = Array.from({ length: count }, (_, i) => `v${i}`);
  await session(a, "src", names);
  await a.store.set("src", "v3", 3);
  await a.store.set("src", "v39", 39);
  const data = (await exportVariables(a.store, "src", { format: "json" })).data;
  return { a, b, data, names };
}

/**
 * Session `sid` on `a` with a string variable "big", loaded by `b`; right before `a`'s next
 * commit on it goes out, `b` sets "big" to a value whose log entry is large and `a`'s follower
 * hands that entry on. Resolves with the session's revision before it and the value.
 */
async function largeCommitAsNextGoesOut(a: Host, b: Host, sid: string, fill: string) {
  const heardLarge = followerHandedLarge(a, sid);
  await a.store.createSession({ sessionId: sid });
  await a.store.register(sid, [{ name: "big", type: "string", initialValue: "" }]);
  await b.store.getSession(sid);
  const rev = await a.store.sessionRevision(sid);
  const big = fill.repeat(LARGE_ENTRY_CHARS + 1_000);
  beforeCommits(a, sid, 1, async () => {
    await b.store.set(sid, "big", big);
    await heardLarge;
  });
  return { rev, big };
}

/** Resolves with the first `count` messages of a watch of `sid` on `h`, and how it ended (if it did). */
function watched(h: Host, sid: string, count: number) {
  const messages: WatchMessage[] = [];
  let ended: unknown;
  let done = () => {};
  const reached = new Promise<void>((r) => (done = r));
  const opening = h.store.watch(
    sid,
    {},
    (m) => {
      messages.push(m);
      if (messages.length === count) done();
    },
    (e) => {
      ended = e;
      done();
    },
  );
  return { messages, opened: opening, reached, ended: () => ended };
}

/** What an error says of the commit: "not applied", "unknown" or "applied" (StoreUnavailableError's outcome). */
async function failure(p: Promise<unknown>): Promise<{ error: StoreUnavailableError; outcome: string }> {
  const error = await p.then(
    () => assert.fail("expected StoreUnavailableError"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof StoreUnavailableError, `StoreUnavailableError, got ${String(error)}`);
  return { error, outcome: error.outcome ?? "not applied" };
}

describe("commit log, shared: hosts follow each other", () => {
  test("a write on one host is read, watched and written on by another; a host's own writes never end its watch", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix);
    const b = await host(prefix);
    await session(a, "s", ["v", "w"], [b]);
    const rev = await a.store.sessionRevision("s");
    const seen = watched(b, "s", 2);
    await seen.opened;
    assert.equal((await a.store.set("s", "v", 1)).modifyRevision, rev + 1);
    assert.equal((await b.store.get("s", "v")).value, 1, "b caught up before it read");
    const own = await b.store.set("s", "w", 2);
    assert.deepEqual([own.modifyRevision, own.version], [rev + 2, 2]);
    assert.equal((await a.store.get("s", "w")).value, 2);
    for (let i = 0; i < 5; i++) await b.store.get("s", "v"); // reads with nothing new: the watch stays open
    await seen.reached;
    assert.deepEqual(
      seen.messages.map((m) => (m.kind === "commit" ? [m.revision, m.changes[0]!.name, m.changes[0]!.value] : m.kind)),
      [
        [rev + 1, "v", 1],
        [rev + 2, "w", 2],
      ],
    );
    assert.equal(seen.ended(), undefined, "the watch is still open");
  });
});

describe("commit log, shared: the follower alone (no read on the following host)", () => {
  test("another host's write reaches a watch; a log trimmed past the follower, or lost, ends it with compacted", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix, { logLimit: 3 });
    const b = await host(prefix, { logLimit: 3, checkEveryMs: 50 });
    await session(a, "s", ["v"], [b]);
    const first = watched(b, "s", 1);
    await first.opened;
    await a.store.set("s", "v", 1);
    await first.reached;
    assert.deepEqual(
      first.messages.map((m) => (m.kind === "commit" ? m.changes[0]!.value : m.kind)),
      [1],
    );
    // Deaf while the log is trimmed past it; the next message it hears finds the gap and reloads.
    const s = sessionOf(b, "s");
    const notified = s.notified.bind(s);
    const check = s.check.bind(s);
    s.notified = () => {};
    s.check = async () => {};
    // Counted until it ends: a read the follower had under way may still deliver a commit first.
    const gap = watched(b, "s", 100);
    await gap.opened;
    for (let i = 2; i <= 8; i++) await a.store.set("s", "v", i);
    s.notified = notified;
    await a.store.set("s", "v", 9);
    await gap.reached;
    assert.equal(gap.messages.at(-1)?.kind, "compacted");
    assert.equal((gap.ended() as { reason?: string }).reason, "compacted");
    await waitFor(() => b.store.getLocal("s", "v").value === 9, 5_000, "the follower to bring b to a's last write");
    // Redis loses the session: the periodic check finds the log gone and reloads.
    s.check = check;
    const lost = watched(b, "s", 100);
    await lost.opened;
    const keys = await raw.keys(`${s.base.replace(/[*?[\]]/g, "\\$&")}*`);
    await raw.del(...keys);
    await lost.reached;
    assert.equal(lost.messages.at(-1)?.kind, "compacted");
    assert.equal((lost.ended() as { reason?: string }).reason, "compacted");
  });
});

describe("commit log, shared: the follower hands back this host's own commit after it was applied", () => {
  test("it is skipped: no reload, the watch goes on", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix);
    const handed: number[] = [];
    onFollowerHands(a, "s", (entries) => handed.push(...entries.map((e) => e.id.rev)));
    await session(a, "s", ["v"]);
    deafen(a, "s"); // a's follower reads the log only when this test says
    const rev = await a.store.sessionRevision("s");
    const seen = watched(a, "s", 2);
    await seen.opened;
    // The follower's log read starts from where a is now, but goes out only after a's commit is applied.
    const s = sessionOf(a, "s");
    const readAfter = s.readAfter.bind(s);
    let go = () => {};
    const gate = new Promise<void>((r) => (go = r));
    s.readAfter = async (after) => {
      await gate;
      s.readAfter = readAfter;
      return readAfter(after);
    };
    (Object.getPrototypeOf(s) as RedisSessionBackend).notified.call(s);
    await a.store.set("s", "v", 1);
    go();
    await waitFor(() => handed.includes(rev + 1), 5_000, "a's follower to hand back a's commit");
    await a.store.set("s", "v", 2);
    await seen.reached;
    assert.deepEqual(
      seen.messages.map((m) => (m.kind === "commit" ? [m.revision, m.changes[0]!.value] : m.kind)),
      [
        [rev + 1, 1],
        [rev + 2, 2],
      ],
    );
    assert.equal(seen.ended(), undefined, "no reload ended the watch");
  });
});

describe("commit log, shared: the follower during a reload", () => {
  test("an entry it delivers while a reload runs, newer than the reload's snapshot, is read once the reload is done", async () => {
    const { a, b } = await twoHostsOnAShortLog();
    const s = sessionOf(b, "s");
    s.check = async () => {}; // only the follower's messages bring a's commits to b
    // b deaf while a's commits trim the log past it: the next message it hears finds a gap and reloads.
    const notified = s.notified.bind(s);
    s.notified = () => {};
    for (let i = 1; i <= 5; i++) await a.store.set("s", "v", i);
    // The reload's snapshot is read; then a commits once more and b's follower delivers it before the reload is done.
    let deliveredAfterSnapshot = false;
    const readAfter = s.readAfter.bind(s);
    const load = s.load.bind(s);
    s.load = async () => {
      const snapshot = await load();
      s.load = load;
      const delivered = new Promise<void>((resolve) => {
        s.readAfter = async (...args) => {
          const entries = await readAfter(...args);
          if (entries !== "lost" && entries.length > 0) {
            s.readAfter = readAfter;
            deliveredAfterSnapshot = true;
            resolve();
          }
          return entries;
        };
      });
      await a.store.set("s", "v", 100);
      await delivered;
      return snapshot;
    };
    s.notified = notified;
    await a.store.set("s", "v", 6);
    await waitFor(() => deliveredAfterSnapshot, 5_000, "the follower to deliver a commit during the reload");
    await waitFor(() => b.store.getLocal("s", "v").value === 100, 5_000, "b to read the commit its reload missed");
    assert.equal((await b.store.get("s", "v")).value, 100);
  });
});

describe("commit log, shared: the follower applies another host's large commit in slices", () => {
  test("a write of over 1 MiB and a small one after it reach a watch once each, in order; no reload", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix);
    const b = await host(prefix);
    const rev = await stringAndIntegerSession(a, b);
    const big = "x".repeat(LARGE_ENTRY_CHARS + 1_000); // its log entry is decoded and applied in slices
    const seen = watched(b, "s", 2);
    await seen.opened;
    await a.store.set("s", "v", big);
    await a.store.set("s", "w", 1);
    await seen.reached;
    assert.deepEqual(
      seen.messages.map((m) =>
        m.kind === "commit" ? [m.revision, m.changes[0]!.name, String(m.changes[0]!.value).length] : m.kind,
      ),
      [
        [rev + 1, "v", big.length],
        [rev + 2, "w", 1],
      ],
    );
    assert.equal(seen.ended(), undefined, "applied from the log: no reload ended the watch");
    assert.equal(b.store.getLocal("s", "v").value, big);
    assert.equal(b.store.getLocal("s", "w").version, 2);
    assert.equal((await b.store.get("s", "w")).modifyRevision, rev + 2);
  });
});

describe("commit log, shared: a read's catch-up that brings another host's large commit", () => {
  test("answers once the commit is applied in slices, with it", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix);
    const b = await host(prefix);
    await a.store.createSession({ sessionId: "s" });
    await a.store.register("s", [{ name: "v", type: "string", initialValue: "" }]);
    await b.store.getSession("s");
    deafen(b, "s"); // b hears of the commit only through its read's catch-up
    const rev = await a.store.sessionRevision("s");
    const big = "y".repeat(LARGE_ENTRY_CHARS + 1_000);
    await a.store.set("s", "v", big);
    const read = await b.store.get("s", "v");
    assert.deepEqual([read.modifyRevision, read.version, String(read.value).length], [rev + 1, 2, big.length]);
    assert.equal(read.value, big);
  });
});

describe("commit log, shared: the follower reads on from what it holds back", () => {
  test("while another host's large commit is applied in slices, the commits after it are handed to the log once each, in order", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix);
    const b = await host(prefix);
    // Every entry b's follower hands to b's log, in order.
    const handed: number[] = [];
    onFollowerHands(b, "s", (entries) => handed.push(...entries.map((e) => e.id.rev)));
    const rev = await stringAndIntegerSession(a, b);
    const seen = watched(b, "s", 4);
    await seen.opened;
    // The small commits land while b decodes the large one (a worker thread, tens of ms): b
    // hears of each and reads the log on from the newest entry it holds back.
    await a.store.set("s", "v", "x".repeat(LARGE_ENTRY_CHARS + 1_000));
    for (let i = 1; i <= 3; i++) await a.store.set("s", "w", i);
    await seen.reached;
    assert.deepEqual(
      seen.messages.map((m) => (m.kind === "commit" ? [m.revision, m.changes[0]!.name] : m.kind)),
      [
        [rev + 1, "v"],
        [rev + 2, "w"],
        [rev + 3, "w"],
        [rev + 4, "w"],
      ],
    );
    assert.deepEqual(handed, [rev + 1, rev + 2, rev + 3, rev + 4], "each entry handed once");
    assert.equal(b.store.getLocal("s", "w").value, 3);
  });
});

describe("commit log, shared: a small commit that lands after another host's large commit this host is applying", () => {
  test("answers once that commit is applied in slices, after it (a small commit holds nothing back)", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix);
    const b = await host(prefix);
    const heardLarge = followerHandedLarge(a, "s");
    const rev = await stringAndIntegerSession(a, b);
    const seen = watched(a, "s", 2);
    await seen.opened;
    const big = "L".repeat(LARGE_ENTRY_CHARS + 1_000);
    // Right before a's small commit goes out, b's large commit lands and a's follower starts applying it.
    beforeCommits(a, "s", 1, async () => {
      await b.store.set("s", "v", big);
      await heardLarge;
    });
    const w = await a.store.set("s", "w", 1);
    assert.deepEqual([w.modifyRevision, w.value], [rev + 2, 1]);
    assert.equal(a.store.getLocal("s", "v").value, big, "b's large commit applied before the answer");
    await seen.reached;
    assert.deepEqual(
      seen.messages.map((m) => (m.kind === "commit" ? [m.revision, m.changes[0]!.name] : m.kind)),
      [
        [rev + 1, "v"],
        [rev + 2, "w"],
      ],
    );
    assert.equal(seen.ended(), undefined, "no reload ended the watch");
  });
});

describe("commit log, shared: a read made while a reload runs", () => {
  test("reads on after the reload when the reload's snapshot is older than the head the read saw", async () => {
    const { a, b } = await twoHostsOnAShortLog();
    deafen(b, "s"); // only what this test does brings a's commits to b
    for (let i = 1; i <= 5; i++) await a.store.set("s", "v", i); // the log no longer holds what b needs
    const s = sessionOf(b, "s");
    const heads = headAnswers(s);
    // b's follower is told once: it finds the gap and reloads. Once the reload's snapshot is read,
    // a commits again and b reads; the reload is done once that read has seen the new head.
    let read: Promise<{ value: unknown; version: number }> | undefined;
    const load = s.load.bind(s);
    const reloaded = new Promise<void>((done) => {
      s.load = async () => {
        const snapshot = await load();
        s.load = load;
        await a.store.set("s", "v", 100);
        const answered = heads.next();
        read = b.store.get("s", "v");
        await answered;
        await new Promise((r) => setImmediate(r));
        done();
        return snapshot;
      };
    });
    (Object.getPrototypeOf(s) as RedisSessionBackend).notified.call(s);
    await reloaded;
    const r = await read!;
    assert.deepEqual([r.value, r.version], [100, 7], "a's commit after the snapshot, which the read's head included");
  });
});

describe("commit log, shared: a read whose log read is answered once a reload has begun", () => {
  test("waits for the reload and reads on: it never answers from the state before the head it saw", async () => {
    const { a, b } = await twoHostsOnAShortLog();
    deafen(b, "s"); // only what this test does brings a's commits to b
    await a.store.set("s", "v", 1); // b's read sees this head and reads the log
    const s = sessionOf(b, "s");
    const load = s.load.bind(s);
    let loadStarted = () => {};
    const loading = new Promise<void>((r) => (loadStarted = r));
    s.load = async () => {
      loadStarted();
      return load();
    };
    const readAfter = s.readAfter.bind(s);
    s.readAfter = async (after) => {
      s.readAfter = readAfter;
      const entries = await readAfter(after);
      // Before b's catch-up gets the answer: a's commits trim the log past b, and b's follower,
      // told once, finds the gap and starts a reload.
      for (let i = 2; i <= 6; i++) await a.store.set("s", "v", i);
      (Object.getPrototypeOf(s) as RedisSessionBackend).notified.call(s);
      await loading;
      return entries;
    };
    const read = await b.store.get("s", "v");
    assert.deepEqual([read.value, read.version], [6, 7]);
  });
});

describe("commit log, shared: a read made while this host's import is sent", () => {
  test("waits for it past the call limit while Redis answers; fails at the limit once Redis stops answering", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix, { commandTimeoutMs: 300 });
    await session(a, "src", ["v0", "v1", "v2"]);
    await a.store.set("src", "v2", 2);
    const data = (await exportVariables(a.store, "src", { format: "json" })).data;
    await session(a, "dst", ["other"]);
    await session(a, "dst2", ["other"]);
    let read: Promise<unknown> | undefined;
    let readStarted = () => {};
    const readAs = (sid: string) => () => {
      read = a.store.get(sid, "v2").then(
        (r) => r.value,
        (e: unknown) => e,
      );
      readStarted();
    };
    // Redis answers the import at once; its answer is handled 700 ms later (over twice the limit).
    // As the import goes out, a read of its session starts (and waits for it).
    whenSending(a, "dst", readAs("dst"), () => new Promise((r) => setTimeout(r, 700)));
    const first = await importVariables(a.store, "dst", data, { format: "json" });
    assert.equal(first.imported, 3);
    assert.equal(await read, 2, "the read waited for the import while Redis answered");
    // Redis stops answering as the second import goes out: the read fails at the limit, typed.
    whenSending(a, "dst2", () => {
      readAs("dst2")();
      freeze();
    });
    const started = new Promise<void>((r) => (readStarted = r));
    const second = importVariables(a.store, "dst2", data, { format: "json" });
    let failed: unknown;
    try {
      await started;
      failed = await read;
    } finally {
      thaw();
    }
    assert.ok(failed instanceof StoreUnavailableError, `StoreUnavailableError, got ${String(failed)}`);
    assert.match(failed.message, /^the store could not be read: the redis store has not answered within 300 ms$/);
    assert.equal((await second).imported, 3, "the import, answered once Redis woke up");
  });
});

describe("commit log, shared: a mutation with nothing to do", () => {
  test("answers without a commit: an update (not atomic) whose every change is refused", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix);
    await session(a, "s", ["v"]);
    const rev = await a.store.sessionRevision("s");
    let sent = 0;
    beforeCommits(a, "s", 10, async () => void sent++);
    const r = await a.store.update("s", [{ name: "missing", value: 1 }], { atomic: false });
    assert.equal(r.revision, 0);
    assert.deepEqual(
      r.results.map((x) => [x.name, x.ok, x.error?.name]),
      [["missing", false, "NotFoundError"]],
    );
    assert.equal(sent, 0, "nothing sent to Redis");
    assert.equal(await a.store.sessionRevision("s"), rev);
  });
});

describe("commit log, shared: a host lets go of idle sessions, never of one with a call in progress", () => {
  test("a commit in flight keeps its session held while idle ones are let go", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix, { sessionIdleMs: 1 });
    await session(a, "s", ["v"]);
    await session(a, "o", ["v"]);
    let closedO = () => {};
    const oClosed = new Promise<void>((r) => (closedO = r));
    let sClosedDuringCommit = false;
    let committing = false;
    a.patch("o", (o) => {
      const close = o.close.bind(o);
      o.close = () => (closedO(), close());
    });
    a.patch("s", (p) => {
      const close = p.close.bind(p);
      p.close = () => {
        if (committing) sClosedDuringCommit = true;
        return close();
      };
    });
    beforeCommits(a, "s", 1, async () => {
      committing = true;
      await a.store.getSession("o"); // held again, then idle: let go while this commit waits
      await oClosed;
    });
    const w = a.store.set("s", "v", 4);
    assert.equal((await w).value, 4);
    committing = false;
    assert.equal(sClosedDuringCommit, false, "the session with a commit in flight was not let go");
  });
});

describe("commit log, shared: conflicts", () => {
  test("a commit another host beat to its variable is planned again on the new state and lands after it", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix);
    const b = await host(prefix);
    await session(a, "s", ["v"], [b]);
    deafen(b, "s");
    const rev = await a.store.sessionRevision("s");
    beforeCommits(b, "s", 1, () => a.store.set("s", "v", 1));
    const r = await b.store.update("s", [{ name: "v", value: 2, expectedVersion: 0 }]);
    assert.equal(r.revision, rev + 2, "planned again after a's commit");
    assert.deepEqual(
      (await b.store.history("s", "v")).map((h) => h.value),
      [2, 1, 0],
    );
    assert.equal((await a.store.get("s", "v")).version, 3);
  });

  test("a compare-and-set another host made stale meanwhile is refused when planned again, nothing written", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix);
    const b = await host(prefix);
    await session(a, "s", ["v"], [b]);
    deafen(b, "s");
    beforeCommits(b, "s", 1, () => a.store.set("s", "v", 1));
    await assert.rejects(b.store.set("s", "v", 2, { expectedVersion: 1 }), { name: "VersionConflictError" });
    assert.equal((await a.store.get("s", "v")).value, 1);
  });

  test("a commit that keeps losing to other hosts gives up after 50 attempts, nothing applied", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix);
    const b = await host(prefix);
    await session(a, "s", ["v"], [b]);
    deafen(b, "s");
    let n = 0;
    beforeCommits(b, "s", 50, () => a.store.set("s", "v", ++n));
    const { error, outcome } = await failure(b.store.set("s", "v", -1));
    assert.equal(outcome, "not applied");
    assert.match(
      error.message,
      /^the commit lost to other hosts' commits 50 times \(last on '.+'\); nothing was applied$/,
    );
    assert.equal(n, 50);
    assert.equal((await b.store.get("s", "v")).value, 50);
    // One more attempt than that would have won: the 51st is not made.
    assert.deepEqual(
      (await b.store.history("s", "v", 2)).map((h) => h.value),
      [50, 49],
    );
  });

  test("a session another host created meanwhile: the creation is planned again and refused as existing", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix);
    const b = await host(prefix);
    deafen(b, "x");
    let made = 0;
    beforeCommits(b, "x", 2, async () => {
      made++;
      await a.store.createSession({ sessionId: "x", metadata: { by: "a" } });
    });
    await assert.rejects(b.store.createSession({ sessionId: "x", metadata: { by: "b" } }), {
      name: "AlreadyExistsError",
      message: "session 'x' already exists",
    });
    assert.equal(made, 1, "one commit sent: planned again on a's session, the creation is refused before it is sent");
    assert.deepEqual((await b.store.getSession("x")).metadata, { by: "a" });
  });

  test("a commit that lands after another host's entries it had not applied catches up to it before it answers", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix);
    const b = await host(prefix);
    await session(a, "s", ["v", "w"], [b]);
    deafen(b, "s");
    const rev = await a.store.sessionRevision("s");
    beforeCommits(b, "s", 1, () => a.store.set("s", "v", 1)); // another variable: no conflict
    const w = await b.store.set("s", "w", 2);
    assert.deepEqual([w.modifyRevision, w.value], [rev + 2, 2]);
    assert.equal(b.store.getLocal("s", "v").value, 1, "a's commit before it was applied too");
    assert.equal(await b.store.sessionRevision("s"), rev + 2);
  });
});

describe("commit log, shared: one catch-up at a time", () => {
  test("a commit that lands after entries a read is already catching up to waits for that read's catch-up instead of reading the log again", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix);
    const b = await host(prefix);
    await session(a, "s", ["v", "w"], [b]);
    deafen(b, "s");
    const rev = await a.store.sessionRevision("s");
    const s = sessionOf(b, "s");
    const readAfter = s.readAfter.bind(s);
    let reads = 0;
    let readStarted = () => {};
    const started = new Promise<void>((r) => (readStarted = r));
    s.readAfter = (after) => {
      reads++;
      readStarted();
      return readAfter(after);
    };
    const seen = watched(b, "s", 2);
    await seen.opened;
    let read: Promise<unknown> | undefined;
    const commit = s.commit.bind(s);
    s.commit = async (...args) => {
      await a.store.set("s", "v", 1); // another variable: b's commit lands after it, at rev + 2
      const result = await commit(...args);
      // A read that finds the log ahead starts its catch-up before b's commit answers.
      read = b.store.get("s", "v").then((r) => r.value);
      await started;
      return result;
    };
    const w = await b.store.set("s", "w", 2);
    assert.deepEqual([w.modifyRevision, w.value], [rev + 2, 2]);
    assert.equal(await read, 1);
    assert.equal(reads, 1, "the commit's catch-up waited for the read's, which brought both entries");
    assert.equal(b.store.getLocal("s", "v").value, 1);
    assert.equal(await b.store.sessionRevision("s"), rev + 2);
    await seen.reached;
    assert.deepEqual(
      seen.messages.map((m) => (m.kind === "commit" ? [m.revision, m.changes[0]!.name, m.changes[0]!.value] : m.kind)),
      [
        [rev + 1, "v", 1],
        [rev + 2, "w", 2],
      ],
    );
    assert.equal(seen.ended(), undefined, "caught up from the log: no reload ended the watch");
  });

  test("a commit right after what this host applied is applied at once, without reading the log", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix);
    await session(a, "s", ["v"]);
    deafen(a, "s");
    const rev = await a.store.sessionRevision("s");
    const s = sessionOf(a, "s");
    const readAfter = s.readAfter.bind(s);
    let reads = 0;
    s.readAfter = (after) => (reads++, readAfter(after));
    const w = await a.store.set("s", "v", 1);
    assert.deepEqual([w.modifyRevision, w.value, reads], [rev + 1, 1, 0]);
  });

  test("a log read in pages: the catch-up after a commit reads on until it reaches the commit, and no further", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix);
    const b = await host(prefix);
    await session(a, "s", ["v", "w"], [b]);
    deafen(b, "s");
    const rev = await a.store.sessionRevision("s");
    const s = sessionOf(b, "s");
    const readAfter = s.readAfter.bind(s);
    const pages: number[] = [];
    // One entry a read, as a backend that answers in pages would.
    s.readAfter = async (after) => {
      const entries = await readAfter(after);
      const page = entries === "lost" ? entries : entries.slice(0, 1);
      pages.push(page === "lost" ? -1 : (page[0]?.id.rev ?? 0));
      return page;
    };
    beforeCommits(b, "s", 1, async () => {
      await a.store.set("s", "v", 1);
      await a.store.set("s", "v", 2);
    });
    const w = await b.store.set("s", "w", 3);
    assert.deepEqual([w.modifyRevision, w.value, w.version], [rev + 3, 3, 2]);
    assert.deepEqual(pages, [rev + 1, rev + 2, rev + 3]);
    assert.equal(b.store.getLocal("s", "v").value, 2);
  });
});

describe("commit log, shared: a follower that cannot continue the log reloads", () => {
  test("behind a log trimmed past it: the read reloads first, and its watches end with compacted", async () => {
    const { a, b } = await twoHostsOnAShortLog();
    deafen(b, "s");
    const seen = watched(b, "s", 1);
    await seen.opened;
    for (let i = 1; i <= 8; i++) await a.store.set("s", "v", i);
    assert.equal((await b.store.get("s", "v")).value, 8);
    await seen.reached;
    assert.equal(seen.messages[0]?.kind, "compacted");
    assert.equal((seen.ended() as { reason?: string }).reason, "compacted");
    assert.equal(await b.store.sessionRevision("s"), await a.store.sessionRevision("s"));
  });

  test("trimmed past it between the read's look at the head and its read of the log: the catch-up reloads", async () => {
    const { a, b } = await twoHostsOnAShortLog();
    deafen(b, "s");
    const seen = watched(b, "s", 1);
    await seen.opened;
    await a.store.set("s", "v", 1); // b's read finds the head ahead of it and reads the log
    let reads = 0;
    b.patch("s", (s) => {
      const readAfter = s.readAfter.bind(s);
      s.readAfter = async (after) => {
        // Before b's first log read, a commits enough for the log to be trimmed past where b is.
        if (++reads === 1) for (let i = 2; i <= 8; i++) await a.store.set("s", "v", i);
        return readAfter(after);
      };
    });
    assert.equal((await b.store.get("s", "v")).value, 8);
    assert.equal(reads, 1, "one log read: the gap it found is filled by a reload");
    await seen.reached;
    assert.equal(seen.messages[0]?.kind, "compacted");
    assert.equal((seen.ended() as { reason?: string }).reason, "compacted");
    assert.equal(await b.store.sessionRevision("s"), await a.store.sessionRevision("s"));
  });

  test("a log that went back (the session's head below what this host applied): reloaded, watches told", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix);
    await session(a, "s", ["v"]);
    await a.store.set("s", "v", 1);
    deafen(a, "s");
    const base = sessionOf(a, "s").base;
    const head = await raw.get(`${base}_head`);
    const seen = watched(a, "s", 1);
    await seen.opened;
    await a.store.set("s", "v", 2);
    await raw.set(`${base}_head`, head!); // as if restored from a copy taken one commit earlier
    await a.store.get("s", "v");
    await seen.reached;
    assert.deepEqual(
      seen.messages.map((m) => m.kind),
      ["commit", "compacted"],
    );
  });

  test("Redis lost its data: the next read reloads (the session is gone) and ends the watches", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix);
    await session(a, "s", ["v"]);
    deafen(a, "s");
    const seen = watched(a, "s", 1);
    await seen.opened;
    const base = sessionOf(a, "s").base;
    const keys = await raw.keys(`${base.replace(/[*?[\]]/g, "\\$&")}*`);
    await raw.del(...keys);
    await assert.rejects(a.store.get("s", "v"), NotFoundError);
    await seen.reached;
    assert.equal(seen.messages[0]?.kind, "compacted");
  });

  test("Redis lost its data between the read's look at the head and its read of the log (another history began): reloaded", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix);
    const b = await host(prefix);
    await session(a, "s", ["v"], [b]);
    deafen(b, "s");
    const seen = watched(b, "s", 1);
    await seen.opened;
    await a.store.set("s", "v", 1); // b's read finds the head ahead of it and reads the log
    const base = sessionOf(b, "s").base;
    let reads = 0;
    b.patch("s", (s) => {
      const readAfter = s.readAfter.bind(s);
      s.readAfter = async (after) => {
        if (++reads === 1) {
          // The session's keys are lost; another host makes the session anew, past where b is, in a new history.
          await raw.del(...(await raw.keys(`${base.replace(/[*?[\]]/g, "\\$&")}*`)));
          const c = await host(prefix);
          await session(c, "s", ["v"]);
          for (let i = 5; i <= 7; i++) await c.store.set("s", "v", i);
        }
        return readAfter(after);
      };
    });
    const read = await b.store.get("s", "v");
    assert.deepEqual([read.value, read.version], [7, 4], "the new history's variable");
    assert.equal(reads, 1, "one log read: what it found lost is brought by a reload");
    await seen.reached;
    assert.equal(seen.messages[0]?.kind, "compacted");
  });

  test("Redis lost its data after this host's commit landed, before this host read it back: 'applied', reloaded, watches told", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix);
    const b = await host(prefix);
    await session(a, "s", ["v", "w"], [b]);
    deafen(b, "s");
    const base = sessionOf(b, "s").base;
    const rev = await b.store.sessionRevision("s");
    // b's commit lands after a's, which b has not read; before b's catch-up reads the log, the session's keys are lost.
    beforeCommits(b, "s", 1, () => a.store.set("s", "v", 1));
    let reads = 0;
    b.patch("s", (s) => {
      const readAfter = s.readAfter.bind(s);
      s.readAfter = async (after) => {
        if (++reads === 1) await raw.del(...(await raw.keys(`${base.replace(/[*?[\]]/g, "\\$&")}*`)));
        return readAfter(after);
      };
    });
    const seen = watched(b, "s", 1);
    await seen.opened;
    const { error, outcome } = await failure(b.store.set("s", "w", 2));
    assert.equal(outcome, "applied");
    assert.equal(
      error.message,
      `the commit was applied (revision ${rev + 2}), but the redis store lost it before this host read it back (it holds an earlier state now): read the variable for what it holds`,
    );
    assert.equal(reads, 1, "one log read: it found nothing, so the session was loaded again");
    await seen.reached;
    assert.equal(seen.messages[0]?.kind, "compacted");
    await assert.rejects(b.store.get("s", "w"), NotFoundError);
  });

  test("data this host cannot read is refused by name when the session is loaded", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix);
    await session(a, "s", ["v"]);
    const base = sessionOf(a, "s").base;
    const stamped = await raw.hget(`${base}v`, "v");
    assert.match(stamped ?? "", /^\d+(-\d+)?\|\{/, "the session's variables hash holds v, stamped");
    await raw.hset(`${base}v`, "v", stamped!.replace(/\|.*/, "|{not json"));
    const b = await host(prefix);
    await assert.rejects(b.store.get("s", "v"), (e: unknown) => {
      assert.ok(e instanceof FailedPreconditionError);
      assert.match(e.message, /^the redis store holds data this host cannot read: /);
      return true;
    });
  });
});

describe("commit log, shared: sessions another host let expire", () => {
  test("a read of a session past its TTL here asks Redis, which kept it alive for another host", async () => {
    const prefix = freshPrefix();
    let clock = Date.now();
    const a = await host(prefix);
    const b = await host(prefix, { now: () => clock });
    await a.store.createSession({ sessionId: "t", ttlMs: 60_000 });
    await b.store.getSession("t");
    clock += 120_000; // b's copy says expired; Redis (a's use) says alive
    assert.equal((await b.store.getSession("t")).sessionId, "t");
  });

  test("a read of a session whose TTL ran out for every host drops it", async () => {
    const prefix = freshPrefix();
    let clock = Date.now();
    const a = await host(prefix, { now: () => clock });
    await a.store.createSession({ sessionId: "t", ttlMs: 60_000 });
    const alive = (await raw.keys(`${sessionOf(a, "t").base.replace(/[*?[\]]/g, "\\$&")}*`)).filter(
      (k) => !/_(head|epoch|log|n)$/.test(k),
    );
    for (const k of alive) if ((await raw.pttl(k)) > 0) await raw.del(k); // the alive key, gone as at its expiry
    clock += 120_000;
    await assert.rejects(a.store.getSession("t"), NotFoundError);
  });

  test("a drop another host's use of the session beat (a final conflict) is not planned again: the session stays", async () => {
    const prefix = freshPrefix();
    let clock = Date.now();
    const a = await host(prefix, { now: () => clock });
    await a.store.createSession({ sessionId: "t", ttlMs: 60_000 });
    const alive = `${sessionOf(a, "t").base}a`; // the session's alive key (its suffix "a")
    assert.ok((await raw.pttl(alive)) > 0, "alive, with its TTL");
    await raw.del(alive); // gone as at its expiry: Redis says the session has no time left
    // Right before a's drop goes out, another host's use renews the session (its alive key is back).
    let commits = 0;
    a.patch("t", (s) => {
      const commit = s.commit.bind(s);
      s.commit = async (...args) => {
        if (++commits === 1) await raw.set(alive, "1", "PX", 60_000);
        return commit(...args);
      };
    });
    clock += 120_000;
    // This read's drop is refused; its own copy still says the TTL ran out when the drop was planned.
    await assert.rejects(a.store.getSession("t"), NotFoundError);
    assert.equal(commits, 1, "refused for good, not planned and sent again");
    // The next read asks Redis again, which now says the session is alive: nothing is dropped.
    assert.equal((await a.store.getSession("t")).sessionId, "t");
    assert.equal(commits, 1);
    const b = await host(prefix);
    assert.equal((await b.store.getSession("t")).sessionId, "t", "still in Redis");
  });
});

describe("commit log, shared: a large commit (an import)", () => {
  test("another host's commit arriving while the import is sent is applied before it; reads wait for it", async () => {
    const { a, b, data } = await twoHostsAndAnImport();
    await session(a, "dst", ["other"], [b]);
    const rev = await a.store.sessionRevision("dst");
    const seen = watched(a, "dst", 2);
    await seen.opened;
    let other: Promise<unknown> | undefined;
    let read: Promise<unknown> | undefined;
    beforeCommits(a, "dst", 1, async () => {
      other = b.store.set("dst", "other", 7);
      await other;
    });
    // a hears of b's commit only as its import goes out: the read of b's entry is sent just before
    // the import, so its answer comes while the import is on its way and is held back. A read
    // made then waits for the import.
    deafen(a, "dst");
    whenSending(a, "dst", (s) => {
      (Object.getPrototypeOf(s) as RedisSessionBackend).notified.call(s);
      read ??= a.store.get("dst", "v3").then((r) => r.value);
    });
    const applied: number[] = [];
    const summary = await importVariables(a.store, "dst", data, {
      format: "json",
      onProgress: (p) => p.phase === "apply" && p.done === 0 && applied.push(p.total),
    });
    assert.equal(summary.imported, 40);
    assert.deepEqual(applied, [40], "the import applied in slices, after b's commit");
    assert.equal(summary.revision, rev + 2, "after b's commit");
    assert.equal(await read, 3, "the read made while the import was sent sees it");
    await seen.reached;
    assert.deepEqual(
      seen.messages.map((m) => (m.kind === "commit" ? [m.revision, m.changes.length] : m.kind)),
      [
        [rev + 1, 1],
        [rev + 2, 40],
      ],
    );
    assert.equal(a.store.getLocal("dst", "other").value, 7);
    assert.equal((await b.store.get("dst", "v39")).value, 39);
  });

  test("its own entry, read back from the log before its answer is handled, is applied once, in slices, between other hosts' commits before and after it", async () => {
    const { a, b, data } = await twoHostsAndAnImport();
    const handed: number[] = [];
    onFollowerHands(a, "dst", (entries) => handed.push(...entries.map((e) => e.id.rev)));
    await session(a, "dst", ["other"], [b]);
    const rev = await a.store.sessionRevision("dst");
    const seen = watched(a, "dst", 3);
    await seen.opened;
    deafen(a, "dst"); // a reads the log only when this test says
    handed.length = 0; // what the follower handed on while the session was made
    beforeCommits(a, "dst", 1, () => b.store.set("dst", "other", 7));
    // The import lands after b's commit, and b commits again after it; before a handles the
    // import's answer, a's follower reads the log (all three) and hands them to a's log, which
    // holds them back for the import.
    a.patch("dst", (s) => {
      const commit = s.commit.bind(s);
      s.commit = async (request, deadline, large) => {
        const result = await commit(request, deadline, large);
        if (large && "id" in result) {
          await b.store.set("dst", "other", 8);
          (Object.getPrototypeOf(s) as RedisSessionBackend).notified.call(s);
          await waitFor(() => handed.includes(result.id.rev + 1), 5_000, "a's follower to read the import back");
        }
        return result;
      };
    });
    const applied: number[] = [];
    const summary = await importVariables(a.store, "dst", data, {
      format: "json",
      onProgress: (p) => p.phase === "apply" && p.done === 0 && applied.push(p.total),
    });
    assert.deepEqual([summary.imported, summary.revision], [40, rev + 2]);
    assert.equal(a.store.getLocal("dst", "other").value, 8, "b's commit after the import, applied with it");
    assert.deepEqual(handed, [rev + 1, rev + 2, rev + 3], "read back together, once");
    assert.deepEqual(applied, [40], "the import applied in slices, once");
    await seen.reached;
    assert.deepEqual(
      seen.messages.map((m) => (m.kind === "commit" ? [m.revision, m.changes.length] : m.kind)),
      [
        [rev + 1, 1],
        [rev + 2, 40],
        [rev + 3, 1],
      ],
    );
    assert.equal(seen.ended(), undefined, "no reload ended the watch");
    assert.equal(a.store.getLocal("dst", "v39").value, 39);
  });
});

describe("commit log, shared: another host's large commit arriving while this host prepares its own", () => {
  test("is held back, then applied before the import (which is planned without it and applied in slices after it)", async () => {
    const { a, b, data } = await twoHostsAndAnImport();
    // The import is planned and built; right before it goes out, b's large commit lands and a's follower gets it.
    const { rev, big } = await largeCommitAsNextGoesOut(a, b, "dst", "z");
    const seen = watched(a, "dst", 2);
    await seen.opened;
    const applied: number[] = [];
    const summary = await importVariables(a.store, "dst", data, {
      format: "json",
      onProgress: (p) => p.phase === "apply" && p.done === 0 && applied.push(p.total),
    });
    assert.equal(summary.imported, 40);
    assert.equal(summary.revision, rev + 2, "after b's commit");
    assert.deepEqual(applied, [40], "the import applied in slices, once, by this host's own large commit");
    await seen.reached;
    assert.deepEqual(
      seen.messages.map((m) => (m.kind === "commit" ? [m.revision, m.changes.map((c) => c.name).sort()] : m.kind)),
      [
        [rev + 1, ["big"]],
        [rev + 2, Array.from({ length: 40 }, (_, i) => `v${i}`).sort()],
      ],
    );
    assert.equal(seen.messages[0]!.kind === "commit" && seen.messages[0]!.changes[0]!.value, big);
    assert.equal(seen.ended(), undefined, "no reload ended the watch");
    assert.equal(a.store.getLocal("dst", "big").value, big);
    assert.equal(a.store.getLocal("dst", "v39").value, 39);
    assert.equal((await b.store.get("dst", "v39")).modifyRevision, rev + 2);
  });
});

describe("commit log, shared: an import that fails before it is sent while another host's large commit waits for it", () => {
  test("lets that commit go: it is applied, and a read after the failure answers with it", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix, { commandTimeoutMs: 1_000, outcomeTimeoutMs: 1_000 });
    const b = await host(prefix);
    await session(a, "src", ["v0", "v1"]);
    const data = (await exportVariables(a.store, "src", { format: "json" })).data;
    const heardLarge = followerHandedLarge(a, "dst");
    await a.store.createSession({ sessionId: "dst" });
    await a.store.register("dst", [{ name: "big", type: "string", initialValue: "" }]);
    await b.store.getSession("dst");
    const rev = await a.store.sessionRevision("dst");
    const big = "q".repeat(LARGE_ENTRY_CHARS + 1_000);
    // Right before the import goes out: b's large commit reaches a (held back for the import),
    // then Redis stops answering and a's connection knows it (a command of its own timed out),
    // so the import is refused before it is sent.
    beforeCommits(a, "dst", 1, async () => {
      await b.store.set("dst", "big", big);
      await heardLarge;
      freeze();
      await assert.rejects(sessionOf(a, "dst").head());
    });
    let failed: Awaited<ReturnType<typeof failure>>;
    try {
      failed = await failure(importVariables(a.store, "dst", data, { format: "json" }));
    } finally {
      thaw();
    }
    assert.equal(failed.outcome, "not applied");
    const read = await a.store.get("dst", "big");
    assert.deepEqual([read.modifyRevision, String(read.value).length], [rev + 1, big.length]);
    assert.equal(await a.store.sessionRevision("dst"), rev + 1, "nothing of the import");
    await assert.rejects(a.store.get("dst", "v0"), NotFoundError);
  });
});

describe("commit log, shared: a staged import refused before it is sent while another host's large commit waits for it", () => {
  test("lets that commit go and is planned again after it: both applied, in order", async () => {
    // Enough variables that the import is staged: a staging chunk, not the install, finds the session moved on.
    const { a, b, data, names } = await twoHostsAndAnImport(1_200);
    // Right before the import goes out, b's large commit lands and a's follower hands it on: held for the import.
    const { rev, big } = await largeCommitAsNextGoesOut(a, b, "dst", "s");
    const seen = watched(a, "dst", 2);
    await seen.opened;
    const summary = await importVariables(a.store, "dst", data, { format: "json" });
    assert.deepEqual([summary.imported, summary.revision], [names.length, rev + 2]);
    assert.equal(a.store.getLocal("dst", "big").value, big);
    await seen.reached;
    assert.deepEqual(
      seen.messages.map((m) => (m.kind === "commit" ? [m.revision, m.changes.length] : m.kind)),
      [
        [rev + 1, 1],
        [rev + 2, names.length],
      ],
    );
    assert.equal((await b.store.get("dst", "v1199")).modifyRevision, rev + 2);
  });
});

describe("commit log, shared: an import another host beat to a name it adds", () => {
  test("is planned again on the new state and refused whole; reads are answered once it let go", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix);
    const b = await host(prefix);
    await session(a, "src", ["v0", "v1", "v2"]);
    await a.store.set("src", "v2", 2);
    const data = (await exportVariables(a.store, "src", { format: "json" })).data;
    await session(a, "dst", ["other"], [b]);
    deafen(a, "dst");
    const rev = await a.store.sessionRevision("dst");
    beforeCommits(a, "dst", 1, () => b.store.register("dst", [{ name: "v2", type: "integer", initialValue: 100 }]));
    await assert.rejects(importVariables(a.store, "dst", data, { format: "json" }), {
      name: "AlreadyExistsError",
      message: /^variable 'v2' was created in session 'dst' since the import was checked; nothing was imported/,
    });
    assert.equal((await a.store.get("dst", "v2")).value, 100, "b's variable, read once the import let go");
    assert.equal(await a.store.sessionRevision("dst"), rev + 1);
    await assert.rejects(b.store.get("dst", "v1"), { name: "NotFoundError" });
    // Nothing stays held for the refused import: another host's large commit after it is read at once.
    const big = "b".repeat(LARGE_ENTRY_CHARS + 1_000);
    await b.store.register("dst", [{ name: "big", type: "string", initialValue: big }]);
    const read = await a.store.get("dst", "big");
    assert.deepEqual([read.modifyRevision, read.value], [rev + 2, big]);
  });

  test("with a large commit held back for it (another host's, arriving as it was prepared): that commit is applied, then the import refused", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix);
    const b = await host(prefix);
    await session(a, "src", ["v0", "v1", "v2"]);
    const data = (await exportVariables(a.store, "src", { format: "json" })).data;
    const heardLarge = followerHandedLarge(a, "dst");
    await session(a, "dst", ["other"], [b]);
    const rev = await a.store.sessionRevision("dst");
    const big = "c".repeat(LARGE_ENTRY_CHARS + 1_000);
    // Right before the import goes out, b's large commit adds a name the import adds; a's
    // follower hands it to a, which holds it back for the import.
    beforeCommits(a, "dst", 1, async () => {
      await b.store.register("dst", [{ name: "v2", type: "string", initialValue: big }]);
      await heardLarge;
    });
    await assert.rejects(importVariables(a.store, "dst", data, { format: "json" }), {
      name: "AlreadyExistsError",
      message: /^variable 'v2' was created in session 'dst' since the import was checked; nothing was imported/,
    });
    const read = await a.store.get("dst", "v2");
    assert.deepEqual([read.modifyRevision, read.value], [rev + 1, big]);
    assert.equal(await a.store.sessionRevision("dst"), rev + 1);
  });
});

describe("commit log, shared: an import while another host's import into the same session is being written", () => {
  test("is refused at once, not applied and not planned again, saying why; the import being written goes through", async () => {
    // Enough variables that the import is staged (written a chunk at a time before it is installed).
    const { a, b, data, names } = await twoHostsAndAnImport(1_200);
    await session(a, "dst", ["other"], [b]);
    const rev = await a.store.sessionRevision("dst");
    // Once a's first chunk is written (its staging holds the session), b imports into the same session.
    let refused: unknown;
    let bStages = 0;
    const s = sessionOf(a, "dst");
    // Runs `after` once each chunk of `h`'s staged commits is answered.
    const stageOf = (h: RedisSessionBackend, after: () => Promise<void>) => {
      const client = (h as unknown as { cmd: Record<string, unknown> }).cmd;
      Object.defineProperty(h, "cmd", {
        value: new Proxy(client, {
          get: (target, key) =>
            key === "bridgeStage"
              ? async (...args: unknown[]) => {
                  const reply = await (target.bridgeStage as (...a: unknown[]) => Promise<unknown>)(...args);
                  await after();
                  return reply;
                }
              : Reflect.get(target, key),
        }),
      });
    };
    let first = true;
    stageOf(s, async () => {
      if (!first) return;
      first = false;
      stageOf(sessionOf(b, "dst"), async () => void bStages++);
      refused = await importVariables(b.store, "dst", data, { format: "json" }).catch((e: unknown) => e);
    });
    const summary = await importVariables(a.store, "dst", data, { format: "json" });
    assert.ok(refused instanceof FailedPreconditionError, `FailedPreconditionError, got ${String(refused)}`);
    assert.equal(
      refused.message,
      "not applied: another host is importing into session 'dst' (its import is being written); import again once it is done",
    );
    assert.equal(bStages, 1, "b's import was refused at its first chunk and not tried again");
    assert.deepEqual([summary.imported, summary.revision], [names.length, rev + 1]);
    assert.equal(await b.store.sessionRevision("dst"), rev + 1, "only a's import");
    assert.equal((await b.store.get("dst", "v1199")).modifyRevision, rev + 1);
  });
});

describe("commit log, shared: an import that lands after more of another host's commits than the log keeps", () => {
  test("is not applied over the gap: the host reloads, and the import's answer and reads include those commits", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix, { logLimit: 3 });
    const b = await host(prefix, { logLimit: 3 });
    await session(a, "src", ["v0", "v1", "v2"]);
    await a.store.set("src", "v1", 1);
    const data = (await exportVariables(a.store, "src", { format: "json" })).data;
    await session(a, "dst", ["other"], [b]);
    deafen(a, "dst"); // a hears of b's commits only through its own reads and commits
    const rev = await a.store.sessionRevision("dst");
    // Right before the import goes out, b commits five times: the log no longer holds the first.
    beforeCommits(a, "dst", 1, async () => {
      for (let i = 1; i <= 5; i++) await b.store.set("dst", "other", i);
    });
    const summary = await importVariables(a.store, "dst", data, { format: "json" });
    assert.deepEqual([summary.imported, summary.revision], [3, rev + 6]);
    assert.equal(a.store.getLocal("dst", "other").value, 5, "b's commits are in this host's copy");
    assert.equal(a.store.getLocal("dst", "v1").value, 1);
    assert.equal((await a.store.get("dst", "other")).modifyRevision, rev + 5);
    assert.equal(await a.store.sessionRevision("dst"), rev + 6);
  });
});

describe("commit log, shared: an import Redis stops answering as it is sent", () => {
  test("fails with its outcome unknown and lets go of its hold: a read after it is answered, with the import once Redis answers", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix, { commandTimeoutMs: 300, outcomeTimeoutMs: 300 });
    await session(a, "src", ["v0", "v1", "v2"]);
    await a.store.set("src", "v2", 2);
    const data = (await exportVariables(a.store, "src", { format: "json" })).data;
    await session(a, "dst", ["other"]);
    whenSending(a, "dst", () => freeze());
    let failed: Awaited<ReturnType<typeof failure>>;
    try {
      failed = await failure(importVariables(a.store, "dst", data, { format: "json" }));
    } finally {
      thaw();
    }
    assert.equal(failed.outcome, "unknown");
    assert.match(failed.error.message, /^Redis did not answer whether the commit was applied/);
    // Redis ran the import when it woke up; the read catches up to it.
    assert.equal((await a.store.get("dst", "v2")).value, 2);
    assert.equal((await a.store.get("dst", "other")).value, 0);
  });
});

/** `next()` resolves once `s` has answered a read of the session's head (one already sent, or a later one). */
function headAnswers(s: RedisSessionBackend): { next(): Promise<void> } {
  const head = s.head.bind(s);
  const waiting: (() => void)[] = [];
  s.head = async () => {
    const r = await head();
    for (const resolve of waiting.splice(0)) resolve();
    return r;
  };
  return { next: () => new Promise<void>((resolve) => waiting.push(resolve)) };
}

/**
 * Right before `h`'s next commit on `sid` goes out, a second commit (`v` set to `value`) starts
 * and reads the head, so it is planned and waits for its turn behind the first; then Redis
 * stops. Resolves with that second commit (wrapped: a promise would be adopted).
 */
function commitWaitingThenFreeze(h: Host, sid: string, value: number): Promise<{ waiting: Promise<unknown> }> {
  const heads = headAnswers(sessionOf(h, sid));
  return new Promise((started) =>
    beforeCommits(h, sid, 1, async () => {
      const answered = heads.next();
      const waiting = h.store.set(sid, "v", value);
      started({ waiting });
      await answered;
      await new Promise((r) => setImmediate(r));
      freeze();
    }),
  );
}

describe("commit log, shared: Redis stops answering (short limits)", () => {
  const limits = { commandTimeoutMs: 300, outcomeTimeoutMs: 300 };

  test("a read fails as unavailable; a commit sent is unknown; the commit waiting behind it gives up, never sent", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix, limits);
    await session(a, "s", ["v"]);
    // Redis stops once the first commit's turn has come and the second, read and planned, waits behind it.
    const behind = commitWaitingThenFreeze(a, "s", 2);
    try {
      const sent = a.store.set("s", "v", 1);
      const { waiting } = await behind;
      const [first, second] = await Promise.all([failure(sent), failure(waiting)]);
      assert.equal(first.outcome, "unknown");
      assert.match(first.error.message, /^Redis did not answer whether the commit was applied/);
      assert.equal(second.outcome, "not applied");
      assert.match(
        second.error.message,
        /^the commit was not applied: the redis store has not answered within 300 ms$/,
      );
      const read = await failure(a.store.get("s", "v"));
      assert.match(read.error.message, /^the redis store is unavailable: /);
    } finally {
      thaw();
    }
    // A commit made now takes its turn after every commit queued before it: the one that gave
    // up its turn would have gone out before it, had its turn still run.
    await a.store.set("s", "v", 3);
    // The commit sent ran when Redis woke up; the one that gave up its turn never went out.
    const b = await host(prefix);
    assert.deepEqual(
      (await b.store.history("s", "v")).map((h) => h.value),
      [3, 1, 0],
    );
  });

  test("a commit that gave up its turn is never sent, even when the commit ahead of it lands once Redis is back", async () => {
    const prefix = freshPrefix();
    // A short limit for a call, a long one for a commit in flight: the commit ahead is still
    // waiting for its answer when the one behind it gives up.
    const a = await host(prefix, { commandTimeoutMs: 300, outcomeTimeoutMs: 10_000 });
    await session(a, "s", ["v"]);
    // Redis stops once the commit behind has read the head and waits for its turn.
    const behind = commitWaitingThenFreeze(a, "s", 2);
    let first: Promise<unknown>;
    try {
      first = a.store.set("s", "v", 1);
      const { waiting } = await behind;
      const gaveUp = await failure(waiting);
      assert.equal(gaveUp.outcome, "not applied");
      assert.match(
        gaveUp.error.message,
        /^the commit was not applied: the redis store has not answered within 300 ms$/,
      );
    } finally {
      thaw();
    }
    // Redis answers the commit ahead; the turn after it was given up: nothing of it goes out.
    assert.equal(((await first) as { value: unknown }).value, 1);
    assert.equal((await a.store.set("s", "v", 3)).version, 3);
    const b = await host(prefix);
    assert.deepEqual(
      (await b.store.history("s", "v")).map((h) => h.value),
      [3, 1, 0],
    );
  });

  test("a commit whose turn came late, while Redis kept answering, still gets its whole in-flight time once sent", async () => {
    const prefix = freshPrefix();
    // In flight: 300 + 1,000 ms from the call; the turn comes 1,400 ms after the call, past that.
    const a = await host(prefix, { commandTimeoutMs: 300, outcomeTimeoutMs: 1_000 });
    await session(a, "s", ["v"]);
    let commits = 0;
    a.patch("s", (s) => {
      const commit = s.commit.bind(s);
      s.commit = async (...args) => {
        if (++commits === 2) {
          // Redis stops as the late commit goes out and wakes 300 ms later, well within its in-flight time.
          freeze();
          setTimeout(thaw, 300);
        }
        const result = await commit(...args);
        // The first commit's answer is handled 1,400 ms after Redis gave it: the next commit's turn comes late.
        if (commits === 1) await new Promise((r) => setTimeout(r, 1_400));
        return result;
      };
    });
    const first = a.store.set("s", "v", 1).then((r) => [r.value, r.version]);
    await waitFor(() => commits === 1, 5_000, "the first commit to go out");
    const late = await a.store.set("s", "v", 2);
    assert.deepEqual([late.value, late.version], [2, 3], "answered once Redis woke up");
    assert.deepEqual(await first, [1, 2]);
  });

  test("a commit on a connection that stopped answering is not sent: its own error passes through", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix, limits);
    await session(a, "s", ["v"]);
    // Redis stops between the read before the commit and the commit; a command times out meanwhile.
    beforeCommits(a, "s", 1, async () => {
      freeze();
      await assert.rejects(sessionOf(a, "s").head(), /timed out/);
    });
    try {
      const { error, outcome } = await failure(a.store.set("s", "v", 1));
      assert.equal(outcome, "not applied");
      assert.match(error.message, /^Redis has stopped answering \(no reply for \d+ ms\); the commit was not sent/);
    } finally {
      thaw();
    }
    assert.equal((await a.store.get("s", "v")).value, 0);
  });

  test("a commit applied after entries this host had not read, then Redis stops: 'applied', and the read after finds it", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix);
    const b = await host(prefix, limits);
    await session(a, "s", ["v", "w"], [b]);
    deafen(b, "s");
    const s = sessionOf(b, "s");
    const commit = s.commit.bind(s);
    s.commit = async (...args) => {
      await a.store.set("s", "v", 1);
      const result = await commit(...args);
      freeze(); // before b catches up to its own commit
      return result;
    };
    try {
      const { error, outcome } = await failure(b.store.set("s", "w", 2));
      assert.equal(outcome, "applied");
      assert.match(error.message, /^the commit was applied \(revision \d+\), but the redis store stopped answering/);
    } finally {
      thaw();
    }
    assert.equal((await b.store.get("s", "w")).value, 2);
    assert.equal(b.store.getLocal("s", "v").value, 1);
  });
});

describe("commit log, shared: the catch-up after a commit is retried while there is time", () => {
  test("one catch-up read lost to a frozen Redis, the next answered: the commit answers normally", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix);
    const b = await host(prefix, { commandTimeoutMs: 300, outcomeTimeoutMs: 3_000 });
    await session(a, "s", ["v", "w"], [b]);
    deafen(b, "s");
    const s = sessionOf(b, "s");
    const commit = s.commit.bind(s);
    const readAfter = s.readAfter.bind(s);
    let failed = 0;
    s.readAfter = (after) =>
      readAfter(after).catch((e: unknown) => {
        failed++;
        thaw();
        throw e;
      });
    s.commit = async (...args) => {
      await a.store.set("s", "v", 1);
      const result = await commit(...args);
      freeze();
      return result;
    };
    try {
      const w = await b.store.set("s", "w", 2);
      assert.equal(w.value, 2);
      assert.equal(failed, 1);
    } finally {
      thaw();
    }
    assert.equal(b.store.getLocal("s", "v").value, 1);
  });
});

describe("commit log, shared: closing", () => {
  test("close waits for the commit in flight; later calls are refused as closed", async () => {
    const prefix = freshPrefix();
    const a = await host(prefix);
    await session(a, "s", ["v"]);
    let closing: Promise<void> | undefined;
    beforeCommits(a, "s", 1, async () => {
      closing = a.store.close();
    });
    assert.equal((await a.store.set("s", "v", 5)).value, 5);
    await closing;
    await assert.rejects(a.store.set("s", "v", 6), { message: "the store is closed" });
    const b = await host(prefix);
    assert.equal((await b.store.get("s", "v")).value, 5);
  });
});
