import type { Bridge } from "dspy-bridge";
import { z } from "zod";
declare const bridge: Bridge;
const r = await bridge.dspy.run({
  module: "Predict",
  signature: { inputs: z.object({ q: z.string() }), outputs: z.object({ n: z.number() }) },
  inputs: { q: "?" },
});
const s: string = r.fields.n; // error: TS2322
void s;
