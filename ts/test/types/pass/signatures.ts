// Types inferred from string signatures and schemas: each line compiles as written.
import type { Bridge, Program, SignatureInputs, SignatureOutputs } from "dspy-bridge";
import { z } from "zod";

declare const bridge: Bridge;

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const check = <T extends true>(_proof?: T): void => {};

check<Equal<SignatureInputs<"question -> answer">, { question: string }>>();
check<Equal<SignatureOutputs<"q -> answer: float">, { answer: number }>>();
check<
  Equal<
    SignatureOutputs<"q -> ids: list[int], tags: dict[str, list[str]]">,
    { ids: number[]; tags: Record<string, string[]> }
  >
>();
check<Equal<SignatureOutputs<"q -> label: Literal['yes', \"no\", 3]">, { label: "yes" | "no" | 3 }>>();
check<
  Equal<
    SignatureOutputs<"q -> a: Optional[int], b: str | None, c: bool">,
    { a: number | null; b: string | null; c: boolean }
  >
>();
check<
  Equal<
    SignatureInputs<"context: list[str], hint: Optional[str] -> answer">,
    { context: string[]; hint?: string | null }
  >
>();
// A signature that is not a literal gives the open record, never a wrong type.
check<Equal<SignatureOutputs<string>, Record<string, unknown>>>();

export async function strings(): Promise<void> {
  const r = await bridge.dspy.run({
    module: "ChainOfThought",
    signature: "question -> answer: float",
    inputs: { question: "?" },
  });
  const answer: number = r.fields.answer;
  const reasoning: string = r.fields.reasoning;
  const react = await bridge.dspy.run({
    module: "ReAct",
    signature: "question -> answer",
    inputs: { question: "?" },
    config: { tools: ["search"] },
  });
  const trajectory: Record<string, unknown> = react.fields.trajectory;
  const mcc = await bridge.dspy.run({
    module: "MultiChainComparison",
    signature: "question -> answer",
    inputs: { question: "?" },
  });
  const rationale: string = mcc.fields.rationale;
  // A user's module: any name, the outputs still typed, other fields open.
  const custom = await bridge.dspy.run({
    module: "my_pkg.Summarize",
    signature: "text -> summary",
    inputs: { text: "..." },
  });
  const summary: string = custom.fields.summary;
  const extra: unknown = custom.fields.anything;
  for await (const item of bridge.dspy.stream({ module: "Predict", signature: "q -> n: int", inputs: { q: "?" } })) {
    if (item.type === "prediction") {
      const n: number = item.fields.n;
      void n;
    }
  }
  void [answer, reasoning, trajectory, rationale, summary, extra];
}

export async function programs(): Promise<void> {
  const session = await bridge.sessions.create();
  const qa = await session.programs.create("qa", { module: "ChainOfThought", signature: "question -> answer: int" });
  const r = await qa.execute({ question: "2+2?" });
  const answer: number = r.fields.answer;
  const typed: Program<{ question: string }, { answer: number; reasoning: string }> = qa;
  void [answer, typed];
}

export async function schemas(): Promise<void> {
  const signature = {
    inputs: z.object({ question: z.string() }),
    outputs: z.object({ answer: z.number(), unit: z.enum(["m", "s"]).optional() }),
  };
  const r = await bridge.dspy.run({ module: "Predict", signature, inputs: { question: "?" } });
  const answer: number = r.fields.answer;
  const unit: "m" | "s" | undefined = r.fields.unit;
  void [answer, unit];
}
