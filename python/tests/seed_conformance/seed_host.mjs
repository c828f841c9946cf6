// The host of the seed-conformance tests: a real Bridge (TS API) with its bridge service on a
// Unix socket, one worker with DSPy preloaded and this directory's Python tools loaded. The
// Python tests reach it as any client does (SessionContext.connect(address, session, token))
// and ask this script, over stdin, for what the seeds' other side (Elixir there, TypeScript
// here) does: define or set variables, run a worker command (the adapter seed's Snakepit.execute).
//
// stdout: {"event":"ready","address","token"}, then one reply line per command.
// stdin: JSON lines {"id", "op": "define"|"set"|"open"|"execute", "session", ...}.
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import path from "node:path";

const [, , repo, listen, token, here] = process.argv;
const { Bridge } = await import(pathToFileURL(path.join(repo, "ts/dist/src/index.js")).href);

const bridge = await Bridge.start({ workers: 1, token, bridgeService: { listen }, modules: ["seed_tools"], pythonPath: [here] });
// A TypeScript tool (the seeds' "Elixir tool"), for the tool-bridge tests.
bridge.tools.register("ts_search", ({ query, limit = 2 }) => Array.from({ length: limit }, (_, i) => `${query} result ${i + 1}`), {
  description: "Searches (scripted)",
  parameters: { type: "object", properties: { query: { type: "string" }, limit: { type: "integer" } }, required: ["query"] },
});
bridge.tools.register("ts_fail", () => {
  throw new Error("the TypeScript tool failed");
});
const out = (msg) => process.stdout.write(JSON.stringify(msg) + "\n");
out({ event: "ready", address: bridge.address, token: bridge.secret });

async function run(cmd) {
  if (cmd.op === "execute") {
    // A worker command, as the seeds' host calls one (Snakepit.execute / execute_in_session).
    const options = cmd.session ? { session: cmd.session } : {};
    if (cmd.timeoutMs) options.timeoutMs = cmd.timeoutMs;
    return { result: await bridge.execute(cmd.command, cmd.args ?? {}, options) };
  }
  const session = await bridge.sessions.open(cmd.session);
  const vars = session.variables;
  switch (cmd.op) {
    case "open":
      return { session: session.id };
    case "define": {
      const info = await vars.define(cmd.name, cmd.type, cmd.value, cmd.options ?? {});
      return { revision: info.modifyRevision };
    }
    case "set": {
      const info = await vars.set(cmd.name, cmd.value, cmd.options ?? {});
      return { revision: info.modifyRevision };
    }
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch {
    return;
  }
  run(cmd).then(
    (result) => out({ id: cmd.id, ok: true, ...result }),
    (err) => out({ id: cmd.id, ok: false, error: String(err?.message ?? err), name: err?.name, reason: err?.reason, parameter: err?.parameter, pythonType: err?.pythonType }),
  );
});
rl.on("close", () => bridge.close().then(() => process.exit(0)));
const stop = () => bridge.close().then(() => process.exit(0), () => process.exit(1));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
