// The CLI as a user types it: --help and --version, every flag form (`--flag value`,
// `--flag=value`), clear usage errors with exit code 2, serve's remote-listen refusal, and
// TLS on a loopback TCP port verified by clients in both languages (no CA: refused).
import assert from "node:assert/strict";
import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import {
  credentials,
  makeGenericClientConstructor,
  Metadata,
  type ChannelCredentials,
  type Client,
  type ServiceError,
} from "@grpc/grpc-js";
import { grpcServiceDefinition } from "../src/bridge-service/grpc-definition.js";
import { BridgeService, PingRequestSchema } from "../src/gen/dspy_bridge/v1/bridge_pb.js";
import { VERSION } from "../src/gen/constants.js";
import { fixturesDir, repoRoot } from "./helpers.js";

const cli = join(repoRoot, "ts/bin/dspy-bridge.js");
const execFileAsync = promisify(execFile);

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

async function dspyBridge(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Outcome> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [cli, ...args], { env, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("help and version", () => {
  test("--help, -h, help and no command print the overview with the exit codes; exit 0", async () => {
    for (const args of [["--help"], ["-h"], ["help"], []]) {
      const r = await dspyBridge(args);
      assert.equal(r.code, 0, args.join(" "));
      assert.match(r.stdout, /Usage: npx dspy-bridge <command>/);
      assert.match(r.stdout, /Exit codes: 0 done, 1 failed, 2 usage error/);
    }
  });

  test("every command has --help (and help COMMAND), exit 0", async () => {
    for (const command of ["demo", "doctor", "setup", "serve", "optimize"]) {
      for (const args of [
        [command, "--help"],
        [command, "-h"],
        ["help", command],
      ]) {
        const r = await dspyBridge(args);
        assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
        assert.match(r.stdout, new RegExp(`Usage: npx dspy-bridge ${command} \\[options\\]`));
      }
    }
    assert.match((await dspyBridge(["serve", "--help"])).stdout, /--tls-cert FILE/);
    assert.match((await dspyBridge(["optimize", "--help"])).stdout, /--api-base URL/);
  });

  test("--version, -v and version print the package's version", async () => {
    for (const args of [["--version"], ["-v"], ["version"]]) {
      const r = await dspyBridge(args);
      assert.equal(r.code, 0);
      assert.equal(r.stdout.trim(), VERSION);
    }
  });
});

describe("usage errors: exit 2, naming the option and what it needs", () => {
  const cases: [string[], RegExp][] = [
    [["nope"], /unknown command 'nope'/],
    [["--nope"], /unknown option --nope/],
    [["help", "nope"], /unknown command 'nope'/],
    [["demo", "--nope"], /dspy-bridge demo: unknown option --nope/],
    [["demo", "--workers"], /--workers needs a value \(--workers VALUE or --workers=VALUE\)/],
    [["demo", "--workers", "--json"], /--workers needs a value/],
    [["demo", "--workers=0"], /--workers needs a positive integer, got "0"/],
    [["demo", "--workers=two"], /--workers needs a positive integer, got "two"/],
    [["demo", "--json=yes"], /--json takes no value/],
    [["demo", "stray"], /unexpected argument stray/],
    [["setup", "--installer=conda"], /--installer must be uv, pip, auto; got "conda"/],
    [["optimize", "--optimizer=COPRO"], /needs --signature/],
    [
      ["optimize", "--variable", "t", "--min", "0", "--max", "1", "--objective", "o", "--iterations=0"],
      /--iterations needs a positive integer/,
    ],
    [["serve", "--tls-cert", "c.pem"], /--tls-cert and --tls-key go together/],
  ];
  for (const [args, message] of cases) {
    test(args.join(" "), async () => {
      const r = await dspyBridge(args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.match(r.stderr, /--help' for the options/);
    });
  }
});

/** Runs `serve` until its ready line; stop() sends SIGTERM and waits for the exit. */
async function serve(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ ready: Record<string, unknown>; stop(): Promise<number | string>; child: ChildProcess }> {
  const child = spawn(process.execPath, [cli, "serve", ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  // The exit code, or the signal that ended it with what it wrote to stderr (to tell why).
  const exited = new Promise<number | string>((resolve) =>
    child.on("exit", (code, signal) => resolve(code ?? `killed by ${signal}; stderr: ${stderr.slice(-2000)}`)),
  );
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const line = out.split("\n").find((l, i, all) => i < all.length - 1 && l.includes('"ready"')); // whole lines only
      if (line) resolve(JSON.parse(line) as Record<string, unknown>);
    });
    void exited.then((code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
  return {
    ready,
    child,
    stop: async () => {
      child.kill("SIGTERM");
      return exited;
    },
  };
}

describe("serve", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "dspy-bridge-cli-test-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("--flag=value and --flag value forms both reach the host", async () => {
    const tokenFile = join(dir, "token");
    const s = await serve([
      `--listen=unix:${join(dir, "a.sock")}`,
      "--workers=1",
      "--preload=",
      "--token-file",
      tokenFile,
      "--json",
    ]);
    try {
      assert.equal(s.ready.workers, 1);
      assert.equal(s.ready.address, `unix:${join(dir, "a.sock")}`);
      assert.equal(s.ready.token_file, tokenFile);
      assert.ok(readFileSync(tokenFile, "utf8").trim().length >= 16);
    } finally {
      assert.equal(await s.stop(), 0);
    }
  });

  test("a non-loopback address is refused without --allow-remote, and without TLS unless --insecure", async () => {
    const token = join(dir, "t2");
    const local = await dspyBridge(["serve", "--listen", "0.0.0.0:0", "--token-file", token, "--preload="]);
    assert.equal(local.code, 2);
    assert.match(local.stderr, /local-only unless allowRemote is set \(CLI: --allow-remote\)/);
    const clear = await dspyBridge([
      "serve",
      "--listen",
      "0.0.0.0:0",
      "--allow-remote",
      "--token-file",
      token,
      "--preload=",
    ]);
    assert.equal(clear.code, 2);
    assert.match(clear.stderr, /without TLS: give a certificate and key/);
    // Explicitly allowed: it listens (on every interface) and serves.
    const insecure = await serve([
      "--listen",
      "0.0.0.0:0",
      "--allow-remote",
      "--insecure",
      "--token-file",
      token,
      "--preload=",
      "--workers",
      "1",
    ]);
    try {
      assert.match(insecure.ready.address as string, /^0\.0\.0\.0:\d+$/);
    } finally {
      await insecure.stop();
    }
  });

  describe("TLS on a loopback TCP port", () => {
    let tls: string;
    let server: Awaited<ReturnType<typeof serve>>;
    let address: string;
    let token: string;
    before(async () => {
      tls = join(dir, "tls");
      makeCertificates(tls);
      const tokenFile = join(dir, "t3");
      server = await serve([
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        join(tls, "server.pem"),
        `--tls-key=${join(tls, "server.key")}`,
        "--token-file",
        tokenFile,
        "--preload=",
        "--workers",
        "1",
      ]);
      address = server.ready.address as string;
      token = readFileSync(tokenFile, "utf8").trim();
    });
    after(() => server?.stop());

    test("the ready line says TLS; a TypeScript client with the CA is served, one without it is refused", async () => {
      assert.equal(server.ready.tls, true);
      const withCa = await tsPing(address, token, credentials.createSsl(readFileSync(join(tls, "ca.pem"))));
      assert.deepEqual(withCa, { ok: true, message: "over tls" });
      const systemRoots = await tsPing(address, token, credentials.createSsl());
      assert.equal(systemRoots.ok, false);
      assert.equal(systemRoots.code, 14, "UNAVAILABLE: the handshake fails, the certificate is not trusted");
      const otherCa = await tsPing(address, token, credentials.createSsl(readFileSync(join(tls, "other-ca.pem"))));
      assert.equal(otherCa.ok, false);
      const clear = await tsPing(address, token, credentials.createInsecure());
      assert.equal(clear.ok, false, "a clear-text client is not served by a TLS listener");
    });

    test("a Python client verifies the host against DSPY_BRIDGE_TLS_CA; with another CA or none it is refused", async () => {
      const python = async (ca: string | undefined) => {
        const env: NodeJS.ProcessEnv = { ...process.env, PYTHONPATH: join(repoRoot, "python") };
        delete env.DSPY_BRIDGE_TLS_CA;
        if (ca) env.DSPY_BRIDGE_TLS_CA = ca;
        const { stdout } = await execFileAsync(
          join(repoRoot, ".venv/bin/python"),
          [join(fixturesDir, "tls_client.py"), address, token],
          { env, timeout: 120_000 },
        );
        return JSON.parse(stdout) as { ok: boolean; message?: string; reason?: string };
      };
      assert.deepEqual(await python(join(tls, "ca.pem")), { ok: true, message: "over tls" });
      const other = await python(join(tls, "other-ca.pem"));
      assert.equal(other.ok, false);
      assert.equal(other.reason, "unavailable");
      const none = await python(undefined);
      assert.equal(none.ok, false);
    });
  });
});

/** A CA, a server certificate it signed for 127.0.0.1, and an unrelated CA (openssl). */
function makeCertificates(dir: string): void {
  const openssl = (...args: string[]) => spawnSyncChecked("openssl", args, dir);
  openssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=dspy-bridge test CA",
  );
  openssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "other-ca.key",
    "-out",
    "other-ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=another CA",
  );
  openssl(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
    "-subj",
    "/CN=localhost",
  );
  writeFileSync(join(dir, "ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  openssl(
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.pem",
    "-days",
    "2",
    "-extfile",
    "ext.cnf",
  );
}

function spawnSyncChecked(cmd: string, args: string[], cwd: string): void {
  mkdirSync(cwd, { recursive: true });
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr}`);
}

type PingClient = Client & {
  ping(
    req: unknown,
    md: Metadata,
    options: { deadline: number },
    cb: (err: ServiceError | null, res: { message: string }) => void,
  ): void;
};

async function tsPing(
  address: string,
  token: string,
  creds: ChannelCredentials,
): Promise<{ ok: boolean; message?: string; code?: number }> {
  const Ctor = makeGenericClientConstructor(grpcServiceDefinition(BridgeService as never) as never, "BridgeService");
  const client = new Ctor(address, creds) as unknown as PingClient;
  const md = new Metadata();
  md.set("authorization", `Bearer ${token}`);
  try {
    return await new Promise((resolve) =>
      client.ping(
        create(PingRequestSchema, { message: "over tls" }),
        md,
        { deadline: Date.now() + 15_000 },
        (err, res) => resolve(err ? { ok: false, code: err.code } : { ok: true, message: res.message }),
      ),
    );
  } finally {
    client.close();
  }
}
