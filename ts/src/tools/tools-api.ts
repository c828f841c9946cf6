// `bridge.tools`: TypeScript functions as tools Python (and DSPy ReAct) can call, and calls
// to Python `@tool` functions. The side that owns a tool validates its arguments.
import {
  AlreadyExistsError,
  CancelledError,
  InvalidArgumentError,
  NotFoundError,
  TimeoutError,
} from "../errors/index.js";
import type { CallOptions, CommandRunner } from "../command-runner.js";
import type { HostTelemetry } from "../telemetry/otel.js";
import { compileArgsSchema, type JsonSchema, type Validator } from "./schema.js";

export interface ToolContext {
  /** The session the call belongs to, if any. */
  session: string | undefined;
  /** Aborted when the caller cancels (a Python task cancelled, a timeout). */
  signal: AbortSignal;
  /** For nested calls: `ctx.tools.call(...)` may call back into Python. */
  tools: ToolsApi;
  /** The bridge (`ctx.bridge.tools` is `ctx.tools`). */
  bridge: CommandRunner & { tools: ToolsApi };
}

export type ToolFunction = (
  args: Record<string, unknown>,
  ctx: ToolContext,
) => unknown | Promise<unknown> | AsyncIterable<unknown>;

export interface ToolOptions {
  description?: string;
  /** JSON Schema of the arguments (an object schema). Default: any object. */
  parameters?: JsonSchema;
  /** Only this session sees and may call the tool. */
  session?: string;
  /** The function returns an async iterable; callers stream its items. */
  streaming?: boolean;
}

export interface ToolInfo {
  name: string;
  description: string;
  parameters: JsonSchema;
  streaming: boolean;
  owner: "typescript" | "python";
  session: string | undefined;
}

interface LocalTool extends ToolInfo {
  fn: ToolFunction;
  validate: Validator;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/;

export class ToolsApi {
  /** name -> (session or "" for global) -> tool */
  private readonly local = new Map<string, Map<string, LocalTool>>();
  private pythonTools: Promise<ToolInfo[]> | undefined;

  /** OpenTelemetry: a span per TypeScript tool call (telemetry/otel.ts). */
  telemetry: HostTelemetry | undefined = undefined;

  constructor(private readonly runner: CommandRunner & { tools: ToolsApi }) {}

  /** Registers a TypeScript function as a tool, globally or for one session. */
  register(name: string, fn: ToolFunction, options: ToolOptions = {}): ToolInfo {
    if (!NAME.test(name))
      throw new InvalidArgumentError(`invalid tool name ${JSON.stringify(name)}`, { parameter: "name" });
    if (typeof fn !== "function")
      throw new InvalidArgumentError(`tool '${name}' needs a function`, { parameter: "fn" });
    const parameters = options.parameters ?? { type: "object" };
    const scope = options.session ?? "";
    const byScope = this.local.get(name) ?? new Map<string, LocalTool>();
    if (byScope.has(scope)) {
      throw new AlreadyExistsError(`tool '${name}' is already registered${scope ? ` for session '${scope}'` : ""}`);
    }
    const tool: LocalTool = {
      name,
      description: options.description ?? "",
      parameters,
      streaming: options.streaming ?? false,
      owner: "typescript",
      session: options.session,
      fn,
      validate: compileArgsSchema(name, parameters),
    };
    byScope.set(scope, tool);
    this.local.set(name, byScope);
    return this.describe(tool);
  }

  unregister(name: string, options: { session?: string } = {}): boolean {
    return this.local.get(name)?.delete(options.session ?? "") ?? false;
  }

  /** The TypeScript tool `name` as `session` sees it: its own first, then the global one. */
  private find(name: string, session: string | undefined): LocalTool | undefined {
    const byScope = this.local.get(name);
    if (!byScope) return undefined;
    return (session ? byScope.get(session) : undefined) ?? byScope.get("");
  }

  private describe(t: LocalTool): ToolInfo {
    return {
      name: t.name,
      description: t.description,
      parameters: t.parameters,
      streaming: t.streaming,
      owner: t.owner,
      session: t.session,
    };
  }

  /** TypeScript tools visible to the session (global + its own). */
  listLocal(session?: string): ToolInfo[] {
    const out: ToolInfo[] = [];
    for (const name of [...this.local.keys()].sort()) {
      const t = this.find(name, session);
      if (t) out.push(this.describe(t));
    }
    return out;
  }

  /** Forget the workers' tool list (a worker started: its modules may differ). */
  invalidatePythonTools(): void {
    this.pythonTools = undefined;
  }

  /** Every tool visible to the session: TypeScript ones and the workers' Python `@tool`s. */
  async list(options: { session?: string } = {}): Promise<ToolInfo[]> {
    this.pythonTools ??= this.runner
      .execute<{ name: string; description: string; parameters: JsonSchema; streaming: boolean }[]>("tools.list")
      .then((tools) => tools.map((t) => ({ ...t, owner: "python" as const, session: undefined })));
    this.pythonTools.catch(() => (this.pythonTools = undefined));
    return [...this.listLocal(options.session), ...(await this.pythonTools)];
  }

  /**
   * Calls a tool: a TypeScript one here (validated against its schema), otherwise the
   * Python `@tool` of that name in a worker (validated there).
   */
  async call<T = unknown>(
    name: string,
    args: Record<string, unknown> = {},
    options: Omit<CallOptions, "session"> & { session?: string } = {},
  ): Promise<T> {
    const local = this.find(name, options.session);
    if (local) {
      if (local.streaming)
        throw new InvalidArgumentError(`tool '${name}' streams: use tools.stream()`, { parameter: "name" });
      return (await this.invokeLocal(local, args, options.session, options.signal, options.timeoutMs)) as T;
    }
    this.checkNotHidden(name, options.session);
    return this.runner.execute<T>("tools.call", { name, args }, options);
  }

  /** Streams a streaming tool's items (TypeScript or Python). */
  async *stream<T = unknown>(
    name: string,
    args: Record<string, unknown> = {},
    options: Omit<CallOptions, "session"> & { session?: string } = {},
  ): AsyncGenerator<T> {
    const local = this.find(name, options.session);
    if (local) {
      if (!local.streaming)
        throw new InvalidArgumentError(`tool '${name}' does not stream: use tools.call()`, { parameter: "name" });
      const iterable = (await this.invokeLocal(
        local,
        args,
        options.session,
        options.signal,
        options.timeoutMs,
      )) as AsyncIterable<T>;
      yield* iterable;
      return;
    }
    this.checkNotHidden(name, options.session);
    yield* this.runner.stream<T>("tools.stream", { name, args }, options);
  }

  /** A tool that exists only for other sessions is reported as missing, not run in Python. */
  private checkNotHidden(name: string, session: string | undefined): void {
    if (this.local.has(name) && this.local.get(name)!.size > 0 && !this.find(name, session)) {
      throw new NotFoundError(
        `tool '${name}' is not available to ${session ? `session '${session}'` : "calls without a session"}`,
        {
          details: { tool: name },
        },
      );
    }
  }

  /** Runs a TypeScript tool for a caller on either side (the bridge service uses this too). */
  async invoke(
    name: string,
    args: unknown,
    session: string | undefined,
    signal: AbortSignal,
    timeoutMs = 0,
  ): Promise<unknown> {
    const local = this.find(name, session);
    if (!local) {
      const visible = this.listLocal(session).map((t) => t.name);
      throw new NotFoundError(
        `no TypeScript tool '${name}'${session ? ` for session '${session}'` : ""} (available: ${visible.join(", ") || "none"})`,
        {
          details: { tool: name },
        },
      );
    }
    return this.invokeLocal(local, args, session, signal, timeoutMs);
  }

  /** The TypeScript tool's info, for callers that must know whether it streams. */
  localInfo(name: string, session: string | undefined): ToolInfo | undefined {
    const t = this.find(name, session);
    return t ? this.describe(t) : undefined;
  }

  private invokeLocal(
    tool: LocalTool,
    args: unknown,
    session: string | undefined,
    signal: AbortSignal | undefined,
    timeoutMs = 0,
  ): Promise<unknown> {
    const telemetry = this.telemetry;
    if (telemetry?.tracer === undefined || tool.streaming) return this.runLocal(tool, args, session, signal, timeoutMs);
    const attributes = {
      "dspy_bridge.tool.name": tool.name,
      "dspy_bridge.tool.side": "typescript",
      ...(session ? { "dspy_bridge.session_id": session } : {}),
    };
    return telemetry.inSpan(`dspy_bridge.tool ${tool.name}`, attributes, () =>
      this.runLocal(tool, args, session, signal, timeoutMs),
    );
  }

  private async runLocal(
    tool: LocalTool,
    args: unknown,
    session: string | undefined,
    signal: AbortSignal | undefined,
    timeoutMs = 0,
  ): Promise<unknown> {
    if (args === null || typeof args !== "object" || Array.isArray(args)) {
      throw new InvalidArgumentError(`tool '${tool.name}': arguments must be an object`, { parameter: "args" });
    }
    tool.validate(args);
    const ctx = (controllerSignal: AbortSignal): ToolContext => ({
      session,
      signal: controllerSignal,
      tools: this,
      bridge: this.runner,
    });
    if (tool.streaming) {
      // The iteration outlives this call: the caller's signal is handed on as it is.
      return tool.fn(args as Record<string, unknown>, ctx(signal ?? new AbortController().signal));
    }
    if (signal?.aborted)
      throw new CancelledError(`tool '${tool.name}' was cancelled before it started`, { cause: signal.reason });
    // The caller is answered the moment it gives up (abort or timeout), with a typed error,
    // whether or not the tool honours its signal; the tool learns of it through ctx.signal.
    const controller = new AbortController();
    let giveUp: (error: Error) => void = () => {};
    const gaveUp = new Promise<never>((_, reject) => (giveUp = reject));
    const onAbort = () => {
      const error = new CancelledError(`tool '${tool.name}' was cancelled`, { cause: signal?.reason });
      controller.abort(error);
      giveUp(error);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            const error = new TimeoutError(`tool '${tool.name}' timed out after ${timeoutMs} ms`, { timeoutMs });
            controller.abort(error);
            giveUp(error);
          }, timeoutMs)
        : undefined;
    const running = Promise.resolve().then(() => tool.fn(args as Record<string, unknown>, ctx(controller.signal)));
    running.catch(() => {}); // if we gave up first, its later failure is nobody's business
    try {
      return await Promise.race([running, gaveUp]);
    } finally {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }
}
