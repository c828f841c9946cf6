// What the store's log holds: every change to the store as one entry. The in-memory
// backend applies entries directly; the durable backends also write them (as JSON) to their
// log, which is what other hosts follow and what a restarted host replays for watches.
// An entry never carries its own revision: the backend assigns it when it commits, and the
// applier derives ids and revisions from it (`var_<name>_<revision>` for a new variable).
import { fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema } from "../gen/dspy_bridge/v1/values_pb.js";
import { decodeValue, encodeValue } from "../values/index.js";
import type { AccessRule } from "./access.js";
import type { ProgramRecord, RunRecord, SessionInfo, TrialRecord } from "./records.js";
import type { VariableType } from "./types/index.js";
import { decodeJsonInWorker } from "./codec.js";
import { runSteps, type Pacer, type Steps } from "./pacing.js";

export interface PutChange {
  name: string;
  type: VariableType;
  value: unknown;
  oldValue: unknown;
  /** The variable's version after this write. */
  version: number;
  /** The write's metadata (history, watch events). */
  metadata: Record<string, string>;
  /** The variable's metadata after the write. */
  recordMetadata: Record<string, string>;
  constraints: Record<string, unknown>;
  rules: AccessRule[];
  /** A new variable: its id and create revision come from this entry's revision. */
  fresh: boolean;
  /** Existing variables: their create revision. */
  createRevision: number;
  createdAtMs: number;
  /** The history entry's size in bytes (value and write metadata); absent in entries of older versions. */
  bytes?: number;
  /** The variable keeps its newest `keep` versions after this write (count and byte limits); absent: the history limit. */
  keep?: number;
}

export interface DeleteChange {
  name: string;
  id: string;
  type: VariableType;
  oldValue: unknown;
  version: number;
  rules: AccessRule[];
}

export interface EdgeChange {
  from: string;
  to: string;
  type: string;
  metadata: Record<string, string>;
}

/** A configuration space stored with the session: its definition and version. */
export interface ConfigChange {
  name: string;
  doc: unknown;
  version: number;
}

export type Entry =
  | {
      t: "commit";
      sid: string;
      source: string;
      at: number;
      puts: PutChange[];
      dels: DeleteChange[];
      edges: EdgeChange[];
      config: ConfigChange | undefined;
      /** Other variables of the session that keep only their newest `keep` versions (the session's byte limit). */
      trims?: { name: string; keep: number }[];
    }
  | { t: "session"; info: SessionInfo }
  | { t: "drop"; sid: string; why: "deleted" | "expired" }
  | { t: "edge"; sid: string; edge: EdgeChange; remove: boolean }
  | { t: "rules"; sid: string; name: string; rules: AccessRule[] }
  /** A run's state as of now and the trials it added since its last entry. */
  | { t: "run"; sid: string; run: RunRecord; trials: TrialRecord[] }
  /** A program's new revision, or (null) its deletion. */
  | { t: "program"; sid: string; id: string; program: ProgramRecord | null };

export const valueToJson = (value: unknown): JsonValue => toJson(ValueSchema, encodeValue(value));
export const valueFromJson = (json: JsonValue): unknown => decodeValue(fromJson(ValueSchema, json));

/**
 * The entry as stored in a durable log: values in the protobuf JSON form of `Value`.
 * `putValues` are its puts' new values already in that form (the caller's, rendered once).
 */
export function encodeEntry(entry: Entry, putValues?: readonly JsonValue[]): string {
  return runSteps(encodeEntrySteps(entry, putValues));
}

/** encodeEntry a put at a time (a 100,000-put import is tens of MB of JSON). */
export function* encodeEntrySteps(entry: Entry, putValues?: readonly JsonValue[]): Steps<string> {
  if (entry.t !== "commit") return JSON.stringify(entry);
  const { puts, ...rest } = entry;
  const parts: string[] = [];
  for (let i = 0; i < puts.length; i++) {
    const p = puts[i]!;
    parts.push(
      JSON.stringify({
        ...p,
        value: putValues ? putValues[i] : valueToJson(p.value),
        oldValue: p.fresh ? null : valueToJson(p.oldValue),
      }),
    );
    yield;
  }
  const head = JSON.stringify({ ...rest, dels: entry.dels.map((d) => ({ ...d, oldValue: valueToJson(d.oldValue) })) });
  // The same object as one JSON.stringify of the whole entry would write, `puts` last.
  return `${head.slice(0, -1)},"puts":[${parts.join(",")}]}`;
}

export function decodeEntry(text: string): Entry {
  return fromRaw(JSON.parse(text) as Entry, (p) => p.map(putFromRaw));
}

/**
 * Entries at least this long (characters of JSON) are decoded by decodeEntryPaced off the
 * event loop: about 7,000 puts of an import, which JSON.parse and apply in tens of ms.
 */
export const LARGE_ENTRY_CHARS = 1024 * 1024;

/**
 * decodeEntry without holding the event loop: the JSON is parsed in a worker thread
 * (codec.ts), its puts handed over and their values decoded a slice at a time. JSON.parse in
 * a worker rather than a streaming parser here: the parse itself then costs this thread
 * nothing, and a streaming parser written in JavaScript is several times slower than V8's.
 */
export async function decodeEntryPaced(text: string, pace: Pacer, signal?: AbortSignal): Promise<Entry> {
  if (text.length < LARGE_ENTRY_CHARS) return decodeEntry(text);
  const raw = (await decodeJsonInWorker(text, "puts", pace, signal)) as Entry;
  const puts: PutChange[] = [];
  if (raw.t === "commit") {
    pace.next("decode", raw.puts.length);
    for (const p of raw.puts) {
      puts.push(putFromRaw(p));
      await pace.tick();
    }
  }
  return fromRaw(raw, () => puts);
}

/** A put as logged (values in their JSON form) with its values decoded. */
function putFromRaw(p: PutChange): PutChange {
  return {
    ...p,
    value: valueFromJson(p.value as JsonValue),
    oldValue: p.oldValue === null ? null : valueFromJson(p.oldValue as JsonValue),
  };
}

function fromRaw(raw: Entry, puts: (raw: PutChange[]) => PutChange[]): Entry {
  if (raw.t !== "commit") return raw;
  return {
    ...raw,
    puts: puts(raw.puts),
    dels: raw.dels.map((d) => ({ ...d, oldValue: valueFromJson(d.oldValue as JsonValue) })),
    config: raw.config ?? undefined,
    edges: raw.edges ?? [],
  };
}
