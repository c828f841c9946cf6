// `dspy-bridge <command>`: demo, doctor, help. Human-readable by default, `--json` for
// machines (one JSON object per line).
import { runDemo } from "./demo.js";
import { runDoctor } from "./doctor.js";
import { parseFlags, type CliFlags } from "./flags.js";
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
