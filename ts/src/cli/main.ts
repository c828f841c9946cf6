// `dspy-bridge <command>`: demo, doctor, setup, serve, optimize. Human-readable by default,
// `--json` for machines (one JSON object per line). Options are read by node:util's parser
// (args.ts): `--flag value` or `--flag=value`, `--help` on every command, and the exit codes
// 0 done, 1 failed, 2 usage error, 130 interrupted.
import { VERSION } from "../gen/constants.js";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, parseOptions, UsageError, type OptionTable, type Parsed } from "./args.js";
import { DASHBOARD_HELP, DASHBOARD_OPTIONS, runDashboard } from "./dashboard.js";
import { runDemo } from "./demo.js";
import { runDoctor } from "./doctor.js";
import {
  cliFlags,
  COMMON_OPTIONS,
  DEMO_HELP,
  DOCTOR_HELP,
  DOCTOR_OPTIONS,
  SERVE_HELP,
  SERVE_OPTIONS,
} from "./flags.js";
import { OPTIMIZE_HELP, OPTIMIZE_OPTIONS, runOptimize } from "./optimize.js";
import { runServe } from "./serve.js";
import { runSetup, SETUP_HELP, SETUP_OPTIONS } from "./setup.js";
import { runStoreMigrate, STORE_MIGRATE_HELP, STORE_MIGRATE_OPTIONS } from "./store-migrate.js";

const HELP = `dspy-bridge ${VERSION} — run real DSPy programs from TypeScript

Usage: npx dspy-bridge <command> [options]
       npx dspy-bridge <command> --help

Commands:
  demo        Show the worker pool at work (offline)
  doctor      Check Python, DSPy and the worker pool on this machine
  setup       Build the Python environment the workers run (else the first start does)
  serve       Run a host that outside Python clients can reach; prints {"event":"ready",...}
  optimize    Compile a program with a DSPy optimizer, or optimize a variable, with a progress bar
  dashboard   The dashboard over a stored state (sqlite:PATH, redis://…), without workers
  store-migrate  Move a Redis store of key layout 1 to this version's layout (hosts stopped)
  help [CMD]  This text, or a command's

Options:
  -h, --help     this text
  -v, --version  the version

Options take a value as --flag VALUE or --flag=VALUE.
Exit codes: 0 done, 1 failed, 2 usage error (this text says what is wrong), 130 interrupted.`;

interface Command {
  help: string;
  options: OptionTable;
  run(values: Parsed["values"]): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  demo: { help: DEMO_HELP, options: COMMON_OPTIONS, run: (v) => runDemo(cliFlags(v)) },
  doctor: { help: DOCTOR_HELP, options: DOCTOR_OPTIONS, run: (v) => runDoctor(cliFlags(v)) },
  serve: { help: SERVE_HELP, options: SERVE_OPTIONS, run: (v) => runServe(cliFlags(v)) },
  setup: { help: SETUP_HELP, options: SETUP_OPTIONS, run: runSetup },
  optimize: { help: OPTIMIZE_HELP, options: OPTIMIZE_OPTIONS, run: runOptimize },
  dashboard: { help: DASHBOARD_HELP, options: DASHBOARD_OPTIONS, run: runDashboard },
  "store-migrate": { help: STORE_MIGRATE_HELP, options: STORE_MIGRATE_OPTIONS, run: runStoreMigrate },
};

export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    const topic = name === "help" ? rest[0] : undefined;
    if (topic !== undefined && !Object.hasOwn(COMMANDS, topic)) return usage(undefined, `unknown command '${topic}'`);
    console.log(topic === undefined ? HELP : COMMANDS[topic]!.help);
    return EXIT_OK;
  }
  if (name === "--version" || name === "-v" || name === "version") {
    console.log(VERSION);
    return EXIT_OK;
  }
  if (!Object.hasOwn(COMMANDS, name)) {
    return usage(
      undefined,
      name.startsWith("-") ? `unknown option ${name} (a command comes first)` : `unknown command '${name}'`,
    );
  }
  const command = COMMANDS[name]!;
  try {
    const parsed = parseOptions(rest, command.options);
    if (parsed.help) {
      console.log(command.help);
      return EXIT_OK;
    }
    return await command.run(parsed.values);
  } catch (err) {
    if (err instanceof UsageError) return usage(name, err.message);
    console.error(`dspy-bridge ${name}: ${(err as Error).message}`);
    return EXIT_FAILED;
  }
}

function usage(command: string | undefined, message: string): number {
  const prefix = command === undefined ? "dspy-bridge" : `dspy-bridge ${command}`;
  console.error(
    `${prefix}: ${message}\nRun 'npx dspy-bridge ${command === undefined ? "--help" : `${command} --help`}' for the options.`,
  );
  return EXIT_USAGE;
}
