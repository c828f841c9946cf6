// The TypeScript side of the variable-aware module tests: a real host (Bridge.start with its
// bridge service on a Unix socket) whose session variables this script changes through the
// TS API (session.variables.define/set/update), on command from the Python tests.
//
// stdout: one JSON line {"event":"ready","address","token"}, then one reply line per command.
// stdin: JSON lines {"id", "op": "define"|"set"|"update"|"delete"|"stats"|"apply_configuration"|"sample_and_apply"|"configuration_values", "session", ...}.
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import path from "node:path";

const [, , repo, listen, token] = process.argv;
const { Bridge } = await import(pathToFileURL(path.join(repo, "ts/dist/src/index.js")).href);

const bridge = await Bridge.start({ workers: 1, preload: [], token, bridgeService: { listen } });
const out = (msg) => process.stdout.write(JSON.stringify(msg) + "\n");
out({ event: "ready", address: bridge.address, token: bridge.secret });

async function run(cmd) {
  const session = await bridge.sessions.open(cmd.session);
  const vars = session.variables;
  switch (cmd.op) {
    case "define": {
      const info = await vars.define(cmd.name, cmd.type, cmd.value, cmd.options ?? {});
      return { revision: info.modifyRevision };
    }
    case "set": {
      const info = await vars.set(cmd.name, cmd.value, cmd.options ?? {});
      return { revision: info.modifyRevision };
    }
    case "update": {
      const { revision } = await vars.update(cmd.values);
      return { revision };
    }
    case "open":
      return { session: session.id };
    case "apply_configuration": {
      const { version, revision } = await session.configurations.get(cmd.name).apply(cmd.values, cmd.metadata ?? {});
      return { version, revision };
    }
    case "sample_and_apply": {
      // what the seed's host-side optimizer does: sample the space, apply the sample
      const cfg = session.configurations.get(cmd.name);
      const values = cfg.sample(cmd.seed, 1).samples[0];
      const { version, revision } = await cfg.apply(values, { source: "sampler" });
      return { values, version, revision };
    }
    case "configuration_values":
      return { values: session.configurations.get(cmd.name).getCurrentValues() };
    case "delete":
      return { deleted: await vars.delete(...cmd.names) };
    case "stats":
      return { stats: await vars.stats(cmd.name) };
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
    (err) => out({ id: cmd.id, ok: false, error: String(err?.message ?? err), name: err?.name }),
  );
});
rl.on("close", () => bridge.close().then(() => process.exit(0)));
const stop = () => bridge.close().then(() => process.exit(0), () => process.exit(1));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
