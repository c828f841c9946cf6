import type { Bridge } from "dspy-bridge";
declare const bridge: Bridge;
const r = await bridge.dspy.run({ module: "Predict", signature: "question -> answer", inputs: { question: "?" } });
void r.fields.reasoning; // error: TS2339
