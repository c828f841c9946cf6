// `npm install dspy-bridge` in an app: the package is packed (scripts/pack.mjs --stage, then
// `npm pack`), installed into a new app in the system's temporary folder, outside the
// repository, and the app's own script (fixtures/install-app/app.mjs) is run there with node.
// Each test gives it an empty environment cache (DSPY_BRIDGE_CACHE_DIR), so the managed
// Python environment is built from nothing; uv's and pip's download caches are shared
// (.cache/ in the repository, gitignored: only a first run downloads the packages).
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { PROTOCOL_VERSION } from "../src/gen/constants.js";
import { fixturesDir, repoRoot } from "./helpers.js";

const exec = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), "dspy-bridge-install-test-"));
const app = join(work, "app");
const sharedCache = join(repoRoot, ".cache");
/** Timings of this run, printed at the end (docs/benchmarks.md, "Install"). */
const timings: Record<string, number> = {};

interface Progress {
  progress: string;
  message: string;
  elapsedMs: number;
}
interface AppResult {
  startMs: number;
  where: { executable: string; prefix: string; dspy_bridge: string; python: string };
  within?: string[];
  cot?: { fields: Record<string, string>; temperature: number };
  cancelled?: string;
  cancelMs?: number;
  pingAfterCancel?: unknown;
}
interface AppRun {
  code: number | null;
  progress: Progress[];
  result: AppResult | undefined;
  error: { name: string; message: string } | null | undefined;
  stderr: string;
}

function appEnv(cacheDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DSPY_BRIDGE_CACHE_DIR: cacheDir,
    UV_CACHE_DIR: join(sharedCache, "uv"),
    PIP_CACHE_DIR: join(sharedCache, "pip"),
    ...extra,
  };
  for (const k of [
    "DSPY_BRIDGE_PYTHON",
    "DSPY_BRIDGE_FIND_LINKS",
    "DSPY_BRIDGE_INSTALLER",
    "PYTHONPATH",
    "VIRTUAL_ENV",
  ])
    if (!(k in extra)) delete env[k];
  return env;
}

/** `node app.mjs <mode>` in the app's folder; `onProgress` sees each progress line as it comes. */
function startApp(
  mode: string,
  env: NodeJS.ProcessEnv,
  onProgress?: (p: Progress, child: ChildProcess) => void,
): { child: ChildProcess; done: Promise<AppRun> } {
  const child = spawn(process.execPath, ["app.mjs", mode], {
    cwd: app,
    env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const run: AppRun = { code: null, progress: [], result: undefined, error: undefined, stderr: "" };
  let buf = "";
  child.stdout!.on("data", (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let msg: { progress?: string; result?: AppResult; error?: AppRun["error"] };
      try {
        msg = JSON.parse(line);
      } catch {
        continue;
      }
      if (msg.progress) {
        run.progress.push(msg as Progress);
        onProgress?.(msg as Progress, child);
      } else if ("result" in msg) run.result = msg.result;
      else if ("error" in msg) run.error = msg.error;
    }
  });
  child.stderr!.on("data", (d: Buffer) => (run.stderr = (run.stderr + d.toString()).slice(-20_000)));
  const done = new Promise<AppRun>((resolve) => child.on("close", (code) => resolve({ ...run, code })));
  return { child, done };
}

async function runApp(mode: string, env: NodeJS.ProcessEnv): Promise<AppRun> {
  const r = await startApp(mode, env).done;
  if (r.code !== 0 || (!r.result && r.error === undefined))
    assert.fail(`node app.mjs ${mode} exited with ${r.code}\nstderr:\n${r.stderr}`);
  return r;
}

const phases = (r: AppRun) => r.progress.map((p) => p.progress);
const envDirs = (cache: string) => (existsSync(join(cache, "envs")) ? readdirSync(join(cache, "envs")) : []);
const newCache = (name: string) => {
  const dir = join(work, `cache-${name}`);
  mkdirSync(dir);
  return dir;
};
let uvFromFirstBuild: string | undefined;

before(async () => {
  mkdirSync(sharedCache, { recursive: true });
  let t0 = performance.now();
  const stageDir = join(work, "package");
  await exec(process.execPath, [join(repoRoot, "scripts/pack.mjs"), "--stage", stageDir], { cwd: repoRoot });
  const { stdout } = await exec("npm", ["pack", stageDir, "--ignore-scripts", "--pack-destination", work, "--json"], {
    cwd: work,
  });
  const packed = (JSON.parse(stdout) as { filename: string; files: { path: string }[] }[])[0]!;
  timings.packMs = performance.now() - t0;
  const files = packed.files.map((f) => f.path);
  for (const f of [
    "README.md",
    "LICENSE",
    "package.json",
    "bin/dspy-bridge.js",
    "dist/src/index.js",
    "dist/src/index.d.ts",
    "python/manifest.json",
    "python/requirements.lock",
  ]) {
    assert.ok(files.includes(f), `the tarball has ${f}`);
  }
  assert.ok(
    files.some((f) => /^python\/dspy_bridge-.*-py3-none-any\.whl$/.test(f)),
    "the tarball has the wheel",
  );
  assert.deepEqual(
    files.filter((f) => f.endsWith(".map") || f.startsWith("src/") || f.startsWith("dist/test")),
    [],
    "no source maps, sources or tests",
  );

  mkdirSync(app);
  writeFileSync(
    join(app, "package.json"),
    JSON.stringify({ name: "install-test-app", private: true, type: "module" }, null, 2),
  );
  t0 = performance.now();
  await exec("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", join(work, packed.filename)], {
    cwd: app,
    maxBuffer: 16 * 1024 * 1024,
  });
  timings.npmInstallMs = performance.now() - t0;
  cpSync(join(fixturesDir, "install-app"), app, { recursive: true });
});

test("the install brings no store client (nothing compiles); asking for their stores names the package to install", async () => {
  for (const pkg of ["better-sqlite3", "ioredis"])
    assert.equal(existsSync(join(app, "node_modules", pkg)), false, `${pkg} was installed`);
  const probe = `import { openStore } from "dspy-bridge";
for (const spec of ["sqlite:./x.db", "redis://127.0.0.1:1/0"]) {
  try { await openStore(spec); console.log("opened"); } catch (e) { console.log(JSON.stringify({ name: e.name, reason: e.reason, message: e.message })); }
}`;
  const { stdout } = await exec(process.execPath, ["--input-type=module", "-e", probe], { cwd: app });
  const [sqlite, redis] = stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { name: string; reason: string; message: string });
  assert.equal(sqlite!.reason, "failed_precondition");
  assert.match(sqlite!.message, /npm install better-sqlite3/);
  assert.equal(redis!.reason, "failed_precondition");
  assert.match(redis!.message, /npm install ioredis/);
});

after(() => {
  console.error(
    `[install] ${Object.entries(timings)
      .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`)
      .join(", ")}`,
  );
  rmSync(work, { recursive: true, force: true });
});

describe("npm install of the package into a new app", { timeout: 15 * 60_000 }, () => {
  test("the first start builds the managed environment; the app's command (asyncio.timeout), a bound scripted ChainOfThought and a cancelled call work", async () => {
    const cache = newCache("first");
    const t0 = performance.now();
    const r = await runApp("full", appEnv(cache));
    timings.firstRunMs = performance.now() - t0;
    timings.firstStartMs = r.result!.startMs;
    for (const phase of ["python", "venv", "install", "verify", "ready"])
      assert.ok(phases(r).includes(phase), `progress has ${phase}: ${phases(r)}`);
    const [env] = envDirs(cache).filter((n) => !n.endsWith(".json"));
    assert.ok(env, "one environment in the cache");
    const res = r.result!;
    assert.equal(res.where.prefix, join(cache, "envs", env!), "the worker runs the managed environment");
    assert.ok(
      res.where.dspy_bridge.startsWith(join(cache, "envs", env!)),
      "dspy_bridge comes from the environment, not a checkout",
    );
    assert.deepEqual(res.within, ["done", "timed out"], "asyncio.timeout works in a user command");
    assert.equal(res.cot!.temperature, 0.9, "the bound temperature reaches the LM");
    assert.match(res.cot!.fields.answer!, /sky/);
    assert.equal(res.cancelled, "CancelledError");
    assert.ok(res.cancelMs! < 10_000);
    assert.deepEqual(res.pingAfterCancel, { ok: true });
    uvFromFirstBuild = join(cache, "uv");

    // A later start: no building, nothing spawned to find the interpreter.
    const again = await runApp("start", appEnv(cache));
    assert.deepEqual(phases(again), []);
    assert.equal(again.result!.where.prefix, res.where.prefix);
    timings.laterStartMs = again.result!.startMs;

    // doctor, as the app runs it: the environment, dspy_bridge of the host's protocol, DSPy.
    const doctor = await exec("npx", ["dspy-bridge", "doctor", "--json", "--workers", "1"], {
      cwd: app,
      env: appEnv(cache),
    });
    const steps = doctor.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(steps.find((s) => s.step === "environment")?.dir, res.where.prefix);
    assert.deepEqual(
      {
        protocol: steps.find((s) => s.step === "dspy_bridge")?.protocol_version,
        pool: steps.find((s) => s.step === "pool")?.ok,
      },
      { protocol: PROTOCOL_VERSION, pool: true }, // the installed Python speaks the host's protocol
    );
    // ... and with nothing built yet it names the fix that works in an app.
    const empty = await exec("npx", ["dspy-bridge", "doctor", "--workers", "1"], {
      cwd: app,
      env: appEnv(newCache("doctor-empty")),
    }).then(
      () => assert.fail("doctor passed without an environment"),
      (e: { code?: number; stdout?: string; stderr?: string }) => e,
    );
    assert.equal(empty.code, 1);
    assert.match(`${empty.stdout}${empty.stderr}`, /npx dspy-bridge setup/);
    assert.doesNotMatch(`${empty.stdout}${empty.stderr}`, /npm run setup/);
  });

  // These two build in caches of their own and assert nothing about time, so they run at
  // once: a build is mostly one core's import and bytecode compile and the machine has two,
  // so the pair takes about the longer one's time instead of the sum of both.
  describe("builds against empty caches, side by side", { concurrency: true }, () => {
    test("two processes starting at once against an empty cache both succeed; one builds, the other waits", async () => {
      const cache = newCache("concurrent");
      const env = appEnv(cache, uvEnv());
      const [a, b] = await Promise.all([runApp("start", env), runApp("start", env)]);
      assert.equal(a.result!.where.prefix, b.result!.where.prefix);
      const builders = [a, b].filter((r) => phases(r).includes("install"));
      assert.equal(builders.length, 1, `exactly one built: ${phases(a)} / ${phases(b)}`);
      const waiter = a === builders[0] ? b : a;
      assert.ok(phases(waiter).includes("wait"), `the other waited: ${phases(waiter)}`);
      assert.deepEqual(
        envDirs(cache).filter((n) => !n.endsWith(".json")),
        [a.result!.where.prefix.split("/").pop()],
        "one environment, no leftovers, no lock",
      );
    });

    test("an environment whose build was killed half-way is found incomplete and rebuilt; so is one without its marker", async () => {
      const cache = newCache("killed");
      const env = appEnv(cache, uvEnv());
      const killed = startApp("start", env, (p, child) => {
        // uv is installing: kill the app and everything it started, as a closed terminal would.
        if (p.progress === "install") setTimeout(() => process.kill(-child.pid!, "SIGKILL"), 1_500);
      });
      const k = await killed.done;
      assert.equal(k.result, undefined, "the killed start did not finish");
      assert.ok(phases(k).includes("install"));
      const left = envDirs(cache);
      assert.ok(
        left.some((n) => n.includes(".tmp-")),
        `a half-built folder is left: ${left}`,
      );
      assert.ok(
        left.some((n) => n.endsWith(".lock")),
        `the dead process's lock is left: ${left}`,
      );

      const r = await runApp("start", env);
      assert.ok(phases(r).includes("install"), `rebuilt: ${phases(r)}`);
      assert.ok(!phases(r).includes("wait"), "a dead process's lock is not waited for");
      const name = r.result!.where.prefix.split("/").pop()!;
      assert.deepEqual(
        envDirs(cache).filter((n) => !n.endsWith(".json")),
        [name],
        "the half-built folder and the lock are gone",
      );

      // A complete-looking folder without its marker (the marker is written last).
      unlinkSync(join(cache, "envs", name, "dspy-bridge-env.json"));
      const again = await runApp("start", env);
      assert.ok(phases(again).includes("install"), `rebuilt without a marker: ${phases(again)}`);
      assert.equal(again.result!.where.prefix, r.result!.where.prefix);
    });
  });

  test("the user's own interpreter without dspy_bridge: the start error says how to install it", async () => {
    const r = await runApp(
      "own",
      appEnv(newCache("own"), { APP_PYTHON: process.env.DSPY_BRIDGE_PYTHON_BASE || "python3" }),
    );
    assert.equal(r.error?.name, "WorkerStartError", JSON.stringify(r.error));
    assert.match(r.error!.message, /No module named/);
    assert.match(
      r.error!.message,
      /-m pip install \S+\/node_modules\/dspy-bridge\/python\/dspy_bridge-[\d.]+-py3-none-any\.whl/,
    );
  });
});

/** Later tests reuse the uv the first one installed (the bootstrap is tested once). */
function uvEnv(): Record<string, string> {
  if (!uvFromFirstBuild) return {};
  const versions = existsSync(uvFromFirstBuild)
    ? readdirSync(uvFromFirstBuild).filter((n) => !n.includes(".tmp-"))
    : [];
  return versions[0] ? { DSPY_BRIDGE_UV: join(uvFromFirstBuild, versions[0], "bin", "uv") } : {};
}
