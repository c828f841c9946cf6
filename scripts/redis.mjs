#!/usr/bin/env node
// A private Redis server for the tests and benchmarks: finds `redis-server` (installing
// Debian's package when it is missing and we may), starts it on a free loopback port with
// its own temporary directory (append-only file fsynced on every write, so a restart keeps
// every acknowledged commit), and stops it afterwards. Nothing else on the machine is used.
// Also a private Redis Cluster: three `redis-server --cluster-enabled yes` on loopback
// ports, joined with `redis-cli --cluster create` (redis-cli comes with Debian's package).
//
//   import { startRedis } from "./redis.mjs";  const redis = await startRedis();  redis.url ... await redis.stop();
//   import { startRedisCluster } from "./redis.mjs";  const c = await startRedisCluster();  c.url (redis+cluster://...)
//   node scripts/redis.mjs --print             start one, print its URL, run until interrupted
//   node scripts/redis.mjs --cluster           start a cluster, print its URL, run until interrupted
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

function which(cmd) {
  const r = spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** The redis-server binary: REDIS_SERVER, the PATH, or Debian's package installed now (as root, non-interactive). */
export function findRedisServer({ install = true, log = (line) => process.stderr.write(`${line}\n`) } = {}) {
  const found = process.env.REDIS_SERVER || which("redis-server");
  if (found) return found;
  if (!install) throw new Error("redis-server is not installed");
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  const sudo = isRoot ? [] : which("sudo") ? ["sudo", "-n"] : undefined;
  if (!which("apt-get") || !sudo) {
    throw new Error(
      "redis-server is not installed and cannot be installed here (needs apt-get and root): install Redis, or set REDIS_SERVER to its binary",
    );
  }
  log("redis-server not found: installing Debian's redis-server package");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const run = (args) =>
    spawnSync(sudo.length ? sudo[0] : args[0], sudo.length ? [...sudo.slice(1), ...args] : args.slice(1), {
      stdio: ["ignore", "inherit", "inherit"],
      env,
    });
  let r = run(["apt-get", "install", "-y", "--no-install-recommends", "redis-server"]);
  if (r.status !== 0) {
    run(["apt-get", "update"]);
    r = run(["apt-get", "install", "-y", "--no-install-recommends", "redis-server"]);
  }
  const installed = which("redis-server") || (r.status === 0 ? "/usr/bin/redis-server" : undefined);
  if (!installed) throw new Error("installing redis-server with apt-get failed; see the output above");
  return installed;
}

/** redis-cli, beside redis-server (Debian's redis-server package brings it, in redis-tools). */
export function findRedisCli({ log } = {}) {
  const found = process.env.REDIS_CLI || which("redis-cli");
  if (found) return found;
  const server = findRedisServer({ log });
  const beside = join(dirname(server), "redis-cli");
  if (existsSync(beside)) return beside;
  throw new Error("redis-cli is not installed (it comes with Redis): install it, or set REDIS_CLI to its binary");
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function ping(port) {
  return ask(port, "PING", (answer) => answer.includes("\r\n")).then((answer) => answer.startsWith("+PONG"));
}

/** Sends one inline command; resolves with what came back once `done(answer)` holds ("" on an error). */
function ask(port, command, done) {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let answer = "";
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(answer);
    }, 2_000);
    socket.on("connect", () => socket.write(`${command}\r\n`));
    socket.on("data", (d) => {
      answer += d.toString();
      if (done(answer)) {
        clearTimeout(timer);
        socket.destroy();
        resolve(answer);
      }
    });
    socket.on("error", () => {
      clearTimeout(timer);
      resolve("");
    });
  });
}

/** A free loopback port whose cluster bus port (port + 10000) is free too. */
async function freeClusterPort(taken) {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    if (taken.has(port) || taken.has(port + 10_000)) continue;
    if ((await canListen(port)) && (await canListen(port + 10_000))) return port;
  }
  throw new Error("no free loopback port pair for a Redis Cluster node");
}

function canListen(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.on("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/**
 * A test Redis on loopback: `port`, data in `dir`, every write fsynced before it is
 * acknowledged (the durability the store's tests rely on), no snapshots, foreground.
 */
function serverArgs(port, dir) {
  return [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--dir",
    dir,
    "--appendonly",
    "yes",
    "--appendfsync",
    "always",
    "--save",
    "",
    "--protected-mode",
    "yes",
    "--daemonize",
    "no",
    "--loglevel",
    "warning",
  ];
}

/**
 * Starts a private Redis. `restart()` stops it (SIGKILL with `{ kill: true }`) and starts it
 * again on the same port and data directory: what a client sees when Redis restarts.
 */
export async function startRedis({ port, log } = {}) {
  const binary = findRedisServer({ log });
  const dir = mkdtempSync(join(tmpdir(), "dspy-bridge-redis-"));
  const chosen = port ?? (await freePort());
  let child;
  const launch = async () => {
    child = spawn(binary, serverArgs(chosen, dir), { stdio: ["ignore", "ignore", "inherit"] });
    const exited = new Promise((resolve) => child.once("exit", resolve));
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (await ping(chosen)) return;
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill("SIGKILL");
        await exited;
        throw new Error(`redis-server did not start on 127.0.0.1:${chosen}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const halt = async (signal) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill(signal);
    await exited;
  };
  await launch();
  // A test run that ends without stop() (a failure, Ctrl-C) leaves no server and no data directory behind.
  const onExit = () => {
    child?.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  process.on("exit", onExit);
  return {
    url: `redis://127.0.0.1:${chosen}/0`,
    port: chosen,
    get pid() {
      return child.pid;
    },
    async restart({ kill = false, downMs = 0 } = {}) {
      await halt(kill ? "SIGKILL" : "SIGTERM");
      if (downMs) await new Promise((r) => setTimeout(r, downMs));
      await launch();
    },
    async stop() {
      process.off("exit", onExit);
      await halt("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts a private Redis Cluster of `nodes` primaries (no replicas) on loopback ports, each
 * with its own data directory (append-only, fsynced on every write), and joins them with
 * `redis-cli --cluster create`. Resolves once every node says the cluster is ok. `url` is
 * the store's spec (`redis+cluster://127.0.0.1:P1,...`); `stop()` ends every node.
 */
export async function startRedisCluster({ nodes = 3, log } = {}) {
  const binary = findRedisServer({ log });
  const cli = findRedisCli({ log });
  const dir = mkdtempSync(join(tmpdir(), "dspy-bridge-redis-cluster-"));
  const ports = [];
  const taken = new Set();
  for (let i = 0; i < nodes; i++) {
    const port = await freeClusterPort(taken);
    taken.add(port);
    taken.add(port + 10_000);
    ports.push(port);
  }
  const children = [];
  const onExit = () => {
    for (const child of children) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  process.on("exit", onExit);
  const stop = async () => {
    process.off("exit", onExit);
    await Promise.all(
      children.map((child) => {
        if (child.exitCode !== null || child.signalCode !== null) return undefined;
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        return exited;
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) {
      const data = join(dir, String(port));
      mkdirSync(data);
      children.push(
        spawn(
          binary,
          [
            ...serverArgs(port, data),
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "5000",
          ],
          { stdio: ["ignore", "ignore", "inherit"] },
        ),
      );
    }
    const deadline = Date.now() + 15_000;
    for (const port of ports) {
      while (!(await ping(port))) {
        if (Date.now() > deadline) throw new Error(`redis-server --cluster-enabled did not start on 127.0.0.1:${port}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    const created = spawnSync(
      cli,
      ["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "0", "--cluster-yes"],
      { encoding: "utf8", timeout: 60_000 },
    );
    if (created.status !== 0)
      throw new Error(`redis-cli --cluster create failed: ${(created.stderr || created.stdout || "").slice(-2000)}`);
    // Every node agrees before anyone uses it: slots assigned and known everywhere.
    for (const port of ports) {
      for (;;) {
        const info = await ask(port, "CLUSTER INFO", (a) => /cluster_state:\w+/.test(a));
        if (/cluster_state:ok/.test(info)) break;
        if (Date.now() > deadline + 30_000) throw new Error(`the Redis Cluster on 127.0.0.1:${port} did not become ok`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url: `redis+cluster://${ports.map((p) => `127.0.0.1:${p}`).join(",")}`,
    ports,
    get pids() {
      return children.map((c) => c.pid);
    },
    stop,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const redis = process.argv.includes("--cluster") ? await startRedisCluster() : await startRedis();
  console.log(redis.url);
  const stop = () => void redis.stop().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  setInterval(() => {}, 1 << 30);
}
