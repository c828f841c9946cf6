// A signature given as zod schemas: the DSPy signature gets their types and descriptions, the
// inputs are checked before the call and the outputs after (a mismatch is a ParseError).
import { Bridge, ParseError } from "dspy-bridge";
import { z } from "zod";

const Triage = {
  inputs: z.object({ ticket: z.string().describe("a customer's support ticket") }),
  outputs: z.object({
    category: z.enum(["billing", "bug", "other"]).describe("where the ticket goes"),
    urgency: z.number().int().min(1).max(5).describe("1 (low) to 5 (now)"),
  }),
  instructions: "Triage the support ticket.",
};

await using bridge = await Bridge.start({ workers: 1, preload: ["dspy"] });
// Offline: the scripted LM answers with these fields (a real model would read the descriptions).
bridge.dspy.configureLM({ model: "scripted", responses: [{ category: "billing", urgency: 4 }, { category: "billing", urgency: 9 }] });

const r = await bridge.dspy.run({ module: "Predict", signature: Triage, inputs: { ticket: "I was charged twice." } });
const category: "billing" | "bug" | "other" = r.fields.category;
console.log(category, r.fields.urgency); // billing 4

try {
  await bridge.dspy.run({ module: "Predict", signature: Triage, inputs: { ticket: "Charged twice again!" } });
} catch (err) {
  if (err instanceof ParseError) console.log("refused:", err.details.field); // urgency (9 > 5)
}
