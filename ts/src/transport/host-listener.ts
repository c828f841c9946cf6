// The host's local-only listener for worker connections: a Unix socket in a fresh 0700
// directory, the socket itself 0600. A connection counts only after its first frame, a
// Hello carrying the per-host secret; anything else is closed without an answer. The
// directory records its owner (a `pid` file); starting a listener removes the directories
// of hosts that died without removing theirs (unix-socket.ts).
import { randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Hello } from "../gen/dspy_bridge/v1/worker_pb.js";
import { FrameConnection } from "./frame-connection.js";
import { removeDeadHostDirs, writeOwnerFile } from "./unix-socket.js";

export interface HostListenerOptions {
  token: string;
  maxFrameBytes: number;
  helloTimeoutMs: number;
  /** Called with an authenticated connection and its Hello. */
  onHello(hello: Hello, connection: FrameConnection): void;
  /** Called when a connection is refused (bad token, garbage, no hello in time). */
  onRejected(reason: string): void;
  /** Told what start-up tidied (folders of dead hosts removed). */
  onLog?(line: string): void;
}

export function generateToken(): string {
  return randomBytes(32).toString("base64url");
}

export function tokensEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class HostListener {
  readonly path: string;
  /** The private (0700) directory holding the host's sockets. */
  readonly dir: string;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private referenced = true;

  private constructor(private readonly options: HostListenerOptions) {
    this.dir = mkdtempSync(join(tmpdir(), "dspy-bridge-"));
    chmodSync(this.dir, 0o700);
    writeOwnerFile(this.dir);
    this.path = join(this.dir, "workers.sock");
    // Paused: accept() hands the connection to a socket that reads straight into its frames.
    this.server = createServer({ pauseOnConnect: true }, (socket) => this.accept(socket));
  }

  static async listen(options: HostListenerOptions): Promise<HostListener> {
    const removed = await removeDeadHostDirs(tmpdir());
    if (removed.length)
      options.onLog?.(`removed ${removed.length} private folder(s) of hosts that are gone: ${removed.join(", ")}`);
    const listener = new HostListener(options);
    await new Promise<void>((resolve, reject) => {
      listener.server.once("error", reject);
      listener.server.listen(listener.path, () => resolve());
    });
    chmodSync(listener.path, 0o600);
    return listener;
  }

  /** Whether the socket and its connections keep Node alive (the bridge's `unref` option clears it while idle). */
  setRef(ref: boolean): void {
    this.referenced = ref;
    for (const handle of [this.server, ...this.sockets]) {
      if (ref) handle.ref();
      else handle.unref();
    }
  }

  private accept(accepted: Socket): void {
    const connection = FrameConnection.adopt(accepted, this.options.maxFrameBytes);
    const socket = connection.socket;
    this.sockets.add(socket);
    if (!this.referenced) socket.unref();
    socket.on("close", () => this.sockets.delete(socket));
    let settled = false;
    const reject = (reason: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      this.options.onRejected(reason);
      socket.destroy();
    };
    const timer = setTimeout(() => reject("no hello within the handshake timeout"), this.options.helloTimeoutMs);
    connection.attach({
      onFrame: (frame) => {
        if (settled) return;
        if (frame.kind.case !== "hello") return reject(`first frame was ${frame.kind.case ?? "empty"}, not hello`);
        if (!tokensEqual(frame.kind.value.token, this.options.token)) return reject("wrong token in hello");
        settled = true;
        clearTimeout(timer);
        this.options.onHello(frame.kind.value, connection);
      },
      onProtocolError: (err) => reject(`protocol error before hello: ${err.message}`),
      onClose: () => reject("closed before hello"),
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
