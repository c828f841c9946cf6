// A host whose one worker runs watch_worker_commands.py, for test_watch_in_worker.py (argv:
// the built index.js, the listen address, the commands' directory, the workers' Python, and
// the store: "memory" for one whose event log keeps three commits, or a Redis URL). The
// workers run the Python given, which imports the same dspy_bridge as the test that started
// this host (in a mutation run, mutmut's mutated copy).
//
// stdout: {"event":"ready","address","token"}, then one reply line per command.
// stdin: JSON lines {"id", "command", "args", "session"}: `bridge.execute` in that session.
import { createInterface } from "node:readline";
import { randomBytes } from "node:crypto";

const [index, listen, commandsDir, python, store] = process.argv.slice(2);
const { Bridge } = await import(index);
const token = randomBytes(24).toString("base64url");
const bridge = await Bridge.start({
  workers: 1,
  preload: [],
  modules: ["watch_worker_commands"],
  pythonPath: [commandsDir],
  python,
  token,
  store: store === "memory" ? { eventLogLimit: 3 } : store,
  bridgeService: { listen },
});
const out = (msg) => process.stdout.write(`${JSON.stringify(msg)}\n`);
out({ event: "ready", address: bridge.address, token: bridge.secret });

createInterface({ input: process.stdin }).on("line", (line) => {
  const cmd = JSON.parse(line);
  bridge.execute(cmd.command, cmd.args, { session: cmd.session, timeoutMs: 30_000 }).then(
    (result) => out({ id: cmd.id, ok: true, result }),
    (err) => out({ id: cmd.id, ok: false, error: `${err?.name}: ${err?.message ?? err}` }),
  );
});
const stop = () => bridge.close().then(() => process.exit(0), () => process.exit(1));
process.once("SIGTERM", stop);
