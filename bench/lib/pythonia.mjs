// pythonia (npm "pythonia", a devDependency) pointed at the same interpreter as the Bridge.
//
// pythonia spawns its Python process when the package is first imported (the module
// body constructs its IPC channel), using process.env.PYTHON_BIN or else "python3" from
// PATH. So PYTHON_BIN must be set before the import, and the import must be dynamic
// (a static import would be hoisted above the assignment).
import { join } from "node:path";
import { FIXTURES, VENV_PYTHON } from "./paths.mjs";

/** `fixture` is a file in bench/fixtures; pythonia runs one Python process per Node process. */
export async function startPythonia(fixtureFile = "pythonia_fixture.py", { python = VENV_PYTHON } = {}) {
  process.env.PYTHON_BIN = python;
  const mod = await import("pythonia");
  const { python: py } = mod.default ?? mod;
  // An absolute path makes pythonia load the file directly (fileImport) instead of
  // guessing the caller's directory from a stack trace.
  const fixture = await py(join(FIXTURES, fixtureFile));
  return {
    fixture,
    close: () => py.exit(),
  };
}
