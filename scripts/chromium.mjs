#!/usr/bin/env node
// Debian's headless-capable Chromium for the dashboard's browser test: finds it (CHROMIUM,
// then `chromium` or `chromium-browser` on the PATH) or installs Debian's `chromium` package
// when it is missing and we may (root or password-less sudo, apt-get). The test drives it
// with puppeteer-core, which downloads no browser of its own.
//
//   import { findChromium } from "./chromium.mjs";  const path = findChromium();  // or undefined, with why
//   node scripts/chromium.mjs                        print its path (installing it if need be)
import { spawnSync } from "node:child_process";
import { pathToFileURL } from "node:url";

function which(cmd) {
  const r = spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

const installed = () => process.env.CHROMIUM || which("chromium") || which("chromium-browser");

/**
 * The Chromium binary, installing Debian's package if it is missing. Returns
 * `{ path }`, or `{ why }` when there is none and it cannot be installed here.
 */
export function findChromium({ install = true, log = (line) => process.stderr.write(`${line}\n`) } = {}) {
  const found = installed();
  if (found) return { path: found };
  if (!install) return { why: "chromium is not installed" };
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  const sudo = isRoot ? [] : which("sudo") ? ["sudo", "-n"] : undefined;
  if (!which("apt-get") || !sudo)
    return {
      why: "chromium is not installed and cannot be installed here (needs apt-get and root): install it, or set CHROMIUM to its binary",
    };
  log("chromium not found: installing Debian's chromium package (a few minutes)");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const run = (args) =>
    spawnSync(sudo.length ? sudo[0] : args[0], sudo.length ? [...sudo.slice(1), ...args] : args.slice(1), {
      stdio: ["ignore", "inherit", "inherit"],
      env,
    });
  let r = run(["apt-get", "install", "-y", "--no-install-recommends", "chromium"]);
  if (r.status !== 0) {
    run(["apt-get", "update"]);
    r = run(["apt-get", "install", "-y", "--no-install-recommends", "chromium"]);
  }
  const path = installed();
  return path ? { path } : { why: `installing chromium with apt-get failed (exit ${r.status}); see the output above` };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const found = findChromium();
  if (found.path) console.log(found.path);
  else {
    console.error(found.why);
    process.exit(1);
  }
}
