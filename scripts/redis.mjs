#!/usr/bin/env node
// A private Redis server for the tests and benchmarks: finds `redis-server` (installing
// Debian's package when it is missing and we may), starts it on a free loopback port with
// its own temporary directory (append-only file fsynced on every write, so a restart keeps
// every acknowledged commit), and stops it afterwards. Nothing else on the machine is used.
//
//   import { startRedis } from "./redis.mjs";  const redis = await startRedis();  redis.url ... await redis.stop();
//   node scripts/redis.mjs --print             start one, print its URL, run until interrupted
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let answer = "";
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (d) => {
      answer += d.toString();
      if (answer.includes("\r\n")) {
        socket.destroy();
        resolve(answer.startsWith("+PONG"));
      }
    });
    socket.on("error", () => resolve(false));
  });
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
    child = spawn(
      binary,
      [
        "--port",
        String(chosen),
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
      ],
      { stdio: ["ignore", "ignore", "inherit"] },
    );
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

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const redis = await startRedis();
  console.log(redis.url);
  const stop = () => void redis.stop().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  setInterval(() => {}, 1 << 30);
}
