// The quick tour, offline: calls, a typed signature, session variables bound to a program.
// Run: npm test runs it (ts/test/examples.test.ts); by hand, compile with tsc and run with node.
import { Bridge, TimeoutError } from "dspy-bridge";

await using bridge = await Bridge.start({ workers: 1, preload: ["dspy"] });
bridge.dspy.configureLM({ model: "scripted" }); // the deterministic offline LM

console.log(await bridge.execute("ping")); // { ok: true }
try {
  await bridge.execute("sleep", { seconds: 10 }, { timeoutMs: 100 }); // the Python task is cancelled
} catch (err) {
  if (err instanceof TimeoutError) console.log("timed out:", err.timeoutMs, "ms");
}

// Fields typed from the signature: `answer` is a number, `reasoning` a string.
const r = await bridge.dspy.run({ module: "ChainOfThought", signature: "question -> answer: int", inputs: { question: "What is 6*7?" } });
const answer: number = r.fields.answer;
console.log(answer, "-", r.fields.reasoning);

const session = await bridge.sessions.create({ id: "user-42" });
await session.variables.define("temperature", "float", 0.2, { constraints: { min: 0, max: 2 } });
const qa = await session.programs.create("qa", { module: "Predict", signature: "question -> answer", bindings: { temperature: "temperature" } });
await session.variables.set("temperature", 0.9);
const { lmCalls } = await qa.execute({ question: "Why is the sky blue?" });
console.log("the LM call saw temperature", lmCalls[0]?.temperature); // 0.9
