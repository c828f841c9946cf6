import type { Session } from "dspy-bridge";
declare const session: Session;
await session.variables.define("temperature", "float", "0.2"); // error: TS2345
