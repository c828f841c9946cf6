// Typed signatures at run time, against real DSPy in real workers (the scripted LM is the only
// stand-in): the TypeScript types the compiler infers (test/types/) are what DSPy returns, and
// a schema signature (zod here, any Standard Schema library in general) becomes a DSPy
// signature with its types and descriptions, its outputs validated.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { z } from "zod";
import { Bridge, InvalidArgumentError, ParseError } from "../src/index.js";
import { quietLogs } from "./helpers.js";

let bridge: Bridge;
before(async () => {
  bridge = await Bridge.start({ workers: 1, healthIntervalMs: 0, preload: ["dspy"], ...quietLogs });
  bridge.dspy.configureLM({ model: "scripted" });
});
after(() => bridge.close());

describe("string signatures: what DSPy returns for each field type", () => {
  test("float, int, bool, list[int], dict[str, int], Literal and Optional come back as the inferred TypeScript types", async () => {
    const r = await bridge.dspy.run({
      module: "ChainOfThought",
      signature:
        "question -> score: float, count: int, ok: bool, ids: list[int], tags: dict[str, int], label: Literal['yes', 'no'], maybe: Optional[int], note",
      inputs: { question: "What?" },
      lm: {
        model: "scripted",
        responses: [
          {
            reasoning: "r",
            score: 0.25,
            count: 3,
            ok: true,
            ids: [1, 2],
            tags: { a: 1 },
            label: "no",
            maybe: null,
            note: "n",
          },
        ],
      },
    });
    const f = r.fields;
    // Each assignment is checked by the compiler (a wrong one would not build), each value here.
    const score: number = f.score;
    const count: number = f.count;
    const ok: boolean = f.ok;
    const ids: number[] = f.ids;
    const tags: Record<string, number> = f.tags;
    const label: "yes" | "no" = f.label;
    const maybe: number | null = f.maybe;
    const note: string = f.note;
    const reasoning: string = f.reasoning;
    assert.deepEqual(
      { score, count, ok, ids, tags, label, maybe, note, reasoning },
      {
        score: 0.25,
        count: 3,
        ok: true,
        ids: [1, 2],
        tags: { a: 1 },
        label: "no",
        maybe: null,
        note: "n",
        reasoning: "r",
      },
    );
  });

  test("the default answers of the scripted LM are parsed by DSPy to each type (a float field is a number)", async () => {
    const r = await bridge.dspy.run({
      module: "Predict",
      signature: "question -> score: float, ids: list[int], label: Literal['yes', 'no']",
      inputs: { question: "What?" },
    });
    assert.equal(typeof r.fields.score, "number");
    assert.ok(Array.isArray(r.fields.ids) && r.fields.ids.every((n) => Number.isInteger(n)));
    assert.ok(["yes", "no"].includes(r.fields.label));
  });

  test("a program handle is typed by its signature and runs by its id", async () => {
    const session = await bridge.sessions.create();
    const qa = await session.programs.create("qa", { module: "ChainOfThought", signature: "question -> answer: int" });
    const r = await qa.execute({ question: "2+2?" });
    const answer: number = r.fields.answer;
    assert.equal(answer, 4);
    assert.equal(typeof r.fields.reasoning, "string");
    let last: number | undefined;
    for await (const item of qa.stream({ question: "3+3?" })) if (item.type === "prediction") last = item.fields.answer;
    assert.equal(last, 6);
    assert.equal((await session.programs.execute("qa", { question: "1+1?" })).fields.answer, 2);
  });
});

describe("schema signatures (zod)", () => {
  const Inputs = z.object({ question: z.string().describe("a question about arithmetic") });
  const Outputs = z
    .object({
      answer: z.number().int().describe("the result as a whole number"),
      confidence: z.number().min(0).max(1),
      unit: z.enum(["none", "meters"]).optional(),
    })
    .describe("Answer the question with a number.");

  test("the schema becomes a typed DSPy signature with its descriptions and instructions", async () => {
    const session = await bridge.sessions.create();
    const program = await session.programs.create("math", {
      module: "Predict",
      signature: { inputs: Inputs, outputs: Outputs },
    });
    assert.deepEqual(program.signature, {
      signature: 'question: str -> answer: int, confidence: float, unit: Optional[Literal["none", "meters"]]',
      instructions: "Answer the question with a number.",
      descriptions: { question: "a question about arithmetic", answer: "the result as a whole number" },
    });
    // DSPy's own state of the program: the descriptions and instructions reached its signature.
    const saved = JSON.stringify(await session.programs.save("math"));
    assert.match(saved, /the result as a whole number/);
    assert.match(saved, /a question about arithmetic/);
    assert.match(saved, /Answer the question with a number\./);
    // The scripted LM answers the arithmetic; DSPy parses the text of each field to its type.
    const r = await program.execute(
      { question: "6*7?" },
      { lm: { model: "scripted", responses: [{ answer: "42", confidence: "0.5", unit: "meters" }] } },
    );
    const answer: number = r.fields.answer;
    const unit: "none" | "meters" | undefined = r.fields.unit;
    assert.deepEqual(
      { answer, confidence: r.fields.confidence, unit },
      { answer: 42, confidence: 0.5, unit: "meters" },
    );
  });

  test("bridge.dspy.run with a schema signature returns the validated outputs", async () => {
    const r = await bridge.dspy.run({
      module: "ChainOfThought",
      signature: { inputs: Inputs, outputs: Outputs },
      inputs: { question: "2+3?" },
      lm: { model: "scripted", responses: [{ reasoning: "adding", answer: 5, confidence: 0.9, unit: "none" }] },
    });
    assert.deepEqual(r.fields, { reasoning: "adding", answer: 5, confidence: 0.9, unit: "none" });
  });

  test("an output that does not fit the schema is a ParseError naming the field", async () => {
    await assert.rejects(
      bridge.dspy.run({
        module: "Predict",
        signature: { inputs: Inputs, outputs: Outputs },
        inputs: { question: "2+3?" },
        lm: { model: "scripted", responses: [{ answer: 5, confidence: 7 }] },
      }),
      (err: unknown) => {
        assert.ok(err instanceof ParseError, String(err));
        assert.equal(err.reason, "parse_error");
        assert.match(err.message, /output field 'confidence'/);
        assert.equal(err.details.field, "confidence");
        return true;
      },
    );
  });

  test("inputs that do not fit the schema are refused before any LM call, naming the field", async () => {
    await assert.rejects(
      bridge.dspy.run({
        module: "Predict",
        signature: { inputs: Inputs, outputs: Outputs },
        inputs: { question: 42 as unknown as string },
      }),
      (err: unknown) =>
        err instanceof InvalidArgumentError &&
        err.parameter === "inputs.question" &&
        /input field 'question'/.test(err.message),
    );
  });

  test("a schema that cannot describe itself as JSON Schema is refused with what is needed", async () => {
    const validateOnly = {
      "~standard": { version: 1 as const, vendor: "custom", validate: (v: unknown) => ({ value: v }) },
    };
    await assert.rejects(
      bridge.dspy.run({
        module: "Predict",
        signature: { inputs: validateOnly, outputs: validateOnly } as never,
        inputs: {} as never,
      }),
      (err: unknown) => err instanceof InvalidArgumentError && /Standard JSON Schema/.test(err.message),
    );
  });
});
