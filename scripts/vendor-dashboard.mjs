#!/usr/bin/env node
// Copies the dashboard's libraries from node_modules into the package (ts/dashboard/vendor/),
// so that the page the host serves works offline: Preact and its hooks, htm, uPlot and its
// stylesheet. Run by the set-up after the TypeScript build and by the packer; cheap when the
// copies are current.
import { copyFileSync, existsSync, mkdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const FILES = [
  ["preact/dist/preact.mjs", "preact.mjs"],
  ["preact/hooks/dist/hooks.mjs", "hooks.mjs"],
  ["htm/dist/htm.mjs", "htm.mjs"],
  ["uplot/dist/uPlot.esm.js", "uPlot.esm.js"],
  ["uplot/dist/uPlot.min.css", "uPlot.min.css"],
];

export function vendorDashboard() {
  const out = join(root, "ts/dashboard/vendor");
  mkdirSync(out, { recursive: true });
  for (const [from, to] of FILES) {
    const source = join(root, "node_modules", from);
    if (!existsSync(source)) throw new Error(`${from} is missing from node_modules: run npm run setup`);
    const target = join(out, to);
    if (existsSync(target) && statSync(target).mtimeMs >= statSync(source).mtimeMs) continue;
    copyFileSync(source, target);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) vendorDashboard();
