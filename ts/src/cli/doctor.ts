// `dspy-bridge doctor`: can this app run the bridge? Each check says what it found and, when
// it fails, the fix that works in an app that installed the package (not in the repository).
import { spawnSync } from "node:child_process";
import { Bridge } from "../bridge.js";
import { defaultPython } from "../pool/options.js";
import { checkoutRoot, pythonEnvStatus, shippedWheel } from "../pool/python-env.js";
import { runModuleArgs } from "../pool/python-launch.js";
import { parseStoreSpec } from "../store/index.js";
import { PROTOCOL_VERSION } from "../gen/constants.js";
import type { CliFlags } from "./flags.js";
import { Reporter } from "./report.js";

const MIN_NODE_MAJOR = 20;

interface CheckInfo {
  python: string;
  executable: string;
  dspy_bridge: string;
  protocol_version: number;
  dspy?: string;
}

export async function runDoctor(flags: CliFlags): Promise<number> {
  const r = new Reporter(flags.json);
  r.section("Node");
  const nodeMajor = Number(process.versions.node.split(".")[0]);
  if (nodeMajor < MIN_NODE_MAJOR) {
    r.fail("node", `Node.js ${process.versions.node}: dspy-bridge needs Node.js ${MIN_NODE_MAJOR} or newer`);
    return 1;
  }
  r.step("node", `Node.js ${process.versions.node}`, { node: process.versions.node });

  r.section("Python");
  const own = process.env.DSPY_BRIDGE_PYTHON;
  const wheel = shippedWheel();
  if (!own && !checkoutRoot) {
    const status = pythonEnvStatus();
    if (!status.current) {
      r.fail(
        "environment",
        `no managed Python environment in ${status.cacheDir} yet: run \`npx dspy-bridge setup\` (the first Bridge.start() also builds it)`,
      );
      return 1;
    }
    r.step("environment", `managed environment ${status.current.dir}`, {
      dir: status.current.dir,
      key: status.current.key,
    });
  }
  const python = defaultPython();
  const fix = own
    ? `install the package into that interpreter: ${python} -m pip install ${wheel ?? "<the dspy_bridge wheel shipped in node_modules/dspy-bridge/python/>"}`
    : checkoutRoot
      ? "run `npm run setup` in the repository"
      : "run `npx dspy-bridge setup --force` to rebuild the managed environment";
  const probe = spawnSync(python, runModuleArgs("dspy_bridge._check"), { encoding: "utf8", timeout: 120_000 });
  let info: CheckInfo;
  try {
    if (probe.status !== 0)
      throw new Error(
        (probe.stderr || probe.error?.message || `exit code ${probe.status}`).trim().split("\n").slice(-1)[0],
      );
    info = JSON.parse(probe.stdout.trim().split("\n").pop() ?? "") as CheckInfo;
  } catch (err) {
    r.fail("python", `${python} cannot run dspy_bridge (${err instanceof Error ? err.message : String(err)}): ${fix}`);
    return 1;
  }
  const [major, minor] = info.python.split(".").map(Number);
  if (major !== 3 || (minor ?? 0) < 10) {
    r.fail("python", `${info.executable} is Python ${info.python}; dspy-bridge needs Python 3.10 to 3.13`);
    return 1;
  }
  r.step("python", `${info.executable}: Python ${info.python}`, { python: info.executable, version: info.python });
  if (info.protocol_version !== PROTOCOL_VERSION) {
    r.fail(
      "dspy_bridge",
      `dspy_bridge ${info.dspy_bridge} speaks worker protocol ${info.protocol_version}, this host ${PROTOCOL_VERSION}: ${fix}`,
    );
    return 1;
  }
  r.step(
    "dspy_bridge",
    `dspy_bridge ${info.dspy_bridge} (protocol ${info.protocol_version}), DSPy ${info.dspy ?? "not importable"}`,
    {
      dspy_bridge: info.dspy_bridge,
      protocol_version: info.protocol_version,
      dspy: info.dspy ?? null,
    },
  );

  if (flags.store) {
    r.section("Store");
    const backend = parseStoreSpec(flags.store).backend;
    const pkg = backend === "sqlite" ? "better-sqlite3" : backend === "redis" ? "ioredis" : undefined;
    if (pkg) {
      try {
        await import(pkg);
        r.step("store", `${backend} store: ${pkg} is installed`, { backend, package: pkg });
      } catch {
        r.fail("store", `the ${backend} store needs the ${pkg} package: run \`npm install ${pkg}\` in your app`);
        return 1;
      }
    } else r.step("store", "memory store: nothing to install", { backend });
  }

  r.section("Worker pool");
  const t0 = performance.now();
  try {
    const bridge = await Bridge.start({ workers: flags.workers, onLog: () => {} });
    const ms = performance.now() - t0;
    await bridge.execute("ping");
    r.step("pool", `${flags.workers} workers ready in ${ms.toFixed(0)} ms; ping answered`, {
      ok: true,
      ms: Math.round(ms),
    });
    await bridge.close();
  } catch (err) {
    r.fail("pool", err);
    return 1;
  }
  return 0;
}
