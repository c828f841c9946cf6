// Hardening of the host as a server and as a process: the token file, unknown gRPC methods,
// restarts after `kill -9` (stale sockets, private temp folders), private sockets under any
// umask, the host's working directory kept off the workers' import path, O(1) sessions,
// exports and imports that do not block other clients, bounded YAML warnings.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Client, credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { BridgeServer } from "../src/bridge-service/bridge-server.js";
import { repoRoot } from "./helpers.js";

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
  const child = spawn(process.execPath, [CLI, "serve", "--workers", "1", ...args], { cwd: options.cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const ready = new Promise<{ event: string; address: string; pid: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line after 30 s; stdout: ${stdout}; stderr: ${stderr}`)), 30_000);
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
      const viaLink = serve(["--listen", `unix:${join(dir, "b.sock")}`, "--preload", "", "--token-file", join(dir, "link")]);
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
  function callRaw(address: string, path: string, token: string | undefined): Promise<{ code: number; details: string }> {
    const client = new Client(address, credentials.createInsecure());
    const metadata = new Metadata();
    if (token !== undefined) metadata.set("authorization", `Bearer ${token}`);
    return new Promise((resolve) => {
      client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), metadata, (err: ServiceError | null) => {
        client.close();
        resolve(err ? { code: err.code, details: err.details } : { code: status.OK, details: "" });
      });
    });
  }

  test("any method, known or not, answers UNAUTHENTICATED without the token; UNIMPLEMENTED only with it", async () => {
    const dir = tempDir();
    const refused: string[] = [];
    const server = await BridgeServer.start({ listen: `unix:${join(dir, "b.sock")}`, token: "s3cret", handlers: {}, onLog: (l) => refused.push(l) });
    try {
      const address = `unix:${join(dir, "b.sock")}`;
      for (const path of ["/dspy_bridge.v1.BridgeService/NoSuchMethod", "/some.Other/Service", "/dspy_bridge.v1.BridgeService/Ping"]) {
        assert.equal((await callRaw(address, path, undefined)).code, status.UNAUTHENTICATED, `${path} without a token`);
        assert.equal((await callRaw(address, path, "wrong")).code, status.UNAUTHENTICATED, `${path} with a wrong token`);
        assert.equal((await callRaw(address, path, "s3cret")).code, status.UNIMPLEMENTED, `${path} with the token`);
      }
      assert.ok(refused.some((l) => l.includes("/some.Other/Service")));
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

