// The Redis backend: several hosts share one store. Every commit is one Lua script (check
// the stamps it was planned on, write, take the next log position, XADD to the log
// stream); every host follows the stream to keep its copy current and to feed its own
// watchers, and reads first catch up with the stream's head. A connection that breaks in
// the middle of a commit is resolved by looking for the commit's nonce in the stream once
// Redis is back: the caller learns that it committed, or gets StoreUnavailableError saying
// it did not.
//
// Every call is bounded while Redis is away (docs/deployment.md, "Redis unavailable"): a
// command waits at most commandTimeoutMs for its reply; a commit is sent only on a
// connection that is answering (after a command went unanswered, a PING must come back
// first), so one that cannot be sent in time fails as certainly not applied; and a commit
// that was sent settles within commandTimeoutMs + outcomeTimeoutMs of its call, with outcome
// "unknown" only when Redis never answered whether it ran.
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { FailedPreconditionError, InvalidArgumentError, StoreUnavailableError } from "../../errors/index.js";
import { compareLogIds, formatLogId, LOG_START, parseLogId, type LogId } from "../log-id.js";
import type { SessionInfo } from "../records.js";
import type { CommitDeadline, StoreBackend } from "../store-backend.js";
import type { Pacer } from "../pacing.js";
import { keys, type CommitRequest, type CommitResult, type LoggedEntry, type RawSnapshot } from "./layout.js";
import { COMMIT_LUA, SNAPSHOT_LUA } from "./redis-scripts.js";

export interface RedisOptions {
  /** redis://[user:password@]host:port[/db] */
  url: string;
  /** Every key starts with this; hosts sharing a store use the same one. Default "dspy-bridge:". */
  prefix: string;
  /** Log entries kept in the stream for watches that resume. */
  logLimit: number;
  /**
   * How much longer than commandTimeoutMs a commit that was sent may wait for Redis to learn
   * its outcome (its reply did not come, or the connection broke). Default 10,000 ms: a
   * commit settles within 15 s of its call.
   */
  outcomeTimeoutMs?: number;
  /** How long to wait for the first connection. Default 5,000 ms. */
  connectTimeoutMs?: number;
  /**
   * How long a command may go unanswered before it fails (a hung server or a network that
   * drops packets without closing the connection). Default 5,000 ms: Redis's own limit for
   * a busy script.
   */
  commandTimeoutMs?: number;
}

type RedisWithScripts = Redis & {
  bridgeCommit(
    prefix: string,
    request: string,
    keep: string,
    nonce: string,
    epoch: string,
    outcomeTtlMs: string,
  ): Promise<[string, string]>;
  bridgeSnapshot(prefix: string, epoch: string, layout: string): Promise<unknown[]>;
};

/** The key layout (durable/layout.ts) this version writes; recorded under `layout`. */
const LAYOUT_VERSION = 1;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A command that has waited this long with no reply from Redis since makes the connection suspect. */
const STALL_MS = 1_000;

const TIMED_OUT = Symbol("timed out");

/** The command's result, or TIMED_OUT after `ms` (the command itself runs on). */
function before<T>(command: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  if (ms <= 0) {
    command.catch(() => {});
    return Promise.resolve(TIMED_OUT);
  }
  let timer: NodeJS.Timeout;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => (timer = setTimeout(() => resolve(TIMED_OUT), ms)));
  return Promise.race([command, timeout]).finally(() => clearTimeout(timer));
}

/** The URL without its password, for messages and logs. */
function redacted(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparsable URL)";
  }
}

/**
 * The oldest Redis this store runs on: the watch log is trimmed by id (XTRIM MINID, Redis 6.2),
 * and an older server would fail every commit that trims, long after the store opened.
 */
export const MIN_REDIS_VERSION = [6, 2] as const;

/** Why the server of an `INFO server` reply is too old (undefined when it is new enough or says no version). */
export function redisVersionProblem(info: string): string | undefined {
  const m = /^redis_version:(\d+)\.(\d+)/m.exec(info);
  if (!m) return undefined; // a proxy or fork that does not say: the first trim will tell
  const [major, minor] = [Number(m[1]), Number(m[2])];
  const [needMajor, needMinor] = MIN_REDIS_VERSION;
  if (major > needMajor || (major === needMajor && minor >= needMinor)) return undefined;
  return `server version ${major}.${minor} is older than ${needMajor}.${needMinor}, the oldest dspy-bridge's Redis store runs on (it trims its watch log with XTRIM MINID): upgrade Redis`;
}

/** `blocking`: the follower's connection, whose XREAD BLOCK is meant to wait (but not forever). */
function connection(
  url: string,
  connectTimeoutMs: number,
  commandTimeoutMs: number,
  blocking: boolean,
): RedisWithScripts {
  const redis = new Redis(url, {
    lazyConnect: true,
    // A command while Redis is away fails at once (typed, retryable) instead of waiting in a queue,
    // and nothing is silently re-sent after a reconnect: a commit runs once or the store finds out.
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    connectTimeout: connectTimeoutMs,
    retryStrategy: (times) => Math.min(50 * times, 1_000),
    // Without these a command to a server that stopped answering would wait forever (TCP
    // notices a silent peer after hours), and with it every commit queued behind it.
    ...(blocking
      ? { blockingTimeout: commandTimeoutMs, blockingTimeoutGrace: commandTimeoutMs }
      : { commandTimeout: commandTimeoutMs }),
  }) as RedisWithScripts;
  redis.defineCommand("bridgeCommit", { numberOfKeys: 1, lua: COMMIT_LUA });
  redis.defineCommand("bridgeSnapshot", { numberOfKeys: 1, lua: SNAPSHOT_LUA });
  redis.on("error", () => {}); // reported through the failing commands
  return redis;
}

/** Stream entries; undefined when one was written in another epoch (another history). */
function entriesOf(reply: [string, string[]][], epoch: string): LoggedEntry[] | undefined {
  const out: LoggedEntry[] = [];
  for (const [id, fields] of reply) {
    let entry = "";
    for (let i = 0; i < fields.length; i += 2) {
      if (fields[i] === "e") entry = fields[i + 1]!;
      else if (fields[i] === "g" && fields[i + 1] !== epoch) return undefined;
    }
    out.push({ id: parseLogId(id), entry });
  }
  return out;
}

/** What COMMIT_LUA reads: the request as JSON. */
function bodyOf(request: CommitRequest): string {
  return JSON.stringify({
    commit: request.commit,
    checks: request.checks,
    ops: request.ops,
    entry: request.entry,
    trimLog: request.trimLog,
  });
}

/** bodyOf, its checks and operations written a slice at a time. */
async function pacedBody(request: CommitRequest, pace: Pacer): Promise<string> {
  const list = async (items: readonly unknown[]): Promise<string> => {
    const parts: string[] = [];
    for (const item of items) {
      parts.push(JSON.stringify(item));
      pace.done++;
      if (pace.due()) await pace.pause();
    }
    return `[${parts.join(",")}]`;
  };
  pace.next("write", request.checks.length + request.ops.length);
  const checks = await list(request.checks);
  const ops = await list(request.ops);
  const trim = request.trimLog === undefined ? "" : `,"trimLog":${JSON.stringify(request.trimLog)}`;
  return `{"commit":${JSON.stringify(request.commit)},"checks":${checks},"ops":${ops},"entry":${JSON.stringify(request.entry)}${trim}}`;
}

export class RedisBackend implements StoreBackend {
  readonly kind = "redis";
  readonly shared = true;
  private readonly cmd: RedisWithScripts;
  private readonly sub: RedisWithScripts;
  private readonly logKey: string;
  /** The history this host loaded (see SNAPSHOT_LUA). */
  private epoch = "";
  private closed = false;
  /** Commands on `cmd` awaiting their reply, since when, and when Redis last answered: see stalled(). */
  private pending = 0;
  private pendingSince = 0;
  private lastReplyAt = Date.now();
  /** A command timed out or the connection broke, and Redis has not answered since. */
  private failedSinceReply = false;

  private constructor(private readonly options: RedisOptions) {
    const timeout = options.connectTimeoutMs ?? 5_000;
    const commandTimeout = options.commandTimeoutMs ?? 5_000;
    this.cmd = connection(options.url, timeout, commandTimeout, false);
    this.sub = connection(options.url, timeout, commandTimeout, true);
    this.logKey = `${options.prefix}log`;
  }

  private get commandTimeoutMs(): number {
    return this.options.commandTimeoutMs ?? 5_000;
  }

  /** A call waits at most commandTimeoutMs; a commit that was sent settles within commandTimeoutMs + outcomeTimeoutMs. */
  get limits(): { callMs: number; inFlightMs: number } {
    return { callMs: this.commandTimeoutMs, inFlightMs: this.commandTimeoutMs + this.outcomeTimeoutMs };
  }

  /** Every command on `cmd` goes through here: its reply (or its lack) says whether Redis is answering. */
  private track<T>(command: Promise<T>): Promise<T> {
    if (this.pending++ === 0) this.pendingSince = Date.now();
    return command.then(
      (value) => {
        this.pending--;
        this.replied();
        return value;
      },
      (err: unknown) => {
        this.pending--;
        if ((err as Error)?.name === "ReplyError")
          this.replied(); // Redis answered, with an error
        else this.failedSinceReply = true;
        throw err;
      },
    );
  }

  private replied(): void {
    this.lastReplyAt = Date.now();
    this.failedSinceReply = false;
  }

  /**
   * Redis has stopped answering (frozen, a silent network) or the connection is down: a
   * command timed out, or one has waited over a second with no reply since. Replies come in
   * order, so any reply means everything sent before it was answered.
   */
  stalled(): boolean {
    if (this.closed || this.cmd.status !== "ready" || this.failedSinceReply) return true;
    return this.pending > 0 && Date.now() - Math.max(this.lastReplyAt, this.pendingSince) > STALL_MS;
  }

  /**
   * Before a commit goes out on a connection that stopped answering: a PING, answered only
   * after everything sent before it, must come back by `sendBy`. Otherwise the commit is not
   * sent (a commit written into a frozen server's socket would run whenever it wakes up, and
   * its outcome would be unknown): it fails as certainly not applied.
   */
  private async probe(sendBy: number): Promise<void> {
    let answer: unknown;
    try {
      answer = await before(this.track(this.cmd.ping()), sendBy - Date.now());
    } catch (err) {
      throw new StoreUnavailableError(`Redis is unavailable; the commit was not applied: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (answer === TIMED_OUT) {
      throw new StoreUnavailableError(
        `Redis has stopped answering (no reply for ${Date.now() - this.lastReplyAt} ms); the commit was not sent, so it was not applied`,
      );
    }
  }

  static async connect(options: RedisOptions): Promise<RedisBackend> {
    if (!/^rediss?:\/\//.test(options.url))
      throw new InvalidArgumentError(`not a Redis URL: '${options.url}'`, { parameter: "store" });
    const backend = new RedisBackend(options);
    try {
      await Promise.all([backend.cmd.connect(), backend.sub.connect()]);
    } catch (err) {
      await backend.close();
      throw new StoreUnavailableError(
        `cannot connect to Redis at ${redacted(options.url)}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    let info: string;
    try {
      info = await backend.track(backend.cmd.info("server"));
    } catch (err) {
      await backend.close();
      throw new StoreUnavailableError(
        `Redis at ${redacted(options.url)} did not answer INFO: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const problem = redisVersionProblem(info);
    if (problem) {
      await backend.close();
      throw new FailedPreconditionError(`Redis at ${redacted(options.url)}: ${problem}`);
    }
    return backend;
  }

  async load(): Promise<RawSnapshot> {
    const reply = await this.track(this.cmd.bridgeSnapshot(this.options.prefix, randomUUID(), String(LAYOUT_VERSION)));
    if (reply[0] === "newer-layout") {
      throw new FailedPreconditionError(
        `the Redis store under prefix '${this.options.prefix}' has key layout ${String(reply[1])}, newer than this version of dspy-bridge reads (${LAYOUT_VERSION}): upgrade dspy-bridge`,
      );
    }
    const head = parseLogId(reply[0] as string);
    const epoch = reply[1] as string;
    const hashes = new Map<string, Map<string, string>>();
    const lists = new Map<string, string[]>();
    for (const item of reply.slice(2) as string[][]) {
      const [key, kind, ...rest] = item;
      if (kind === "h") {
        const h = new Map<string, string>();
        for (let i = 0; i < rest.length; i += 2) h.set(rest[i]!, rest[i + 1]!);
        hashes.set(key!, h);
      } else {
        lists.set(key!, rest);
      }
    }
    // Entries of another epoch here: Redis lost its data again since the snapshot; the next read notices.
    const log =
      entriesOf(
        (await this.track(this.cmd.xrange(this.logKey, "-", formatLogId(head)))) as [string, string[]][],
        epoch,
      ) ?? [];
    this.epoch = epoch;
    return { head, hashes, lists, log };
  }

  async commit(request: CommitRequest, deadline?: CommitDeadline, pace?: Pacer): Promise<CommitResult> {
    // A large commit's text is written in slices first (hundreds of thousands of operations).
    const body = pace ? await pacedBody(request, pace) : bodyOf(request);
    const now = Date.now();
    const { sendBy, settleBy } = deadline ?? {
      sendBy: now + this.limits.callMs,
      settleBy: now + this.limits.inFlightMs,
    };
    if (this.stalled()) await this.probe(sendBy);
    const nonce = randomUUID();
    try {
      const sent = this.track(
        this.cmd.bridgeCommit(
          this.options.prefix,
          body,
          String(this.options.logLimit),
          nonce,
          this.epoch,
          String(this.outcomeTtlMs),
        ),
      );
      const reply = await before(sent, settleBy - Date.now());
      if (reply === TIMED_OUT) throw new Error("Command timed out");
      const [status, detail] = reply;
      if (status === "ok") return { id: parseLogId(detail) };
      return status === "present" ? { conflict: `'${detail}' exists`, final: true } : { conflict: detail };
    } catch (err) {
      if (!this.maybeSent(err))
        throw new StoreUnavailableError(`Redis is unavailable; the commit was not applied: ${(err as Error).message}`, {
          cause: err,
        });
      return this.outcome(nonce, err as Error, settleBy);
    }
  }

  /**
   * Not sent (Redis was already away) or answered with an error (Redis refuses a script
   * before running it, e.g. out of memory): certainly not applied. Only a connection lost
   * with the script in flight leaves the outcome open.
   */
  private maybeSent(err: unknown): boolean {
    if ((err as Error).name === "ReplyError") return false;
    return !/enableOfflineQueue|Stream isn't writeable/.test((err as Error).message ?? "");
  }

  /**
   * How long a commit's outcome key lives: past the longest a host waits to look it up (it
   * looks within outcomeTimeoutMs of the break, and Redis's clock started at the commit).
   */
  private get outcomeTtlMs(): number {
    return this.outcomeTimeoutMs + 30_000;
  }

  private get outcomeTimeoutMs(): number {
    return this.options.outcomeTimeoutMs ?? 10_000;
  }

  /**
   * The script's reply did not come (Redis stopped answering, or the connection broke with
   * the script in flight): it ran entirely or not at all. The script left its log id under
   * 'o:<nonce>', which says which however many commits other hosts made since (the log
   * itself is trimmed to logLimit entries, so it cannot); the recent log is read too, for a
   * key lost to an eviction policy. On the same connection the lookup is answered only after
   * the script, so "not there" means it never ran; on a new connection (the old one closed),
   * it no longer can. Asked until `settleBy`; past it the outcome is unknown.
   */
  private async outcome(
    nonce: string,
    cause: Error,
    settleBy = Date.now() + this.outcomeTimeoutMs,
  ): Promise<CommitResult> {
    for (;;) {
      const left = settleBy - Date.now();
      if (left <= 0 || this.closed) break;
      if (this.cmd.status === "ready") {
        let found: LogId | null | typeof TIMED_OUT;
        try {
          found = await before(this.lookup(nonce), left);
        } catch {
          found = TIMED_OUT; // timed out or the connection broke: ask again while there is time
        }
        if (found === null)
          throw new StoreUnavailableError(
            `the commit's reply from Redis was lost, and it was not applied: ${cause.message}`,
            { cause },
          );
        if (found !== TIMED_OUT) return { id: found };
      }
      await sleep(Math.min(50, Math.max(0, settleBy - Date.now())));
    }
    throw new StoreUnavailableError(
      `Redis did not answer whether the commit was applied (${cause.message}; no answer by the in-flight limit): ` +
        "the commit may or may not have been applied; read the variable to find out",
      { cause, details: { outcome: "unknown" } },
    );
  }

  /** The commit's log id if the script ran, null if it did not. */
  private async lookup(nonce: string): Promise<LogId | null> {
    const id = await this.track(this.cmd.get(`${this.options.prefix}o:${nonce}`));
    if (id) return parseLogId(id);
    const recent = (await this.track(this.cmd.xrevrange(this.logKey, "+", "-", "COUNT", 10_000))) as [
      string,
      string[],
    ][];
    for (const [id, fields] of recent) {
      for (let i = 0; i < fields.length; i += 2)
        if (fields[i] === "n" && fields[i + 1] === nonce) return parseLogId(id);
    }
    return null;
  }

  async head(): Promise<LogId | "lost"> {
    const [head, epoch] = await this.track(this.cmd.mget(`${this.options.prefix}head`, `${this.options.prefix}epoch`));
    if (epoch !== this.epoch) return "lost";
    return head ? parseLogId(head) : LOG_START;
  }

  async readAfter(after: LogId): Promise<LoggedEntry[] | "lost"> {
    const reply = (await this.track(this.cmd.xrange(this.logKey, `(${formatLogId(after)}`, "+"))) as [
      string,
      string[],
    ][];
    return entriesOf(reply, this.epoch) ?? "lost";
  }

  /**
   * A blocking read on the second connection, from wherever the store has got to. While
   * idle it also checks that Redis has not gone backwards (restarted without its data):
   * then the store must reload.
   */
  follow(position: () => LogId, onNew: (entries: LoggedEntry[]) => void, onBehind: () => void): void {
    void (async () => {
      while (!this.closed) {
        try {
          const from = position();
          const reply = (await this.sub.xread(
            "COUNT",
            1000,
            "BLOCK",
            1000,
            "STREAMS",
            this.logKey,
            formatLogId(from),
          )) as [string, [string, string[]][]][] | null;
          if (reply?.[0]) {
            const entries = entriesOf(reply[0][1], this.epoch);
            if (entries) onNew(entries);
            else onBehind();
          } else {
            const applied = position(); // before asking: commits applied meanwhile must not look like a loss
            const head = await this.head();
            if (head === "lost" || compareLogIds(head, applied) < 0) onBehind();
          }
        } catch {
          if (this.closed) return;
          await sleep(100); // Redis is away: read again once it is back
        }
      }
    })();
  }

  /** Renews the session's alive key. */
  touch(info: SessionInfo): Promise<unknown> {
    return this.track(this.cmd.pexpire(`${this.options.prefix}${keys.alive(info.sessionId)}`, info.ttlMs));
  }

  async remainingTtl(sessionId: string): Promise<number> {
    const ms = await this.track(this.cmd.pttl(`${this.options.prefix}${keys.alive(sessionId)}`));
    return ms === -1 ? Number.MAX_SAFE_INTEGER : Math.max(0, ms);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.sub.disconnect();
    try {
      await this.cmd.quit();
    } catch {
      this.cmd.disconnect();
    }
  }
}
