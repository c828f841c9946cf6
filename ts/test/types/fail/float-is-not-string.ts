import type { Bridge } from "dspy-bridge";
declare const bridge: Bridge;
const r = await bridge.dspy.run({
  module: "Predict",
  signature: "question -> answer: float",
  inputs: { question: "?" },
});
const s: string = r.fields.answer; // error: TS2322
void s;
