// `bridge.dspy` and `session.dspy`: run real DSPy modules in the workers from TypeScript.
//
// LMs are configured on the host and travel as a spec with every call (a worker that was
// restarted needs no replay; sessions may use different LMs at once). API keys never travel
// or get logged: a spec names the environment variable that holds the key.
import { randomUUID } from "node:crypto";
import { AlreadyExistsError, BridgeError, NotFoundError } from "../errors/index.js";
import type { CallOptions, CommandRunner } from "../command-runner.js";
import { toWire, type LMSpec } from "./lm-spec.js";
import {
  listOptimizers,
  OptimizerJob,
  type OptimizeOptions,
  type OptimizerInfo,
  type OptimizerJobObserver,
  type OptimizerResult,
} from "./optimizer-jobs.js";
import {
  isSchemaSignature,
  signatureSpec,
  validateOutputs,
  validateSide,
  type SchemaSignature,
  type SignatureSpec,
} from "./schema-signature.js";
import type { ModuleExtraOutputs, ModuleName, ModuleOutputs, SignatureInputs } from "./signature-types.js";
import type { StandardSchemaV1 } from "@standard-schema/spec";

export type { LMEngine, LMOptionName, LMSpec } from "./lm-spec.js";
export type { ModuleName, ModuleType } from "./signature-types.js";

/** A signature: DSPy's string form (`"question -> answer: float"`) or two object schemas (zod, any Standard Schema library). */
export type Signature = string | SchemaSignature;

type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** The input fields a signature asks for: inferred from a string literal or the inputs schema. */
export type InputsOf<S> =
  S extends SchemaSignature<infer I, infer _O>
    ? StandardSchemaV1.InferInput<I>
    : S extends string
      ? SignatureInputs<S>
      : Record<string, unknown>;

/** The fields a run of module `M` over signature `S` returns (ChainOfThought adds `reasoning`). */
export type OutputsOf<M, S> =
  S extends SchemaSignature<infer _I, infer O>
    ? Simplify<StandardSchemaV1.InferOutput<O> & ModuleExtraOutputs<M>>
    : S extends string
      ? ModuleOutputs<M, S>
      : Record<string, unknown>;

export interface DSPyResult<Fields = Record<string, unknown>> {
  /** Every output field (reasoning included for ChainOfThought), typed from the signature. */
  fields: Fields;
  /** All completions when the module produced several (n > 1). */
  completions?: Fields[];
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
export type DSPyStreamItem<Fields = Record<string, unknown>> =
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
  | ({ type: "prediction" } & DSPyResult<Fields>);

async function streamItem<Fields>(
  item: Record<string, unknown>,
  signature: Signature,
): Promise<DSPyStreamItem<Fields>> {
  if (item.type === "prediction") return { type: "prediction", ...(await checkedResult<Fields>(item, signature)) };
  if (item.type === "chunk") {
    return {
      type: "chunk",
      field: item.field as string,
      text: item.text as string,
      predictor: (item.predictor ?? "") as string,
      last: item.last === true,
    };
  }
  return { type: "status", message: String(item.message ?? "") };
}

export interface ProgramInfo {
  programId: string;
  module: string;
  /** The signature string, or the spec a schema signature became (typed string, instructions, descriptions). */
  signature: string | SignatureSpec;
  config: Record<string, unknown>;
  /** Attribute -> session variable: synced into the LM settings before each run. */
  bindings: Record<string, string>;
  /** Runs of this revision by this host's worker for the session (each worker counts its own). */
  runs: number;
  createdAt: Date;
  /** The stored revision: 1 when created, one more at each change (an optimizer job, a load, a replace). */
  revision: number;
  /** When the stored revision was written. */
  updatedAt: Date;
}

/** A program as the session store keeps it (`ProgramRecord` in the store). */
export interface StoredProgram {
  programId: string;
  revision: number;
  /** Unique to this revision's content: what a worker's built copy is cached by. */
  etag: string;
  /** What `save` returns: module, signature, config, bindings, state, optimization. */
  definition: Record<string, unknown>;
  createdAtMs: number;
  updatedAtMs: number;
}

/**
 * Where session programs are kept: the session store (its program records), so any host's
 * worker can build any session's program. Declared here so that this folder does not depend
 * on the store; the session store satisfies it.
 */
export interface ProgramStore {
  /** The program (undefined: none) and the session's latest revision, in one read. */
  programForRun(
    sessionId: string,
    programId: string,
  ): Promise<{ program: StoredProgram | undefined; sessionRevision: number }>;
  listPrograms(sessionId: string): Promise<StoredProgram[]>;
  putProgram(input: {
    sessionId: string;
    programId: string;
    etag: string;
    definition: Record<string, unknown>;
    expectRevision?: number | null;
  }): Promise<StoredProgram>;
  deleteProgram(sessionId: string, programId: string): Promise<boolean>;
}

/** A tag for a new stored revision: unique, so a worker never mistakes another content for it. */
const newEtag = (): string => randomUUID();

/** The worker does not hold the revision a call named and wants its definition. */
function needsDefinition(err: unknown): boolean {
  return err instanceof BridgeError && err.details.program_definition_needed === true;
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

/** A run's result, its output fields checked by the signature's output schema when it has one. */
async function checkedResult<Fields>(raw: Record<string, unknown>, signature: Signature): Promise<DSPyResult<Fields>> {
  const r = result(raw);
  if (isSchemaSignature(signature)) {
    r.fields = await validateOutputs(signature, r.fields);
    if (r.completions) r.completions = await Promise.all(r.completions.map((c) => validateOutputs(signature, c)));
  }
  return r as DSPyResult<Fields>;
}

/** The signature as the workers read it, and the inputs checked by the inputs schema when there is one. */
async function wireRequest(
  signature: Signature,
  inputs: unknown,
): Promise<{ signature: string | SignatureSpec; inputs: Record<string, unknown> }> {
  if (!isSchemaSignature(signature)) return { signature, inputs: inputs as Record<string, unknown> };
  const spec = signatureSpec(signature);
  return {
    signature: spec,
    inputs: (await validateSide(signature.inputs, inputs, "inputs")) as Record<string, unknown>,
  };
}

/** A stored program's description; `runs` from its worker's copy when that is this revision. */
function programInfo(stored: StoredProgram, held: Record<string, unknown> | undefined): ProgramInfo {
  const d = stored.definition;
  return {
    programId: stored.programId,
    module: d.module as string,
    signature: d.signature as string | SignatureSpec,
    config: (d.config ?? {}) as Record<string, unknown>,
    bindings: (d.bindings ?? {}) as Record<string, string>,
    runs: held !== undefined && held.etag === stored.etag ? (held.runs as number) : 0,
    createdAt: new Date(stored.createdAtMs),
    revision: stored.revision,
    updatedAt: new Date(stored.updatedAtMs),
  };
}

export class DSPyApi {
  private readonly lms = new Map<string, LMSpec>();
  /** Told of every optimizer job (telemetry, the run history, the dashboard): set by the bridge. */
  jobObserver: OptimizerJobObserver | undefined = undefined;
  /** Told of the token usage per model of every run and program execution (the dashboard). */
  usageObserver: ((usage: Record<string, unknown>) => void) | undefined = undefined;

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
      if (!spec)
        throw new NotFoundError(
          `no LM configured as '${choice}' (configured: ${[...this.lms.keys()].join(", ") || "none"})`,
        );
      return toWire(spec);
    }
    return toWire(choice);
  }

  /**
   * Runs a module once: `run({ module: "ChainOfThought", signature: "question -> answer: float", inputs })`.
   * The inputs and `fields` are typed from the signature (a string literal or two schemas); a
   * schema signature's outputs are validated (a mismatch is a ParseError naming the field).
   */
  async run<S extends Signature, M extends ModuleName = "Predict">(
    request: { module: M; signature: S; inputs: InputsOf<S> } & RunOptions,
  ): Promise<DSPyResult<OutputsOf<M, S>>> {
    const { module, signature, inputs, lm, config, usage, lmCalls, ...callOptions } = request;
    const wire = await wireRequest(signature, inputs);
    const raw = await this.runner.execute<Record<string, unknown>>(
      "dspy.run",
      {
        module,
        ...wire,
        lm: this.lmFor(lm) ?? null,
        config: config ?? null,
        usage: usage ?? true,
        lm_calls: lmCalls ?? false,
      },
      callOptions,
    );
    return this.observed(await checkedResult<OutputsOf<M, S>>(raw, signature));
  }

  /** Tells the usage observer (the dashboard's LM usage per model) of a result's token usage. */
  observed<R extends { usage: Record<string, unknown> }>(r: R): R {
    if (this.usageObserver !== undefined && Object.keys(r.usage).length > 0) this.usageObserver(r.usage);
    return r;
  }

  /**
   * Runs a module like `run`, streaming: status messages, then `{ type: "chunk", field, text }`
   * as the LM streams each output field's tokens (DSPy's stream listeners, one per output
   * field), then the prediction last. Breaking out of the `for await` cancels the run and
   * closes the LM's HTTP request.
   */
  async *stream<S extends Signature, M extends ModuleName = "Predict">(
    request: { module: M; signature: S; inputs: InputsOf<S> } & RunOptions,
  ): AsyncGenerator<DSPyStreamItem<OutputsOf<M, S>>> {
    const { module, signature, inputs, lm, config, usage, lmCalls, ...callOptions } = request;
    const wire = await wireRequest(signature, inputs);
    for await (const item of this.runner.stream<Record<string, unknown>>(
      "dspy.stream",
      {
        module,
        ...wire,
        lm: this.lmFor(lm) ?? null,
        config: config ?? null,
        usage: usage ?? true,
        lm_calls: lmCalls ?? false,
      },
      callOptions,
    )) {
      yield streamItem<OutputsOf<M, S>>(item, signature);
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
  call<T = unknown>(
    target: string,
    args: unknown[] = [],
    kwargs: Record<string, unknown> = {},
    options: RunOptions = {},
  ): Promise<T> {
    const { lm, config: _config, usage: _usage, lmCalls: _lmCalls, ...callOptions } = options;
    return this.runner.execute<T>("dspy.call", { target, args, kwargs, lm: this.lmFor(lm) ?? null }, callOptions);
  }
}

/**
 * A session's programs: kept in the session store (definition, bindings, compiled state, a
 * revision at each change), run by the session's worker on whichever host serves the call.
 * A worker builds a program from its stored revision the first time it runs it (and again
 * after the program changed, on this host or another), so a request may land on any host and
 * a recycled worker or a killed host loses nothing.
 */
export class SessionPrograms {
  constructor(
    private readonly api: DSPyApi,
    private readonly runner: CommandRunner,
    private readonly sessionId: string,
    private readonly store: ProgramStore,
  ) {}

  private exec<T>(
    command: string,
    args: Record<string, unknown>,
    options: Omit<CallOptions, "session"> = {},
  ): Promise<T> {
    return this.runner.execute<T>(command, args, { ...options, session: this.sessionId });
  }

  /** The stored program, with the session's latest revision (a run waits until its worker has seen it). */
  /**
   * What a run or a stream of a stored program sends: its inputs checked against the
   * signature, the stored revision's etag (the worker builds the program from the record
   * when it does not hold that revision) and the session revision it must have seen.
   */
  private async runRequest(programId: string, inputs: unknown, options: RunOptions, signature: Signature | undefined) {
    const { lm, config: _config, usage: _usage, lmCalls, ...callOptions } = options;
    const checked =
      signature === undefined ? (inputs as Record<string, unknown>) : (await wireRequest(signature, inputs)).inputs;
    const { program, sessionRevision } = await this.stored(programId);
    const args = {
      program_id: programId,
      inputs: checked,
      lm: this.api.lmFor(lm) ?? null,
      min_revision: sessionRevision,
      lm_calls: lmCalls ?? false,
      etag: program.etag,
    };
    return { args, program, callOptions };
  }

  private async stored(programId: string): Promise<{ program: StoredProgram; sessionRevision: number }> {
    const { program, sessionRevision } = await this.store.programForRun(this.sessionId, programId);
    if (!program)
      throw new NotFoundError(`program '${programId.slice(0, 100)}' not found in session '${this.sessionId}'`, {
        details: { program_id: programId.slice(0, 256) },
      });
    return { program, sessionRevision };
  }

  /** Stores what the worker built under `etag` (its `saved` form) as the program's next revision. */
  private async record(
    programId: string,
    etag: string,
    definition: Record<string, unknown>,
    expectRevision?: number | null,
  ): Promise<StoredProgram> {
    return this.store.putProgram({
      sessionId: this.sessionId,
      programId,
      etag,
      definition,
      ...(expectRevision === undefined ? {} : { expectRevision }),
    });
  }

  /**
   * Creates a program in the session's worker. `bindings` ({ temperature: "temperature" })
   * bind module attributes to session variables: each run first syncs them into every
   * predictor's LM settings, without a round trip when nothing changed. `modules` (several
   * modules as one program, e.g. ["ChainOfThought", "Predict"]) makes a pipeline: the
   * modules run in order over the signature, each later one also given the previous one's
   * outputs as `previous_<field>` inputs; `module` is then "Pipeline" (or left out).
   */
  async create<S extends Signature, M extends ModuleName = "Pipeline">(
    programId: string,
    definition: ({ module: M; modules?: string[] } | { module?: "Pipeline"; modules: string[] }) & {
      signature: S;
      config?: Record<string, unknown>;
      bindings?: Record<string, string>;
      replace?: boolean;
    },
  ): Promise<Program<InputsOf<S>, OutputsOf<M, S>>> {
    const signature = isSchemaSignature(definition.signature)
      ? signatureSpec(definition.signature)
      : definition.signature;
    const replace = definition.replace ?? false;
    // The store says whether it exists (on any host); a worker may hold an older copy.
    if (!replace && (await this.store.programForRun(this.sessionId, programId)).program)
      throw new AlreadyExistsError(
        `program '${programId.slice(0, 100)}' already exists in session '${this.sessionId}'`,
      );
    const etag = newEtag();
    const raw = await this.exec<Record<string, unknown>>("dspy.create_program", {
      program_id: programId,
      module: definition.module ?? "Pipeline",
      signature,
      config: definition.config ?? null,
      bindings: definition.bindings ?? null,
      replace: true,
      etag,
      ...(definition.modules ? { modules: definition.modules } : {}),
    });
    // Not replacing: another host creating the same id meanwhile makes this an AlreadyExistsError.
    const stored = await this.record(programId, etag, raw.saved as Record<string, unknown>, replace ? undefined : null);
    return new Program(this, programInfo(stored, raw), definition.signature);
  }

  /**
   * Runs a program by id. Its fields are untyped here; the handle `create` returned types them
   * (and validates them against a schema signature's outputs).
   */
  execute(programId: string, inputs: Record<string, unknown>, options: RunOptions = {}): Promise<DSPyResult> {
    return this.executeWith(programId, inputs, options, undefined);
  }

  /** `execute` with the program's signature when known (a schema signature's inputs and outputs are checked). */
  async executeWith<Fields>(
    programId: string,
    inputs: unknown,
    options: RunOptions,
    signature: Signature | undefined,
  ): Promise<DSPyResult<Fields>> {
    const { args, program, callOptions } = await this.runRequest(programId, inputs, options, signature);
    let raw: Record<string, unknown>;
    try {
      raw = await this.exec<Record<string, unknown>>("dspy.execute_program", args, callOptions);
    } catch (err) {
      if (!needsDefinition(err)) throw err;
      // The worker does not hold this revision (first use on this host, a new worker, a change elsewhere).
      raw = await this.exec<Record<string, unknown>>(
        "dspy.execute_program",
        { ...args, program: program.definition },
        callOptions,
      );
    }
    return this.api.observed(await checkedResult<Fields>(raw, signature ?? ""));
  }

  /**
   * Runs a program like `execute` (bound variables synced the same way, a variable set just
   * before included), streaming like `bridge.dspy.stream`: status, each output field's
   * chunks, the prediction last. Breaking out of the `for await` cancels the run.
   */
  stream(programId: string, inputs: Record<string, unknown>, options: RunOptions = {}): AsyncGenerator<DSPyStreamItem> {
    return this.streamWith(programId, inputs, options, undefined);
  }

  /** `stream` with the program's signature when known. */
  async *streamWith<Fields>(
    programId: string,
    inputs: unknown,
    options: RunOptions,
    signature: Signature | undefined,
  ): AsyncGenerator<DSPyStreamItem<Fields>> {
    const { args, program, callOptions } = await this.runRequest(programId, inputs, options, signature);
    const open = (withDefinition: boolean) =>
      this.runner.stream<Record<string, unknown>>(
        "dspy.stream_program",
        withDefinition ? { ...args, program: program.definition } : args,
        { ...callOptions, session: this.sessionId },
      );
    let started = false;
    try {
      for await (const item of open(false)) {
        started = true;
        yield streamItem<Fields>(item, signature ?? "");
      }
      return;
    } catch (err) {
      // Only a refusal before the first item is asked again, with the definition.
      if (started || !needsDefinition(err)) throw err;
    }
    for await (const item of open(true)) yield streamItem<Fields>(item, signature ?? "");
  }

  /** The session's programs (from the store, whichever host made them), by id. */
  async list(): Promise<ProgramInfo[]> {
    const [stored, held] = await Promise.all([
      this.store.listPrograms(this.sessionId),
      this.exec<Record<string, unknown>[]>("dspy.list_programs", {}),
    ]);
    const byId = new Map(held.map((h) => [h.program_id as string, h]));
    return stored.map((p) => programInfo(p, byId.get(p.programId)));
  }

  /** Deletes the program from the store (every host) and from this host's worker; false when there was none. */
  async delete(programId: string): Promise<boolean> {
    const stored = await this.store.deleteProgram(this.sessionId, programId);
    const held = await this.exec<boolean>("dspy.delete_program", { program_id: programId });
    return stored || held;
  }

  /** Definition and learned state as JSON-able data (never pickle): the stored revision. */
  async save(programId: string): Promise<Record<string, unknown>> {
    return structuredClone((await this.stored(programId)).program.definition);
  }

  /** Builds a program from `save` output (JSON state only) and stores it as the program's next revision. */
  async load(programId: string, saved: Record<string, unknown>): Promise<ProgramInfo> {
    const etag = newEtag();
    const raw = await this.exec<Record<string, unknown>>("dspy.load_program", {
      program_id: programId,
      saved,
      etag,
    });
    return programInfo(await this.record(programId, etag, raw.saved as Record<string, unknown>), raw);
  }

  /**
   * Compiles the program with a DSPy optimizer as a long job (returns at once): progress by
   * iterating the job or `onProgress`, `job.cancel()`, `await job.result`. A finished job
   * replaces the program (or saves it as `saveAs`) — stored as its next revision before
   * `result` resolves; a cancelled or failed one leaves it as it was. The job fails with a
   * VersionConflictError, its result discarded, when the program was changed meanwhile.
   */
  optimize(programId: string, options: OptimizeOptions): OptimizerJob {
    const installEtag = newEtag();
    let compiledFrom: StoredProgram | undefined;
    return new OptimizerJob(
      this.runner,
      (choice) => this.api.lmFor(choice),
      this.sessionId,
      programId,
      options,
      this.api.jobObserver,
      {
        // Always with the definition: a job is rare, and its trainset weighs more anyway.
        prepare: async () => {
          compiledFrom = (await this.stored(programId)).program;
          return { etag: compiledFrom.etag, program: compiledFrom.definition, install_etag: installEtag };
        },
        compiled: async (result: OptimizerResult) => {
          const replaced = result.programId === programId;
          await this.record(result.programId, installEtag, result.saved, replaced ? compiledFrom!.revision : undefined);
        },
      },
    );
  }
}

/**
 * A program `session.programs.create` made: its info, and `execute` / `stream` typed by its
 * signature (a schema signature's inputs and outputs checked at run time).
 */
export class Program<Inputs = Record<string, unknown>, Fields = Record<string, unknown>> implements ProgramInfo {
  readonly programId: string;
  readonly module: string;
  readonly signature: string | SignatureSpec;
  readonly config: Record<string, unknown>;
  readonly bindings: Record<string, string>;
  readonly runs: number;
  readonly createdAt: Date;
  readonly revision: number;
  readonly updatedAt: Date;

  constructor(
    private readonly programs: SessionPrograms,
    info: ProgramInfo,
    private readonly definedBy: Signature,
  ) {
    this.programId = info.programId;
    this.module = info.module;
    this.signature = info.signature;
    this.config = info.config;
    this.bindings = info.bindings;
    this.runs = info.runs;
    this.createdAt = info.createdAt;
    this.revision = info.revision;
    this.updatedAt = info.updatedAt;
  }

  execute(inputs: Inputs, options: RunOptions = {}): Promise<DSPyResult<Fields>> {
    return this.programs.executeWith<Fields>(this.programId, inputs, options, this.definedBy);
  }

  stream(inputs: Inputs, options: RunOptions = {}): AsyncGenerator<DSPyStreamItem<Fields>> {
    return this.programs.streamWith<Fields>(this.programId, inputs, options, this.definedBy);
  }

  /** A DSPy optimizer job over this program (see `SessionPrograms.optimize`). */
  optimize(options: OptimizeOptions): OptimizerJob {
    return this.programs.optimize(this.programId, options);
  }
}
