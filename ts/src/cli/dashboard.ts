// `dspy-bridge dashboard --store STORE`: the dashboard over a stored state, without starting
// a host or workers (dashboard/stored-dashboard.ts). Prints one JSON line
// {"event":"ready","dashboard":URL,...} on stdout when it serves (the URL without the token,
// as serve's ready line: open it with ?token=SECRET); stops on SIGINT/SIGTERM.
import { randomBytes } from "node:crypto";
import { StoredDashboard } from "../dashboard/stored-dashboard.js";
import { InvalidArgumentError } from "../errors/index.js";
import { EXIT_OK, EXIT_USAGE, flag, str, UsageError, type OptionTable, type Parsed } from "./args.js";
import { writeSecretFile } from "./serve.js";

export const DASHBOARD_OPTIONS: OptionTable = {
  store: { type: "string" },
  listen: { type: "string" },
  "allow-remote": { type: "boolean" },
  "token-file": { type: "string" },
  json: { type: "boolean" },
};

export const DASHBOARD_HELP = `Usage: npx dspy-bridge dashboard --store STORE [options]

Open the dashboard over a stored state, without starting a host or workers: sessions, their
variables with their history, optimization runs and optimizer jobs with their trials. Read-only:
nothing in the store is changed. Prints {"event":"ready","dashboard":URL,...} on stdout when it
serves; open the URL with ?token=SECRET. Stops on Ctrl-C / SIGTERM.

Options:
  --store STORE       sqlite:PATH (the file as it is now: a running host keeps it locked, use its
                      own dashboard, serve --dashboard) or redis://HOST:PORT/DB (live: it follows
                      the hosts sharing it)
  --listen H:P        where to serve it (default 127.0.0.1:0: any free port); loopback only
                      unless --allow-remote
  --allow-remote      allow a non-loopback address (plain HTTP: put TLS in front of it)
  --token-file PATH   write the secret there (0600); the secret is DSPY_BRIDGE_TOKEN if set,
                      else generated (then --token-file is required)
  --json              (accepted; dashboard always prints JSON lines)
  -h, --help          this text`;

export async function runDashboard(values: Parsed["values"]): Promise<number> {
  const store = str(values, "store");
  if (store === undefined) throw new UsageError("--store is required (sqlite:PATH or redis://HOST:PORT/DB)");
  const tokenFile = str(values, "token-file");
  let token = process.env.DSPY_BRIDGE_TOKEN;
  if (!token) {
    if (!tokenFile) {
      console.error(
        "dspy-bridge dashboard: no DSPY_BRIDGE_TOKEN set; pass --token-file PATH to receive the generated secret",
      );
      return EXIT_USAGE;
    }
    token = randomBytes(32).toString("base64url");
  }
  if (tokenFile) writeSecretFile(tokenFile, `${token}\n`);
  let dashboard: StoredDashboard;
  try {
    dashboard = await StoredDashboard.open({
      store,
      token,
      listen: str(values, "listen") ?? "127.0.0.1:0",
      allowRemote: flag(values, "allow-remote"),
    });
  } catch (err) {
    // A malformed --store or --listen, a refused address: usage errors (exit 2), as for serve.
    if (err instanceof InvalidArgumentError && err.parameter !== undefined) throw new UsageError(err.message);
    throw err;
  }
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const [sessions, runs] = await Promise.all([dashboard.store.listSessions(), dashboard.store.listRuns()]);
  console.log(
    JSON.stringify({
      event: "ready",
      dashboard: dashboard.address,
      pid: process.pid,
      store: dashboard.store.backendKind,
      sessions: sessions.length,
      runs: runs.length,
      ...(tokenFile ? { token_file: tokenFile } : {}),
    }),
  );
  await stopped;
  await dashboard.close();
  console.log(JSON.stringify({ event: "stopped" }));
  return EXIT_OK;
}
