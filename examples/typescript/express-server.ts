// An Express server: each user gets a session (variables and programs of their own, on one
// worker), and a DSPy call is cancelled when its client disconnects (the Python task stops).
import { EventEmitter } from "node:events";
import express from "express";
import type { AddressInfo } from "node:net";
import { Bridge, CancelledError } from "dspy-bridge";

const bridge = await Bridge.start({ workers: 1, preload: ["dspy"] });
bridge.dspy.configureLM({ model: "scripted", latencyMs: 20 });
bridge.dspy.configureLM({ model: "scripted", latencyMs: 60_000 }, "slow"); // for the client that gives up

const started = new EventEmitter(); // "answering" (user): a DSPy call is in flight
const app = express();
app.use(express.json());

app.post("/users/:user/ask", async (req, res) => {
  const user = req.params.user;
  // One session per user (opened, or created on the first request), with its own program.
  const session = await bridge.sessions.open(user);
  if (!(await session.programs.list()).some((p) => p.programId === "qa")) {
    await session.programs.create("qa", { module: "ChainOfThought", signature: "question -> answer" });
  }
  // The client going away aborts the call; the worker cancels the DSPy task.
  const aborted = new AbortController();
  res.on("close", () => {
    if (!res.writableFinished) aborted.abort();
  });
  try {
    const lm = req.body.slow ? "slow" : "default";
    const answering = session.programs.execute("qa", { question: String(req.body.question) }, { signal: aborted.signal, lm });
    started.emit("answering", user);
    const r = await answering;
    res.json({ answer: r.fields.answer });
  } catch (err) {
    if (err instanceof CancelledError) console.log(`${user}'s call was cancelled: the client left`);
    else res.status(500).json({ error: (err as Error).message });
  }
});

const server = app.listen(0, "127.0.0.1");
await new Promise((resolve) => server.once("listening", resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const ask = (user: string, question: string, signal?: AbortSignal, slow = false) =>
  fetch(`${base}/users/${user}/ask`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ question, slow }), ...(signal ? { signal } : {}) });
console.log("alice:", await (await ask("alice", "What is 2+2?")).json());
console.log("bob:", await (await ask("bob", "What is 3+3?")).json());

const cancelled = new Promise<void>((resolve) => {
  const onCall = (e: { command: string; reason: string | undefined }) => {
    if (e.command === "dspy.execute_program" && e.reason === "cancelled") {
      bridge.off("call", onCall);
      resolve();
    }
  };
  bridge.on("call", onCall);
});
// A client that gives up while its (slow) answer is being computed: its call is cancelled.
const leaving = new AbortController();
started.once("answering", () => leaving.abort());
await ask("carol", "What is 9*9?", leaving.signal, true).catch(() => {});
await cancelled;

server.close();
await bridge.close();
