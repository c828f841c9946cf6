// Client for the floor: raw 4-byte little-endian length-prefixed frames over a Unix
// socket to bench/fixtures/floor_echo.py, answers matched to calls by order.
import net from "node:net";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { once } from "node:events";
import { FIXTURES, VENV_PYTHON } from "./paths.mjs";

export async function startFloor({ python = VENV_PYTHON } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "dspyb-floor-"));
  const sockPath = join(dir, "echo.sock");
  const proc = spawn(python, [join(FIXTURES, "floor_echo.py"), sockPath], { stdio: ["ignore", "pipe", "inherit"] });
  const exited = once(proc, "exit");
  await new Promise((resolve, reject) => {
    let out = "";
    proc.stdout.on("data", (b) => {
      out += b;
      if (out.includes("ready")) resolve();
    });
    proc.on("error", reject);
    exited.then(([code]) => reject(new Error(`floor_echo.py exited early (code ${code})`)));
  });

  const sock = net.createConnection(sockPath);
  sock.setNoDelay?.(true);
  await once(sock, "connect");

  // FIFO of resolvers: the server answers in order.
  let pending = [];
  let head = 0;
  let rbuf = Buffer.alloc(0);
  sock.on("data", (chunk) => {
    rbuf = rbuf.length ? Buffer.concat([rbuf, chunk]) : chunk;
    let pos = 0;
    while (rbuf.length - pos >= 4) {
      const len = rbuf.readUInt32LE(pos);
      const end = pos + 4 + len;
      if (end > rbuf.length) break;
      const resolve = pending[head];
      pending[head++] = undefined;
      resolve(rbuf.subarray(pos + 4, end));
      pos = end;
    }
    rbuf = pos === rbuf.length ? Buffer.alloc(0) : rbuf.subarray(pos);
    if (head > 4096 && head === pending.length) {
      pending = [];
      head = 0;
    }
  });
  sock.on("error", (err) => {
    for (let i = head; i < pending.length; i++) pending[i]?.(Promise.reject(err));
  });

  // Frames issued in the same tick are written with one write.
  let outq = [];
  const flush = () => {
    const q = outq;
    outq = [];
    sock.write(q.length === 1 ? q[0] : Buffer.concat(q));
  };

  /** Send one payload (string or Buffer); resolves with the echoed payload Buffer. */
  function call(payload) {
    const body = typeof payload === "string" ? Buffer.from(payload) : payload;
    const frame = Buffer.allocUnsafe(4 + body.length);
    frame.writeUInt32LE(body.length, 0);
    body.copy(frame, 4);
    if (outq.length === 0) process.nextTick(flush);
    outq.push(frame);
    return new Promise((resolve) => pending.push(resolve));
  }

  async function close() {
    sock.end();
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }

  return { call, close };
}
