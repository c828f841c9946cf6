import type { Session } from "dspy-bridge";
declare const session: Session;
const qa = await session.programs.create("qa", { module: "Predict", signature: "question -> answer" });
await qa.execute({ query: "?" }); // error: TS2353
