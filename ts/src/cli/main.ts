// `dspy-bridge <command>`: demo, doctor, help. Human-readable by default, `--json` for
// machines (one JSON object per line).
import { runDemo } from "./demo.js";
import { runDoctor } from "./doctor.js";

const HELP = `dspy-bridge — run real DSPy programs from TypeScript

Usage: npx dspy-bridge <command> [options]

Commands:
  demo        Show the worker pool at work (offline)
  doctor      Check Python, DSPy and the worker pool on this machine
  help        This text

Options:
  --json      Machine-readable output (one JSON object per line)
  --workers N Number of Python workers (demo, doctor; default 2)
`;

export interface CliFlags {
  json: boolean;
  workers: number;
}

function parseFlags(argv: string[]): CliFlags {
  const flags: CliFlags = { json: false, workers: 2 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--json") flags.json = true;
    else if (a === "--workers") {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--workers needs a positive integer, got ${argv[i]}`);
      flags.workers = n;
    } else throw new Error(`unknown option ${a}`);
  }
  return flags;
}

export async function run(argv: string[]): Promise<number> {
  const [command = "help", ...rest] = argv;
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
