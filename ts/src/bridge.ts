// `Bridge`, the public face of the host, and its composition root: it opens the store, starts
// the worker pool and the bridge service, builds the APIs on top (sessions, DSPy, tools,
// configurations, optimization runs) and wires them together. Each part owns its own
// resources; only the order in which they start and stop is decided here.
import { InvalidArgumentError, type BridgeError } from "./errors/index.js";
import type { CallOptions, CommandRunner } from "./command-runner.js";
import type { BridgeEvents } from "./telemetry/index.js";
import { HostTelemetry } from "./telemetry/otel.js";
import { BridgeServer } from "./bridge-service/index.js";
import { Credentials } from "./bridge-service/credentials.js";
import { bridgeServiceHandlers, type Handler } from "./bridge-service/handlers.js";
import { HostCallRouter } from "./bridge-service/host-calls.js";
import { Configurations } from "./config/index.js";
import { DSPyApi } from "./dspy/index.js";
import type { OptimizerJobObserver } from "./dspy/optimizer-jobs.js";
import { OptimizationRuns, RunHistory } from "./optimize/index.js";
import { DashboardFeed } from "./dashboard/dashboard-feed.js";
import { DashboardServer } from "./dashboard/dashboard-server.js";
import { Sessions } from "./sessions/index.js";
import { openStore, type Store } from "./store/index.js";
import { ToolsApi } from "./tools/index.js";
import { generateToken } from "./transport/host-listener.js";
import { VERSION } from "./gen/constants.js";
import {
  WorkerPool,
  choosePython,
  resolveOptions,
  type BridgeOptions,
  type BridgeState,
  type BridgeStats,
  type ResolvedOptions,
} from "./pool/index.js";

export type { BridgeState, BridgeStats, WorkerStats } from "./pool/index.js";

function bothJobObservers(a: OptimizerJobObserver, b: OptimizerJobObserver): OptimizerJobObserver {
  return {
    started: (...args) => (a.started(...args), b.started(...args)),
    progress: (...args) => (a.progress(...args), b.progress(...args)),
    ended: (...args) => (a.ended(...args), b.ended(...args)),
  };
}

/** A span per DSPy optimizer job, from its start to its end, with its progress as span events. */
function jobSpans(t: HostTelemetry): OptimizerJobObserver {
  const spans = new Map<string, NonNullable<ReturnType<HostTelemetry["startSpan"]>>>();
  return {
    started(sessionId, programId, info) {
      const span = t.startSpan(`dspy_bridge.optimizer_job ${info.optimizer}`, {
        "dspy_bridge.optimizer_job.id": info.jobId,
        "dspy_bridge.optimizer_job.optimizer": info.optimizer,
        "dspy_bridge.program_id": programId,
        "dspy_bridge.session_id": sessionId,
        "dspy_bridge.optimizer_job.trainset_size": info.trainsetSize,
      });
      if (span) spans.set(info.jobId, span);
    },
    progress(_sessionId, info, p) {
      spans.get(info.jobId)?.addEvent("progress", {
        "dspy_bridge.optimizer_job.evaluations": p.evaluations,
        ...(p.bestScore === null ? {} : { "dspy_bridge.optimizer_job.best_score": p.bestScore }),
      });
    },
    ended(_sessionId, info, state, result, error) {
      const span = info ? spans.get(info.jobId) : undefined;
      if (!span || !info) return;
      spans.delete(info.jobId);
      const attributes = {
        "dspy_bridge.optimizer_job.state": state,
        ...(result?.bestScore == null ? {} : { "dspy_bridge.optimizer_job.best_score": result.bestScore }),
      };
      t.endSpan(span, attributes, state === "failed" ? error : undefined);
    },
  };
}

export class Bridge implements CommandRunner, AsyncDisposable {
  /** The Python workers: scheduling, supervision, the fork server. */
  private readonly pool: WorkerPool;
  /** The bridge service's handlers: for its gRPC server and for the workers' HostCall frames. */
  private readonly serviceHandlers: Record<string, Handler>;
  private readonly hostCallRouter: HostCallRouter;
  private readonly token: string;
  /**
   * Scoped credentials for outside clients of the bridge service: `mint({ session, permissions,
   * expiresInMs })` gives a token bound to one session (or a prefix) and a permission set;
   * `revoke(id)` ends one. The host token (`secret`) stays all-powerful for trusted tools.
   */
  readonly credentials: Credentials;
  private bridgeServer: BridgeServer | undefined;
  private dashboard: { server: DashboardServer; feed: DashboardFeed } | undefined;
  /** The host's store: sessions and their variables (the truth; workers only cache). */
  readonly store: Store;
  /** Create, open, list and delete sessions; `session.variables` for their variables. */
  readonly sessions: Sessions;
  /** Run DSPy modules in the workers; configure LMs. */
  readonly dspy: DSPyApi;
  /** TypeScript tools Python can call, and calls to Python tools. */
  readonly tools: ToolsApi;
  /** Configuration spaces registered in sessions (also `session.configurations`). */
  readonly configurations: Configurations;
  /** Optimization runs over variables and configuration spaces. */
  readonly optimization: OptimizationRuns;
  /**
   * The durable history of optimization runs and DSPy optimizer jobs, kept in the store with
   * their sessions: `list({ session })`, `get(session, runId)` (with the trials).
   */
  readonly runs: RunHistory;
  private closing: Promise<void> = Promise.resolve();

  private constructor(
    readonly options: ResolvedOptions,
    store: Store,
    telemetry: HostTelemetry | undefined,
  ) {
    if (options.token !== undefined && options.token.length < 16) {
      throw new InvalidArgumentError("token must be at least 16 characters", { parameter: "token" });
    }
    this.token = options.token ?? generateToken();
    this.credentials = new Credentials(this.token);
    this.store = store;
    this.pool = new WorkerPool(options, this.token, {
      // Without the bridge service, workers have no way to the store or the tools: their
      // connection serves none either (HostCalls.refuseAll).
      openHostCalls: (reply) => this.hostCallRouter.open(reply, this.options.bridgeService === false),
      // A new worker process may register other Python tools than the one it replaced.
      onWorkerReady: () => this.tools.invalidatePythonTools(),
      onFailed: (error) => void this.shutdown(0, error),
      onHoldProcess: (hold) => this.bridgeServer?.setRef(hold),
    });
    this.store.onSessionDropped((sessionId) => this.pool.dropSession(sessionId));
    this.dspy = new DSPyApi(this.pool);
    // Tools get the bridge itself: a tool function sees it as `ctx.bridge`.
    this.tools = new ToolsApi(this);
    this.configurations = new Configurations(this.store);
    this.optimization = new OptimizationRuns(this.store, this.configurations, this.tools, this.pool);
    this.sessions = new Sessions(this.store, this.pool, this.dspy, this.configurations);
    this.runs = new RunHistory(this.store, (line) =>
      this.pool.log({ source: "host", stream: "stderr", line: `[dspy-bridge] ${line}` }),
    );
    this.optimization.observer = this.runs.optimizationObserver;
    this.dspy.jobObserver = this.runs.jobObserver;
    this.serviceHandlers = bridgeServiceHandlers({
      hostVersion: VERSION,
      workersReady: () => this.pool.workersReady(),
      store: this.store,
      tools: this.tools,
      configurations: this.configurations,
      optimization: this.optimization,
      runs: this.runs,
    });
    this.hostCallRouter = new HostCallRouter(this.serviceHandlers, options.maxMessageBytes);
    if (telemetry) this.wireTelemetry(telemetry);
  }

  /** Starts the fork server and `workers` workers, concurrently; resolves when all are ready. */
  static async start(options: BridgeOptions = {}): Promise<Bridge> {
    const resolved = resolveOptions(options);
    // The interpreter: the user's, a checkout's .venv, or the managed environment (built
    // on the very first start, which takes a minute; a few file reads afterwards).
    const python = await choosePython(options.python, resolved.pythonEnv);
    resolved.python = python.python;
    resolved.pythonSource = python.source;
    resolved.pythonExtraPath = python.extraPath;
    // The store first: a durable one loads its state before anything can use it.
    const store = await openStore(resolved.store.location, resolved.store.options);
    // OpenTelemetry when the application registered an SDK before this point (telemetry/otel.ts).
    const telemetry = await HostTelemetry.load();
    let bridge: Bridge;
    try {
      bridge = new Bridge(resolved, store, telemetry);
    } catch (err) {
      await store.close();
      throw err;
    }
    try {
      await bridge.boot();
    } catch (err) {
      await bridge.shutdown(0);
      throw err;
    }
    return bridge;
  }

  /** Spans on every call (the pool), and the metrics fed by the pool's and the store's events. */
  private wireTelemetry(t: HostTelemetry): void {
    this.pool.telemetry = t;
    this.tools.telemetry = t;
    this.optimization.telemetry = t;
    this.hostCallRouter.telemetry = t;
    this.dspy.jobObserver = bothJobObservers(this.runs.jobObserver, jobSpans(t));
    if (!t.metering) return;
    this.pool.on("call", (e) => t.callFinished(e));
    this.pool.on("worker", (e) => t.workerEvent(e));
    this.store.observe({ committed: (n) => t.variableCommitted(n), delivered: (lag) => t.watchDelivered(lag) });
    t.observe({
      inFlight: () => this.pool.stats().workers.reduce((n, w) => n + w.inFlight, 0),
      queued: () => this.pool.stats().queued,
    });
  }

  private async boot(): Promise<void> {
    const o = this.options;
    await this.pool.listen();
    if (o.bridgeService !== false) {
      this.bridgeServer = await BridgeServer.start({
        listen: o.bridgeService.listen ?? `unix:${this.pool.dir}/bridge.sock`,
        allowRemote: o.bridgeService.allowRemote,
        ...(o.bridgeService.tls ? { tls: o.bridgeService.tls } : {}),
        insecure: o.bridgeService.insecure,
        token: this.token,
        credentials: this.credentials,
        handlers: this.serviceHandlers,
        maxMessageBytes: o.maxMessageBytes,
        onLog: (line) => this.pool.log({ source: "host", stream: "stderr", line }),
      });
    }
    await this.pool.startWorkers(this.bridgeServer?.address);
    this.store.startExpiry();
    if (o.dashboard) await this.startDashboard(o.dashboard);
  }

  private async startDashboard(options: { listen?: string; allowRemote?: boolean }): Promise<void> {
    const usageListeners = new Set<(usage: Record<string, unknown>) => void>();
    this.dspy.usageObserver = (usage) => {
      for (const listener of usageListeners) listener(usage);
    };
    const subscribe = <E extends "call" | "worker">(event: E, listener: (...args: BridgeEvents[E]) => void) => {
      this.pool.on(event, listener);
      return () => void this.pool.off(event, listener);
    };
    const feed = new DashboardFeed({
      store: this.store,
      runs: this.runs,
      host: {
        stats: () => this.pool.stats(),
        onCall: (listener) => subscribe("call", listener),
        onWorker: (listener) => subscribe("worker", listener),
        onUsage: (listener) => (usageListeners.add(listener), () => void usageListeners.delete(listener)),
      },
    });
    try {
      this.dashboard = { server: await DashboardServer.start(options, this.token, feed), feed };
    } catch (err) {
      feed.close();
      throw err;
    }
  }

  /**
   * The dashboard's address with the host's token (`http://127.0.0.1:PORT/?token=…`), when the
   * bridge was started with `dashboard`. It grants read access to everything: share it as you would the token.
   */
  get dashboardUrl(): string | undefined {
    return this.dashboard?.server.url;
  }

  get status(): BridgeState {
    return this.pool.status;
  }

  /** Pid of the Python fork server (the parent of every worker). */
  get forkServerPid(): number | undefined {
    return this.pool.forkServerPid;
  }

  /**
   * Where the bridge service (gRPC) listens, e.g. `unix:/tmp/dspy-bridge-x/bridge.sock`; give
   * it with `token` to outside Python clients. Undefined when the service is disabled.
   */
  get address(): string | undefined {
    return this.bridgeServer?.address;
  }

  /** The per-host secret every connection must present. */
  get secret(): string {
    return this.token;
  }

  /** The host's local socket that workers connect to (0600, in a 0700 directory). */
  get workerSocketPath(): string {
    return this.pool.workerSocketPath;
  }

  /** Runs `command` in a worker and resolves with its result. */
  execute<T = unknown>(command: string, args: Record<string, unknown> = {}, options: CallOptions = {}): Promise<T> {
    return this.pool.execute<T>(command, args, options);
  }

  /** Runs a streaming command; iterate the result with `for await`. Breaking out cancels it. */
  stream<T = unknown>(
    command: string,
    args: Record<string, unknown> = {},
    options: CallOptions = {},
  ): AsyncIterableIterator<T> {
    return this.pool.stream<T>(command, args, options);
  }

  on<E extends keyof BridgeEvents>(event: E, listener: (...args: BridgeEvents[E]) => void): this {
    this.pool.on(event, listener);
    return this;
  }

  off<E extends keyof BridgeEvents>(event: E, listener: (...args: BridgeEvents[E]) => void): this {
    this.pool.off(event, listener);
    return this;
  }

  /** Forgets a session's worker binding (its Python objects stay until the worker recycles). */
  releaseSession(sessionId: string): void {
    this.pool.releaseSession(sessionId);
  }

  /** The worker a session is bound to, if any. */
  workerForSession(sessionId: string): string | undefined {
    return this.pool.workerForSession(sessionId);
  }

  stats(): BridgeStats {
    return this.pool.stats();
  }

  /** Drains: no new calls, in-flight calls get `closeGraceMs` to finish, then everything is killed. */
  async close(): Promise<void> {
    const state = this.pool.status;
    if (state === "closed" || state === "closing" || state === "failed") return this.closing;
    await this.shutdown(this.options.closeGraceMs);
  }

  /** `await using bridge = await Bridge.start()`: the bridge is closed when the block is left. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Stops everything, each part by its owner, in this order: the pool refuses new calls;
   * optimization runs stop while the store is open (each applies its best values and ends
   * "stopped"; its pending call is cancelled, and the workers drop their optimizers as they
   * exit); calls in flight get `graceMs`, then the workers and the fork server are killed; the
   * store closes; then the bridge service, and last the worker socket and its directory
   * (which holds the bridge service's socket).
   */
  private shutdown(graceMs: number, failure?: BridgeError): Promise<void> {
    this.closing = (async () => {
      const closedError = this.pool.refuseCalls(failure);
      if (this.dashboard) {
        this.dashboard.feed.close();
        await this.dashboard.server.close();
      }
      await this.optimization.stopAll(Math.max(graceMs, 1_000));
      await this.runs.flush(); // the runs' last states, while the store is open
      await this.pool.stopWorkers(graceMs, closedError);
      await this.store.close();
      await this.bridgeServer?.close();
      await this.pool.closeSocket();
    })();
    return this.closing;
  }
}
