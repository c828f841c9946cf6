// The dashboard in a real headless Chromium (Debian's package, installed by
// scripts/chromium.mjs when missing; driven by puppeteer-core): it refuses access without the
// host's token; with it, it shows a session and a variable set beforehand, follows a variable
// set from TypeScript within a second, plots an optimization run as its trials land, and shows
// a failed call's Python traceback. The screenshots it takes are docs/dashboard-*.png.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { pathToFileURL } from "node:url";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { Bridge, type Session } from "../src/index.js";
import { quietLogs, repoRoot, screenshotPath } from "./helpers.js";

// The functions given to waitForFunction run in the page: its `document`, not Node's.
interface PageElement {
  textContent: string | null;
  getAttribute(name: string): string | null;
}
declare const document: {
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): Iterable<PageElement>;
};

const { findChromium } = (await import(pathToFileURL(join(repoRoot, "scripts/chromium.mjs")).href)) as {
  findChromium: (o?: { install?: boolean }) => { path?: string; why?: string };
};
const chromium = findChromium();
const skip = chromium.path ? false : `no Chromium for the browser test: ${chromium.why}`;
if (skip) console.error(`[dashboard.test] SKIPPED: ${skip}`);

let bridge: Bridge;
let browser: Browser;
let page: Page;
let session: Session;
let origin: string;
const shot = (name: string) => page.screenshot({ path: screenshotPath(`dashboard-${name}.png`), fullPage: true });

before(async () => {
  if (skip) return;
  bridge = await Bridge.start({
    workers: 1,
    preload: ["dspy"],
    healthIntervalMs: 0,
    dashboard: { listen: "127.0.0.1:0" },
    ...quietLogs,
  });
  session = await bridge.sessions.create({ id: "tuning" });
  await session.variables.define("temperature", "float", 0.7, { constraints: { min: 0, max: 1 } });
  await session.variables.define("instructions", "string", "Answer briefly.");
  origin = new URL(bridge.dashboardUrl!).origin;
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
  await bridge?.close();
});

const cell = (name: string) => `[data-variable="tuning/${name}"]`;

test("without the token: refused, the page and its data alike", { skip }, async () => {
  const res = await page.goto(`${origin}/`);
  assert.equal(res?.status(), 401);
  assert.match(await page.content(), /Access refused/);
  assert.equal((await page.goto(`${origin}/api/state`))?.status(), 401);
  assert.equal((await page.goto(`${origin}/?token=${"x".repeat(43)}`))?.status(), 401, "a wrong token");
});

test("with the token: the session and its variables, live; a variable set from TypeScript shows within a second", {
  skip,
}, async () => {
  const started = performance.now();
  await page.goto(bridge.dashboardUrl!);
  assert.equal(new URL(page.url()).search, "", "the token leaves the address bar");
  await page.waitForSelector(cell("temperature"), { timeout: 10_000 });
  const firstPaintMs = performance.now() - started;
  assert.equal(await page.$eval(cell("temperature"), (e) => e.textContent), "0.7");
  assert.equal(await page.$eval(cell("instructions"), (e) => e.textContent), '"Answer briefly."');
  const set = performance.now();
  await session.variables.set("temperature", 0.25);
  await page.waitForFunction(
    (sel) => document.querySelector(sel)?.textContent === "0.25",
    { timeout: 1_000 },
    cell("temperature"),
  );
  const updateMs = performance.now() - set;
  console.error(
    `[dashboard.test] first paint ${firstPaintMs.toFixed(0)} ms; variable update visible after ${updateMs.toFixed(0)} ms`,
  );
  assert.ok(updateMs < 1_000);
  await shot("sessions");
});

test("an optimization run is plotted as its trials land", { skip }, async () => {
  // The objective waits for the test to let each trial finish: the plot is checked between trials.
  const gates: (() => void)[] = [];
  let opened = 0;
  const next = () => new Promise<void>((resolve) => gates.push(resolve));
  const waiting: (() => void)[] = [];
  bridge.tools.register("gated_peak", async (args) => {
    opened++;
    for (const w of waiting.splice(0)) w();
    await next();
    return 1 - Math.abs((args.temperature as number) - 0.3);
  });
  const trialOpen = (n: number): Promise<void> =>
    opened >= n ? Promise.resolve() : new Promise<void>((resolve) => waiting.push(resolve)).then(() => trialOpen(n));
  const target = { variable: "temperature" };
  const id = bridge.optimization.start("tuning", target, {
    optimizer: "random",
    objective: "gated_peak",
    maxIterations: 6,
    patience: 100,
    seed: 3,
  });
  const plot = `[data-run-plot="${id}"]`;
  for (let k = 1; k <= 3; k++) {
    await trialOpen(k);
    gates.shift()!();
    await page.waitForFunction(
      (sel, n) => document.querySelector(sel)?.getAttribute("data-points") === String(n),
      { timeout: 5_000 },
      plot,
      k,
    );
  }
  await shot("run-in-progress");
  for (let k = 4; k <= 6; k++) {
    await trialOpen(k);
    gates.shift()!();
  }
  await bridge.optimization.wait("tuning", target);
  await page.waitForFunction(
    (sel) => document.querySelector(sel)?.getAttribute("data-points") === "6",
    { timeout: 5_000 },
    plot,
  );
  await page.waitForFunction(
    (rid) => document.querySelector(`[data-run="${rid}"]`)?.textContent?.includes("exhausted"),
    { timeout: 5_000 },
    id,
  );
  const points = await page.$eval(plot, (e) => e.querySelectorAll("canvas").length);
  assert.ok(points >= 1, "uPlot drew its canvas");
  await shot("run");
});

test("a failed call shows with its Python traceback", { skip }, async () => {
  await assert.rejects(
    bridge.execute("fail", { message: "the dashboard test failed this on purpose", kind: "KeyError" }),
  );
  await page.waitForFunction(
    () =>
      [...document.querySelectorAll("pre.traceback")].some((p) =>
        p.textContent?.includes("the dashboard test failed this on purpose"),
      ),
    { timeout: 2_000 },
  );
  const text = await page.$eval("#errors", (e) => e.textContent ?? "");
  assert.match(text, /Traceback \(most recent call last\)/);
  assert.match(text, /builtins\.py/);
  await (await page.$("#errors"))!.scrollIntoView();
  await shot("errors");
});
