// Shared helpers for the integration tests: real Python workers, nothing mocked.
import { mkdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Bridge, type BridgeOptions } from "../src/index.js";

/** Repository root, from ts/dist/test. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const testdata = (name: string): string => join(repoRoot, "testdata", name);
export const fixturesDir = join(repoRoot, "ts/test/fixtures");

/**
 * Where a browser test saves a screenshot: docs/ only when asked (`DSPY_BRIDGE_SCREENSHOTS=docs`),
 * so an ordinary test run never leaves the committed pictures changed; otherwise a folder under
 * the temp directory, so the page is still rendered and saved.
 */
export function screenshotPath(file: string): string {
  if (process.env.DSPY_BRIDGE_SCREENSHOTS === "docs") return join(repoRoot, "docs", file);
  const dir = join(tmpdir(), "dspy-bridge-test-screenshots");
  mkdirSync(dir, { recursive: true });
  return join(dir, file);
}

export const quietLogs: Pick<BridgeOptions, "onLog"> = { onLog: () => {} };

/** A pool without DSPy preloaded: the pool tests exercise the bridge, not DSPy, and start faster. */
export function startPool(options: BridgeOptions = {}): Promise<Bridge> {
  return Bridge.start({ workers: 2, preload: [], healthIntervalMs: 0, ...quietLogs, ...options });
}

export async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const start = performance.now();
  while (!condition()) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return performance.now() - start;
}

/** Like waitFor, for a condition that must ask something asynchronously (a call, a list). */
export async function waitForAsync(
  condition: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<number> {
  const start = performance.now();
  while (!(await condition())) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return performance.now() - start;
}

/** True if the process exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

export function readyWorkers(bridge: Bridge): number {
  return bridge.stats().workers.filter((w) => w.state === "ready").length;
}

/** SIGSTOP a process (a private Redis), and wait (a few microseconds) until it is really stopped: nothing sent after this runs. */
export function freezeProcess(pid: number): void {
  process.kill(pid, "SIGSTOP");
  for (let i = 0; i < 1_000_000; i++) {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    if (stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "T") return;
  }
  throw new Error(`process ${pid} did not stop`);
}
