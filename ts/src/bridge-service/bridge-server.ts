// The bridge service (worker or outside client -> host) over gRPC. Local-only by default:
// a Unix socket (0600 from the start, see transport/unix-socket.ts) or a loopback TCP
// address; any other address must be asked for.
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { BridgeService } from "../gen/dspy_bridge/v1/bridge_pb.js";
import { DEFAULT_MAX_MESSAGE_BYTES } from "../gen/constants.js";
import { InvalidArgumentError } from "../errors/index.js";
import { bindPrivateSocket, type BoundSocket } from "../transport/unix-socket.js";
import { authInterceptor, routeUnknownMethods } from "./auth.js";
import { grpcServiceDefinition, refuseUndecodable } from "./grpc-definition.js";
import type { Credentials } from "./credentials.js";
import type { Handler } from "./handlers.js";
import { scopeHandlers } from "./scoped-handlers.js";

export interface BridgeServerOptions {
  /** `unix:/path/to.sock` or `host:port`. */
  listen: string;
  token: string;
  /** Allow a non-loopback TCP address. Default false. */
  allowRemote?: boolean;
  /** Serve TLS with this certificate chain and key (PEM). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Allow a non-loopback address without TLS. Default false. */
  insecure?: boolean;
  /** The service's handlers (bridgeServiceHandlers). */
  handlers: Record<string, Handler>;
  /** Scoped credentials this host accepts besides its token (none: the token only). */
  credentials?: Credentials;
  /** The largest request or response (the host's option maxMessageBytes). Default DEFAULT_MAX_MESSAGE_BYTES. */
  maxMessageBytes?: number;
  onLog: (line: string) => void;
}

interface Handle {
  ref?(): void;
  unref?(): void;
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

function checkLocal(options: BridgeServerOptions): void {
  const { listen } = options;
  if (listen.startsWith("unix:")) {
    if (options.tls)
      throw new InvalidArgumentError("TLS is for TCP listeners; a Unix socket is private to this machine", {
        parameter: "tls",
      });
    return;
  }
  const host = listen.slice(0, listen.lastIndexOf(":"));
  if (!host || listen.lastIndexOf(":") < 0) {
    throw new InvalidArgumentError(`listen address '${listen}' must be unix:PATH or HOST:PORT`, {
      parameter: "listen",
    });
  }
  if (LOOPBACK.has(host)) return;
  if (!options.allowRemote) {
    throw new InvalidArgumentError(
      `refusing to listen on '${listen}': the bridge service is local-only unless allowRemote is set (CLI: --allow-remote)`,
      { parameter: "listen" },
    );
  }
  if (!options.tls && !options.insecure) {
    // The token and every value would cross the network in clear text.
    throw new InvalidArgumentError(
      `refusing to listen on '${listen}' without TLS: give a certificate and key (tls; CLI: --tls-cert, --tls-key), or allow clear text explicitly (insecure; CLI: --insecure)`,
      { parameter: "tls" },
    );
  }
}

export class BridgeServer {
  private constructor(
    private readonly server: Server,
    readonly address: string,
    private readonly socket?: BoundSocket,
  ) {}

  static async start(options: BridgeServerOptions): Promise<BridgeServer> {
    checkLocal(options);
    const credentials = options.tls
      ? ServerCredentials.createSsl(
          null,
          [{ cert_chain: Buffer.from(options.tls.cert), private_key: Buffer.from(options.tls.key) }],
          false,
        )
      : ServerCredentials.createInsecure();
    const messageLimit = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    const server = new Server({
      interceptors: [
        authInterceptor(options.token, (why) => options.onLog(`refused a bridge call: ${why}`), options.credentials),
      ],
      "grpc.max_receive_message_length": messageLimit,
      "grpc.max_send_message_length": messageLimit,
    });
    routeUnknownMethods(server);
    server.addService(
      grpcServiceDefinition(BridgeService as never),
      refuseUndecodable(
        options.credentials ? scopeHandlers(options.handlers, options.token, options.credentials) : options.handlers,
      ) as never,
    );
    const bind = (address: string) =>
      new Promise<number>((resolve, reject) =>
        server.bindAsync(address, credentials, (err, p) => (err ? reject(err) : resolve(p))),
      );
    if (options.listen.startsWith("unix:")) {
      // 0600 before anyone can connect, in a 0700 folder when we make it; a stale socket of a dead host is replaced.
      try {
        const socket = await bindPrivateSocket(
          options.listen.slice("unix:".length),
          (at) => bind(`unix:${at}`).then(() => {}),
          options.onLog,
        );
        return new BridgeServer(server, options.listen, socket);
      } catch (err) {
        server.forceShutdown();
        throw err;
      }
    }
    const port = await bind(options.listen);
    return new BridgeServer(
      server,
      options.listen.endsWith(":0") ? `${options.listen.slice(0, -2)}:${port}` : options.listen,
    );
  }

  /**
   * Whether the listening sockets and the open connections keep Node alive (the bridge's
   * `unref` option clears it while idle). grpc-js offers no unref of its own: this reaches its
   * HTTP/2 servers and sessions (grpc-js is pinned to an exact version, and the idle-exit test
   * fails if this stops working).
   */
  setRef(ref: boolean): void {
    const internals = this.server as unknown as {
      http2Servers?: Map<Handle, unknown>;
      sessions?: Map<Handle, unknown>;
    };
    for (const handle of [...(internals.http2Servers?.keys() ?? []), ...(internals.sessions?.keys() ?? [])]) {
      if (ref) handle.ref?.();
      else handle.unref?.();
    }
  }

  close(graceMs = 1_000): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    }).finally(() => this.socket?.release());
  }
}
