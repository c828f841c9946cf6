// The dashboard: a read-only web page the host serves (`Bridge.start({ dashboard: { listen } })`,
// `dspy-bridge serve --dashboard HOST:PORT`), live over server-sent events fed by the host's
// own events: workers, sessions and their variables, optimization runs (score per trial) and
// DSPy optimizer jobs (progress), recent calls and failures with their tracebacks, LM usage per
// model. The page and its libraries (Preact, htm, uPlot) are files of the package
// (ts/dashboard/, the libraries copied there from node_modules by scripts/vendor-dashboard.mjs):
// it works offline.
//
// Access: the host's token. The URL the host prints carries it once (`/?token=…`); the page
// then sets an HttpOnly, SameSite=Strict cookie holding a random secret of this dashboard and
// drops the token from the address. API clients may send `Authorization: Bearer <token>`.
// Loopback addresses only, unless `allowRemote`. Only GET: nothing can be changed from it.
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { FailedPreconditionError, InvalidArgumentError } from "../errors/index.js";
import { tokensEqual } from "../transport/host-listener.js";

/** Where the page's files are: ts/dashboard/ (from ts/dist/src/dashboard/). */
export const DASHBOARD_DIR = fileURLToPath(new URL("../../../dashboard/", import.meta.url));
/** The libraries the page imports, copied from node_modules by scripts/vendor-dashboard.mjs. */
export const VENDOR_FILES = ["preact.mjs", "hooks.mjs", "htm.mjs", "uPlot.esm.js", "uPlot.min.css"] as const;

export interface DashboardOptions {
  /** "HOST:PORT" (port 0: any free port). Default "127.0.0.1:0". */
  listen?: string;
  /** Listen on a non-loopback address (anyone who can reach it and has the token can read everything). */
  allowRemote?: boolean;
}

/** What the dashboard shows, read from the host or a stored state (dashboard/dashboard-feed.ts). */
export interface DashboardSource {
  /** What a page is sent first; `shown`: the session whose variables it carries. */
  snapshot(shown?: string): Promise<unknown>;
  /** Subscribes to live events; returns the unsubscribe. */
  subscribe(send: (event: string, data: unknown) => void): () => void;
  /** One run with its trials (the plot of a run not in the snapshot). */
  run(sessionId: string, runId: string): Promise<unknown>;
  /** One session's variables. */
  session(sessionId: string): Promise<unknown>;
  /** One variable's kept versions, newest first. */
  history(sessionId: string, name: string): Promise<unknown>;
}

const COOKIE = "dspy_bridge_dashboard";
const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};
const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65_535)
    throw new InvalidArgumentError(
      `dashboard listen must be HOST:PORT (e.g. 127.0.0.1:8765), got ${JSON.stringify(listen.slice(0, 100))}`,
      { parameter: "dashboard.listen" },
    );
  return { host: (m[1] ?? m[2])!, port };
}

/** A path segment decoded; undefined when it is not valid percent-encoding. */
function decoded(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || host.startsWith("127.");
}

export class DashboardServer {
  private readonly secret = randomBytes(24).toString("base64url");
  /** The page's only inline script is its import map: allowed by its hash, nothing else inline. */
  private readonly csp = (() => {
    const page = readFileSync(join(DASHBOARD_DIR, "index.html"), "utf8");
    const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(page)?.[1] ?? "";
    const hash = createHash("sha256").update(importMap).digest("base64");
    return `default-src 'self'; script-src 'self' 'sha256-${hash}'; style-src 'self' 'unsafe-inline'; img-src 'self' data:`;
  })();
  private readonly sockets = new Set<ServerResponse>();
  private readonly unsubscribes = new Set<() => void>();

  private constructor(
    private readonly server: Server,
    private readonly token: string,
    private readonly source: DashboardSource,
    readonly host: string,
    readonly port: number,
  ) {}

  /** Where the options say to listen, refused (InvalidArgumentError) when not allowed. */
  static address(options: DashboardOptions): { host: string; port: number } {
    const { host, port } = parseListen(options.listen ?? "127.0.0.1:0");
    if (!isLoopback(host) && options.allowRemote !== true) {
      throw new InvalidArgumentError(
        `the dashboard listens on loopback addresses only unless allowRemote is set (got ${host})`,
        { parameter: "dashboard.listen" },
      );
    }
    return { host, port };
  }

  static async start(options: DashboardOptions, token: string, source: DashboardSource): Promise<DashboardServer> {
    const { host, port } = DashboardServer.address(options);
    const missing = VENDOR_FILES.filter((f) => !existsSync(join(DASHBOARD_DIR, "vendor", f)));
    if (missing.length > 0) {
      throw new FailedPreconditionError(
        `the dashboard's libraries are missing from ${join(DASHBOARD_DIR, "vendor")} (${missing.join(", ")}): run \`node scripts/vendor-dashboard.mjs\` (npm run setup does)`,
      );
    }
    let dashboard!: DashboardServer;
    const server = createServer((req, res) => dashboard.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    });
    const address = server.address() as AddressInfo;
    dashboard = new DashboardServer(server, token, source, host, address.port);
    return dashboard;
  }

  /** The address to open, with the token (print it only where the token may be seen). */
  get url(): string {
    const host = this.host.includes(":") ? `[${this.host}]` : this.host;
    return `http://${host}:${this.port}/?token=${encodeURIComponent(this.token)}`;
  }

  async close(): Promise<void> {
    for (const stop of this.unsubscribes) stop();
    for (const res of this.sockets) res.end();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private authorized(req: IncomingMessage): boolean {
    const auth = req.headers.authorization;
    if (typeof auth === "string" && tokensEqual(auth, `Bearer ${this.token}`)) return true;
    for (const part of (req.headers.cookie ?? "").split(";")) {
      const [name, value] = part.trim().split("=", 2);
      if (name === COOKIE && value !== undefined && tokensEqual(value, this.secret)) return true;
    }
    return false;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("Referrer-Policy", "no-referrer");
    res.setHeader("Content-Security-Policy", this.csp);
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { Allow: "GET", "Content-Type": "text/plain" }).end("the dashboard is read-only\n");
      return;
    }
    const url = new URL(req.url ?? "/", "http://dashboard");
    const presented = url.searchParams.get("token");
    if (url.pathname === "/" && presented !== null) {
      if (!tokensEqual(presented, this.token)) return this.refuse(res);
      res
        .writeHead(303, { "Set-Cookie": `${COOKIE}=${this.secret}; HttpOnly; SameSite=Strict; Path=/`, Location: "/" })
        .end();
      return;
    }
    if (!this.authorized(req)) return this.refuse(res);
    if (url.pathname === "/") return this.file(res, "index.html");
    const shown = url.searchParams.get("session") ?? undefined;
    if (url.pathname === "/api/events") return this.events(req, res, shown);
    if (url.pathname === "/api/state") return void this.json(res, () => this.source.snapshot(shown));
    const parts = /^\/api\/(runs|history|sessions)\/([^/]+)(?:\/([^/]+))?$/.exec(url.pathname);
    if (parts) {
      const [, what, a, b] = parts as unknown as [string, string, string, string | undefined];
      const first = decoded(a);
      const second = b === undefined ? undefined : decoded(b);
      if (first === undefined || (b !== undefined && second === undefined)) {
        res.writeHead(400, { "Content-Type": "text/plain" }).end("malformed address\n");
        return;
      }
      if (what === "sessions" && second === undefined) return void this.json(res, () => this.source.session(first));
      if (what === "runs" && second !== undefined) return void this.json(res, () => this.source.run(first, second));
      if (what === "history" && second !== undefined)
        return void this.json(res, () => this.source.history(first, second));
    }
    const asset = /^\/assets\/([\w./-]+)$/.exec(url.pathname);
    if (asset && !asset[1]!.includes("..")) return this.file(res, normalize(asset[1]!));
    res.writeHead(404, { "Content-Type": "text/plain" }).end("not found\n");
  }

  private refuse(res: ServerResponse): void {
    res.writeHead(401, { "Content-Type": "text/html; charset=utf-8" });
    res.end(
      "<!doctype html><title>dspy-bridge dashboard</title><h1>Access refused</h1><p>Open the dashboard's address as the host printed it: it carries the host's token.</p>\n",
    );
  }

  private file(res: ServerResponse, name: string): void {
    const path = join(DASHBOARD_DIR, name);
    if (!path.startsWith(DASHBOARD_DIR) || !existsSync(path)) {
      res.writeHead(404, { "Content-Type": "text/plain" }).end("not found\n");
      return;
    }
    res.writeHead(200, {
      "Content-Type": TYPES[extname(path)] ?? "application/octet-stream",
      "Cache-Control": "no-cache",
    });
    res.end(readFileSync(path));
  }

  private json(res: ServerResponse, answer: () => Promise<unknown>): Promise<void> {
    return answer().then(
      (value) =>
        void res
          .writeHead(200, { "Content-Type": "application/json", "Cache-Control": "no-store" })
          .end(JSON.stringify(value)),
      (err: unknown) =>
        void res
          .writeHead(404, { "Content-Type": "application/json" })
          .end(JSON.stringify({ error: String((err as Error).message ?? err).slice(0, 500) })),
    );
  }

  /** Server-sent events: the snapshot first, then every change as it happens. */
  private events(req: IncomingMessage, res: ServerResponse, shown: string | undefined): void {
    res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-store", Connection: "keep-alive" });
    res.flushHeaders();
    const send = (event: string, data: unknown) => {
      if (!res.writableEnded) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    this.sockets.add(res);
    // Events that happen while the snapshot is read are sent after it (the page applies them in order).
    const held: [string, unknown][] = [];
    let ready = false;
    const unsubscribe = this.source.subscribe((event, data) => (ready ? send(event, data) : held.push([event, data])));
    this.unsubscribes.add(unsubscribe);
    const end = () => {
      unsubscribe();
      this.unsubscribes.delete(unsubscribe);
      this.sockets.delete(res);
    };
    req.on("close", end);
    void this.source.snapshot(shown).then(
      (snapshot) => {
        send("snapshot", snapshot);
        ready = true;
        for (const [event, data] of held.splice(0)) send(event, data);
      },
      (err: unknown) => {
        send("failure", { message: String((err as Error).message ?? err) });
        res.end();
      },
    );
  }
}
