// Redis outages and the documented limits (docs/deployment.md, "Redis unavailable"): with
// Redis frozen (SIGSTOP: the connection stays open, nothing answers) every read and every
// commit not yet sent fails with StoreUnavailableError within 5 s, not applied; a commit
// already sent when Redis froze settles within 15 s — committed, not applied, or (only if
// Redis never said) outcome "unknown". Once Redis is back (SIGCONT, or a kill -9 and a
// restart) the hosts carry on by themselves, watches resume, and no acknowledged write is
// lost. Runs on its own private Redis: freezing the server other suites use would stall them.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import { RedisBackend } from "../src/store/durable/redis-backend.js";
import { openStore, Store, type WatchMessage } from "../src/store/index.js";
import { StoreUnavailableError } from "../src/errors/index.js";
import { freezeProcess, repoRoot, waitFor } from "./helpers.js";

/** The documented limits (the backend's defaults), and what a loaded 2-core machine may add. */
const CALL_MS = 5_000;
const IN_FLIGHT_MS = 15_000;
const MARGIN_MS = 1_500;

type PrivateRedis = {
  url: string;
  pid: number;
  restart(o?: { kill?: boolean; downMs?: number }): Promise<void>;
  stop(): Promise<void>;
};
let server: PrivateRedis;
const opened: Store[] = [];
before(async () => {
  const { startRedis } = (await import(pathToFileURL(join(repoRoot, "scripts/redis.mjs")).href)) as {
    startRedis(): Promise<PrivateRedis>;
  };
  server = await startRedis();
});
after(async () => {
  try {
    process.kill(server.pid, "SIGCONT"); // never leave it frozen, even after a failure
  } catch {}
  for (const s of opened) await s.close().catch(() => {});
  await server.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const freeze = freezeProcess;

type Outcome = "ok" | "not applied" | "unknown" | "applied";
interface Call {
  what: string;
  /** The value it wrote (writes only). */
  value?: number;
  startedAt: number;
  ms: number;
  outcome: Outcome;
  error?: unknown;
}

/** Runs one store call and records how long it took and how it ended. */
async function timed(calls: Call[], what: string, run: () => Promise<unknown>, value?: number): Promise<Call> {
  const startedAt = performance.now();
  const call: Call = { what, value, startedAt, ms: 0, outcome: "ok" };
  try {
    await run();
  } catch (err) {
    call.error = err;
    if (!(err instanceof StoreUnavailableError)) call.outcome = "not applied";
    else call.outcome = err.outcome === "unknown" ? "unknown" : err.outcome === "applied" ? "applied" : "not applied";
  }
  call.ms = performance.now() - startedAt;
  calls.push(call);
  return call;
}

/** Every call ended as it may: typed, and within its limit. */
function assertBounded(calls: Call[], inFlight: Call[]): void {
  for (const c of calls) {
    if (c.error !== undefined)
      assert.ok(
        c.error instanceof StoreUnavailableError,
        `${c.what}: a typed, retryable error, got ${String(c.error)}`,
      );
    const limit = inFlight.includes(c) ? IN_FLIGHT_MS : CALL_MS;
    assert.ok(
      c.ms <= limit + MARGIN_MS,
      `${c.what} settled after ${Math.round(c.ms)} ms, past its limit of ${limit} ms (${String(c.error ?? "ok")})`,
    );
    if (!inFlight.includes(c))
      assert.notEqual(c.outcome, "unknown", `${c.what}: never sent, so never "unknown" (${String(c.error)})`);
  }
}

/** Redis itself, through a fresh host: the values of `name` ever committed. */
async function committedValues(location: string, name: string): Promise<Set<number>> {
  const fresh = await openStore(location, { historyLimit: 10_000 });
  try {
    return new Set((await fresh.history("s", name, 10_000)).map((h) => h.value as number));
  } finally {
    await fresh.close();
  }
}

/** What a write's outcome promises about Redis's contents. */
function assertOutcomesHold(calls: Call[], committed: Set<number>): void {
  for (const c of calls) {
    if (c.value === undefined) continue;
    if (c.outcome === "ok" || c.outcome === "applied")
      assert.ok(committed.has(c.value), `${c.what} (${c.outcome}) is in Redis: no acknowledged write is lost`);
    if (c.outcome === "not applied")
      assert.ok(!committed.has(c.value), `${c.what} was reported not applied and is not in Redis`);
  }
}

/** Host `a` on a backend whose next commit can be made to go out just as Redis freezes or dies. */
type SessionBackend = ReturnType<RedisBackend["partition"]>;
interface Hooked {
  store: Store;
  /** Sends the last commit request the store sent once more, on the same session's backend. */
  commitAgain(): ReturnType<SessionBackend["commit"]>;
  beforeNextCommit(f: () => void): void;
  afterNextCommit(f: () => void): void;
}
async function hostWithHook(location: string): Promise<Hooked> {
  const url = location.split("?")[0]!;
  const prefix = new URL(location).searchParams.get("prefix")!;
  const backend = await RedisBackend.connect({ url, prefix, logLimit: 10_000 });
  let beforeHook: (() => void) | undefined;
  let afterHook: (() => void) | undefined;
  let last: Parameters<SessionBackend["commit"]>[0] | undefined;
  let lastSession: SessionBackend | undefined;
  // Each session the store holds has a backend of its own (partition): every one is hooked.
  const partition = backend.partition.bind(backend);
  backend.partition = (sessionId) => {
    const session = partition(sessionId);
    const commit = session.commit.bind(session);
    session.commit = (request, deadline) => {
      last = request;
      lastSession = session;
      const b = beforeHook;
      beforeHook = undefined;
      b?.();
      const sent = commit(request, deadline); // written to the socket in this tick (the connection is answering)
      const a = afterHook;
      afterHook = undefined;
      a?.();
      return sent;
    };
    return session;
  };
  const store = await new Store({ historyLimit: 10_000 }, backend).open();
  opened.push(store);
  return {
    store,
    commitAgain: () => lastSession!.commit(last!),
    beforeNextCommit: (f) => (beforeHook = f),
    afterNextCommit: (f) => (afterHook = f),
  };
}

describe("Redis frozen (SIGSTOP): every call is bounded by the documented limits", () => {
  test("reads and unsent commits fail within 5 s, not applied; a commit in flight settles within 15 s; nothing acknowledged is lost; watches resume", async () => {
    const location = `${server.url}?prefix=frozen:`;
    const { store: a, commitAgain, beforeNextCommit } = await hostWithHook(location);
    const b = await openStore(location, { historyLimit: 10_000 });
    opened.push(b);
    await a.createSession({ sessionId: "s" });
    await a.register("s", [
      { name: "x", type: "integer", initialValue: 0 },
      { name: "y", type: "integer", initialValue: 0 },
    ]);
    const seen: number[] = [];
    let watchEnd: unknown = "open";
    await b.watch(
      "s",
      { names: ["x", "y"] },
      (m: WatchMessage) => m.kind === "commit" && seen.push(m.revision),
      (e) => (watchEnd = e),
    );
    const calls: Call[] = [];
    const atomic = (host: Store, v: number) => () =>
      host.update(
        "s",
        [
          { name: "x", value: v },
          { name: "y", value: v },
        ],
        { atomic: true },
      );
    let value = 0;

    // Round 1: frozen for longer than the in-flight limit. Of two atomic updates of host a,
    // the first goes out as Redis freezes: Redis never says whether it ran before the limit,
    // so its outcome is "unknown". The second waits for its turn (a host commits one at a
    // time): it is never sent, and gives up after 5 s.
    beforeNextCommit(() => freeze(server.pid));
    const frozenAt = performance.now();
    const pair = [
      timed(calls, "atomic update A (round 1)", atomic(a, 1_000), 1_000),
      timed(calls, "atomic update B (round 1)", atomic(a, 1_001), 1_001),
    ];
    const others: Promise<Call>[] = [];
    // A commit on the connection that stopped answering is not sent: its PING goes unanswered.
    await sleep(1_500);
    others.push(timed(calls, "a commit on the stalled connection", () => commitAgain()));
    // Meanwhile, on both hosts: atomic updates, sets, compare-and-sets and reads, one a second,
    // all settled before Redis wakes up.
    while (performance.now() - frozenAt < IN_FLIGHT_MS - CALL_MS - MARGIN_MS) {
      const v = ++value;
      others.push(
        timed(calls, `a: atomic update ${v}`, atomic(a, v), v),
        timed(calls, `a: set ${v + 100}`, () => a.set("s", "x", v + 100), v + 100),
        timed(calls, `b: compare-and-set ${v + 200}`, () => b.set("s", "y", v + 200, { expectedVersion: 2 }), v + 200),
        timed(calls, `b: read`, () => b.get("s", "x")),
        timed(calls, `a: read`, () => a.getMany("s", ["x", "y"])),
      );
      await sleep(1_000);
    }
    await Promise.all(others);
    const [A, B] = await Promise.all(pair);
    process.kill(server.pid, "SIGCONT");
    const first = A!.outcome === "unknown" ? A! : B!;
    const queued = first === A ? B! : A!;
    assertBounded(calls, [first]);
    assert.equal(
      first.outcome,
      "unknown",
      `Redis never answered while a commit was in flight: ${String(A!.error)} / ${String(B!.error)}`,
    );
    assert.ok(
      first.ms >= IN_FLIGHT_MS - 1_000,
      `it waited for Redis up to the in-flight limit (${Math.round(first.ms)} ms)`,
    );
    assert.ok(
      queued.ms >= CALL_MS - 500,
      `the queued commit kept its turn for the call limit (${Math.round(queued.ms)} ms)`,
    );
    const during = calls.filter((c) => c !== first);
    assert.ok(
      during.every((c) => c.outcome === "not applied"),
      `every other call failed, not applied: ${during
        .filter((c) => c.outcome !== "not applied")
        .map((c) => `${c.what}: ${c.outcome}`)
        .join(", ")}`,
    );

    // Back: both hosts carry on by themselves, and b's watch resumes.
    const resumed = seen.length;
    let back = false;
    for (let i = 0; i < 100 && !back; i++) {
      back = (await timed(calls, "a: set after SIGCONT", () => a.set("s", "x", 5_000 + i), 5_000 + i)).outcome === "ok";
      if (!back) await sleep(100);
    }
    assert.ok(back, "writes succeed again once Redis answers");
    assert.equal(
      (await b.get("s", "x")).value,
      (await a.get("s", "x")).value,
      "b reads a's write (read-your-writes across hosts)",
    );
    await waitFor(() => seen.length > resumed, 8_000, "b's watch to see the writes after SIGCONT");
    assert.equal(watchEnd, "open", "b's watch carried on through the freeze");

    // Round 2: frozen for less than the in-flight limit, longer than a command's timeout: the
    // commit in flight times out, and its outcome is looked up once Redis answers again.
    const mark = calls.length;
    beforeNextCommit(() => freeze(server.pid));
    const inFlight2 = timed(calls, "the atomic update in flight (round 2)", atomic(a, 2_000), 2_000);
    await sleep(CALL_MS + 2_000);
    process.kill(server.pid, "SIGCONT");
    const second = await inFlight2;
    assertBounded(calls.slice(mark), [second]);
    assert.equal(
      second.outcome,
      "ok",
      `the commit ran once Redis woke up, and its outcome was found: ${String(second.error)}`,
    );
    assert.ok(second.ms >= CALL_MS, `it was answered only after the freeze (${Math.round(second.ms)} ms)`);

    // Nothing acknowledged was lost; nothing reported not applied is there; the atomic updates stayed atomic.
    const xs = await committedValues(location, "x");
    const ys = await committedValues(location, "y");
    assertOutcomesHold(
      calls.filter((c) => !c.what.includes("compare-and-set")),
      xs,
    );
    assertOutcomesHold(
      calls.filter((c) => c.what.includes("compare-and-set")),
      ys,
    );
    for (const c of calls.filter((c) => c.what.includes("atomic") && c.value !== undefined)) {
      assert.equal(xs.has(c.value!), ys.has(c.value!), `${c.what}: both variables or neither`);
    }
    // The "unknown" one was in the frozen server's socket: it ran when Redis woke up, and every host shows it.
    assert.ok(xs.has(first.value!) && ys.has(first.value!), "the commit whose outcome was unknown ran after SIGCONT");
    await waitFor(() => a.currentRevision === b.currentRevision, 5_000, "both hosts to agree");
    const final = (await a.get("s", "x")).value;
    assert.equal((await b.get("s", "x")).value, final);
  });
});

describe("Redis killed and restarted", () => {
  test("calls while it is down fail at once or within 5 s; the commit in flight when it died is resolved once it is back; nothing acknowledged is lost", async () => {
    const location = `${server.url}?prefix=killed:`;
    const { store: a, afterNextCommit } = await hostWithHook(location);
    const b = await openStore(location, { historyLimit: 10_000 });
    opened.push(b);
    await a.createSession({ sessionId: "s" });
    await a.register("s", [
      { name: "x", type: "integer", initialValue: 0 },
      { name: "y", type: "integer", initialValue: 0 },
    ]);
    const seen: number[] = [];
    let watchEnd: unknown = "open";
    await b.watch(
      "s",
      { names: ["x"] },
      (m: WatchMessage) => m.kind === "commit" && seen.push(m.revision),
      (e) => (watchEnd = e),
    );
    const calls: Call[] = [];
    // The commit goes out, and Redis dies (kill -9) at once: it may or may not have run it.
    let restarted: Promise<void> | undefined;
    afterNextCommit(() => (restarted = server.restart({ kill: true, downMs: 2_000 })));
    const inFlight = timed(
      calls,
      "the atomic update in flight",
      () =>
        a.update(
          "s",
          [
            { name: "x", value: 1_000 },
            { name: "y", value: 1_000 },
          ],
          { atomic: true },
        ),
      1_000,
    );
    await waitFor(() => restarted !== undefined, 5_000, "the atomic update to go out");
    let up = false;
    void restarted!.then(() => (up = true));
    // While Redis is down (2 s) and starting again: sets and reads on both hosts.
    let value = 0;
    const others: Promise<Call>[] = [];
    while (!up) {
      const v = ++value;
      others.push(
        timed(calls, `a: set ${v}`, () => a.set("s", "x", v), v),
        timed(calls, `b: read`, () => b.get("s", "x")),
        timed(calls, `b: set ${v + 100}`, () => b.set("s", "x", v + 100), v + 100),
      );
      await sleep(300);
    }
    assert.ok(value >= 5, "calls were made while Redis was down");
    const first = await inFlight;
    await Promise.all(others);
    assertBounded(calls, [first]);
    assert.notEqual(
      first.outcome,
      "unknown",
      `Redis was back within the in-flight limit, so the outcome is known: ${String(first.error)}`,
    );
    let back = false;
    for (let i = 0; i < 100 && !back; i++) {
      back =
        (await timed(calls, "a: set after the restart", () => a.set("s", "x", 5_000 + i), 5_000 + i)).outcome === "ok";
      if (!back) await sleep(100);
    }
    assert.ok(back, "writes succeed again after the restart");
    const xs = await committedValues(location, "x");
    assertOutcomesHold(calls, xs);
    assert.equal(
      xs.has(1_000),
      (await committedValues(location, "y")).has(1_000),
      "the atomic update: both variables or neither",
    );
    await waitFor(
      () => seen.some((r) => r >= a.currentRevision) || watchEnd !== "open",
      8_000,
      "b's watch to see the writes after the restart",
    );
    if (watchEnd !== "open") assert.equal((watchEnd as { reason?: string }).reason, "compacted");
  });
});
