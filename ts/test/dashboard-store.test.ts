// `dspy-bridge dashboard --store STORE`: the dashboard over a stored state, without a host or
// workers, the real command driven in a real headless Chromium (as dashboard.test.ts). The
// state is large — 100 sessions of 100 variables and a 1,000-trial optimization run, written
// by a real host on SQLite — and the page must show it right: the counts, the values, a
// variable's history, the run's 1,000 points. (The timings on that state are
// bench/dashboard.mjs's, not asserted here.) Read-only: the file is the same afterwards.
// On Redis it is live: a host's commit shows up in the page.
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { Bridge } from "../src/index.js";
import { openStoreReadOnly } from "../src/store/open-store.js";
import { quietLogs, repoRoot, screenshotPath } from "./helpers.js";

const run = promisify(execFile);
const CLI = join(repoRoot, "ts/bin/dspy-bridge.js");

// The functions given to waitForFunction run in the page: its `document`, not Node's.
interface PageElement {
  textContent: string | null;
  getAttribute(name: string): string | null;
}
declare const document: {
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement> & Iterable<PageElement>;
};

const { findChromium } = (await import(pathToFileURL(join(repoRoot, "scripts/chromium.mjs")).href)) as {
  findChromium: (o?: { install?: boolean }) => { path?: string; why?: string };
};
const chromium = findChromium();
const skip = chromium.path ? false : `no Chromium for the browser test: ${chromium.why}`;
if (skip) console.error(`[dashboard-store.test] SKIPPED: ${skip}`);

const SESSIONS = 100;
const VARIABLES = 100;
const TRIALS = 1_000;
const sid = (i: number) => `s${String(i).padStart(3, "0")}`;
const vname = (j: number) => `v${String(j).padStart(3, "0")}`;
/** The value each variable is defined with: floats in [0, 1] first, then strings. */
const initial = (i: number, j: number): number | string =>
  j < VARIABLES / 2 ? ((i * 31 + j * 7) % 100) / 100 : `${sid(i)}:${vname(j)}`;
const shown = (value: number | string) => JSON.stringify(value);

/** 100 sessions × 100 variables, one variable set three more times, a 1,000-trial run. */
async function writeLargeState(bridge: Bridge): Promise<{ runId: string }> {
  for (let i = 0; i < SESSIONS; i++) {
    await bridge.sessions.create({ id: sid(i) });
    await bridge.store.register(
      sid(i),
      Array.from({ length: VARIABLES }, (_, j) => ({
        name: vname(j),
        type: j < VARIABLES / 2 ? "float" : "string",
        initialValue: initial(i, j),
        ...(j < VARIABLES / 2 ? { constraints: { min: 0, max: 1 } } : {}),
      })),
    );
  }
  for (const value of [0.11, 0.22, 0.33]) await bridge.store.set(sid(7), vname(3), value);
  bridge.tools.register("peak", async (args) => 1 - Math.abs((args.v000 as number) - 0.3));
  const target = { variable: "v000" };
  const runId = bridge.optimization.start(sid(42), target, {
    optimizer: "random",
    objective: "peak",
    maxIterations: TRIALS,
    patience: TRIALS * 10,
    seed: 7,
  });
  await bridge.optimization.wait(sid(42), target);
  await bridge.runs.flush();
  return { runId };
}

/** Starts `dspy-bridge dashboard` and reads its ready line. */
async function startDashboard(
  store: string,
  token: string,
): Promise<{ child: ChildProcess; ready: Record<string, unknown>; stdout: () => string }> {
  const child = spawn(process.execPath, [CLI, "dashboard", "--store", store, "--listen", "127.0.0.1:0"], {
    env: { ...process.env, DSPY_BRIDGE_TOKEN: token },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line; stdout: ${stdout}; stderr: ${stderr}`)), 30_000);
    child.stdout!.on("data", () => {
      if (stdout.includes("\n")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on("exit", (code, signal) => reject(new Error(`dashboard exited (${code ?? signal}): ${stderr}`)));
  });
  return { child, ready: JSON.parse(stdout.split("\n")[0]!) as Record<string, unknown>, stdout: () => stdout };
}

async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  child.kill("SIGTERM");
  return exited;
}

const digest = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

test("dashboard: --store is required, a memory store or a missing file is refused, saying why", async () => {
  const fails = async (args: string[], code: number, message: RegExp) => {
    await assert.rejects(
      run(process.execPath, [CLI, "dashboard", ...args], {
        env: { ...process.env, DSPY_BRIDGE_TOKEN: "t".repeat(32) },
      }),
      (err: { code?: number; stderr?: string }) => {
        assert.equal(err.code, code, err.stderr);
        assert.match(err.stderr ?? "", message);
        return true;
      },
    );
  };
  await fails([], 2, /--store is required/);
  await fails(["--store", "memory"], 2, /memory store keeps nothing/);
  const missing = join(mkdtempSync(join(tmpdir(), "dspy-bridge-dash-")), "none.db");
  await fails(["--store", `sqlite:${missing}`], 2, /cannot open the SQLite store/);
  await fails(["--store", "sqlite:x.db", "--listen", "0.0.0.0:0"], 2, /loopback/);
});

describe("dashboard --store sqlite: a large stored state", { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), "dspy-bridge-dash-"));
  const file = join(dir, "state.db");
  const token = randomBytes(24).toString("base64url");
  let runId: string;
  let dashboard: Awaited<ReturnType<typeof startDashboard>>;
  let before_: string;
  let browser: Browser;
  let page: Page;

  before(async () => {
    const bridge = await Bridge.start({
      workers: 1,
      preload: [],
      healthIntervalMs: 0,
      store: `sqlite:${file}?synchronous=normal`,
      ...quietLogs,
    });
    try {
      ({ runId } = await writeLargeState(bridge));
      // While a host has the file, it is locked: the command says so (that host's own dashboard shows it).
      await assert.rejects(
        run(process.execPath, [CLI, "dashboard", "--store", `sqlite:${file}`], {
          env: { ...process.env, DSPY_BRIDGE_TOKEN: token },
        }),
        (err: { code?: number; stderr?: string }) => {
          assert.equal(err.code, 1, err.stderr);
          assert.match(err.stderr ?? "", /in use by a running host/);
          return true;
        },
      );
    } finally {
      await bridge.close();
    }
    before_ = digest(file);
    dashboard = await startDashboard(`sqlite:${file}`, token);
    browser = await puppeteer.launch({
      executablePath: chromium.path!,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    });
    page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 1000 });
  });
  after(async () => {
    await browser?.close();
    if (dashboard) await stop(dashboard.child);
  });

  test("the ready line gives the address (without the token); without the token: refused; with it: the state", async () => {
    const { ready } = dashboard;
    assert.equal(ready.event, "ready");
    assert.equal(ready.store, "sqlite");
    assert.equal(ready.sessions, SESSIONS);
    assert.equal(ready.runs, 1);
    const address = ready.dashboard as string;
    assert.match(address, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.equal((await fetch(`${address}api/state`)).status, 401);
    const auth = { authorization: `Bearer ${token}` };
    const state = (await (await fetch(`${address}api/state`, { headers: auth })).json()) as {
      source: string;
      workers: unknown;
      sessions: { sessionId: string; variables: number }[];
      variables: { sessionId: string; variables: unknown[] };
    };
    assert.equal(state.source, "store");
    assert.equal(state.workers, null);
    assert.equal(state.sessions.length, SESSIONS);
    assert.ok(state.sessions.every((s) => s.variables === VARIABLES));
    assert.equal(state.variables.sessionId, sid(0));
    assert.equal(state.variables.variables.length, VARIABLES);
    const history = (await (await fetch(`${address}api/history/${sid(7)}/${vname(3)}`, { headers: auth })).json()) as {
      history: { version: number; value: string }[];
    };
    assert.deepEqual(
      history.history.map((h) => [h.version, h.value]),
      [
        [4, "0.33"],
        [3, "0.22"],
        [2, "0.11"],
        [1, shown(initial(7, 3))],
      ],
    );
    assert.equal((await fetch(address, { method: "POST", headers: auth })).status, 405, "read-only");
  });

  test("the page shows the sessions, their variables, a variable's history and the 1,000-trial run", async () => {
    await page.goto(`${dashboard.ready.dashboard as string}?token=${encodeURIComponent(token)}`);
    assert.equal(new URL(page.url()).search, "", "the token leaves the address bar");
    const cell = (i: number, j: number) => `[data-variable="${sid(i)}/${vname(j)}"]`;
    await page.waitForSelector(cell(0, 0), { timeout: 10_000 });
    assert.match(
      await page.$eval("#source", (e) => e.textContent ?? ""),
      /stored state \(sqlite\), read-only, no workers/,
    );
    assert.equal(await page.$("#workers"), null, "no workers over a stored state");
    assert.equal(await page.$eval("#session-count", (e) => e.textContent), String(SESSIONS));
    assert.equal((await page.$$("[data-session]")).length, SESSIONS);
    assert.equal(await page.$eval("#variable-count", (e) => e.textContent), String(VARIABLES));
    assert.equal((await page.$$(`[data-variable^="${sid(0)}/"]`)).length, VARIABLES);
    for (const j of [0, 10, 49, 50, 99])
      assert.equal(await page.$eval(cell(0, j), (e) => e.textContent), shown(initial(0, j)));
    // Another session: its variables are read when it is shown.
    await page.click(`[data-session="${sid(7)}"]`);
    await page.waitForSelector(cell(7, 3), { timeout: 5_000 });
    assert.equal((await page.$$(`[data-variable^="${sid(7)}/"]`)).length, VARIABLES);
    assert.equal(await page.$eval(cell(7, 3), (e) => e.textContent), "0.33");
    assert.equal(await page.$eval(cell(7, 3), (e) => e.getAttribute("data-version")), "4");
    assert.equal(await page.$eval(cell(7, 60), (e) => e.textContent), shown(initial(7, 60)));
    // Its history, newest first.
    await page.click(cell(7, 3));
    await page.waitForFunction(() => document.querySelectorAll("#history [data-history-version]").length === 4, {
      timeout: 5_000,
    });
    const versions = await page.$$eval("#history [data-history-version]", (rows) =>
      rows.map((r) => [r.getAttribute("data-history-version"), r.querySelector(".value")?.textContent]),
    );
    assert.deepEqual(versions, [
      ["4", "0.33"],
      ["3", "0.22"],
      ["2", "0.11"],
      ["1", shown(initial(7, 3))],
    ]);
    // The run: listed, plotted with all its trials.
    assert.equal(await page.$eval("#run-count", (e) => e.textContent), "1");
    const plot = `[data-run-plot="${runId}"]`;
    await page.waitForSelector(plot, { timeout: 5_000 });
    assert.equal(await page.$eval(plot, (e) => e.getAttribute("data-points")), String(TRIALS));
    assert.ok((await page.$$(`${plot} canvas`)).length >= 1, "uPlot drew its canvas");
    assert.match(await page.$eval(`[data-run="${runId}"]`, (e) => e.textContent ?? ""), /exhausted/);
    const firstPaint = await page.evaluate(() => performance.getEntriesByName("dashboard:first-paint")[0]?.startTime);
    assert.equal(typeof firstPaint, "number", "the page marks its first paint");
    console.error(
      `[dashboard-store.test] first paint of the large stored state: ${firstPaint!.toFixed(0)} ms (not a target here: bench/dashboard.mjs)`,
    );
    // The filter: ten variables, and the history under them in the screenshot.
    await page.type('input[placeholder="filter variables"]', "v00");
    await page.waitForFunction(
      (prefix) => document.querySelectorAll(`[data-variable^="${prefix}"]`).length === 10,
      { timeout: 5_000 },
      `${sid(7)}/`,
    );
    await page.screenshot({ path: screenshotPath("dashboard-stored.png"), fullPage: true });
  });

  test("read-only: the file is unchanged, and the command stops on SIGTERM", async () => {
    assert.equal(await stop(dashboard.child), 0);
    assert.match(dashboard.stdout(), /"event":"stopped"/);
    assert.equal(digest(file), before_, "the SQLite file is byte for byte the same");
    // What the command opens: reads served, a write refused, saying why.
    const store = await openStoreReadOnly(`sqlite:${file}`);
    try {
      assert.equal((await store.get(sid(7), vname(3))).value, 0.33);
      await assert.rejects(store.set(sid(7), vname(3), 0.5), /open read-only/);
      assert.equal((await store.get(sid(7), vname(3))).version, 4);
    } finally {
      await store.close();
    }
    assert.equal(digest(file), before_);
  });
});

describe("dashboard --store redis://: live, following the hosts", { skip }, () => {
  test("a variable a host sets shows up in the page", async () => {
    const { startRedis } = (await import(pathToFileURL(join(repoRoot, "scripts/redis.mjs")).href)) as {
      startRedis(): Promise<{ url: string; stop(): Promise<void> }>;
    };
    const server = await startRedis();
    const store = `${server.url}?prefix=dash-live:`;
    const token = randomBytes(24).toString("base64url");
    const bridge = await Bridge.start({ workers: 1, preload: [], healthIntervalMs: 0, store, ...quietLogs });
    let dashboard: Awaited<ReturnType<typeof startDashboard>> | undefined;
    const browser = await puppeteer.launch({
      executablePath: chromium.path!,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    });
    try {
      const session = await bridge.sessions.create({ id: "shared" });
      await session.variables.define("temperature", "float", 0.5);
      dashboard = await startDashboard(store, token);
      assert.equal(dashboard.ready.store, "redis");
      const page = await browser.newPage();
      await page.goto(`${dashboard.ready.dashboard as string}?token=${encodeURIComponent(token)}`);
      const cell = '[data-variable="shared/temperature"]';
      await page.waitForSelector(cell, { timeout: 10_000 });
      assert.equal(await page.$eval(cell, (e) => e.textContent), "0.5");
      await session.variables.set("temperature", 0.75);
      await page.waitForFunction(
        (sel) => document.querySelector(sel)?.textContent === "0.75",
        { timeout: 5_000 },
        cell,
      );
      await session.variables.define("top_k", "integer", 3);
      await page.waitForFunction(() => document.querySelector("#variable-count")?.textContent === "2", {
        timeout: 5_000,
      });
      assert.equal(
        await bridge.store.get("shared", "temperature").then((v) => v.version),
        2,
        "nothing written by the dashboard",
      );
    } finally {
      await browser.close();
      if (dashboard) assert.equal(await stop(dashboard.child), 0);
      await bridge.close();
      await server.stop();
    }
  });
});
