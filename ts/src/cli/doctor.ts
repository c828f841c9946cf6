// `dspy-bridge doctor`: can this machine run the bridge? Each check says what it found.
import { spawnSync } from "node:child_process";
import { Bridge } from "../pool/index.js";
import { defaultPython } from "../pool/options.js";
import { runCodeArgs } from "../pool/python-launch.js";
import type { CliFlags } from "./main.js";
import { Reporter } from "./report.js";

export async function runDoctor(flags: CliFlags): Promise<number> {
  const r = new Reporter(flags.json);
  const python = defaultPython();
  r.section("Python");
  const probe = spawnSync(python, runCodeArgs("import dspy, grpc, google.protobuf as pb; print(sys.version.split()[0], dspy.__version__, grpc.__version__, pb.__version__)"), {
    encoding: "utf8",
  });
  if (probe.status !== 0) {
    r.fail("python", `${python} cannot import the Python dependencies: ${probe.stderr || probe.error?.message}. Run \`npm run setup\`.`);
    return 1;
  }
  const [py, dspy, grpc, protobuf] = probe.stdout.trim().split(" ");
  r.step("python", `${python}: Python ${py}, dspy ${dspy}, grpcio ${grpc}, protobuf ${protobuf}`, { python, py, dspy, grpc, protobuf });
  r.section("Worker pool");
  const t0 = performance.now();
  try {
    const bridge = await Bridge.start({ workers: flags.workers, onLog: () => {} });
    const ms = performance.now() - t0;
    await bridge.execute("ping");
    r.step("pool", `${flags.workers} workers ready in ${ms.toFixed(0)} ms; ping answered`, { ok: true, ms: Math.round(ms) });
    await bridge.close();
  } catch (err) {
    r.fail("pool", err);
    return 1;
  }
  return 0;
}
