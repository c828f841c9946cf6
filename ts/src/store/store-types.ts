// The store's request and watch types, shared by every backend.
import type { BridgeError } from "../errors/index.js";
import type { Change } from "./records.js";

export interface StoreOptions {
  /** Versions kept per variable for history and rollback. Default 100. */
  historyLimit?: number;
  /** Commits kept for watches that resume from a revision. Default 10,000. */
  eventLogLimit?: number;
  /**
   * The largest value one write may store, in bytes (with the write's metadata; a new
   * variable's constraints count too): larger is a PayloadTooLargeError. Default 16 MiB.
   */
  maxValueBytes?: number;
  /** Bytes of versions a variable keeps, its current value included; older ones are dropped first. Default 64 MiB. */
  historyBytesLimit?: number;
  /**
   * Bytes of values (current and older versions) a session holds: older versions of any of its
   * variables are dropped first; a write that would make its current values alone larger is a
   * PayloadTooLargeError. Default 256 MiB.
   */
  sessionBytesLimit?: number;
  /** Bytes of changes kept for watches that resume from a revision; older commits are compacted. Default 256 MiB. */
  eventLogBytesLimit?: number;
  /** Session TTL when a session is created without one; 0 = never expires. Default 0. */
  defaultSessionTtlMs?: number;
  /**
   * A store partitioned by session (Redis): how long a session no one uses on this host (no
   * call, no watch) stays in its memory before the host lets it go; the next use loads it
   * again. Default 300,000 ms (5 minutes). Memory and SQLite stores hold every session.
   */
  sessionIdleMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

export interface VariableSpecInput {
  name: string;
  type: string;
  initialValue: unknown;
  constraints?: Record<string, unknown>;
  metadata?: Record<string, string>;
  dependencies?: string[];
  accessRules?: unknown;
}

export interface UpdateInput {
  name: string;
  value: unknown;
  /** Compare-and-set: 0 or undefined = any version. */
  expectedVersion?: number;
  metadata?: Record<string, string>;
}

export interface UpdateOptions {
  atomic?: boolean;
  createIfMissing?: boolean;
  typeHint?: string;
  source?: string;
  caller?: string;
}

export interface UpdateOutcome {
  name: string;
  ok: boolean;
  error: BridgeError | undefined;
  version: number;
}

export interface WatchOptions {
  names?: string[];
  startRevision?: number;
  includeInitial?: boolean;
  caller?: string;
}

export type WatchMessage =
  | { kind: "commit"; revision: number; changes: Change[]; initial: boolean }
  | { kind: "compacted"; revision: number; compactRevision: number };

export interface WatchHandle {
  cancel(): void;
}

/** A configuration space change that commits together with the variables it touches. */
export interface ConfigCommit {
  name: string;
  doc: unknown;
  version: number;
  /** The version the space must be at (undefined: it must not exist yet). */
  expectVersion: number | undefined;
}

/**
 * An import's update of an existing variable, checked already (Store.commitImport): its
 * value was validated against the variable `id` (its type and constraints) and measured.
 */
export interface CheckedUpdate {
  name: string;
  /** The variable's id when the update was checked: a variable deleted and made again since has another. */
  id: string;
  value: unknown;
  metadata: Record<string, string>;
  /** Compare-and-set (a merge was computed from this version); 0: any version. */
  expectedVersion: number;
  /** The history entry's size in bytes (value and metadata). */
  bytes: number;
}
