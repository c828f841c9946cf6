// Loading the product under test, failing with a clear message when it is not built.
import { existsSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { BRIDGE_ENTRY } from "./paths.mjs";

/**
 * Import { Bridge } from the compiled TypeScript (ts/dist/src/index.js). The environment
 * variable BENCH_BRIDGE_MODULE may name another module exporting the same API (used to
 * check the benchmark scripts themselves). Exits the process with status 1 and an
 * explanation when the import fails.
 */
export async function loadBridge(hint) {
  const entry = process.env.BENCH_BRIDGE_MODULE || BRIDGE_ENTRY;
  let mod;
  try {
    mod = await import(pathToFileURL(entry).href);
  } catch (err) {
    const why = existsSync(entry)
      ? `importing it failed: ${err?.stack || err}`
      : "the file does not exist (is the TypeScript built? run `npm run build`)";
    console.error(`error: cannot load dspy-bridge from ${entry}: ${why}`);
    if (hint) console.error(hint);
    process.exit(1);
  }
  if (typeof mod.Bridge?.start !== "function") {
    console.error(`error: ${entry} does not export a Bridge class with a static start() method`);
    if (hint) console.error(hint);
    process.exit(1);
  }
  return mod.Bridge;
}
