// `dspy-bridge <command>`: demo, doctor, help. Human-readable by default, `--json` for
// machines (one JSON object per line).
import { runDemo } from "./demo.js";
import { runDoctor } from "./doctor.js";
import { OPTIMIZE_HELP, runOptimize } from "./optimize.js";
import { runServe } from "./serve.js";
import { SETUP_HELP, runSetup } from "./setup.js";

const HELP = `dspy-bridge — run real DSPy programs from TypeScript

Usage: npx dspy-bridge <command> [options]

Commands:
  demo        Show the worker pool at work (offline)
  doctor      Check Python, DSPy and the worker pool on this machine
  setup       Build the Python environment the workers run (else the first start does)
  serve       Run a host that outside Python clients can reach; prints {"event":"ready",...}
  optimize    Compile a program with a DSPy optimizer, or optimize a variable, with a progress bar
  help        This text

Options:
  --json      Machine-readable output (one JSON object per line)
  --workers N Number of Python workers (default 2)

serve options:
  --listen ADDR       unix:PATH or HOST:PORT (loopback only); default a private Unix socket
  --token-file PATH   write the secret there (0600); the secret is DSPY_BRIDGE_TOKEN if set,
                      else generated (then --token-file is required)
  --preload MODULES   comma-separated modules the workers import first (default dspy,litellm; "" for none)
  --modules MODULES   comma-separated modules with your @command / @tool functions
  --python-path DIRS  colon-separated directories added to the workers' PYTHONPATH
  --store STORE       memory (default), sqlite:PATH or redis://HOST:PORT/DB (docs/deployment.md)

${OPTIMIZE_HELP}

${SETUP_HELP}
`;

export interface CliFlags {
  json: boolean;
  workers: number;
  listen: string | undefined;
  tokenFile: string | undefined;
  preload: string[] | undefined;
  modules: string[];
  pythonPath: string[];
  store: string | undefined;
}

function parseFlags(argv: string[]): CliFlags {
  const flags: CliFlags = { json: false, workers: 2, listen: undefined, tokenFile: undefined, preload: undefined, modules: [], pythonPath: [], store: undefined };
  const value = (i: number, name: string): string => {
    const v = argv[i];
    if (v === undefined) throw new Error(`${name} needs a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--json") flags.json = true;
    else if (a === "--workers") {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--workers needs a positive integer, got ${argv[i]}`);
      flags.workers = n;
    } else if (a === "--listen") flags.listen = value(++i, a);
    else if (a === "--token-file") flags.tokenFile = value(++i, a);
    else if (a === "--preload") flags.preload = value(++i, a).split(",").filter(Boolean);
    else if (a === "--modules") flags.modules = value(++i, a).split(",").filter(Boolean);
    else if (a === "--python-path") flags.pythonPath = value(++i, a).split(":").filter(Boolean);
    else if (a === "--store") flags.store = value(++i, a);
    else throw new Error(`unknown option ${a}`);
  }
  return flags;
}

export async function run(argv: string[]): Promise<number> {
  const [command = "help", ...rest] = argv;
  if (command === "optimize") return runOptimize(rest);  // its own options (see OPTIMIZE_HELP)
  if (command === "setup") return runSetup(rest);  // its own options (see SETUP_HELP)
  let flags: CliFlags;
  try {
    flags = parseFlags(rest);
  } catch (err) {
    console.error(`dspy-bridge: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  switch (command) {
    case "demo":
      return runDemo(flags);
    case "doctor":
      return runDoctor(flags);
    case "serve":
      try {
        return await runServe(flags);
      } catch (err) {
        console.error(`dspy-bridge serve: ${(err as Error).message}`);
        return 1;
      }
    case "help":
    case "--help":
    case "-h":
      console.log(HELP);
      return 0;
    default:
      console.error(`dspy-bridge: unknown command '${command}'\n\n${HELP}`);
      return 2;
  }
}
