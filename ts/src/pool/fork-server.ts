// The Python fork server: the one process the host spawns. It imports DSPy once and forks
// each worker on request (python/dspy_bridge/core/fork_server.py explains why).
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { create } from "@bufbuild/protobuf";
import {
  ForkRequestSchema,
  WorkerFrameSchema,
  type ForkResponse,
  type WorkerExited,
} from "../gen/dspy_bridge/v1/worker_pb.js";
import { WorkerStartError } from "../errors/index.js";
import type { FrameConnection } from "../transport/frame-connection.js";
import type { ResolvedOptions } from "./options.js";
import { pythonFixHint } from "./python-env.js";
import { runModuleArgs } from "./python-launch.js";

const STDERR_TAIL_LINES = 40;
/** The last line a worker prints when its own code fails (python/dspy_bridge/core/server.py
 * WorkerProtocol._crash, fork_server._run_worker): "[dspy-bridge worker ID] fatal: WHAT". */
const WORKER_FATAL_LINE = /^\[dspy-bridge worker (\S+)\] fatal: (.*)$/;
const FATAL_MESSAGE_CHARS = 500;

export class ForkServer {
  readonly child: ChildProcess;
  private connection: FrameConnection | undefined;
  private readonly pendingForks = new Map<string, { resolve: (pid: number) => void; reject: (e: Error) => void }>();
  private readonly stderrTail: string[] = [];
  private readyWaiter: { resolve: () => void; reject: (e: Error) => void } | undefined;
  exited = false;
  exitDescription = "";

  constructor(
    private readonly options: ResolvedOptions,
    socketPath: string,
    token: string,
    bridgeAddress: string | undefined,
    private readonly handlers: {
      onExit(server: ForkServer): void;
      onWorkerExited(exited: WorkerExited): void;
      /** A worker said why it is about to exit (its fatal line on the shared stderr). */
      onWorkerFatal?(workerId: string, message: string): void;
    },
  ) {
    const env: NodeJS.ProcessEnv = {
      // No model cost map from the internet: LiteLLM fetches one when imported and DSPy's
      // native client on its first call, unless this says to use the bundled copy. The
      // user's environment (process.env or `env`) decides when it sets the variable at all:
      // LITELLM_LOCAL_MODEL_COST_MAP=False allows the fetch (docs/dspy.md).
      LITELLM_LOCAL_MODEL_COST_MAP: "True",
      ...process.env,
      ...options.env,
      // The secret reaches Python on stdin only; an inherited, possibly stale, copy in the
      // environment would otherwise be visible in /proc and could shadow the real one.
      DSPY_BRIDGE_TOKEN: undefined,
      PYTHONUNBUFFERED: "1",
      // Where Python code in the workers reaches the host (dspy_bridge.core.host); the token
      // comes over stdin, not the environment.
      ...(bridgeAddress ? { DSPY_BRIDGE_ADDRESS: bridgeAddress } : {}),
      PYTHONPATH: [...options.pythonExtraPath, ...options.pythonPath, process.env.PYTHONPATH ?? ""]
        .filter(Boolean)
        .join(":"),
    };
    this.child = spawn(
      options.python,
      [
        // Like `-m`, but the host's working directory is not on the workers' import path (python-launch.ts).
        ...runModuleArgs("dspy_bridge.core.fork_server"),
        "--socket",
        socketPath,
        "--preload",
        options.preload.join(","),
        "--modules",
        options.modules.join(","),
        "--max-message-bytes",
        String(options.maxMessageBytes),
        "--busy-poll-us",
        String(options.busyPollUs),
      ],
      // Own process group: a Ctrl-C in the host's terminal reaches the host, which then
      // shuts the pool down in order, instead of reaching every Python process at once.
      { stdio: ["pipe", "pipe", "pipe"], detached: true, env },
    );
    // The secret travels on stdin, never in argv or the environment. Nothing follows it:
    // EOF on this pipe is how the Python side learns the host is gone.
    this.child.stdin!.write(`${token}\n`);
    this.child.stdin!.on("error", () => {});
    for (const [stream, name] of [
      [this.child.stdout!, "stdout"],
      [this.child.stderr!, "stderr"],
    ] as const) {
      createInterface({ input: stream }).on("line", (line) => {
        if (name === "stderr") {
          this.stderrTail.push(line);
          if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
          const fatal = WORKER_FATAL_LINE.exec(line);
          if (fatal) this.handlers.onWorkerFatal?.(fatal[1]!, fatal[2]!.slice(0, FATAL_MESSAGE_CHARS));
        }
        options.onLog({ source: "python", stream: name, line });
      });
    }
    this.child.on("error", (err) => this.handleExit(`could not start ${options.python}: ${err.message}`));
    this.child.on("exit", (code, signal) =>
      this.handleExit(signal ? `fork server killed by ${signal}` : `fork server exited with code ${code}`),
    );
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Whether the process and its pipes keep Node alive (the bridge's `unref` option clears it while idle). */
  setRef(ref: boolean): void {
    for (const handle of [this.child, this.child.stdin, this.child.stdout, this.child.stderr] as ({
      ref?(): void;
      unref?(): void;
    } | null)[]) {
      if (ref) handle?.ref?.();
      else handle?.unref?.();
    }
  }

  /** Resolves when the fork server has connected and authenticated (imports done). */
  waitReady(timeoutMs: number): Promise<void> {
    if (this.connection) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(this.startError(`the fork server was not ready after ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.readyWaiter = {
        resolve: () => (clearTimeout(timer), resolve()),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
    });
  }

  attach(connection: FrameConnection): void {
    this.connection = connection;
    connection.attach({
      onFrame: (frame) => {
        if (frame.kind.case === "forked") this.onForked(frame.kind.value);
        else if (frame.kind.case === "workerExited") this.handlers.onWorkerExited(frame.kind.value);
      },
      onProtocolError: () => {},
      onClose: () => {
        if (!this.exited) this.kill();
      },
    });
    this.readyWaiter?.resolve();
  }

  /** A fork server the host will not work with (another protocol version): it fails start-up with `reason`. */
  refuse(reason: string): void {
    this.readyWaiter?.reject(this.startError(reason));
    this.readyWaiter = undefined;
    this.kill();
  }

  fork(workerId: string): Promise<number> {
    if (!this.connection || this.exited) return Promise.reject(this.startError("the fork server is not running"));
    return new Promise<number>((resolve, reject) => {
      this.pendingForks.set(workerId, { resolve, reject });
      this.connection!.send(
        create(WorkerFrameSchema, { kind: { case: "fork", value: create(ForkRequestSchema, { workerId }) } }),
      );
    });
  }

  private onForked(reply: ForkResponse): void {
    const pending = this.pendingForks.get(reply.workerId);
    if (!pending) return;
    this.pendingForks.delete(reply.workerId);
    if (reply.error) pending.reject(this.startError(`fork of ${reply.workerId} failed: ${reply.error}`));
    else pending.resolve(reply.pid);
  }

  startError(message: string): WorkerStartError {
    const tail = this.stderrTail.length ? `\nPython stderr (last lines):\n${this.stderrTail.join("\n")}` : "";
    // The interpreter has no dspy_bridge (a `python` of the user's own): say how to get it.
    const missing = this.stderrTail.some((l) => /No module named '?dspy_bridge[.'\s]/.test(`${l} `));
    const hint = missing ? `: ${pythonFixHint(this.options.python, this.options.pythonSource)}` : "";
    return new WorkerStartError(`${message}${this.exitDescription ? ` (${this.exitDescription})` : ""}${hint}${tail}`);
  }

  private handleExit(description: string): void {
    if (this.exited) return;
    this.exited = true;
    this.exitDescription = description;
    const err = this.startError("the fork server stopped");
    this.readyWaiter?.reject(err);
    for (const p of this.pendingForks.values()) p.reject(err);
    this.pendingForks.clear();
    this.connection?.destroy();
    this.handlers.onExit(this);
  }

  /** SIGTERM lets it take its workers down with it; SIGKILL follows if it lingers. */
  async stop(graceMs = 1_000): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.kill(), graceMs);
    await exited;
    clearTimeout(timer);
  }

  kill(): void {
    if (this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, "SIGKILL");
    } catch {
      this.child.kill("SIGKILL");
    }
  }
}
