// `dspy-bridge serve`: a host that outside Python clients reach with SessionContext.connect.
// Prints one JSON line {"event":"ready","address":...} on stdout when ready; stops on
// SIGINT/SIGTERM after draining.
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { Bridge } from "../pool/index.js";

export interface ServeFlags {
  listen: string | undefined;
  workers: number;
  tokenFile: string | undefined;
  preload: string[] | undefined;
  modules: string[];
  pythonPath: string[];
  /** memory (default), sqlite:PATH or redis://HOST:PORT/DB */
  store?: string | undefined;
}

export async function runServe(flags: ServeFlags): Promise<number> {
  let token = process.env.DSPY_BRIDGE_TOKEN;
  if (!token) {
    token = randomBytes(32).toString("base64url");
    if (!flags.tokenFile) {
      console.error("dspy-bridge serve: no DSPY_BRIDGE_TOKEN set; pass --token-file PATH to receive the generated secret");
      return 2;
    }
  }
  if (flags.tokenFile) writeFileSync(flags.tokenFile, `${token}\n`, { mode: 0o600 });
  const bridge = await Bridge.start({
    workers: flags.workers,
    token,
    ...(flags.preload ? { preload: flags.preload } : {}),
    modules: flags.modules,
    pythonPath: flags.pythonPath,
    ...(flags.store ? { store: flags.store } : {}),
    ...(flags.listen ? { bridgeService: { listen: flags.listen } } : {}),
    onLog: (e) => process.stderr.write(`[${e.source}] ${e.line}\n`),
  });
  console.log(
    JSON.stringify({
      event: "ready",
      address: bridge.address,
      pid: process.pid,
      workers: flags.workers,
      store: bridge.store.backendKind,
      ...(flags.tokenFile ? { token_file: flags.tokenFile } : {}),
    }),
  );
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  await bridge.close();
  console.log(JSON.stringify({ event: "stopped" }));
  return 0;
}
