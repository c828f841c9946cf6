// What the store keeps per session and per variable.
import type { Value } from "../gen/dspy_bridge/v1/values_pb.js";
import { encodeValue } from "../values/index.js";
import type { AccessRule } from "./access.js";
import { DependencyGraph } from "./dependency-graph.js";
import { measureValue } from "./limits.js";
import type { VariableType } from "./types/index.js";

export interface SessionInfo {
  sessionId: string;
  createdAtMs: number;
  lastAccessedAtMs: number;
  /** 0: never expires. */
  ttlMs: number;
  metadata: Record<string, unknown>;
}

export interface HistoryEntry {
  version: number;
  value: unknown;
  updatedAtMs: number;
  updatedBy: string;
  metadata: Record<string, string>;
  revision: number;
}

export interface VariableStatsRecord {
  reads: number;
  writes: number;
  lastReadMs: number;
  lastWriteMs: number;
}

/** A history entry's size in bytes: its value and its write's metadata (limits.ts). */
export function historyEntryBytes(value: unknown, metadata: Record<string, string>): number {
  // Values already stored are measured without the depth limit: it was checked when they were written.
  return measureValue(value, "value", Infinity) + measureValue(metadata, "metadata", Infinity);
}

export class VariableRecord {
  private envelope: Value | undefined;
  /** The size of each history entry (same order), and their sum. */
  readonly historySizes: number[];
  historyBytes = 0;

  constructor(
    readonly id: string,
    readonly name: string,
    readonly type: VariableType,
    public value: unknown,
    public constraints: Record<string, unknown>,
    public metadata: Record<string, string>,
    public version: number,
    readonly createRevision: number,
    public modifyRevision: number,
    readonly createdAtMs: number,
    public updatedAtMs: number,
    public updatedBy: string,
    public accessRules: AccessRule[],
    public history: HistoryEntry[],
    readonly stats: VariableStatsRecord = { reads: 0, writes: 0, lastReadMs: 0, lastWriteMs: 0 },
  ) {
    this.historySizes = history.map((h) => historyEntryBytes(h.value, h.metadata));
    for (const size of this.historySizes) this.historyBytes += size;
  }

  /** Appends a version of `size` bytes. */
  pushHistory(entry: HistoryEntry, size: number): void {
    this.history.push(entry);
    this.historySizes.push(size);
    this.historyBytes += size;
  }

  /** Keeps the newest `keep` versions (at least one: the current value); returns the bytes dropped. */
  trimHistory(keep: number): number {
    const drop = this.history.length - Math.max(1, keep);
    if (drop <= 0) return 0;
    this.history.splice(0, drop);
    let dropped = 0;
    for (const size of this.historySizes.splice(0, drop)) dropped += size;
    this.historyBytes -= dropped;
    return dropped;
  }

  /** The size of the current value's history entry (0 when none is kept). */
  get currentBytes(): number {
    return this.historySizes.at(-1) ?? 0;
  }

  /** The value as it crosses the boundary, encoded once per version and shared by every reader and watcher. */
  encoded(): Value {
    this.envelope ??= encodeValue(this.value);
    return this.envelope;
  }

  setValue(value: unknown): void {
    this.value = value;
    this.envelope = undefined;
  }
}

/**
 * A run kept in the store with its session: an optimization run (its trials) or a DSPy
 * optimizer job (its progress reports), so that it outlives the host that ran it and is seen
 * by every host sharing the store.
 */
export interface RunRecord {
  id: string;
  kind: "optimization" | "optimizer_job";
  sessionId: string;
  /** The variable or configuration optimized; the program compiled (optimizer jobs). */
  target: string;
  optimizer: string;
  /** running, converged, exhausted, stopped, failed (runs); running, succeeded, failed, cancelled (jobs). */
  state: string;
  startedAtMs: number;
  updatedAtMs: number;
  /** Trials (runs) or metric calls (jobs) so far. */
  iterations: number;
  bestScore: number | null;
  direction: "maximize" | "minimize";
  error: string | null;
  /** What else the run reported (a job's expected evaluations, LM calls, its result summary). */
  details: Record<string, unknown>;
}

/** One trial of a run (a candidate and its score), or one progress report of a job. */
export interface TrialRecord {
  iteration: number;
  score: number | null;
  values: Record<string, unknown>;
  metrics: Record<string, unknown>;
  atMs: number;
}

/**
 * A session program kept in the store with its session: what `session.programs.save()`
 * returns — the definition (module, signature, config), the bindings and the compiled state
 * (DSPy's `dump_state()`: demos, instructions; after an optimizer job also `optimization`) —
 * written at each change, so that any host's worker can build it and none loses it.
 */
export interface ProgramRecord {
  sessionId: string;
  programId: string;
  /** 1 for the first version, one more at each change (a deleted program's id starts again at 1). */
  revision: number;
  /** Unique to this revision's content, never reused (not after a delete, not on another host):
   * what a worker's copy of the program is cached by. */
  etag: string;
  /** JSON only: module, signature, config, bindings, state, and optimization after an optimizer job. */
  definition: Record<string, unknown>;
  createdAtMs: number;
  updatedAtMs: number;
  /** The definition's size as JSON, in bytes. */
  bytes: number;
}

/** Trials kept per run (the oldest go first), as the run's own history keeps. */
export const MAX_TRIALS_PER_RUN = 10_000;

export class SessionRecord {
  /** Runs recorded in this session, by id, with their trials (oldest first). */
  readonly runs = new Map<string, { run: RunRecord; trials: TrialRecord[] }>();
  /** Programs stored in this session, by id (their latest revision). */
  readonly programs = new Map<string, ProgramRecord>();
  // Not readonly: a large commit builds copies of these with its new variables in slices and
  // swaps them in at once (StoreState.applySteps).
  variables = new Map<string, VariableRecord>();
  idToName = new Map<string, string>();
  readonly dependencies = new DependencyGraph();
  /** Revision of this session's latest commit (0: none yet). */
  lastRevision = 0;
  /** Configuration spaces registered in this session: definition and version. */
  readonly configs = new Map<string, { doc: unknown; version: number }>();
  /** Durable backends: the log entry that last changed each field (see durable/layout.ts). */
  stamps = new Map<string, string>();
  /** When this host last told a durable backend the session was used (kept here, it goes with the session). */
  touchedAtMs = 0;
  /** The bytes of every kept version of every variable (current values included). */
  bytes = 0;

  constructor(public info: SessionInfo) {}

  /** By name, then by id. */
  find(nameOrId: string): VariableRecord | undefined {
    return this.variables.get(nameOrId) ?? this.variables.get(this.idToName.get(nameOrId) ?? "");
  }

  expired(now: number): boolean {
    return this.info.ttlMs > 0 && now - this.info.lastAccessedAtMs > this.info.ttlMs;
  }
}

/** One change inside a commit. */
export interface Change {
  kind: "put" | "delete";
  sessionId: string;
  name: string;
  id: string;
  type: VariableType;
  value: unknown;
  oldValue: unknown;
  version: number;
  metadata: Record<string, string>;
  source: string;
  timestampMs: number;
  /** The variable's access rules when the change was committed: who may observe it, decided
   * then and never from a later state (a deleted variable has no rules any more). */
  rules: readonly AccessRule[];
  /** Encoded once, on first need, and shared by every watcher. */
  envelope?: Value;
  oldEnvelope?: Value;
}

export function changeEnvelope(change: Change): Value {
  change.envelope ??= encodeValue(change.value);
  return change.envelope;
}

export function changeOldEnvelope(change: Change): Value {
  change.oldEnvelope ??= encodeValue(change.oldValue);
  return change.oldEnvelope;
}

/** Every change of one revision. */
export interface Commit {
  revision: number;
  sessionId: string;
  changes: Change[];
  /** What the commit's values weigh (new and old values): the watch log is bounded by it. */
  bytes: number;
}
