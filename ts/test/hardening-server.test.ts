// Hardening of the host as a server and as a process: the token file, unknown gRPC methods,
// restarts after `kill -9` (stale sockets, private temp folders), private sockets under any
// umask, the host's working directory kept off the workers' import path, O(1) sessions,
// exports and imports that do not block other clients, bounded YAML warnings.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Client, credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { BridgeServer } from "../src/bridge-service/bridge-server.js";
import { exportVariables, importVariables, type ImportSummary } from "../src/store/export-import.js";
import { InvalidArgumentError } from "../src/errors/index.js";
import { Store } from "../src/store/store.js";
import { HostListener } from "../src/transport/host-listener.js";
import { isAlive, repoRoot } from "./helpers.js";

const CLI = join(repoRoot, "ts/bin/dspy-bridge.js");

function tempDir(prefix = "dspy-bridge-hardening-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

interface Served {
  child: ChildProcess;
  ready: Promise<{ event: string; address: string; pid: number }>;
  exited: Promise<number | null>;
  output: () => { stdout: string; stderr: string };
}

/** `dspy-bridge serve ...` with one worker and no preloads unless `args` say otherwise. */
function serve(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Served {
  const env = { ...process.env, ...options.env };
  delete env.DSPY_BRIDGE_TOKEN;
  const child = spawn(process.execPath, [CLI, "serve", "--workers", "1", ...args], {
    cwd: options.cwd,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const ready = new Promise<{ event: string; address: string; pid: number }>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ready line after 30 s; stdout: ${stdout}; stderr: ${stderr}`)),
      30_000,
    );
    child.stdout!.on("data", () => {
      const line = stdout.split("\n")[0]!;
      if (stdout.includes("\n")) {
        clearTimeout(timer);
        resolve(JSON.parse(line) as { event: string; address: string; pid: number });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}; stderr: ${stderr}`));
    });
  });
  ready.catch(() => {});
  return { child, ready, exited, output: () => ({ stdout, stderr }) };
}

/** Its exit code; a host still running after `ms` is killed and counts as "still running". */
async function exitCode(served: Served, ms = 30_000): Promise<number | null | "still running"> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"still running">((resolve) => (timer = setTimeout(() => resolve("still running"), ms)));
  const code = await Promise.race([served.exited, late]);
  clearTimeout(timer);
  if (code === "still running") await stop(served);
  return code;
}

async function stop(served: Served): Promise<void> {
  if (served.child.exitCode !== null || served.child.signalCode !== null) return;
  served.child.kill("SIGTERM");
  await served.exited;
}

describe("E: --token-file", () => {
  test("an existing 0644 token file is made 0600 before the secret is written into it", async () => {
    const dir = tempDir();
    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, "old contents\n", { mode: 0o644 });
    chmodSync(tokenFile, 0o644);
    const served = serve(["--listen", `unix:${join(dir, "b.sock")}`, "--preload", "", "--token-file", tokenFile]);
    try {
      await served.ready;
      assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
      const token = readFileSync(tokenFile, "utf8").trim();
      assert.notEqual(token, "old contents");
      assert.ok(token.length >= 32);
    } finally {
      await stop(served);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a token file that is a symbolic link, or belongs to another user, is refused with a clear error", async () => {
    const dir = tempDir();
    const target = join(dir, "elsewhere");
    writeFileSync(target, "", { mode: 0o644 });
    symlinkSync(target, join(dir, "link"));
    try {
      const viaLink = serve([
        "--listen",
        `unix:${join(dir, "b.sock")}`,
        "--preload",
        "",
        "--token-file",
        join(dir, "link"),
      ]);
      assert.equal(await exitCode(viaLink), 1);
      assert.match(viaLink.output().stderr, /symbolic link/);
      assert.equal(readFileSync(target, "utf8"), "");
      if (process.getuid?.() === 0) {
        const foreign = join(dir, "foreign");
        writeFileSync(foreign, "", { mode: 0o644 });
        chownSync(foreign, 65534, 65534);
        const other = serve(["--listen", `unix:${join(dir, "b.sock")}`, "--preload", "", "--token-file", foreign]);
        assert.equal(await exitCode(other), 1);
        assert.match(other.output().stderr, /belongs to uid 65534/);
        assert.equal(readFileSync(foreign, "utf8"), "");
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("N: unauthenticated calls", () => {
  /** A unary call to `path` with raw bytes; resolves with the status code. */
  function callRaw(
    address: string,
    path: string,
    token: string | undefined,
  ): Promise<{ code: number; details: string }> {
    const client = new Client(address, credentials.createInsecure());
    const metadata = new Metadata();
    if (token !== undefined) metadata.set("authorization", `Bearer ${token}`);
    return new Promise((resolve) => {
      client.makeUnaryRequest(
        path,
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.alloc(0),
        metadata,
        (err: ServiceError | null) => {
          client.close();
          resolve(err ? { code: err.code, details: err.details } : { code: status.OK, details: "" });
        },
      );
    });
  }

  test("any method, known or not, answers UNAUTHENTICATED without the token; UNIMPLEMENTED only with it", async () => {
    const dir = tempDir();
    const refused: string[] = [];
    const server = await BridgeServer.start({
      listen: `unix:${join(dir, "b.sock")}`,
      token: "s3cret",
      handlers: {},
      onLog: (l) => refused.push(l),
    });
    try {
      const address = `unix:${join(dir, "b.sock")}`;
      for (const path of [
        "/dspy_bridge.v1.BridgeService/NoSuchMethod",
        "/some.Other/Service",
        "/dspy_bridge.v1.BridgeService/Ping",
      ]) {
        assert.equal((await callRaw(address, path, undefined)).code, status.UNAUTHENTICATED, `${path} without a token`);
        assert.equal(
          (await callRaw(address, path, "wrong")).code,
          status.UNAUTHENTICATED,
          `${path} with a wrong token`,
        );
        assert.equal((await callRaw(address, path, "s3cret")).code, status.UNIMPLEMENTED, `${path} with the token`);
      }
      assert.ok(refused.some((l) => l.includes("/some.Other/Service")));
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("G: restart after kill -9", () => {
  /** A process listening on `path`, killed with SIGKILL: the socket file stays, nobody answers. Returns its pid. */
  async function killedListener(path: string): Promise<number> {
    const child = spawn(
      process.execPath,
      ["-e", `require("node:net").createServer().listen(${JSON.stringify(path)}, () => console.log("up"))`],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    await new Promise((r) => child.stdout!.once("data", r));
    const exited = new Promise((r) => child.on("exit", r));
    child.kill("SIGKILL");
    await exited;
    assert.ok(lstatSync(path).isSocket());
    assert.equal(isAlive(child.pid!), false);
    return child.pid!;
  }

  test("serve restarts on the same --listen path after kill -9; a live host on it is refused", async () => {
    const dir = tempDir();
    const sock = join(dir, "bridge.sock");
    const tokenFile = join(dir, "token");
    const first = serve(["--listen", `unix:${sock}`, "--preload", "", "--token-file", tokenFile]);
    let second: Served | undefined;
    let third: Served | undefined;
    try {
      await first.ready;
      // A second host while the first lives: refused, the first keeps its socket.
      second = serve(["--listen", `unix:${sock}`, "--preload", "", "--token-file", join(dir, "token2")]);
      assert.equal(await exitCode(second), 1);
      assert.match(second.output().stderr, /another host is listening on/);
      assert.ok(lstatSync(sock).isSocket());
      first.child.kill("SIGKILL");
      await first.exited;
      assert.ok(lstatSync(sock).isSocket(), "kill -9 leaves the socket file behind");
      third = serve(["--listen", `unix:${sock}`, "--preload", "", "--token-file", tokenFile]);
      const ready = await third.ready;
      assert.equal(ready.address, `unix:${sock}`);
      assert.equal(statSync(sock).mode & 0o777, 0o600);
    } finally {
      await stop(first);
      if (second) await stop(second);
      if (third) await stop(third);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a file at the --listen path that is not a socket is left alone and refused", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "data"), "precious");
    try {
      await assert.rejects(
        BridgeServer.start({ listen: `unix:${join(dir, "data")}`, token: "t", handlers: {}, onLog: () => {} }),
        /not a socket/,
      );
      assert.equal(readFileSync(join(dir, "data"), "utf8"), "precious");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the private temp folder of a dead host is removed at the next start; a live host's is kept", async () => {
    const listen = () =>
      HostListener.listen({
        token: "t",
        maxFrameBytes: 1 << 20,
        helloTimeoutMs: 1_000,
        onHello: () => {},
        onRejected: () => {},
      });
    const live = await listen();
    assert.match(readFileSync(join(live.dir, "pid"), "utf8"), new RegExp(`^dspy-bridge-host ${process.pid} `));
    // A host killed with -9 leaves its folder, its pid file and its socket behind.
    const deadDir = mkdtempSync(join(tmpdir(), "dspy-bridge-"));
    const deadPid = await killedListener(join(deadDir, "workers.sock"));
    writeFileSync(join(deadDir, "pid"), `dspy-bridge-host ${deadPid} 1\n`);
    // A host from before pid files: its socket alone says it is dead.
    const legacyDir = mkdtempSync(join(tmpdir(), "dspy-bridge-"));
    await killedListener(join(legacyDir, "workers.sock"));
    // A host whose pid this process cannot see (another pid namespace) but whose socket answers: kept.
    const unseenDir = mkdtempSync(join(tmpdir(), "dspy-bridge-"));
    writeFileSync(join(unseenDir, "pid"), `dspy-bridge-host ${deadPid} 1\n`);
    const unseen = createServer((s) => s.destroy());
    await new Promise<void>((r) => unseen.listen(join(unseenDir, "workers.sock"), r));
    // Another program's folder whose name only looks like ours.
    const foreignDir = join(tmpdir(), `dspy-bridge-${Math.random().toString(36).slice(2, 8).padEnd(6, "x")}`);
    mkdirSync(foreignDir);
    writeFileSync(join(foreignDir, "notes.txt"), "someone else's");
    const next = await listen();
    try {
      assert.equal(existsSync(deadDir), false, "the dead host's folder is removed");
      assert.equal(existsSync(legacyDir), false, "the folder of a dead host from before pid files is removed");
      assert.equal(existsSync(live.dir), true, "the live host's folder is kept");
      assert.equal(existsSync(unseenDir), true, "a folder whose socket answers is kept");
      assert.equal(existsSync(foreignDir), true, "a folder that is not a host's is kept");
    } finally {
      await next.close();
      await live.close();
      await new Promise((r) => unseen.close(r));
      for (const d of [foreignDir, deadDir, legacyDir, unseenDir]) rmSync(d, { recursive: true, force: true });
    }
  });
});

describe("O: private sockets", () => {
  test("under umask 000 no socket is ever reachable by others, and a --listen folder we create is 0700", async () => {
    const dir = tempDir();
    const deep = join(dir, "made", "by", "us", "b.sock");
    const open = join(dir, "open");
    mkdirSync(open);
    chmodSync(open, 0o755);
    const probe = spawn(process.execPath, [join(repoRoot, "ts/test/fixtures/umask-probe.mjs"), deep, open], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    probe.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    probe.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((r) => probe.on("exit", r));
    try {
      assert.equal(code, 0, out);
      const seen = JSON.parse(out.trim().split("\n").at(-1)!) as {
        exposures: { path: string; mode: number; exposed: number }[];
        final: { path: string; mode: number; folder: number }[];
        deepParent: number;
      };
      assert.equal(seen.exposures.length, 2, out);
      for (const e of seen.exposures)
        assert.equal(e.exposed, 0, `${e.path} was bound ${e.mode.toString(8)} where others could reach it`);
      assert.deepEqual(
        seen.final.map((f) => f.mode),
        [0o600, 0o600],
      );
      assert.equal(seen.final[0]!.folder, 0o700, "the folder we created for the socket is private");
      assert.equal(seen.deepParent, 0o700, "so are the folders above it that we created");
      assert.equal(seen.final[1]!.folder, 0o755, "the user's own folder is left as it was");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a group- or world-writable --listen folder the user chose is kept as it is, with a warning", async () => {
    const dir = tempDir();
    const shared = join(dir, "shared");
    mkdirSync(shared);
    chmodSync(shared, 0o777);
    const lines: string[] = [];
    const server = await BridgeServer.start({
      listen: `unix:${join(shared, "b.sock")}`,
      token: "t",
      handlers: {},
      onLog: (l) => lines.push(l),
    });
    try {
      assert.equal(statSync(shared).mode & 0o777, 0o777);
      assert.equal(statSync(join(shared, "b.sock")).mode & 0o777, 0o600);
      assert.ok(
        lines.some((l) => /writable by other users/.test(l)),
        lines.join("\n"),
      );
    } finally {
      await server.close();
      assert.equal(existsSync(join(shared, "b.sock")), false, "close removes the socket");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("F: the host's working directory", () => {
  /** Runs the cwd-import-host fixture in `cwd`; its JSON line, or the failure with its output. */
  function hostIn(
    cwd: string,
    options: Record<string, unknown>,
  ): Promise<{ register?: string; pid?: number; error?: string }> {
    const child = spawn(
      process.execPath,
      [join(repoRoot, "ts/test/fixtures/cwd-import-host.mjs"), JSON.stringify(options)],
      { cwd, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    return new Promise((resolve) =>
      child.on("exit", (code) =>
        resolve(
          code === 0
            ? (JSON.parse(stdout.trim().split("\n").at(-1)!) as { register?: string })
            : { error: `exit ${code}: ${stdout}${stderr}` },
        ),
      ),
    );
  }

  test("a dspy.py or an optimizer's module planted in the host's working directory is never imported by the workers", async () => {
    const cwd = tempDir();
    const marks = tempDir();
    writeFileSync(
      join(cwd, "dspy.py"),
      `open(${JSON.stringify(join(marks, "dspy"))}, "w").write("planted dspy.py ran")\n`,
    );
    writeFileSync(
      join(cwd, "json.py"),
      `open(${JSON.stringify(join(marks, "json"))}, "w").write("planted json.py ran")\n`,
    );
    writeFileSync(
      join(cwd, "planted_opt.py"),
      `open(${JSON.stringify(join(marks, "opt"))}, "w").write("planted optimizer ran")\nclass Planted:\n    def __init__(self, space): pass\n    def ask(self): return None\n    def tell(self, values, score): pass\n`,
    );
    try {
      const out = await hostIn(cwd, { preload: ["dspy"] });
      assert.equal(out.error, undefined, out.error);
      assert.deepEqual(readdirSync(marks), [], "nothing planted in the working directory ran");
      assert.match(out.register!, /InvalidArgumentError: .*cannot import module 'planted_opt'/);
      // The user's own pythonPath may still name the working directory: then it is theirs to import from
      // (without the planted json.py, which would then shadow the standard library's, as it should).
      rmSync(join(cwd, "json.py"));
      rmSync(join(cwd, "dspy.py"));
      const asked = await hostIn(cwd, { preload: [], pythonPath: ["."] });
      assert.equal(asked.register, "ok", asked.error);
      assert.ok(existsSync(join(marks, "opt")));
    } finally {
      rmSync(cwd, { recursive: true, force: true });
      rmSync(marks, { recursive: true, force: true });
    }
  });
});

describe("K: sessions at scale", () => {
  test("creating sessions costs the same with 20,000 of them as with none (no scan of every session per create)", async () => {
    const store = new Store();
    try {
      const batch = async (from: number) => {
        const t0 = performance.now();
        for (let i = from; i < from + 5_000; i++) await store.createSession({ sessionId: `s${i}`, ttlMs: 3_600_000 });
        return performance.now() - t0;
      };
      const first = await batch(0);
      await batch(5_000);
      await batch(10_000);
      const last = await batch(15_000);
      // A scan per create makes the last 5,000 about seven times slower than the first.
      assert.ok(last < 3 * first + 50, `the first 5,000 took ${first.toFixed(0)} ms, the last ${last.toFixed(0)} ms`);
      assert.equal((await store.listSessions()).length, 20_000);
    } finally {
      await store.close();
    }
  });

  test("TTL expiry is unchanged: idle sessions go when their TTL passes, used ones stay, deleted and re-created ones count afresh", async () => {
    let clock = 1_000_000;
    const store = new Store({ now: () => clock });
    try {
      for (let i = 0; i < 1_000; i++) await store.createSession({ sessionId: `t${i}`, ttlMs: i % 2 ? 1_000 : 2_000 });
      await store.createSession({ sessionId: "forever" });
      clock += 600;
      for (let i = 0; i < 1_000; i += 4) await store.getSession(`t${i + 1}`); // every other odd (1 s) session is used at +600
      await store.deleteSession("t3");
      await store.createSession({ sessionId: "t3", ttlMs: 5_000 });
      clock += 1_000; // +1600: the unused 1 s sessions are past their TTL; those used at +600 are exactly at it, not past
      assert.equal(await store.sweep(), 249);
      const alive = new Set((await store.listSessions()).map((s) => s.sessionId));
      assert.equal(alive.size, 1_000 - 249 + 1);
      assert.ok(alive.has("t1") && !alive.has("t7") && alive.has("t3") && alive.has("t0") && alive.has("forever"));
      clock += 1; // +1601: the 1 s sessions used at +600 are now past it too
      assert.equal(await store.sweep(), 250);
      clock += 400; // +2001: the 2 s sessions, never used
      assert.equal(await store.sweep(), 500);
      assert.deepEqual((await store.listSessions()).map((s) => s.sessionId).sort(), ["forever", "t3"]);
      clock += 5_000;
      assert.equal(await store.sweep(), 1);
      await assert.rejects(store.getSession("t3"), /not found/);
    } finally {
      await store.close();
    }
  });
});

describe("L: exports and imports do not block the host", () => {
  /** Runs `work` while reading a variable every 5 ms; the longest and the median wait of those reads (beyond their 5 ms). */
  async function readsDuring(
    store: Store,
    work: Promise<unknown>,
  ): Promise<{ max: number; median: number; reads: number; ms: number }> {
    const start = performance.now();
    let finished = false;
    void work.finally(() => (finished = true)).catch(() => {});
    const waits: number[] = [];
    while (!finished) {
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, 5));
      await store.get("big", "v1");
      waits.push(performance.now() - t0 - 5);
    }
    await work;
    waits.sort((a, b) => a - b);
    return {
      max: waits.at(-1) ?? 0,
      median: waits[waits.length >> 1] ?? 0,
      reads: waits.length,
      ms: performance.now() - start,
    };
  }

  test("during a 5,000-variable YAML export and import, another client's read answers within ~100 ms; progress is reported", async () => {
    const store = new Store();
    try {
      await store.createSession({ sessionId: "big" });
      await store.createSession({ sessionId: "copy" });
      for (let i = 0; i < 5_000; i += 1_000) {
        await store.register(
          "big",
          Array.from({ length: 1_000 }, (_, k) => ({
            name: `v${i + k}`,
            type: ["float", "string", "map"][k % 3]!,
            initialValue: [0.5, `text ${k}`, { a: k, b: [1, 2, { c: "d" }] }][k % 3],
            metadata: { who: "hardening" },
          })),
        );
      }
      const phases: string[] = [];
      let exported: Buffer | undefined;
      const onExport = await readsDuring(
        store,
        exportVariables(store, "big", { format: "yaml", onProgress: (p) => phases.push(p.phase) }).then(
          (r) => (exported = r.data),
        ),
      );
      assert.ok(onExport.reads > 5, `only ${onExport.reads} reads got in during the export`);
      assert.ok(onExport.median < 100, `reads waited ${onExport.median.toFixed(0)} ms (median) during the export`);
      // A blocked host makes a read wait for the whole export; a busy shared machine may pause any process now and then.
      assert.ok(
        onExport.max < Math.max(500, onExport.ms / 4),
        `a read waited ${onExport.max.toFixed(0)} ms during an export of ${onExport.ms.toFixed(0)} ms`,
      );
      assert.ok(phases.includes("read") && phases.includes("encode"), phases.join(","));
      let summary: ImportSummary | undefined;
      const onImport = await readsDuring(
        store,
        importVariables(store, "copy", exported!, { format: "yaml", dryRun: true }).then((s) => (summary = s)),
      );
      assert.deepEqual([summary!.imported, summary!.errors, summary!.warningCount], [5_000, 0, 0]);
      assert.ok(onImport.median < 100, `reads waited ${onImport.median.toFixed(0)} ms (median) during the import`);
      assert.ok(
        onImport.max < Math.max(500, onImport.ms / 4),
        `a read waited ${onImport.max.toFixed(0)} ms during an import of ${onImport.ms.toFixed(0)} ms`,
      );
      // What the worker thread parsed is what the export wrote.
      const real = await importVariables(store, "copy", exported!, { format: "yaml" });
      assert.equal(real.imported, 5_000);
      assert.deepEqual((await store.get("copy", "v2")).value, (await store.get("big", "v2")).value);
      const json = await exportVariables(store, "big", { format: "json" });
      const doc = JSON.parse(json.data.toString("utf8")) as { variables: unknown[] };
      assert.equal(
        json.data.toString("utf8"),
        JSON.stringify(doc, null, 2),
        "the JSON written a variable at a time is the usual JSON.stringify text",
      );
      assert.equal(doc.variables.length, 5_000);
    } finally {
      await store.close();
    }
  });
});

describe("L: imports parsed off the host's thread keep the JSON guards", () => {
  test("JSON nested too deep is refused before it is parsed, small (here) or large (in the worker); malformed YAML is typed", async () => {
    const store = new Store();
    try {
      await store.createSession({ sessionId: "deep" });
      const deep = "[".repeat(1_500) + "]".repeat(1_500);
      const small = `{"format":"dspy-bridge/variables","version":1,"variables":[],"x":${deep}}`;
      const large = `{"format":"dspy-bridge/variables","version":1,"variables":[],"pad":"${"p".repeat(2 << 20)}","x":${deep}}`;
      for (const text of [small, large]) {
        await assert.rejects(importVariables(store, "deep", Buffer.from(text), { format: "json" }), (err: unknown) => {
          assert.ok(err instanceof InvalidArgumentError, String(err));
          assert.match(err.message, /malformed json import: the document nests more than 1000 levels deep/);
          return true;
        });
      }
      const ok = await importVariables(
        store,
        "deep",
        Buffer.from(`{"format":"dspy-bridge/variables","version":1,"variables":[],"pad":"${"p".repeat(2 << 20)}"}`),
        { format: "json" },
      );
      assert.equal(ok.errors, 0);
      // Malformed YAML parsed in the worker is the same typed error as a small one parsed here.
      const badYaml = `format: dspy-bridge/variables\nversion: 1\npad: "${"p".repeat(64 << 10)}"\nvariables: [unclosed\n`;
      await assert.rejects(importVariables(store, "deep", Buffer.from(badYaml), { format: "yaml" }), (err: unknown) => {
        assert.ok(err instanceof InvalidArgumentError, String(err));
        assert.match(err.message, /^malformed yaml import: /);
        assert.doesNotMatch(err.message, /pppp/, "no document text in the error");
        return true;
      });
    } finally {
      await store.close();
    }
  });
});

describe("M: YAML warnings", () => {
  test("an import with 20,000 unknown tags prints nothing; the warnings come back bounded, without the document's text", async () => {
    const entries = Array.from({ length: 20_000 }, (_, i) => `      k${i}: !secret_tag_${i} "document text ${i}"`).join(
      "\n",
    );
    const yaml = `format: dspy-bridge/variables\nversion: 1\nvariables:\n  - name: tagged\n    type: string\n    value: {json: '"hello"'}\n    metadata:\n${entries}\n`;
    const dir = tempDir();
    writeFileSync(join(dir, "tags.yaml"), yaml);
    const script = `
      import { readFileSync } from "node:fs";
      import { Store } from ${JSON.stringify(join(repoRoot, "ts/dist/src/store/store.js"))};
      import { importVariables } from ${JSON.stringify(join(repoRoot, "ts/dist/src/store/export-import.js"))};
      const store = new Store();
      await store.createSession({ sessionId: "s" });
      const summary = await importVariables(store, "s", readFileSync(${JSON.stringify(join(dir, "tags.yaml"))}), { format: "yaml", dryRun: true });
      console.log(JSON.stringify(summary));
      await store.close();`;
    writeFileSync(join(dir, "import.mjs"), script);
    const child = spawn(process.execPath, [join(dir, "import.mjs")], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => child.on("exit", r));
    rmSync(dir, { recursive: true, force: true });
    assert.equal(code, 0, stderr.slice(0, 2_000));
    assert.equal(stderr, "", `the host printed ${stderr.length} bytes to stderr: ${stderr.slice(0, 300)}`);
    const summary = JSON.parse(stdout) as ImportSummary;
    assert.equal(summary.errors, 0, JSON.stringify(summary.details).slice(0, 500));
    assert.equal(summary.warningCount, 20_000);
    assert.ok(summary.warnings.length > 0 && summary.warnings.length <= 20, `${summary.warnings.length} warnings kept`);
    for (const w of summary.warnings) {
      assert.ok(w.length <= 200, w);
      assert.doesNotMatch(w, /document text/);
    }
  });
});
