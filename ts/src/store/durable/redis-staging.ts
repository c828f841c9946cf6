// A large commit on Redis, written without holding Redis for long. One script per commit
// (redis-scripts.ts, SESSION_COMMIT_LUA) is atomic because Redis runs nothing else while it
// runs: for an import of 100,000 variables that was seconds in which no other client of that
// Redis — other sessions' commits, pings, other hosts — got an answer. Here the commit's writes
// go to staging keys of the session (same hash tag, so the same cluster slot) a chunk at a
// time, each chunk a script of a few milliseconds, and one short script installs them: it
// checks that the session is still at the revision the commit was planned on and swaps each
// staged key in (RENAME), so readers see all of the commit or none of it.
//
// Checking the session's head instead of each field's stamp is what lets the chunks copy the
// session's keys: a copy taken at that head is current as long as the head has not moved.
// The price: any commit to the session by another host while the import is staged sends it
// back to be planned again (CommitLog's re-plan loop), not only one that touched its fields.
// One staging per session at a time: another host's import into the same session meanwhile
// fails clearly (a staging there is in progress) instead of staging beside it.
//
// What the install does grows with the keys the commit changes that the session already has
// (the variables hash, the stamps, the key list: one RENAME each; plus one per existing
// variable whose history the import extends); new variables' history lists cost it nothing.
// Staged copies expire (STAGING_TTL_MS); the new lists written under their own names are
// found through the store's `stagings` index, which every host sweeps once a minute for
// stagings whose lease ran out (RedisBackend), so a host that died mid-staging leaves
// nothing behind for long.
import { randomUUID } from "node:crypto";
import { formatLogId, type LogId } from "../log-id.js";
import type { Pacer } from "../pacing.js";
import type { CommitRequest, Op } from "./layout.js";

/** Commits with at least this many operations are staged (smaller ones: one script, cheaper). */
export const STAGED_MIN_OPS = 1_000;

/** A chunk's size: about a few ms of Redis's time, and a bounded request. */
const CHUNK_OPS = 2_000;
const CHUNK_BYTES = 1 << 20;

/**
 * How long staged keys live: far past the longest staging (an import of 100,000 variables
 * stages in seconds), so that only a staging whose host died or gave up expires.
 */
export const STAGING_TTL_MS = 15 * 60_000;

/**
 * How long a staging holds its session's claim without writing a chunk (a chunk goes every
 * few ms while it runs): then another host's import may go ahead, and the sweep may discard it.
 */
export const STAGING_LEASE_MS = 30_000;

/** How often each host looks in the `stagings` index for stagings whose lease ran out. */
export const STAGING_SWEEP_MS = 60_000;

/** The operations a staged commit can carry (a commit of variables: no session creation, TTL or drop). */
export function stageable(request: CommitRequest, basis: LogId | undefined): basis is LogId {
  return (
    basis !== undefined &&
    request.commit &&
    request.ops.length >= STAGED_MIN_OPS &&
    request.ops.every((o) => o.op !== "alive" && o.op !== "drop") &&
    request.checks.every((c) => !("absentKey" in c))
  );
}

/** Runs one chunk (STAGE_CHUNK_LUA with these arguments): undefined, or why the staging no longer holds. */
export type RunChunk = (args: string[]) => Promise<string | undefined>;

/** One staging of one commit: its key suffix and the arguments its scripts share. */
export class Staging {
  readonly suffix = `_x:${randomUUID()}:`;
  /** The commit's id: the revision after the head it was planned on. */
  readonly id: LogId;
  readonly head: string;

  constructor(
    readonly basis: LogId,
    readonly epoch: string,
    /** A key of the request (layout.ts) as the session's key suffix. */
    private readonly keyOf: (key: string) => string,
  ) {
    this.head = formatLogId(basis);
    this.id = { rev: basis.rev + 1, seq: 0 };
  }

  /** The arguments every chunk starts with. */
  private chunkHeader(first: boolean): string[] {
    return [this.suffix, this.head, this.epoch, String(STAGING_TTL_MS), first ? "1" : "0", String(STAGING_LEASE_MS)];
  }

  /**
   * Writes the request's operations and its log entry
   * to the staging keys, a chunk at a time; the stamped values take the commit's revision.
   * Returns the conflict that stopped it, if any.
   */
  async write(request: CommitRequest, pace: Pacer, chunk: RunChunk): Promise<string | undefined> {
    const rev = String(this.id.rev);
    const stampId = formatLogId(this.id);
    let ops: string[] = [];
    let bytes = 0;
    let first = true;
    const flush = async (): Promise<string | undefined> => {
      if (ops.length === 0 && !first) return undefined;
      const args = [...this.chunkHeader(first), ...ops];
      first = false;
      ops = [];
      bytes = 0;
      return chunk(args);
    };
    const add = async (code: string, key: string, a = "", b = ""): Promise<string | undefined> => {
      ops.push(code, key, a, b);
      bytes += key.length + a.length + b.length + 16;
      if (ops.length >= CHUNK_OPS * 4 || bytes >= CHUNK_BYTES) return flush();
      return undefined;
    };
    // Which keys are staged (copied, or new under their own name), and whether each is in '_keys' as the staged copy has it.
    const staged = new Set<string>();
    const listed = new Map<string, boolean>();
    const fresh = new Set<string>();
    const stage = async (key: string, how: "copy" | "empty" | "new" = "copy") => {
      if (staged.has(key)) return undefined;
      staged.add(key);
      if (how === "new") fresh.add(key);
      return add(how === "copy" ? "c" : how === "empty" ? "i" : "n", key);
    };
    const list = async (key: string, present: boolean) => {
      if (listed.get(key) === present) return undefined;
      listed.set(key, present);
      return add(present ? "+" : "-", key);
    };
    let conflict = await stage("_keys");
    pace.next("write", request.ops.length);
    for (const op of request.ops) {
      conflict ??= await this.writeOp(op, rev, stampId, stage, add, list, fresh);
      if (conflict !== undefined) return conflict;
      pace.done++;
      if (pace.due()) await pace.pause();
    }
    // The log entry, in pieces (tens of MB for 100,000 variables), never splitting a surrogate pair.
    const entry = request.entry;
    for (let at = 0; at < entry.length && conflict === undefined; ) {
      let end = Math.min(entry.length, at + CHUNK_BYTES / 4);
      if (end < entry.length && /[\uD800-\uDBFF]/.test(entry[end - 1]!)) end--;
      conflict = await add("e", "", entry.slice(at, end));
      at = end;
      if (pace.due()) await pace.pause();
    }
    return conflict ?? (await flush());
  }

  private async writeOp(
    logical: Op,
    rev: string,
    stampId: string,
    stage: (key: string, how?: "copy" | "empty" | "new") => Promise<string | undefined>,
    add: (code: string, key: string, a?: string, b?: string) => Promise<string | undefined>,
    list: (key: string, present: boolean) => Promise<string | undefined>,
    fresh: ReadonlySet<string>,
  ): Promise<string | undefined> {
    const op = "key" in logical ? { ...logical, key: this.keyOf(logical.key) } : logical;
    switch (op.op) {
      case "hset":
        return (
          (await stage(op.key)) ??
          (await add("h", op.key, op.field, op.stamped ? `${rev}|${op.value}` : op.value)) ??
          (await list(op.key, true))
        );
      case "hdel":
        return (await stage(op.key)) ?? (await add("x", op.key, op.field));
      case "push":
        // A new variable's history: written under its own name, where no reader looks before the install.
        return (
          (await stage(op.key, op.fresh ? "new" : "copy")) ??
          (await add(fresh.has(op.key) ? "P" : "p", op.key, `${rev}|${op.value}`, String(op.keep))) ??
          (await list(op.key, true))
        );
      case "ltrim":
        if (fresh.has(op.key)) throw new Error(`a staged commit cannot trim the list '${op.key}' it creates`);
        return (await stage(op.key)) ?? (await add("t", op.key, String(op.keep)));
      case "del":
        // Listed for install without a copy: the staged key is absent, so installing deletes it.
        if (fresh.has(op.key)) throw new Error(`a staged commit cannot delete the list '${op.key}' it creates`);
        return (await stage(op.key, "empty")) ?? (await add("d", op.key)) ?? (await list(op.key, false));
      case "stamp":
        return (await stage(op.key)) ?? (await add("h", op.key, op.field, stampId)) ?? (await list(op.key, true));
      default:
        throw new Error(`a staged commit cannot carry a '${op.op}' operation`);
    }
  }

  /** The install script's arguments after the staging's suffix, head and epoch. */
  installArgs(
    request: CommitRequest,
    logLimit: number,
    nonce: string,
    outcomeTtlMs: number,
    channel: string,
  ): string[] {
    return [
      this.suffix,
      this.head,
      this.epoch,
      String(logLimit),
      nonce,
      String(outcomeTtlMs),
      channel,
      request.trimLog === undefined ? "" : String(request.trimLog + 1),
      formatLogId(this.id),
    ];
  }
}
