// `dspy-bridge setup`: builds the managed Python environment ahead of the first
// Bridge.start() (python-env.ts), with progress; says where it is when it already exists.
import { choice, flag, str, type OptionTable, type Parsed } from "./args.js";
import {
  checkoutRoot,
  ensurePythonEnv,
  prunePythonEnvs,
  type PythonEnvOptions,
  type PythonEnvProgress,
} from "../pool/python-env.js";

export const SETUP_HELP = `Usage: npx dspy-bridge setup [options]

Build the Python environment the workers run, before the first start (else the first start does).

Options:
  --force             build it again, and look for the base interpreter again
  --prune             then delete the other environments in the cache (older releases')
  --python-base PATH  the interpreter to build it from (default DSPY_BRIDGE_PYTHON_BASE, else
                      python3.13 … python3.10 or python3 on PATH, the first that is ≥ 3.10)
  --find-links DIR    install from this folder of wheels only, no downloads (default
                      DSPY_BRIDGE_FIND_LINKS)
  --installer NAME    uv, pip or auto (default DSPY_BRIDGE_INSTALLER, else auto: uv, else pip)
  --cache-dir DIR     where environments live (default DSPY_BRIDGE_CACHE_DIR, else the user's
                      cache directory: ~/.cache/dspy-bridge, ~/Library/Caches/dspy-bridge)
  --json              one JSON object per line: progress events, then {"event":"ready",…}
  -h, --help          this text`;

interface SetupFlags {
  json: boolean;
  force: boolean;
  prune: boolean;
  options: PythonEnvOptions;
}

export const SETUP_OPTIONS: OptionTable = {
  json: { type: "boolean" },
  force: { type: "boolean" },
  prune: { type: "boolean" },
  "python-base": { type: "string" },
  "find-links": { type: "string" },
  "cache-dir": { type: "string" },
  installer: { type: "string" },
};

function parse(values: Parsed["values"]): SetupFlags {
  const options: PythonEnvOptions = {};
  const basePython = str(values, "python-base");
  const findLinks = str(values, "find-links");
  const dir = str(values, "cache-dir");
  const installer = choice(values, "installer", ["uv", "pip", "auto"] as const);
  if (basePython !== undefined) options.basePython = basePython;
  if (findLinks !== undefined) options.findLinks = findLinks;
  if (dir !== undefined) options.dir = dir;
  if (installer !== undefined) options.installer = installer;
  return { json: flag(values, "json"), force: flag(values, "force"), prune: flag(values, "prune"), options };
}

/** `values`: the options as parseOptions(argv, SETUP_OPTIONS) read them. */
export async function runSetup(values: Parsed["values"]): Promise<number> {
  const flags = parse(values);
  if (checkoutRoot) {
    const msg = `this is a checkout of the repository (${checkoutRoot}): its workers run .venv, which \`npm run setup\` builds`;
    if (flags.json) console.log(JSON.stringify({ event: "checkout", message: msg }));
    else console.error(`dspy-bridge setup: ${msg}`);
    return 0;
  }
  const options: PythonEnvOptions & { force?: boolean } = { ...flags.options, force: flags.force };
  if (flags.json) {
    options.onProgress = (e: PythonEnvProgress) => console.log(JSON.stringify({ event: "progress", ...e }));
  } else if (!process.stderr.isTTY) {
    // Not a terminal (CI, a Dockerfile's RUN): one plain line per step, no redrawing.
    options.onProgress = (e: PythonEnvProgress) => {
      if (e.phase !== "output") console.error(`[dspy-bridge setup] ${e.message}`);
    };
  }
  try {
    const env = await ensurePythonEnv(options);
    const m = env.marker;
    if (flags.json) {
      console.log(
        JSON.stringify({ event: "ready", built: env.built, dir: env.dir, python: env.python, key: env.key, marker: m }),
      );
    } else {
      console.log(
        env.built
          ? `Built the Python environment in ${(m.buildMs / 1000).toFixed(1)} s:`
          : "The Python environment is ready:",
      );
      console.log(`  ${env.dir}`);
      console.log(
        `  Python ${m.base.version} (${m.base.executable}), DSPy ${m.dspy}, dspy_bridge ${m.dspyBridge}, installed with ${m.installer}`,
      );
    }
    if (flags.prune) {
      const removed = await prunePythonEnvs(flags.options);
      if (flags.json) console.log(JSON.stringify({ event: "pruned", removed }));
      else console.log(removed.length ? `Removed ${removed.length}: ${removed.join(", ")}` : "Nothing else to remove.");
    }
    return 0;
  } catch (err) {
    const message = (err as Error).message;
    if (flags.json) console.log(JSON.stringify({ event: "error", message }));
    else console.error(`dspy-bridge setup failed: ${message}`);
    return 1;
  }
}
