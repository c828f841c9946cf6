// A DSPy optimizer job with progress: BootstrapFewShot compiles a program in the session's
// worker; progress arrives as the job runs; the compiled program replaces the original.
import { Bridge } from "dspy-bridge";

await using bridge = await Bridge.start({ workers: 1, preload: ["dspy"] });
bridge.dspy.configureLM({ model: "scripted" });
const session = await bridge.sessions.create();
await session.programs.create("math", { module: "Predict", signature: "question -> answer" });

const trainset = [
  { question: "What is 2+2?", answer: "4" },
  { question: "What is 3+5?", answer: "8" },
  { question: "What is 7*6?", answer: "42" },
];
const job = session.programs.optimize("math", { optimizer: "BootstrapFewShot", trainset, metric: "exact_match", params: { max_bootstrapped_demos: 2 } });
for await (const p of job) console.log(`progress: ${p.evaluations}/${p.expected ?? "?"} metric calls`);
const result = await job.result;
console.log("best score", result.bestScore);
