// `bridge.dspy` and `session.dspy`: run real DSPy modules in the workers from TypeScript.
//
// LMs are configured on the host and travel as a spec with every call (a worker that was
// restarted needs no replay; sessions may use different LMs at once). API keys never travel
// or get logged: a spec names the environment variable that holds the key.
import { NotFoundError } from "../errors/index.js";
import type { CallOptions, CommandRunner } from "../command-runner.js";
import { toWire, type LMSpec } from "./lm-spec.js";
import { listOptimizers, OptimizerJob, type OptimizeOptions, type OptimizerInfo, type OptimizerJobObserver } from "./optimizer-jobs.js";

export type { LMEngine, LMSpec } from "./lm-spec.js";

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
  /** Told of every optimizer job (telemetry, the run history, the dashboard): set by the bridge. */
  jobObserver: OptimizerJobObserver | undefined = undefined;

  constructor(private readonly runner: CommandRunner) {}

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
    private readonly runner: CommandRunner,
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
   * predictor's LM settings, without a round trip when nothing changed. `modules` (several
   * modules as one program, e.g. ["ChainOfThought", "Predict"]) makes a pipeline: the
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
    return new OptimizerJob(this.runner, (choice) => this.api.lmFor(choice), this.sessionId, programId, options, this.api.jobObserver);
  }
}
