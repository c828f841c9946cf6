#!/usr/bin/env node
// Regenerates the pinned Python dependencies from their inputs with uv (the version the
// bootstrap installs into .venvs/uv), as universal lock files: one file for every supported
// Python (3.10-3.13) and platform, a package that differs by Python version appearing once
// per version range with an environment marker. Both `pip install -r` and
// `uv pip install -r` read them.
//
//   python/requirements.in      -> python/requirements.lock      what the worker needs at run time
//   python/requirements-dev.in  -> python/requirements-dev.lock  that, plus tests and codegen
//                                  (resolved with requirements.lock as a constraint: the
//                                  versions they share are the same)
//
// The existing lock files are uv's preferences: a package keeps its pinned version unless an
// input asks for another. Pass uv options through, e.g. `npm run lock -- --upgrade-package dspy`
// or `npm run lock -- --upgrade` (everything to the newest versions the inputs allow).
// docs/development.md, "Pinned Python dependencies".
import { spawnSync } from "node:child_process";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureUv } from "./bootstrap.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const extra = process.argv.slice(2);
const uv = ensureUv();

function compile(input, output, ...more) {
  const args = [
    "pip",
    "compile",
    "--quiet",
    "--universal",
    "--python-version",
    "3.10",
    ...more,
    input,
    "-o",
    output,
    ...extra,
  ];
  console.error(`uv ${args.join(" ")}`);
  const r = spawnSync(uv, args, { cwd: root, stdio: "inherit", env: { ...process.env, UV_PYTHON_DOWNLOADS: "never" } });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

compile("python/requirements.in", "python/requirements.lock");
compile("python/requirements-dev.in", "python/requirements-dev.lock", "-c", "python/requirements.lock");
console.error("done: run `npm test` (every supported Python installs from the new locks)");
