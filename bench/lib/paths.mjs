// Locations shared by the benchmark scripts.
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const BENCH_DIR = join(ROOT, "bench");
export const FIXTURES = join(BENCH_DIR, "fixtures");
/** The interpreter the Bridge uses by default; every Python peer is pointed at it too. */
export const VENV_PYTHON = join(ROOT, ".venv", "bin", "python");
/** The product's compiled entry point. */
export const BRIDGE_ENTRY = join(ROOT, "ts", "dist", "src", "index.js");
