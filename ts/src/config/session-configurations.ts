// Configuration spaces registered in sessions: `Configurations` keeps them, a
// `ConfigurationSpace` is the handle on one (Python's `ConfigurationSpace` is its twin). A
// registered space is named, its variables live in the session's store, and it is applied
// atomically — one commit, one revision, a version bump — and only if the whole resulting
// configuration is valid, so no reader ever sees half of a configuration.
// The space's definition and version are stored with the session (they persist with a
// durable store and are shared through Redis); reads use this host's copy of the store.
import { AlreadyExistsError, ConstraintViolationError, InvalidArgumentError, NotFoundError } from "../errors/index.js";
import type { Store } from "../store/store.js";
import {
  compileSpace,
  sample,
  validate,
  type Config,
  type SampleResult,
  type Space,
  type SpaceDoc,
  type ValidationResult,
  type Variable,
} from "./space.js";

interface Registered {
  name: string;
  doc: SpaceDoc;
  space: Space;
  version: number;
}

export interface ConfigurationInfo {
  name: string;
  definition: SpaceDoc;
  version: number;
  variables: string[];
}

/** Store type and constraints for a space variable. */
function storeSpec(v: Variable): { type: string; constraints: Record<string, unknown> } {
  switch (v.type) {
    case "float":
      return { type: "float", constraints: { min: v.min, max: v.max } };
    case "integer":
      return { type: "integer", constraints: { min: v.min, max: v.max } };
    case "choice":
      return v.values.every((x) => typeof x === "string")
        ? { type: "choice", constraints: { choices: [...v.values] } }
        : { type: v.values.every((x) => typeof x === "number") ? "float" : "string", constraints: {} };
    case "boolean":
      return { type: "boolean", constraints: {} };
    default:
      return {
        type: typeof v.value === "number" ? "float" : typeof v.value === "boolean" ? "boolean" : "string",
        constraints: {},
      };
  }
}

/** A configuration space registered in a session: `session.configurations.register(name, doc)`. */
export class ConfigurationSpace {
  constructor(
    private readonly configurations: Configurations,
    readonly sessionId: string,
    readonly name: string,
  ) {}

  info(): ConfigurationInfo {
    return this.configurations.info(this.sessionId, this.name);
  }

  /** Validates the whole resulting configuration, then writes the values in one commit. Returns the new version. */
  apply(
    values: Record<string, unknown>,
    metadata: Record<string, string> = {},
    caller?: string,
  ): Promise<{ version: number; revision: number }> {
    return this.configurations.apply(this.sessionId, this.name, values, metadata, caller);
  }

  getCurrentValues(): Config {
    return this.configurations.currentValues(this.sessionId, this.name);
  }

  sample(seed?: number, count = 1): SampleResult {
    return this.configurations.sample(this.sessionId, this.name, seed, count);
  }

  validate(values: Record<string, unknown>): ValidationResult {
    return this.configurations.validate(this.sessionId, this.name, values);
  }
}

export class Configurations {
  /** Compiled spaces, by session and name; recompiled when the stored definition changes. */
  private readonly compiled = new Map<string, { doc: unknown; space: Space }>();
  private seedCounter = 1;

  constructor(private readonly store: Store) {
    store.onSessionDropped((sessionId) => {
      for (const key of [...this.compiled.keys()]) if (key.startsWith(`${sessionId}\u0000`)) this.compiled.delete(key);
    });
  }

  private key(sessionId: string, name: string): string {
    return `${sessionId}\u0000${name}`;
  }

  private entry(sessionId: string, name: string): Registered {
    const stored = this.store.sessionRecord(sessionId).configs.get(name); // NotFoundError for an unknown session
    if (!stored)
      throw new NotFoundError(`no configuration space '${name}' in session '${sessionId}'`, {
        details: { configuration: name },
      });
    const key = this.key(sessionId, name);
    let compiled = this.compiled.get(key);
    if (!compiled || compiled.doc !== stored.doc) {
      compiled = { doc: stored.doc, space: compileSpace(stored.doc as SpaceDoc) };
      this.compiled.set(key, compiled);
    }
    return { name, doc: stored.doc as SpaceDoc, space: compiled.space, version: stored.version };
  }

  /**
   * Registers the space: its variables are created in the session (all or none, one
   * revision) with their defaults, or a seeded sample where no default is given; the
   * definition is stored in the same commit.
   */
  async register(
    sessionId: string,
    name: string,
    definition: SpaceDoc,
    caller = sessionId,
  ): Promise<ConfigurationSpace> {
    if (typeof name !== "string" || !/^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/.test(name)) {
      throw new InvalidArgumentError(`invalid configuration name ${JSON.stringify(name)}`, { parameter: "name" });
    }
    if (this.store.isShared) await this.store.getSession(sessionId); // catch up with the other hosts
    if (this.store.sessionRecord(sessionId).configs.has(name)) {
      throw new AlreadyExistsError(`configuration space '${name}' already exists in session '${sessionId}'`);
    }
    const space = compileSpace(definition);
    // Stored as plain JSON, so later changes to the caller's object cannot reach it.
    const doc = JSON.parse(JSON.stringify(definition)) as SpaceDoc;
    const start = space.variables.every((v) => v.hasDefault || v.type === "constant")
      ? undefined
      : sample(space, 1, 0).samples[0];
    await this.store.register(
      sessionId,
      space.variables.map((v) => ({
        name: v.name,
        ...storeSpec(v),
        initialValue: v.type === "constant" ? v.value : v.hasDefault ? v.default : (start![v.name] ?? v.default),
        metadata: { configuration: name },
      })),
      caller,
      `configuration:${name}`,
      { name, doc, version: 1, expectVersion: undefined },
    );
    return new ConfigurationSpace(this, sessionId, name);
  }

  get(sessionId: string, name: string): ConfigurationSpace {
    this.entry(sessionId, name);
    return new ConfigurationSpace(this, sessionId, name);
  }

  info(sessionId: string, name: string): ConfigurationInfo {
    const e = this.entry(sessionId, name);
    return { name, definition: e.doc, version: e.version, variables: e.space.variables.map((v) => v.name) };
  }

  currentValues(sessionId: string, name: string): Config {
    const e = this.entry(sessionId, name);
    // A read like any other: the session's access rules apply and it counts in the stats.
    const found = this.store.getManyLocal(
      sessionId,
      e.space.variables.map((v) => v.name),
    );
    const out: Config = {};
    for (const [n, r] of found) if (r) out[n] = r.value as Config[string];
    return out;
  }

  /** The configuration `values` would produce (current values overlaid), validated; inactive variables are ignored. */
  validate(sessionId: string, name: string, values: Record<string, unknown>): ValidationResult {
    const e = this.entry(sessionId, name);
    if (values === null || typeof values !== "object" || Array.isArray(values)) {
      throw new InvalidArgumentError("values must be an object of variable name -> value", { parameter: "values" });
    }
    const merged = { ...this.currentValues(sessionId, name), ...(values as Config) };
    const result = validate(e.space, merged);
    const violations = result.violations.filter((v) => v.kind !== "inactive");
    return { ok: violations.length === 0, violations };
  }

  async apply(
    sessionId: string,
    name: string,
    values: Record<string, unknown>,
    metadata: Record<string, string> = {},
    caller = sessionId,
  ): Promise<{ version: number; revision: number }> {
    if (this.store.isShared) await this.store.getSession(sessionId); // catch up with the other hosts
    const e = this.entry(sessionId, name);
    const known = new Set(e.space.variables.map((v) => v.name));
    const unknown = Object.keys(values ?? {}).filter((k) => !known.has(k));
    if (unknown.length) {
      throw new InvalidArgumentError(
        `configuration '${name}' has no variable ${unknown.map((u) => `'${u}'`).join(", ")}`,
        { parameter: unknown[0]! },
      );
    }
    const checked = this.validate(sessionId, name, values);
    if (!checked.ok) {
      const first = checked.violations[0]!;
      throw new ConstraintViolationError(`configuration '${name}': ${first.message}`, {
        constraint: first.name ?? first.kind,
        details: { violations: checked.violations, configuration: name },
      });
    }
    const version = e.version + 1;
    const { revision, results } = await this.store.update(
      sessionId,
      Object.entries(values).map(([n, value]) => ({
        name: n,
        value,
        metadata: { ...metadata, configuration: name, configuration_version: String(version) },
      })),
      { atomic: true, caller, source: `configuration:${name}` },
      { name, doc: e.doc, version, expectVersion: e.version },
    );
    const failed = results.find((r) => !r.ok);
    if (failed) throw failed.error!;
    return { version, revision };
  }

  sample(sessionId: string, name: string, seed?: number, count = 1): SampleResult {
    const e = this.entry(sessionId, name);
    return sample(e.space, count, seed ?? this.seedCounter++);
  }
}

/** @deprecated The old name of ConfigurationSpace (the same class). */
export const CognitiveConfiguration = ConfigurationSpace;
/** @deprecated The old name of ConfigurationSpace. */
export type CognitiveConfiguration = ConfigurationSpace;
