// `bridge.sessions`: create, open, list and delete sessions. A session owns variables in
// the host's store and, for `execute`, is bound to one worker (its Python objects live there).
import { AlreadyExistsError, NotFoundError } from "../errors/index.js";
import type { CallOptions, CommandRunner } from "../command-runner.js";
import type { Store } from "../store/store.js";
import type { SessionInfo } from "../store/records.js";
import type { ConfigurationSpace, Configurations, SpaceDoc } from "../config/index.js";
import { SessionPrograms, type DSPyApi } from "../dspy/index.js";
import { SessionVariables } from "./session-variables.js";

export class Session {
  readonly variables: SessionVariables;
  /** DSPy programs of this session: kept in the store, run by the session's worker on any host. */
  readonly programs: SessionPrograms;
  /** Configuration spaces of this session: `register(name, definition)`, `get(name)`. */
  readonly configurations: {
    register(name: string, definition: SpaceDoc): Promise<ConfigurationSpace>;
    get(name: string): ConfigurationSpace;
  };

  constructor(
    readonly id: string,
    private readonly store: Store,
    private readonly runner: CommandRunner,
    dspy: DSPyApi,
    configurations: Configurations,
  ) {
    this.variables = new SessionVariables(store, id);
    this.programs = new SessionPrograms(dspy, runner, id, store);
    this.configurations = {
      register: (name, definition) => configurations.register(id, name, definition),
      get: (name) => configurations.get(id, name),
    };
  }

  /** This host's copy of the session's info (NotFoundError once it is gone). */
  info(): SessionInfo {
    return { ...this.store.sessionRecord(this.id).info };
  }

  /** Runs a command on this session's worker. */
  execute<T = unknown>(
    command: string,
    args: Record<string, unknown> = {},
    options: Omit<CallOptions, "session"> = {},
  ): Promise<T> {
    return this.runner.execute<T>(command, args, { ...options, session: this.id });
  }

  stream<T = unknown>(
    command: string,
    args: Record<string, unknown> = {},
    options: Omit<CallOptions, "session"> = {},
  ): AsyncIterableIterator<T> {
    return this.runner.stream<T>(command, args, { ...options, session: this.id });
  }
}

export class Sessions {
  constructor(
    private readonly store: Store,
    private readonly runner: CommandRunner,
    private readonly dspy: DSPyApi,
    private readonly configurations: Configurations,
  ) {}

  async create(options: { id?: string; ttlMs?: number; metadata?: Record<string, unknown> } = {}): Promise<Session> {
    const info = await this.store.createSession({
      sessionId: options.id,
      ttlMs: options.ttlMs,
      metadata: options.metadata,
    });
    return new Session(info.sessionId, this.store, this.runner, this.dspy, this.configurations);
  }

  /** An existing session; NotFoundError otherwise. */
  async get(id: string): Promise<Session> {
    await this.store.getSession(id);
    return new Session(id, this.store, this.runner, this.dspy, this.configurations);
  }

  /** The session with this id, created if needed. */
  async open(id: string, options: { ttlMs?: number; metadata?: Record<string, unknown> } = {}): Promise<Session> {
    try {
      return await this.get(id);
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
    try {
      return await this.create({ id, ...options });
    } catch (err) {
      // Another caller (here or on another host) created it between our look and our create.
      if (err instanceof AlreadyExistsError) return this.get(id);
      throw err;
    }
  }

  async list(): Promise<SessionInfo[]> {
    return this.store.listSessions();
  }

  /** Deletes the session: its variables, its watches, and what its worker kept for it. */
  async delete(id: string): Promise<boolean> {
    return this.store.deleteSession(id);
  }
}
