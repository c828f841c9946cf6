import type { Session } from "dspy-bridge";
declare const session: Session;
await session.variables.define("temperature", "floot", 0.2); // error: TS2345
