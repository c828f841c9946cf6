// The options of `demo`, `doctor` and `serve` (`optimize` and `setup` have their own): one
// table for node:util's parser, and what each command's --help says.
import { flag, list, num, str, UsageError, type OptionTable, type Parsed } from "./args.js";

export interface CliFlags {
  json: boolean;
  workers: number;
  listen: string | undefined;
  tokenFile: string | undefined;
  preload: string[] | undefined;
  modules: string[];
  pythonPath: string[];
  store: string | undefined;
  /** serve: listen on a non-loopback address. */
  allowRemote: boolean;
  /** serve: TLS certificate chain and key files (PEM). */
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  /** serve: a non-loopback listener without TLS, asked for explicitly. */
  insecure: boolean;
  /** serve: HOST:PORT of the dashboard (docs/dashboard.md). */
  dashboard: string | undefined;
}

export const COMMON_OPTIONS: OptionTable = {
  json: { type: "boolean" },
  workers: { type: "string" },
};

export const SERVE_OPTIONS: OptionTable = {
  ...COMMON_OPTIONS,
  listen: { type: "string" },
  "token-file": { type: "string" },
  preload: { type: "string" },
  modules: { type: "string" },
  "python-path": { type: "string" },
  store: { type: "string" },
  "allow-remote": { type: "boolean" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  insecure: { type: "boolean" },
  dashboard: { type: "string" },
};

export const DOCTOR_OPTIONS: OptionTable = { ...COMMON_OPTIONS, store: { type: "string" } };

export const SERVE_HELP = `Usage: npx dspy-bridge serve [options]

Run a host that outside Python clients reach (SessionContext.connect); prints
{"event":"ready","address":...} on stdout when ready, stops on Ctrl-C / SIGTERM after draining.

Options:
  --listen ADDR       unix:PATH or HOST:PORT; default a private Unix socket. A non-loopback
                      HOST needs --allow-remote and TLS (--tls-cert, --tls-key) or --insecure
  --allow-remote      allow a non-loopback address (e.g. 0.0.0.0:7777)
  --tls-cert FILE     serve TLS with this certificate chain (PEM); clients verify it against
                      their CA (Python: DSPY_BRIDGE_TLS_CA=ca.pem)
  --tls-key FILE      the certificate's private key (PEM)
  --insecure          allow a non-loopback listener without TLS (the token crosses in clear)
  --token-file PATH   write the secret there (0600); the secret is DSPY_BRIDGE_TOKEN if set,
                      else generated (then --token-file is required)
  --dashboard H:P     serve the read-only dashboard there (loopback only; docs/dashboard.md);
                      the ready line's "dashboard" is its address: open it with ?token=SECRET
  --workers N         number of Python workers (default 2)
  --preload MODULES   comma-separated modules the workers import first (default dspy,litellm; "" for none)
  --modules MODULES   comma-separated modules with your @command / @tool functions
  --python-path DIRS  colon-separated directories added to the workers' PYTHONPATH
  --store STORE       memory (default), sqlite:PATH or redis://HOST:PORT/DB (docs/deployment.md)
  --json              (accepted; serve always prints JSON lines)
  -h, --help          this text`;

export const DEMO_HELP = `Usage: npx dspy-bridge demo [options]

Show the worker pool at work, offline (the scripted LM): calls, streams, cancellation, a crash
and its restart, session variables bound to a DSPy program.

Options:
  --workers N   number of Python workers (default 2)
  --json        one JSON object per line
  -h, --help    this text`;

export const DOCTOR_HELP = `Usage: npx dspy-bridge doctor [options]

Check what an app needs: Node, the Python environment, dspy_bridge, DSPy, a working pool.

Options:
  --store STORE  also check the store's client package (sqlite:PATH, redis://…)
  --workers N    workers of the test pool (default 2)
  --json         one JSON object per line
  -h, --help     this text`;

/** The flags of demo, doctor and serve from parsed options. */
export function cliFlags(values: Parsed["values"]): CliFlags {
  const f: CliFlags = {
    json: flag(values, "json"),
    workers: num(values, "workers", { integer: true, min: 1 }) ?? 2,
    listen: str(values, "listen"),
    tokenFile: str(values, "token-file"),
    preload: list(values, "preload", ","),
    modules: list(values, "modules", ",") ?? [],
    pythonPath: list(values, "python-path", ":") ?? [],
    store: str(values, "store"),
    allowRemote: flag(values, "allow-remote"),
    tlsCert: str(values, "tls-cert"),
    tlsKey: str(values, "tls-key"),
    insecure: flag(values, "insecure"),
    dashboard: str(values, "dashboard"),
  };
  if ((f.tlsCert === undefined) !== (f.tlsKey === undefined))
    throw new UsageError("--tls-cert and --tls-key go together");
  return f;
}
