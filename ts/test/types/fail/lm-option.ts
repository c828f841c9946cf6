import type { Bridge } from "dspy-bridge";
declare const bridge: Bridge;
bridge.dspy.configureLM({ model: "openai/gpt-4o-mini", api_base: "http://localhost" }); // error: TS2561
