import type { Bridge } from "dspy-bridge";
declare const bridge: Bridge;
const r = await bridge.dspy.run({
  module: "Predict",
  signature: "text -> label: Literal['pos', 'neg']",
  inputs: { text: "?" },
});
if (r.fields.label === "neutral") console.log("never"); // error: TS2367
