// `bridge.dspy` and `session.dspy`: run real DSPy modules in the workers from TypeScript.
//
// LMs are configured on the host and travel as a spec with every call (a worker that was
// restarted needs no replay; sessions may use different LMs at once). API keys never travel
// or get logged: a spec names the environment variable that holds the key.
import { InvalidArgumentError, NotFoundError } from "../errors/index.js";
import type { CallOptions } from "../pool/call.js";
import { listOptimizers, OptimizerJob, type OptimizeOptions, type OptimizerInfo } from "./optimizer-jobs.js";

/** DSPy's LM engines, as an LM spec names them (`LMSpec.engine`). */
export type LMEngine = "auto" | "native" | "litellm";
const ENGINES: readonly string[] = ["auto", "native", "litellm"];

/** A LiteLLM model string and its options, or the scripted LM ("scripted"). */
export interface LMSpec {
  /** "openai/gpt-4o-mini", "anthropic/claude-3-5-haiku-latest", "gemini/gemini-2.0-flash",
   * "ollama_chat/llama3.1", "openai/<model>" with `apiBase` for any OpenAI-compatible server,
   * or "scripted" for the deterministic offline LM. */
  model: string;
  /** Name of the environment variable (in the workers) that holds the API key. */
  apiKeyEnv?: string;
  apiBase?: string;
  temperature?: number;
  maxTokens?: number;
  /**
   * Which of DSPy's engines calls the provider: "auto" (DSPy's default: its own client where
   * it can serve the model and options, LiteLLM otherwise), "native" (DSPy's own client;
   * refused for a model or option it cannot serve) or "litellm".
   */
  engine?: LMEngine;
  /**
   * Retries of a transient failure (rate limit, timeout, 5xx, connection error), made by DSPy
   * with exponential backoff (1 s, 2 s, 4 s, …) or the provider's Retry-After. Default 3 (DSPy's).
   */
  numRetries?: number;
  /**
   * The provider request timeout, per attempt (DSPy's `timeout`, in seconds on the wire). Default:
   * the engine's own (native: 600 s per wait for the next byte, 10 s to connect; LiteLLM: 6,000 s).
   * The call's own `timeoutMs` (RunOptions) bounds the whole call, retries included.
   */
  timeoutMs?: number;
  cache?: boolean;
  /** Scripted LM only: simulated latency per call. */
  latencyMs?: number;
  /** Scripted LM only: answers to give, in order: output field name -> value, a raw completion
   * text returned verbatim, or null for the default answer. */
  responses?: (Record<string, unknown> | string | null)[];
  /** More LiteLLM keyword arguments. */
  extra?: Record<string, unknown>;
}

export type ModuleType = "Predict" | "ChainOfThought" | "ReAct" | "ProgramOfThought" | "MultiChainComparison" | "BestOfN" | "Refine";

export interface DSPyResult {
  /** Every output field (reasoning included for ChainOfThought) and the inputs DSPy echoes. */
  fields: Record<string, unknown>;
  /** All completions when the module produced several (n > 1). */
  completions?: Record<string, unknown>[];
  /** Token usage per model, as DSPy tracks it. */
  usage: Record<string, unknown>;
  latencyMs: number;
  lm: string | null;
  /** What each LM call of this run received (model, temperature, max_tokens, …). */
  lmCalls: Record<string, unknown>[];
}

export interface RunOptions extends Omit<CallOptions, "session"> {
  /** A configured LM's name or a spec; default: the LM configured as "default". */
  lm?: string | LMSpec;
  /** Module constructor options (n, temperature, M, N, threshold, max_iters, …). */
  config?: Record<string, unknown>;
  /** Report token usage (default true; DSPy's usage tracking costs some time per call). */
  usage?: boolean;
  /** Report what each LM call received (default false; always on for bound programs). */
  lmCalls?: boolean;
}

/**
 * What `bridge.dspy.stream` and `session.programs.stream` yield, in this order: status
 * messages (optional), then each output field's text as the LM streams it, then the
 * prediction (the same shape as `run`'s result) last.
 */
export type DSPyStreamItem =
  | { type: "status"; message: string }
  | {
      type: "chunk";
      /** The signature output field this text belongs to (`reasoning` for ChainOfThought's reasoning). */
      field: string;
      /** Token text of the field's value, field markers excluded; a field's chunks joined give its value. */
      text: string;
      /** DSPy's name of the predictor that produced it ("self" for Predict, "predict" for ChainOfThought, "react", …). */
      predictor: string;
      /** The field's last chunk (its text may be empty). */
      last: boolean;
    }
  | ({ type: "prediction" } & DSPyResult);

function streamItem(item: Record<string, unknown>): DSPyStreamItem {
  if (item.type === "prediction") return { type: "prediction", ...result(item) };
  if (item.type === "chunk") {
    return { type: "chunk", field: item.field as string, text: item.text as string, predictor: (item.predictor ?? "") as string, last: item.last === true };
  }
  return { type: "status", message: String(item.message ?? "") };
}

export interface ProgramInfo {
  programId: string;
  module: string;
  signature: string;
  config: Record<string, unknown>;
  /** Attribute -> session variable: synced into the LM settings before each run. */
  bindings: Record<string, string>;
  runs: number;
  createdAt: Date;
}

/** What the API needs from the bridge (narrow, to avoid an import cycle). */
export interface DSPyRunner {
  execute<T = unknown>(command: string, args?: Record<string, unknown>, options?: CallOptions): Promise<T>;
  stream<T = unknown>(command: string, args?: Record<string, unknown>, options?: CallOptions): AsyncIterableIterator<T>;
}

const SECRET_LOOKING = /^(sk-|sk_|AIza|xai-|gsk_)|^[A-Za-z0-9_-]{40,}$/;

function toWire(spec: LMSpec): Record<string, unknown> {
  if (!spec || typeof spec.model !== "string" || spec.model.length === 0) {
    throw new InvalidArgumentError("an LM spec needs a non-empty model string", { parameter: "lm.model" });
  }
  if (spec.apiKeyEnv !== undefined && (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(spec.apiKeyEnv) || SECRET_LOOKING.test(spec.apiKeyEnv))) {
    throw new InvalidArgumentError("apiKeyEnv must be the NAME of an environment variable holding the key, not the key", {
      parameter: "lm.apiKeyEnv",
    });
  }
  const unknown = Object.keys(spec).filter((k) => k !== "model" && !WIRE_NAMES.has(k as keyof LMSpec));
  if (unknown.length > 0) {
    throw new InvalidArgumentError(`unknown LM option(s): ${unknown.join(", ")}; known: model, ${[...WIRE_NAMES.keys()].join(", ")}`, {
      parameter: "lm",
    });
  }
  if (spec.engine !== undefined && !ENGINES.includes(spec.engine)) {
    throw new InvalidArgumentError(`unknown lm.engine ${JSON.stringify(spec.engine)}; choose one of "auto", "native", "litellm"`, {
      parameter: "lm.engine",
    });
  }
  if (spec.numRetries !== undefined && !(Number.isInteger(spec.numRetries) && spec.numRetries >= 0)) {
    throw new InvalidArgumentError(`lm.numRetries must be a non-negative integer, got ${String(spec.numRetries)}`, { parameter: "lm.numRetries" });
  }
  if (spec.timeoutMs !== undefined && !(typeof spec.timeoutMs === "number" && Number.isFinite(spec.timeoutMs) && spec.timeoutMs > 0)) {
    throw new InvalidArgumentError(`lm.timeoutMs must be a positive number of milliseconds, got ${String(spec.timeoutMs)}`, {
      parameter: "lm.timeoutMs",
    });
  }
  const wire: Record<string, unknown> = { model: spec.model };
  for (const [from, to] of WIRE_NAMES) if (spec[from] !== undefined) wire[to] = spec[from];
  return wire;
}

/** LMSpec option -> its name on the wire (python/dspy_bridge/dspy/_lm_specs.py). */
const WIRE_NAMES = new Map<keyof LMSpec, string>([
  ["apiKeyEnv", "api_key_env"],
  ["apiBase", "api_base"],
  ["temperature", "temperature"],
  ["maxTokens", "max_tokens"],
  ["engine", "engine"],
  ["numRetries", "num_retries"],
  ["timeoutMs", "timeout_ms"],
  ["cache", "cache"],
  ["latencyMs", "latency_ms"],
  ["responses", "responses"],
  ["extra", "extra"],
]);

function result(raw: Record<string, unknown>): DSPyResult {
  return {
    fields: raw.fields as Record<string, unknown>,
    ...(raw.completions ? { completions: raw.completions as Record<string, unknown>[] } : {}),
    usage: (raw.usage ?? {}) as Record<string, unknown>,
    latencyMs: raw.latency_ms as number,
    lm: (raw.lm ?? null) as string | null,
    lmCalls: (raw.lm_calls ?? []) as Record<string, unknown>[],
  };
}

function programInfo(raw: Record<string, unknown>): ProgramInfo {
  return {
    programId: raw.program_id as string,
    module: raw.module as string,
    signature: raw.signature as string,
    config: (raw.config ?? {}) as Record<string, unknown>,
    bindings: (raw.bindings ?? {}) as Record<string, string>,
    runs: raw.runs as number,
    createdAt: new Date((raw.created_at as number) * 1000),
  };
}

export class DSPyApi {
  private readonly lms = new Map<string, LMSpec>();

  constructor(private readonly runner: DSPyRunner) {}

  /** Registers an LM under a name ("default" is used when a call names none). */
  configureLM(spec: LMSpec, name = "default"): void {
    toWire(spec);
    this.lms.set(name, { ...spec });
  }

  /** The configured LMs (specs hold variable names, never keys). */
  listLMs(): Record<string, LMSpec> {
    return Object.fromEntries(this.lms);
  }

  /** The wire form of an LM choice, for this API and for session programs. */
  lmFor(choice: string | LMSpec | undefined): Record<string, unknown> | undefined {
    if (choice === undefined) {
      const fallback = this.lms.get("default");
      return fallback ? toWire(fallback) : undefined;
    }
    if (typeof choice === "string") {
      const spec = this.lms.get(choice);
      if (!spec) throw new NotFoundError(`no LM configured as '${choice}' (configured: ${[...this.lms.keys()].join(", ") || "none"})`);
      return toWire(spec);
    }
    return toWire(choice);
  }

  /** Runs a module once: `run({ module: "ChainOfThought", signature: "question -> answer", inputs })`. */
  async run(request: { module: ModuleType | string; signature: string; inputs: Record<string, unknown> } & RunOptions): Promise<DSPyResult> {
    const { module, signature, inputs, lm, config, usage, lmCalls, ...callOptions } = request;
    const raw = await this.runner.execute<Record<string, unknown>>(
      "dspy.run",
      { module, signature, inputs, lm: this.lmFor(lm) ?? null, config: config ?? null, usage: usage ?? true, lm_calls: lmCalls ?? false },
      callOptions,
    );
    return result(raw);
  }

  /**
   * Runs a module like `run`, streaming: status messages, then `{ type: "chunk", field, text }`
   * as the LM streams each output field's tokens (DSPy's stream listeners, one per output
   * field), then the prediction last. Breaking out of the `for await` cancels the run and
   * closes the LM's HTTP request.
   */
  async *stream(request: { module: ModuleType | string; signature: string; inputs: Record<string, unknown> } & RunOptions): AsyncGenerator<DSPyStreamItem> {
    const { module, signature, inputs, lm, config, usage, lmCalls, ...callOptions } = request;
    for await (const item of this.runner.stream<Record<string, unknown>>(
      "dspy.stream",
      { module, signature, inputs, lm: this.lmFor(lm) ?? null, config: config ?? null, usage: usage ?? true, lm_calls: lmCalls ?? false },
      callOptions,
    )) {
      yield streamItem(item);
    }
  }

  /** Schema discovery: the modules (no argument), a dspy class or function, or a signature's fields. */
  describe(what: { target?: string; signature?: string } = {}): Promise<Record<string, unknown>> {
    return this.runner.execute("dspy.describe", { target: what.target ?? "", signature: what.signature ?? "" });
  }

  /** The DSPy optimizers a job can run (`session.programs.optimize`), with their parameters. */
  optimizers(): Promise<OptimizerInfo[]> {
    return listOptimizers(this.runner);
  }

  /** Calls any dspy function or class by name, e.g. call("dspy.Example", [], { question: "…" }). */
  call<T = unknown>(target: string, args: unknown[] = [], kwargs: Record<string, unknown> = {}, options: RunOptions = {}): Promise<T> {
    const { lm, config: _config, usage: _usage, lmCalls: _lmCalls, ...callOptions } = options;
    return this.runner.execute<T>("dspy.call", { target, args, kwargs, lm: this.lmFor(lm) ?? null }, callOptions);
  }
}

/** Programs that live in one session's worker: create, execute, save, load, list, delete. */
export class SessionPrograms {
  constructor(
    private readonly api: DSPyApi,
    private readonly runner: DSPyRunner,
    private readonly sessionId: string,
    /** The session's latest revision (after catching up with other hosts): a run waits until its worker has seen it (read-your-writes). */
    private readonly revision: () => number | Promise<number> = () => 0,
  ) {}

  private exec<T>(command: string, args: Record<string, unknown>, options: Omit<CallOptions, "session"> = {}): Promise<T> {
    return this.runner.execute<T>(command, args, { ...options, session: this.sessionId });
  }

  /**
   * Creates a program in the session's worker. `bindings` ({ temperature: "temperature" })
   * bind module attributes to session variables: each run first syncs them into every
   * predictor's LM settings, without a round trip when nothing changed. `modules` (the adapter
   * seed's multi-module program, e.g. ["ChainOfThought", "Predict"]) makes a pipeline: the
   * modules run in order over the signature, each later one also given the previous one's
   * outputs as `previous_<field>` inputs; `module` is then "Pipeline" (or left out).
   */
  async create(
    programId: string,
    definition: ({ module: ModuleType | string; modules?: string[] } | { module?: "Pipeline"; modules: string[] }) & {
      signature: string;
      config?: Record<string, unknown>;
      bindings?: Record<string, string>;
      replace?: boolean;
    },
  ): Promise<ProgramInfo> {
    return programInfo(
      await this.exec("dspy.create_program", {
        program_id: programId,
        module: definition.module ?? "Pipeline",
        signature: definition.signature,
        config: definition.config ?? null,
        bindings: definition.bindings ?? null,
        replace: definition.replace ?? false,
        ...(definition.modules ? { modules: definition.modules } : {}),
      }),
    );
  }

  async execute(programId: string, inputs: Record<string, unknown>, options: RunOptions = {}): Promise<DSPyResult> {
    const { lm, config: _config, usage: _usage, lmCalls, ...callOptions } = options;
    const minRevision = await this.revision();
    return result(
      await this.exec(
        "dspy.execute_program",
        { program_id: programId, inputs, lm: this.api.lmFor(lm) ?? null, min_revision: minRevision, lm_calls: lmCalls ?? false },
        callOptions,
      ),
    );
  }

  /**
   * Runs a program like `execute` (bound variables synced the same way, a variable set just
   * before included), streaming like `bridge.dspy.stream`: status, each output field's
   * chunks, the prediction last. Breaking out of the `for await` cancels the run.
   */
  async *stream(programId: string, inputs: Record<string, unknown>, options: RunOptions = {}): AsyncGenerator<DSPyStreamItem> {
    const { lm, config: _config, usage: _usage, lmCalls, ...callOptions } = options;
    const minRevision = await this.revision();
    for await (const item of this.runner.stream<Record<string, unknown>>(
      "dspy.stream_program",
      { program_id: programId, inputs, lm: this.api.lmFor(lm) ?? null, min_revision: minRevision, lm_calls: lmCalls ?? false },
      { ...callOptions, session: this.sessionId },
    )) {
      yield streamItem(item);
    }
  }

  async list(): Promise<ProgramInfo[]> {
    return (await this.exec<Record<string, unknown>[]>("dspy.list_programs", {})).map(programInfo);
  }

  delete(programId: string): Promise<boolean> {
    return this.exec("dspy.delete_program", { program_id: programId });
  }

  /** Definition and learned state as JSON-able data (never pickle). */
  save(programId: string): Promise<Record<string, unknown>> {
    return this.exec("dspy.save_program", { program_id: programId });
  }

  async load(programId: string, saved: Record<string, unknown>): Promise<ProgramInfo> {
    return programInfo(await this.exec("dspy.load_program", { program_id: programId, saved }));
  }

  /**
   * Compiles the program with a DSPy optimizer as a long job (returns at once): progress by
   * iterating the job or `onProgress`, `job.cancel()`, `await job.result`. A finished job
   * replaces the program (or saves it as `saveAs`); a cancelled or failed one leaves it as it was.
   */
  optimize(programId: string, options: OptimizeOptions): OptimizerJob {
    return new OptimizerJob(this.runner, (choice) => this.api.lmFor(choice), this.sessionId, programId, options);
  }
}
