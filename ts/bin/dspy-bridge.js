#!/usr/bin/env node
// CLI entry point. The TypeScript is compiled to dist/ by the bootstrap (npm run setup).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const main = new URL("../dist/src/cli/main.js", import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  console.error("dspy-bridge is not built yet: run `npm run setup` in the repository first.");
  process.exit(1);
}
const { run } = await import(main.href);
process.exitCode = await run(process.argv.slice(2));
