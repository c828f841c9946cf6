// Session programs are data: their definition, bindings and compiled state are stored in the
// session store at each change, and any host's worker builds a program from its stored
// revision on first use. Two host processes share one Redis store (and, one after the other,
// one SQLite file): a program created and optimized through host A runs on host B with the
// same demos and instructions — the prompt B's worker sends is the prompt A's sent, byte for
// byte, to a real OpenAI-compatible HTTP server — also after A was killed with SIGKILL and
// after A re-optimized it. A worker killed or recycled rebuilds it from the store.
// Real workers and real DSPy throughout; the scripted LM compiles, the HTTP fixture answers runs.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";
import {
  AlreadyExistsError,
  Bridge,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  PayloadTooLargeError,
  VersionConflictError,
  type LMSpec,
} from "../src/index.js";
import { openStore } from "../src/store/index.js";
import { startOpenAIServer, type OpenAIServer, type RecordedRequest } from "./fixtures/openai-server.js";
import { fixturesDir, quietLogs, waitFor } from "./helpers.js";
import { backends } from "./store-backends.js";

const KEY_ENV = "FIXTURE_PROGRAMS_KEY";
// The scripted LM answers arithmetic correctly, so BootstrapFewShot keeps every sum as a demo.
const SUMS = [
  { question: "What is 1 + 2?", answer: "3" },
  { question: "What is 3 + 4?", answer: "7" },
  { question: "What is 5 + 6?", answer: "11" },
];
const OTHER_SUMS = [
  { question: "What is 10 + 20?", answer: "30" },
  { question: "What is 11 + 12?", answer: "23" },
];
const bootstrap = (trainset: Record<string, unknown>[]) => ({
  optimizer: "BootstrapFewShot",
  trainset,
  metric: "answer_exact_match",
  params: { max_bootstrapped_demos: 2, max_labeled_demos: 0 },
  lm: { model: "scripted" },
});
const copro = {
  optimizer: "COPRO",
  trainset: SUMS,
  metric: "answer_exact_match",
  lm: { model: "scripted" },
  promptLm: { model: "scripted/prompt" },
  params: { breadth: 2, depth: 1, init_temperature: 1.0, eval_kwargs: { num_threads: 1, display_progress: false } },
};

let server: OpenAIServer;
let lm: LMSpec;
const open: Bridge[] = [];
const peers: ChildProcess[] = [];
before(async () => {
  server = await startOpenAIServer();
  process.env[KEY_ENV] = "sk-test-programs"; // the workers, and the peer hosts', inherit it
  lm = { model: "openai/fixture", apiBase: server.url, apiKeyEnv: KEY_ENV, cache: false };
});
after(async () => {
  for (const p of peers) p.kill("SIGKILL");
  for (const b of open) await b.close();
  await server?.close();
});

async function startHost(store: string, options: Parameters<typeof Bridge.start>[0] = {}): Promise<Bridge> {
  const bridge = await Bridge.start({
    workers: 1,
    preload: ["dspy"],
    healthIntervalMs: 0,
    ...quietLogs,
    store,
    ...options,
  });
  open.push(bridge);
  return bridge;
}

interface Peer {
  child: ChildProcess;
  send(cmd: Record<string, unknown>): Promise<Record<string, unknown>>;
}

/** Host A: another process, driven by JSON lines (ts/test/fixtures/program-peer-host.mjs). */
async function startPeer(store: string): Promise<Peer> {
  const child = spawn(process.execPath, [join(fixturesDir, "program-peer-host.mjs"), store], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  peers.push(child);
  const lines = createInterface({ input: child.stdout! });
  const waiting: ((line: string | undefined) => void)[] = [];
  lines.on("line", (line) => waiting.shift()?.(line));
  lines.on("close", () => {
    for (const w of waiting.splice(0)) w(undefined);
  });
  const next = async () => {
    const line = await new Promise<string | undefined>((resolve) => waiting.push(resolve));
    if (line === undefined) throw new Error("host A exited");
    return JSON.parse(line) as Record<string, unknown>;
  };
  const ready = next();
  assert.equal((await ready).event, "ready");
  return {
    child,
    send: async (cmd) => {
      const answer = next();
      child.stdin!.write(`${JSON.stringify(cmd)}\n`);
      const m = await answer;
      if (m.error) throw new Error(`host A: ${JSON.stringify(m.error)}`);
      return m;
    },
  };
}

/** Kills host A with SIGKILL and waits until it is gone (its SQLite lock released with it). */
async function kill(peer: Peer): Promise<void> {
  const exited = new Promise((resolve) => peer.child.once("exit", resolve));
  peer.child.kill("SIGKILL");
  await exited;
}

/** The messages of the one chat request `run` makes: the prompt, demos and instructions included. */
async function promptOf(run: () => Promise<unknown>): Promise<{ messages: unknown[]; result: unknown }> {
  server.reset();
  const result = await run();
  const chats: RecordedRequest[] = server.chatRequests();
  assert.equal(chats.length, 1, "one LM call");
  return { messages: chats[0]!.body.messages as unknown[], result };
}

type Saved = { state: { demos: Record<string, unknown>[]; signature: { instructions: string } } };

describe("program records in the store, on every backend", () => {
  for (const backend of backends) {
    test(`${backend.name}: stored at each change with a revision, kept across a restart, gone with the session`, async () => {
      const location = backend.fresh();
      let store = await backend.open(location);
      try {
        await store.createSession({ sessionId: "p" });
        const definition = { module: "Predict", signature: "q -> a", state: { demos: [{ q: "1", a: "2" }] } };
        const first = await store.putProgram({
          sessionId: "p",
          programId: "qa",
          etag: "e1",
          definition,
          expectRevision: null,
        });
        assert.equal(first.revision, 1);
        assert.equal(first.bytes, Buffer.byteLength(JSON.stringify(definition)));
        definition.state.demos.push({ q: "mutated", a: "by the caller" });
        assert.equal(
          ((await store.getProgram("p", "qa"))!.definition.state as { demos: unknown[] }).demos.length,
          1,
          "the stored definition is a copy",
        );
        await assert.rejects(
          store.putProgram({ sessionId: "p", programId: "qa", etag: "e2", definition, expectRevision: null }),
          AlreadyExistsError,
        );
        await assert.rejects(
          store.putProgram({ sessionId: "p", programId: "qa", etag: "e2", definition, expectRevision: 7 }),
          VersionConflictError,
        );
        const second = await store.putProgram({
          sessionId: "p",
          programId: "qa",
          etag: "e2",
          definition,
          expectRevision: 1,
        });
        assert.deepEqual([second.revision, second.createdAtMs], [2, first.createdAtMs]);
        await store.putProgram({ sessionId: "p", programId: "gone", etag: "e3", definition: { module: "Predict" } });
        assert.equal(await store.deleteProgram("p", "gone"), true);
        assert.equal(await store.deleteProgram("p", "gone"), false);
        if (backend.name !== "memory") {
          await store.close();
          store = await backend.open(location); // a restart: the programs come back from the backend
        }
        const listed = await store.listPrograms("p");
        assert.deepEqual(
          listed.map((r) => [r.programId, r.revision, r.etag]),
          [["qa", 2, "e2"]],
        );
        assert.deepEqual(listed[0]!.definition, definition);
        const again = await store.putProgram({ sessionId: "p", programId: "gone", etag: "e4", definition: {} });
        assert.equal(again.revision, 1, "a deleted id starts again (its new etag tells the copies apart)");
        assert.equal(await store.deleteSession("p"), true);
        await store.createSession({ sessionId: "p" });
        assert.deepEqual(await store.listPrograms("p"), [], "deleted with its session");
      } finally {
        await store.close();
      }
    });
  }

  test("a program over maxValueBytes is refused, naming the limit", async () => {
    const store = await openStore("memory", { maxValueBytes: 1_000 });
    try {
      await store.createSession({ sessionId: "p" });
      await assert.rejects(
        store.putProgram({ sessionId: "p", programId: "big", etag: "e", definition: { text: "x".repeat(2_000) } }),
        (err: unknown) => err instanceof PayloadTooLargeError && /maxValueBytes/.test(err.message),
      );
      await assert.rejects(
        store.putProgram({ sessionId: "p", programId: "", etag: "e", definition: {} }),
        InvalidArgumentError,
      );
    } finally {
      await store.close();
    }
  });
});

describe("two host processes on one Redis store", () => {
  const location = backends.find((b) => b.name === "redis")!.fresh();
  let a: Peer;
  let b: Bridge;
  before(async () => {
    [a, b] = await Promise.all([startPeer(location), startHost(location)]);
  });

  test("a program created and optimized through host A runs on host B with the same compiled state", async () => {
    await a.send({ op: "create", session: "s1", program: "qa", module: "Predict", signature: "question -> answer" });
    const optimized = await a.send({ op: "optimize", session: "s1", program: "qa", options: bootstrap(SUMS) });
    const saved = optimized.saved as Saved;
    assert.equal(optimized.revision, 2, "created (1), then compiled (2)");
    assert.equal(saved.state.demos.length, 2, "BootstrapFewShot kept two demos");

    const session = await b.sessions.get("s1");
    assert.deepEqual(await session.programs.save("qa"), saved, "host B reads the compiled state host A stored");
    const [info] = await session.programs.list();
    assert.equal(info!.revision, 2);
    assert.equal(info!.runs, 0, "host B's worker has not run it yet");

    const question = { question: "What is 6 + 7?" };
    const onA = await promptOf(() => a.send({ op: "execute", session: "s1", program: "qa", inputs: question, lm }));
    const onB = await promptOf(() => session.programs.execute("qa", question, { lm }));
    assert.deepEqual(onB.messages, onA.messages, "host B's worker sent host A's prompt, demos and all");
    assert.equal(
      onA.messages.length,
      2 + 2 * 2,
      "system, two demos (a user and an assistant message each), the question",
    );
    assert.deepEqual((onB.result as { fields: unknown }).fields, (onA.result as { fields: unknown }).fields);
    assert.equal((await session.programs.list())[0]!.runs, 1, "built once by host B's worker, then run");
    // The second run uses the worker's copy (nothing to rebuild) and sends the same prompt.
    assert.deepEqual((await promptOf(() => session.programs.execute("qa", question, { lm }))).messages, onA.messages);
  });

  test("after host A re-optimizes, host B runs the new revision (no stale copy)", async () => {
    const session = await b.sessions.get("s1");
    const question = { question: "What is 8 + 9?" };
    const before = await promptOf(() => session.programs.execute("qa", question, { lm }));
    const optimized = await a.send({ op: "optimize", session: "s1", program: "qa", options: copro });
    const instructions = (optimized.saved as Saved).state.signature.instructions;
    assert.match(instructions, /proposed_instruction/, "COPRO's instruction");
    assert.equal(optimized.revision, 3);

    const onB = await promptOf(() => session.programs.execute("qa", question, { lm }));
    const onA = await promptOf(() => a.send({ op: "execute", session: "s1", program: "qa", inputs: question, lm }));
    assert.notDeepEqual(onB.messages, before.messages, "host B's worker did not keep the old revision");
    assert.deepEqual(onB.messages, onA.messages);
    assert.ok(
      JSON.stringify(onB.messages[0]).includes(instructions.slice(0, 40)),
      "the new instruction is in host B's prompt",
    );
    assert.equal((await session.programs.list())[0]!.revision, 3);

    // And the other way: host B compiles again (new demos), host A runs what B stored.
    const job = await session.programs.optimize("qa", bootstrap(OTHER_SUMS)).result;
    assert.deepEqual(
      (job.saved as Saved).state.demos.map((d) => d.question),
      OTHER_SUMS.map((s) => s.question),
    );
    const again = await promptOf(() => session.programs.execute("qa", question, { lm }));
    const onA2 = await promptOf(() => a.send({ op: "execute", session: "s1", program: "qa", inputs: question, lm }));
    assert.deepEqual(onA2.messages, again.messages);
    assert.ok(JSON.stringify(again.messages).includes("What is 10 + 20?"), "the new demos");
  });

  test("a program's id is one per session across hosts: create refuses an existing one, delete removes it everywhere", async () => {
    const session = await b.sessions.get("s1");
    await assert.rejects(
      session.programs.create("qa", { module: "Predict", signature: "question -> answer" }),
      AlreadyExistsError,
    );
    await a.send({ op: "create", session: "s1", program: "doomed", module: "Predict", signature: "q -> a" });
    await session.programs.execute("doomed", { q: "x" }, { lm }); // held by B's worker now
    assert.equal(await session.programs.delete("doomed"), true);
    await assert.rejects(
      a.send({ op: "execute", session: "s1", program: "doomed", inputs: { q: "x" }, lm }),
      /NotFoundError/,
    );
    await assert.rejects(session.programs.execute("doomed", { q: "x" }, { lm }), NotFoundError);
  });

  test("host A killed with SIGKILL: host B serves its programs, bound variables included", async () => {
    await a.send({
      op: "create",
      session: "s2",
      program: "bound",
      module: "ChainOfThought",
      signature: "question -> answer",
      variables: { temperature: 0.3 },
      bindings: { temperature: "temperature" },
    });
    const optimized = await a.send({ op: "optimize", session: "s2", program: "bound", options: bootstrap(SUMS) });
    const question = { question: "What is 2 + 5?" };
    const onA = await promptOf(() => a.send({ op: "execute", session: "s2", program: "bound", inputs: question, lm }));
    await kill(a);

    const session = await b.sessions.get("s2");
    assert.deepEqual(await session.programs.save("bound"), optimized.saved);
    const onB = await promptOf(() => session.programs.execute("bound", question, { lm }));
    assert.deepEqual(onB.messages, onA.messages, "the program host A compiled, built by host B's worker");
    const r = onB.result as { lmCalls: { temperature: number }[] };
    assert.equal(r.lmCalls[0]!.temperature, 0.3, "its binding holds on host B");
    await session.variables.set("temperature", 0.8);
    const later = await session.programs.execute("bound", question, { lm });
    assert.equal(later.lmCalls[0]!.temperature, 0.8);
    assert.equal(server.chatRequests().at(-1)!.body.temperature, 0.8, "the bound variable reached the provider");
  });
});

describe("one SQLite file, one host after the other", () => {
  test("a program host A created and optimized runs on host B after A was killed with SIGKILL", async () => {
    const location = backends.find((b) => b.name === "sqlite")!.fresh();
    const a = await startPeer(location);
    await a.send({ op: "create", session: "s", program: "qa", module: "Predict", signature: "question -> answer" });
    const optimized = await a.send({ op: "optimize", session: "s", program: "qa", options: bootstrap(SUMS) });
    const question = { question: "What is 4 + 4?" };
    const onA = await promptOf(() => a.send({ op: "execute", session: "s", program: "qa", inputs: question, lm }));
    await kill(a); // releases the file's exclusive lock

    const b = await startHost(location);
    const session = await b.sessions.get("s");
    assert.deepEqual(await session.programs.save("qa"), optimized.saved);
    const onB = await promptOf(() => session.programs.execute("qa", question, { lm }));
    assert.deepEqual(onB.messages, onA.messages);
    assert.deepEqual((onB.result as { fields: unknown }).fields, (onA.result as { fields: unknown }).fields);
  });
});

describe("a worker that goes away loses no program", () => {
  const workerPid = (bridge: Bridge, sessionId: string): number | undefined => {
    const id = bridge.workerForSession(sessionId);
    return bridge.stats().workers.find((w) => w.id === id && w.state === "ready")?.pid;
  };

  test("killed with SIGKILL: the replacement builds the program from the store, same prompt and answer", async () => {
    const bridge = await startHost("memory");
    const session = await bridge.sessions.create({ id: "w1" });
    await session.programs.create("qa", { module: "Predict", signature: "question -> answer" });
    await session.programs.optimize("qa", bootstrap(SUMS)).result;
    const question = { question: "What is 3 + 3?" };
    const first = await promptOf(() => session.programs.execute("qa", question, { lm }));
    const pid = workerPid(bridge, "w1")!;
    process.kill(pid, "SIGKILL");
    await waitFor(
      () => workerPid(bridge, "w1") !== undefined && workerPid(bridge, "w1") !== pid,
      10_000,
      "a replacement worker",
    );
    // A stream first: the new worker asks for the definition before its first item, the host sends it again.
    const streamed = await promptOf(async () => {
      const items = [];
      for await (const item of session.programs.stream("qa", question, { lm })) items.push(item);
      return items.at(-1);
    });
    assert.deepEqual(streamed.messages, first.messages);
    assert.deepEqual((streamed.result as { fields: unknown }).fields, (first.result as { fields: unknown }).fields);
    const again = await promptOf(() => session.programs.execute("qa", question, { lm }));
    assert.deepEqual(again.messages, first.messages);
    assert.deepEqual((again.result as { fields: unknown }).fields, (first.result as { fields: unknown }).fields);
    assert.equal((await session.programs.list())[0]!.runs, 2, "the new worker's copy, run twice");
  });

  test("recycled: the new worker builds it from the store", async () => {
    const bridge = await startHost("memory", { recycle: { maxRequests: 3 } });
    const recycled: string[] = [];
    bridge.on("worker", (e) => e.type === "recycling" && recycled.push(e.detail));
    const session = await bridge.sessions.create({ id: "w2" });
    await session.programs.create("qa", { module: "Predict", signature: "question -> answer" });
    const job = await session.programs.optimize("qa", bootstrap(SUMS)).result;
    const question = { question: "What is 9 + 1?" };
    const first = await promptOf(() => session.programs.execute("qa", question, { lm }));
    const seen = recycled.length;
    for (let i = 0; i < 4; i++) {
      const again = await promptOf(() => session.programs.execute("qa", question, { lm }));
      assert.deepEqual(again.messages, first.messages, `run ${i + 1}`);
    }
    assert.ok(recycled.length > seen, "the worker was recycled between the runs");
    assert.deepEqual(await session.programs.save("qa"), job.saved);
  });

  test("an optimizer job whose program changed meanwhile fails, its result discarded", async () => {
    const bridge = await startHost("memory");
    const session = await bridge.sessions.create({ id: "w3" });
    await session.programs.create("qa", { module: "Predict", signature: "question -> answer" });
    const slow = { ...copro, lm: { model: "scripted", latencyMs: 100 } };
    // Changed through this host (its worker sees the program replaced under the job) ...
    let job = session.programs.optimize("qa", slow);
    await job.started;
    await session.programs.load("qa", await session.programs.save("qa"));
    await assert.rejects(job.result, (err: unknown) => {
      assert.ok(err instanceof FailedPreconditionError, String(err));
      assert.match(err.message, /was deleted or replaced while COPRO ran/);
      return true;
    });
    // ... or through another host sharing the store (this worker does not know): the store refuses it.
    job = session.programs.optimize("qa", slow);
    await job.started;
    const current = (await bridge.store.getProgram("w3", "qa"))!;
    await bridge.store.putProgram({
      sessionId: "w3",
      programId: "qa",
      etag: "elsewhere",
      definition: current.definition,
    });
    await assert.rejects(job.result, VersionConflictError);
    const [info] = await session.programs.list();
    assert.equal(info!.revision, 3, "created, loaded, written elsewhere: neither job's result was stored");
    assert.deepEqual(await session.programs.save("qa"), current.definition);
  });
});
