import type { Bridge } from "dspy-bridge";
declare const bridge: Bridge;
await bridge.dspy.run({ module: "Predict", signature: "question, context -> answer", inputs: { question: "?" } }); // error: TS2741
