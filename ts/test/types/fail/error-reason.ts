import type { TimeoutError } from "dspy-bridge";
declare const err: TimeoutError;
if (err.reason === "timed_out") console.log("never"); // error: TS2367
