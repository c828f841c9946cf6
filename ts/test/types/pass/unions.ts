// Closed unions: error reasons, variable types with their values, module names, LM options.
import {
  Bridge,
  BridgeError,
  TimeoutError,
  type ErrorReason,
  type LMOptionName,
  type ModuleName,
  type Session,
} from "dspy-bridge";

declare const session: Session;
declare const bridge: Bridge;

export function reasons(err: unknown): string {
  if (err instanceof TimeoutError) {
    const reason: "timeout" = err.reason;
    return reason;
  }
  if (err instanceof BridgeError) {
    switch (err.reason) {
      case "rate_limited":
      case "queue_full":
        return "retry";
      default:
        return err.reason;
    }
  }
  const known: ErrorReason = "worker_crashed";
  return known;
}

export async function variables(): Promise<void> {
  await session.variables.define("temperature", "float", 0.2, { constraints: { min: 0, max: 2 } });
  await session.variables.define("n", "int", 3);
  await session.variables.define("name", "string", "x");
  await session.variables.define("flag", "bool", true);
  await session.variables.define("tags", "list", ["a"]);
  await session.variables.define("cfg", "map", { a: 1 });
  await session.variables.define("vec", "embedding", new Float32Array([0.1]));
  await session.variables.define("m", "module", "ChainOfThought");
}

export async function lifecycle(): Promise<void> {
  await using disposable = await Bridge.start({ unref: true });
  void disposable;
  const modules: ModuleName[] = ["Predict", "my_pkg.MyModule"];
  const option: LMOptionName = "apiBase";
  void [modules, option, bridge];
}
