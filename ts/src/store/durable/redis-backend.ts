// The Redis backend: several hosts share one store, partitioned by session. Each session has
// its own keys under one hash tag (redis-keys.ts): its records, its log stream, its revision
// counter (head) and its epoch. A commit is one Lua script on the session's keys (check the
// stamps it was planned on, write, take the session's next log position, XADD to its log,
// PUBLISH the id); a host follows only the sessions it holds: it subscribes to their
// channels and reads their logs when told (and once a second, in case a message was lost),
// and reads first catch up with the session's head. Sessions live in one slot each, so a
// Redis Cluster (ioredis's Cluster client) spreads them over its nodes; a single Redis holds
// them all the same way.
//
// A connection that breaks in the middle of a commit is resolved by looking up the commit's
// nonce once Redis is back: the caller learns that it committed, or gets
// StoreUnavailableError saying it did not. Every call is bounded while Redis is away
// (docs/deployment.md, "Redis unavailable"): a command waits at most commandTimeoutMs for its
// reply; a commit is sent only on a connection that is answering (after a command went
// unanswered, a PING must come back first), so one that cannot be sent in time fails as
// certainly not applied; and a commit that was sent settles within commandTimeoutMs +
// outcomeTimeoutMs of its call, with outcome "unknown" only when Redis never answered.
import { randomUUID } from "node:crypto";
import { Cluster, Redis, type ClusterNode, type RedisOptions as IoRedisOptions } from "ioredis";
import { FailedPreconditionError, InvalidArgumentError, StoreUnavailableError } from "../../errors/index.js";
import { compareLogIds, formatLogId, LOG_START, parseLogId, type LogId } from "../log-id.js";
import type { SessionInfo } from "../records.js";
import type { Pacer } from "../pacing.js";
import type { CommitDeadline, LargeCommit, PartitionedBackend, StoreBackend } from "../store-backend.js";
import { keys, type CommitRequest, type CommitResult, type LoggedEntry, type RawSnapshot } from "./layout.js";
import { globalKeys, LAYOUT_VERSION, logicalOf, sessionBase, suffixOf } from "./redis-keys.js";
import {
  SESSION_COMMIT_LUA,
  SESSION_SNAPSHOT_LUA,
  STAGE_CHUNK_LUA,
  STAGE_DISCARD_LUA,
  STAGE_INSTALL_LUA,
} from "./redis-scripts.js";
import { STAGING_LEASE_MS, STAGING_SWEEP_MS, Staging, stageable } from "./redis-staging.js";

export interface RedisOptions {
  /** redis://[user:password@]host:port[/db] (rediss:// for TLS); with `cluster`, its credentials and TLS apply to every node. */
  url: string;
  /** A Redis Cluster: its seed nodes (the client finds the others). */
  cluster?: { host: string; port: number }[];
  /** Every key starts with this; hosts sharing a store use the same one. Default "dspy-bridge:". */
  prefix: string;
  /** Log entries kept in each session's stream for watches that resume. */
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
  /** How long a deleted session's log is kept for hosts still following it. Default one hour. */
  tombstoneMs?: number;
  /** How often a host checks the heads of the sessions it follows (a lost message, Redis going backwards). Default 1,000 ms. */
  checkEveryMs?: number;
}

/** A connection or a Cluster client: the same commands either way (typed as the connection's). */
type Client = Redis & {
  bridgeCommit(
    base: string,
    request: string,
    keep: string,
    nonce: string,
    epoch: string,
    outcomeTtlMs: string,
    newEpoch: string,
    tombstoneMs: string,
    channel: string,
  ): Promise<[string, string, string?]>;
  bridgeSnapshot(base: string): Promise<unknown[]>;
  bridgeStage(base: string, ...args: string[]): Promise<[string, string?]>;
  bridgeInstall(base: string, ...args: string[]): Promise<[string, string, string?]>;
  bridgeDiscard(base: string, suffix: string, count: string, abandoned: string): Promise<number>;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A command that has waited this long with no reply from Redis since makes the connection suspect. */
const STALL_MS = 1_000;

const TIMED_OUT = Symbol("timed out");

/**
 * The longest a session's snapshot may take while Redis keeps answering: the reply grows with
 * the session (about 4 s for 100,000 variables on an idle two-core machine), so it cannot have
 * a command's fixed bound.
 */
const SNAPSHOT_MAX_MS = 10 * 60_000;

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

/**
 * before(), but a timeout is only believed once the sockets were read: when this process's
 * event loop was held (a busy machine, a long synchronous step) past `ms`, the timer fires
 * before the reply already waiting in the socket is read, and the wait would fail though
 * Redis answered in time.
 */
async function beforeOrArrived<T>(command: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let arrived: { value: T } | undefined;
  const tracked = command.then((value) => {
    arrived = { value };
    return value;
  });
  const got = await before(tracked, ms);
  if (got !== TIMED_OUT) return got;
  await new Promise((r) => setImmediate(r)); // after the loop's poll phase: what came is read
  return arrived ? arrived.value : TIMED_OUT;
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

/**
 * A connection (or, with `cluster`, a Cluster client) set up so that nothing waits without a
 * deadline and nothing is re-sent behind the store's back.
 */
export function redisClient(
  options: Pick<RedisOptions, "url" | "cluster" | "connectTimeoutMs" | "commandTimeoutMs">,
): Client {
  const connectTimeout = options.connectTimeoutMs ?? 5_000;
  const common: IoRedisOptions = {
    lazyConnect: true,
    // A command while Redis is away fails at once (typed, retryable) instead of waiting in a queue,
    // and nothing is silently re-sent after a reconnect: a commit runs once or the store finds out.
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    connectTimeout,
    retryStrategy: (times) => Math.min(50 * times, 1_000),
    // Without it a command to a server that stopped answering would wait forever (TCP notices a
    // silent peer after hours), and with it every commit queued behind it.
    commandTimeout: options.commandTimeoutMs ?? 5_000,
  };
  let client: Client;
  if (options.cluster) {
    const u = new URL(options.url);
    const nodeOptions: IoRedisOptions = {
      ...common,
      ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
      ...(u.protocol === "rediss:" ? { tls: {} } : {}),
    };
    client = new Cluster(options.cluster as ClusterNode[], {
      lazyConnect: true,
      enableOfflineQueue: false,
      redisOptions: nodeOptions,
      clusterRetryStrategy: (times) => Math.min(50 * times, 1_000),
      slotsRefreshTimeout: connectTimeout,
      // A command whose connection closed may have run: it is never sent again (the store
      // looks up a commit's outcome instead). MOVED, ASK, TRYAGAIN and CLUSTERDOWN mean it
      // did not run, and are followed.
      retryDelayOnFailover: 0,
      retryDelayOnClusterDown: 100,
      retryDelayOnTryAgain: 100,
    }) as unknown as Client;
  } else {
    client = new Redis(options.url, common) as Client;
  }
  client.defineCommand("bridgeCommit", { numberOfKeys: 1, lua: SESSION_COMMIT_LUA });
  client.defineCommand("bridgeSnapshot", { numberOfKeys: 1, lua: SESSION_SNAPSHOT_LUA });
  client.defineCommand("bridgeStage", { numberOfKeys: 1, lua: STAGE_CHUNK_LUA });
  client.defineCommand("bridgeInstall", { numberOfKeys: 1, lua: STAGE_INSTALL_LUA });
  client.defineCommand("bridgeDiscard", { numberOfKeys: 1, lua: STAGE_DISCARD_LUA });
  client.on("error", () => {}); // reported through the failing commands
  return client;
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

/** The store's connections to Redis, shared by every session this host holds. */
export class RedisBackend implements PartitionedBackend {
  readonly kind = "redis";
  readonly partitioned = true;
  /** Commands and scripts. */
  readonly cmd: Client;
  /** Subscriptions to the channels of the sessions this host follows. */
  private readonly sub: Client;
  /** Sessions' snapshots (see snapshot()), opened at the first; dropped when one is given up. */
  private bulk: Promise<Client> | undefined;
  private readonly followed = new Map<string, RedisSessionBackend>();
  private readonly global: ReturnType<typeof globalKeys>;
  private closed = false;
  private checkTimer: NodeJS.Timeout | undefined;
  private checking = false;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweepingStagings = false;
  /** Commands on `cmd` awaiting their reply, since when, and when Redis last answered: see stalled(). */
  private pending = 0;
  private pendingSince = 0;
  private lastReplyAt = Date.now();
  /** A command timed out or the connection broke, and Redis has not answered since. */
  private failedSinceReply = false;

  private constructor(readonly options: RedisOptions) {
    this.cmd = redisClient(options);
    this.sub = redisClient(options);
    this.global = globalKeys(options.prefix);
    this.sub.on("message", (channel: string, id: string) => this.followed.get(channel)?.notified(id));
    // After a reconnect (ioredis subscribes again by itself) a message may have been missed.
    this.sub.on("ready", () => {
      for (const s of this.followed.values()) s.notified();
    });
  }

  get isCluster(): boolean {
    return this.options.cluster !== undefined;
  }

  get commandTimeoutMs(): number {
    return this.options.commandTimeoutMs ?? 5_000;
  }

  get outcomeTimeoutMs(): number {
    return this.options.outcomeTimeoutMs ?? 10_000;
  }

  /** A call waits at most commandTimeoutMs; a commit that was sent settles within commandTimeoutMs + outcomeTimeoutMs. */
  get limits(): { callMs: number; inFlightMs: number } {
    return { callMs: this.commandTimeoutMs, inFlightMs: this.commandTimeoutMs + this.outcomeTimeoutMs };
  }

  /** Every command on `cmd` goes through here: its reply (or its lack) says whether Redis is answering. */
  track<T>(command: Promise<T>): Promise<T> {
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

  get lastReply(): number {
    return this.lastReplyAt;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  static async connect(options: RedisOptions): Promise<RedisBackend> {
    if (!/^rediss?:\/\//.test(options.url))
      throw new InvalidArgumentError(`not a Redis URL: '${options.url}'`, { parameter: "store" });
    if (options.prefix.includes("{") || options.prefix.includes("}"))
      throw new InvalidArgumentError(
        `the Redis key prefix '${options.prefix.slice(0, 100)}' contains a brace: braces mark the session's hash tag in every key`,
        { parameter: "store" },
      );
    const where = options.cluster
      ? `the Redis Cluster at ${options.cluster.map((n) => `${n.host}:${n.port}`).join(",")}`
      : `Redis at ${redacted(options.url)}`;
    const backend = new RedisBackend(options);
    try {
      await Promise.all([backend.cmd.connect(), backend.sub.connect()]);
    } catch (err) {
      await backend.close();
      throw new StoreUnavailableError(`cannot connect to ${where}: ${(err as Error).message}`, { cause: err });
    }
    let info: string;
    try {
      info = await backend.track(backend.cmd.info("server"));
    } catch (err) {
      await backend.close();
      throw new StoreUnavailableError(`${where} did not answer INFO: ${(err as Error).message}`, { cause: err });
    }
    const problem = redisVersionProblem(info);
    if (problem) {
      await backend.close();
      throw new FailedPreconditionError(`${where}: ${problem}`);
    }
    try {
      await backend.checkLayout(where);
    } catch (err) {
      await backend.close();
      throw err instanceof FailedPreconditionError
        ? err
        : new StoreUnavailableError(`${where} could not be read: ${(err as Error).message}`, { cause: err });
    }
    backend.checkTimer = setInterval(() => void backend.checkFollowed(), options.checkEveryMs ?? 1_000);
    backend.checkTimer.unref();
    backend.sweepTimer = setInterval(() => void backend.sweepStagings(), STAGING_SWEEP_MS);
    backend.sweepTimer.unref();
    return backend;
  }

  /**
   * The keys record their layout: a new store gets this version's; a store of layout 1 (one
   * log for every session) must be migrated first; a newer one is refused before anything is written.
   */
  private async checkLayout(where: string): Promise<void> {
    const { layout } = this.global;
    // A store of layout 1 that never recorded it still has its one log's head.
    const old = await this.track(this.cmd.exists(`${this.options.prefix}head`));
    await this.track(this.cmd.set(layout, String(old ? 1 : LAYOUT_VERSION), "NX"));
    const found = Number((await this.track(this.cmd.get(layout))) ?? 0);
    if (found === LAYOUT_VERSION) return;
    if (found === 1) {
      throw new FailedPreconditionError(
        `${where} holds a dspy-bridge store of key layout 1 under prefix '${this.options.prefix}' (one log for every session): stop its hosts and run \`npx dspy-bridge store-migrate --store <this store>\` to move it to layout ${LAYOUT_VERSION}`,
        { details: { layout: found } },
      );
    }
    throw new FailedPreconditionError(
      `the Redis store under prefix '${this.options.prefix}' has key layout ${found}, newer than this version of dspy-bridge reads (${LAYOUT_VERSION}): upgrade dspy-bridge`,
      { details: { layout: found } },
    );
  }

  /**
   * A session's keys and log in one atomic read (the snapshot script). Its reply grows with the
   * session (tens of MB for 100,000 variables; a restarted host on a busy machine took over
   * 5 s for 20,000), so it cannot fail after commandTimeoutMs as a command does. It runs on a
   * connection of its own and waits as long as Redis keeps answering: a read of the session's
   * head on the command connection (the session's node, in a cluster), sent with it and again
   * each second the reply is still coming, must be answered within commandTimeoutMs. A frozen
   * Redis or a silent network fails it as soon as it would fail any command, and a script
   * still running (Redis answers BUSY) or a reply still streaming does not.
   */
  async snapshot(base: string): Promise<unknown[]> {
    const bulk = await this.bulkClient();
    const reply = bulk.bridgeSnapshot(base) as Promise<unknown[]>;
    const giveUp = (why: string): never => {
      reply.catch(() => {});
      // Its reply would still come on that connection, maybe minutes later: let it go with it.
      if (this.bulk) void this.bulk.then((c) => c.disconnect()).catch(() => {});
      this.bulk = undefined;
      throw new Error(why);
    };
    const giveUpAt = Date.now() + SNAPSHOT_MAX_MS;
    for (;;) {
      const alive = this.track(this.cmd.exists(`${base}_head`)).then(
        () => true,
        (err: unknown) => (err as Error)?.name === "ReplyError",
      );
      const first = await beforeOrArrived(
        Promise.race([reply.then((r) => ({ reply: r })), alive.then((answered) => ({ answered }))]),
        this.commandTimeoutMs,
      );
      if (first === TIMED_OUT || ("answered" in first && !first.answered))
        giveUp(
          `Redis has stopped answering (no reply for ${Date.now() - this.lastReplyAt} ms) while the session was read`,
        );
      else if ("reply" in first) return first.reply;
      const rest = await before(reply, STALL_MS);
      if (rest !== TIMED_OUT) return rest;
      if (Date.now() > giveUpAt) giveUp(`the session's snapshot took over ${SNAPSHOT_MAX_MS / 1000} s`);
    }
  }

  private bulkClient(): Promise<Client> {
    if (this.closed) return Promise.reject(new Error("the store is closed"));
    if (!this.bulk) {
      // No command timeout of its own beyond the snapshot's cap: snapshot() bounds each wait.
      const client = redisClient({ ...this.options, commandTimeoutMs: SNAPSHOT_MAX_MS });
      const opening = client.connect().then(
        () => client,
        (err: unknown) => {
          client.disconnect();
          if (this.bulk === opening) this.bulk = undefined;
          throw err;
        },
      );
      this.bulk = opening;
    }
    return this.bulk;
  }

  /** One session's backend: its keys, its log, its channel. */
  partition(sessionId: string): RedisSessionBackend {
    return new RedisSessionBackend(this, sessionId);
  }

  /** Starts delivering the session's messages (resolves once subscribed: no commit after it goes unnoticed). */
  async subscribe(session: RedisSessionBackend): Promise<void> {
    if (this.followed.get(session.channel) === session) return;
    this.followed.set(session.channel, session);
    try {
      await this.sub.subscribe(session.channel);
    } catch (err) {
      if (this.followed.get(session.channel) === session) this.followed.delete(session.channel);
      throw err;
    }
  }

  async unsubscribe(session: RedisSessionBackend): Promise<void> {
    if (this.followed.get(session.channel) !== session) return;
    this.followed.delete(session.channel);
    if (!this.closed) await this.sub.unsubscribe(session.channel).catch(() => {});
  }

  /** How many sessions this host follows (held, loaded). */
  get followedCount(): number {
    return this.followed.size;
  }

  /**
   * Once a second: the heads of the sessions this host follows, in case a message was lost
   * (a reconnect) or Redis went backwards (restarted without its data).
   */
  private async checkFollowed(): Promise<void> {
    if (this.checking || this.closed || this.followed.size === 0) return;
    this.checking = true;
    try {
      await Promise.all([...this.followed.values()].map((s) => s.check().catch(() => {})));
    } finally {
      this.checking = false;
    }
  }

  /** Every session, as listed when it was made (its TTL kept apart, in `a`). */
  async listSessions(): Promise<SessionInfo[]> {
    const all = (await this.track(this.cmd.hgetall(this.global.sessions))) as Record<string, string>;
    return Object.values(all).map((json) => JSON.parse(json) as SessionInfo);
  }

  /** Sessions whose TTL has run out by Redis's account, at most `limit`; the others get their new expiry. */
  async expiredSessions(now: number, limit = 100): Promise<string[]> {
    const due = await this.track(this.cmd.zrangebyscore(this.global.expiry, "-inf", now, "LIMIT", 0, limit));
    const out: string[] = [];
    await Promise.all(
      due.map(async (sid) => {
        const base = sessionBase(this.options.prefix, sid);
        const left = await this.track(this.cmd.pttl(`${base}${aliveSuffix(sid)}`));
        if (left > 0) await this.track(this.cmd.zadd(this.global.expiry, "XX", now + left, sid));
        else if (left === -1) await this.track(this.cmd.zrem(this.global.expiry, sid));
        else if (await this.track(this.cmd.exists(`${base}s`))) out.push(sid);
        else await this.listed(sid, undefined); // dropped already (a host died before it unlisted it)
      }),
    );
    return out;
  }

  /**
   * Lists a staging (redis-staging.ts) in the `stagings` index, by when it began, until it is
   * installed or discarded: once its lease ran out, any host's sweep discards what is left of
   * it (its host died).
   */
  async registerStaging(sid: string, suffix: string): Promise<void> {
    await this.track(this.cmd.zadd(this.global.stagings, Date.now(), JSON.stringify([sid, suffix])));
  }

  async unregisterStaging(sid: string, suffix: string): Promise<void> {
    await this.track(this.cmd.zrem(this.global.stagings, JSON.stringify([sid, suffix]))).catch(() => {});
  }

  /**
   * Removes what is left of a staging, a bounded piece per command (Redis is never held
   * long), then unlists it. `abandoned`: only if it no longer holds its session's claim.
   */
  async discardStaging(sid: string, suffix: string, abandoned = false): Promise<void> {
    const base = sessionBase(this.options.prefix, sid);
    for (let left = 1; left > 0; ) {
      left = await this.track(this.cmd.bridgeDiscard(base, suffix, "2000", abandoned ? "1" : "0"));
      if (left < 0) return; // a staging holds the session: later (the sweep)
    }
    await this.unregisterStaging(sid, suffix);
  }

  /**
   * Discards the stagings whose host died or gave up: listed before `now` less the lease, and
   * no longer holding their session's claim. Every host sweeps once a minute.
   */
  async sweepStagings(now = Date.now()): Promise<void> {
    if (this.closed || this.sweepingStagings) return;
    this.sweepingStagings = true;
    try {
      const due = await this.track(
        this.cmd.zrangebyscore(this.global.stagings, "-inf", now - STAGING_LEASE_MS, "LIMIT", 0, 20),
      );
      for (const member of due) {
        const [sid, suffix] = JSON.parse(member) as [string, string];
        await this.discardStaging(sid, suffix, true);
      }
    } catch {
      // Redis is away: the next sweep.
    } finally {
      this.sweepingStagings = false;
    }
  }

  /** After a session's own script: the list of sessions (another slot, so not in the script). */
  async listed(sid: string, info: string | undefined): Promise<void> {
    try {
      if (info === undefined) {
        await this.track(this.cmd.hdel(this.global.sessions, sid));
        await this.track(this.cmd.zrem(this.global.expiry, sid));
        return;
      }
      await this.track(this.cmd.hset(this.global.sessions, sid, info));
      const ttlMs = (JSON.parse(info) as SessionInfo).ttlMs;
      if (ttlMs > 0) await this.track(this.cmd.zadd(this.global.expiry, Date.now() + ttlMs, sid));
    } catch {
      // The commit stands; a host that loads the session lists it again (relist).
    }
  }

  /** A session found on load: listed, if a host died between its commit and its listing. */
  relist(sid: string, info: string): void {
    void this.track(this.cmd.hsetnx(this.global.sessions, sid, info)).catch(() => {});
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.checkTimer) clearInterval(this.checkTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.followed.clear();
    this.sub.disconnect();
    if (this.bulk) void this.bulk.then((c) => c.disconnect()).catch(() => {});
    this.bulk = undefined;
    try {
      await this.cmd.quit();
    } catch {
      this.cmd.disconnect();
    }
  }
}

/** The alive key's suffix (present while a session with a TTL is alive). */
const aliveSuffix = (sid: string) => suffixOf(keys.alive(sid), sid);

/** One session's part of a Redis store, as the store's commit log sees a backend. */
export class RedisSessionBackend implements StoreBackend {
  readonly kind = "redis";
  readonly shared = true;
  readonly base: string;
  readonly channel: string;
  /** The history of this session this host loaded ('' while the session has none). */
  private epoch = "";
  private position: (() => LogId) | undefined;
  private onNew: ((entries: LoggedEntry[]) => void) | undefined;
  private onBehind: (() => void) | undefined;
  private pulling = false;
  private again = false;

  constructor(
    private readonly redis: RedisBackend,
    readonly sessionId: string,
  ) {
    this.base = sessionBase(redis.options.prefix, sessionId);
    this.channel = `${this.base}_n`;
  }

  get limits(): { callMs: number; inFlightMs: number } {
    return this.redis.limits;
  }

  stalled(): boolean {
    return this.redis.stalled();
  }

  private get cmd(): Client {
    return this.redis.cmd;
  }

  private track<T>(command: Promise<T>): Promise<T> {
    return this.redis.track(command);
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
      // On a cluster, the node that owns the session answers: the one the commit goes to.
      answer = await before(
        this.track<unknown>(this.redis.isCluster ? this.cmd.exists(`${this.base}_head`) : this.cmd.ping()),
        sendBy - Date.now(),
      );
    } catch (err) {
      throw new StoreUnavailableError(`Redis is unavailable; the commit was not applied: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (answer === TIMED_OUT) {
      throw new StoreUnavailableError(
        `Redis has stopped answering (no reply for ${Date.now() - this.redis.lastReply} ms); the commit was not sent, so it was not applied`,
      );
    }
  }

  /** The session's keys and log in one atomic read; subscribed first, so no later commit goes unnoticed. */
  async load(): Promise<RawSnapshot> {
    await this.redis.subscribe(this);
    const reply = await this.redis.snapshot(this.base);
    const head = parseLogId(reply[0] as string);
    const epoch = reply[1] as string;
    const hashes = new Map<string, Map<string, string>>();
    const lists = new Map<string, string[]>();
    for (const item of reply.slice(3) as string[][]) {
      const [suffix, kind, ...rest] = item;
      const key = logicalOf(suffix!, this.sessionId);
      if (kind === "h") {
        const h = new Map<string, string>();
        for (let i = 0; i < rest.length; i += 2) h.set(rest[i]!, rest[i + 1]!);
        hashes.set(key, h);
      } else {
        lists.set(key, rest);
      }
    }
    // Entries of another epoch here cannot be: the script read the epoch and the log together.
    const log = (entriesOf(reply[2] as [string, string[]][], epoch) ?? []).filter(
      (e) => compareLogIds(e.id, head) <= 0,
    );
    this.epoch = epoch;
    const info = hashes.get(keys.sessions)?.get(this.sessionId);
    if (info !== undefined) this.redis.relist(this.sessionId, info);
    // A log that begins with the session's creation holds all of it (revisions before belong to
    // other sessions: a store migrated from layout 1, where one counter served every session).
    const whole = log[0]?.entry.startsWith('{"t":"session"') === true;
    return { head, hashes, lists, log, ...(whole ? { compacted: 0 } : {}) };
  }

  async commit(request: CommitRequest, deadline?: CommitDeadline, large?: LargeCommit): Promise<CommitResult> {
    const now = Date.now();
    const { sendBy, settleBy } = deadline ?? {
      sendBy: now + this.limits.callMs,
      settleBy: now + this.limits.inFlightMs,
    };
    if (large && stageable(request, large.basis)) return this.commitStaged(request, large, settleBy);
    const pace = large?.pace;
    if (this.stalled()) await this.probe(sendBy);
    const nonce = randomUUID();
    const sid = this.sessionId;
    // The request's keys as the session's own (its hash tag): the script runs on its slot.
    const translated: CommitRequest = {
      ...request,
      checks: request.checks.map((c) =>
        "absentKey" in c ? { absentKey: suffixOf(c.absentKey, sid) } : { ...c, key: suffixOf(c.key, sid) },
      ),
      ops: request.ops.map((o) => ("key" in o ? { ...o, key: suffixOf(o.key, sid) } : o)),
    };
    // A large commit's text is written in slices (hundreds of thousands of operations).
    const body = pace ? await pacedBody(translated, pace) : bodyOf(translated);
    let result: CommitResult;
    large?.sending();
    try {
      const sent = this.track(
        this.cmd.bridgeCommit(
          this.base,
          body,
          String(this.redis.options.logLimit),
          nonce,
          this.epoch,
          String(this.outcomeTtlMs),
          randomUUID(),
          String(this.redis.options.tombstoneMs ?? 3_600_000),
          this.channel,
        ),
      );
      const reply = await before(sent, settleBy - Date.now());
      if (reply === TIMED_OUT) throw new Error("Command timed out");
      const [status, detail, epoch] = reply;
      if (status !== "ok")
        return status === "present" ? { conflict: `'${detail}' exists`, final: true } : { conflict: detail };
      this.epoch = epoch ?? this.epoch;
      result = { id: parseLogId(detail) };
    } catch (err) {
      if (!this.maybeSent(err))
        throw new StoreUnavailableError(`Redis is unavailable; the commit was not applied: ${(err as Error).message}`, {
          cause: err,
        });
      result = await this.outcome(nonce, err as Error, settleBy);
    }
    // The list of sessions lives in another slot: it follows the session's own commit.
    const made = request.ops.find((o) => o.op === "hset" && o.key === keys.sessions);
    if (made?.op === "hset") await this.redis.listed(sid, made.value);
    else if (request.ops.some((o) => o.op === "drop")) await this.redis.listed(sid, undefined);
    return result;
  }

  /**
   * A large commit staged (redis-staging.ts): its writes go to staging keys a chunk at a
   * time, each chunk a short script, then one short script installs them, all or nothing.
   * Each chunk is a command like any (commandTimeoutMs; on a connection that stopped
   * answering, a PING first): one that fails leaves the commit not applied and its staging
   * discarded (or expired, if Redis cannot be told). The install settles like a one-script
   * commit, within the in-flight limit of when it is sent: the staging before it, however
   * long, does not eat into that limit while Redis keeps answering.
   */
  private async commitStaged(request: CommitRequest, large: LargeCommit, settleBy: number): Promise<CommitResult> {
    const staging = new Staging(large.basis, this.epoch, (key) => suffixOf(key, this.sessionId));
    const notApplied = (err: unknown) => {
      void this.discard(staging);
      return err instanceof StoreUnavailableError
        ? err
        : new StoreUnavailableError(`Redis is unavailable; the commit was not applied: ${(err as Error).message}`, {
            cause: err,
          });
    };
    let conflict: string | undefined;
    let busy = false;
    try {
      await this.redis.registerStaging(this.sessionId, staging.suffix);
      conflict = await staging.write(request, large.pace, async (args) => {
        if (this.stalled()) await this.probe(Date.now() + this.limits.callMs);
        const [status, why] = await this.track(this.cmd.bridgeStage(this.base, ...args));
        busy = status === "busy";
        return status === "ok" ? undefined : (why ?? status);
      });
    } catch (err) {
      throw notApplied(err);
    }
    if (busy) {
      void this.redis.unregisterStaging(this.sessionId, staging.suffix);
      return {
        conflict: `another host is importing into session '${this.sessionId.slice(0, 100)}' (its import is being written); import again once it is done`,
        final: true,
      };
    }
    if (conflict !== undefined) {
      void this.discard(staging);
      return { conflict };
    }
    if (this.stalled()) {
      try {
        await this.probe(Date.now() + this.limits.callMs);
      } catch (err) {
        throw notApplied(err);
      }
    }
    const nonce = randomUUID();
    const by = Math.max(settleBy, Date.now() + this.limits.inFlightMs);
    large.sending();
    try {
      const sent = this.track(
        this.cmd.bridgeInstall(
          this.base,
          ...staging.installArgs(request, this.redis.options.logLimit, nonce, this.outcomeTtlMs, this.channel),
        ),
      );
      const reply = await before(sent, by - Date.now());
      if (reply === TIMED_OUT) throw new Error("Command timed out");
      const [status, detail, epoch] = reply;
      if (status !== "ok") {
        void this.discard(staging);
        return { conflict: detail };
      }
      this.epoch = epoch ?? this.epoch;
      void this.redis.unregisterStaging(this.sessionId, staging.suffix);
      return { id: parseLogId(detail) };
    } catch (err) {
      if (!this.maybeSent(err)) throw notApplied(err);
      try {
        const result = await this.outcome(nonce, err as Error, by);
        void this.redis.unregisterStaging(this.sessionId, staging.suffix);
        return result;
      } catch (lost) {
        // Not applied (or unknown): what is left of the staging goes, now or when it expires.
        void this.discard(staging);
        throw lost;
      }
    }
  }

  /** Removes what is left of an abandoned staging; best effort (the sweep of the `stagings` index finds it otherwise). */
  private async discard(staging: Staging): Promise<void> {
    await this.redis.discardStaging(this.sessionId, staging.suffix).catch(() => {});
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
    return this.redis.outcomeTimeoutMs + 30_000;
  }

  /**
   * The script's reply did not come (Redis stopped answering, or the connection broke with
   * the script in flight): it ran entirely or not at all. The script left its log id under
   * '_o:<nonce>', which says which however many commits other hosts made since (the log
   * itself is trimmed to logLimit entries, so it cannot); the recent log is read too, for a
   * key lost to an eviction policy. On the same connection the lookup is answered only after
   * the script, so "not there" means it never ran; on a new connection (the old one closed),
   * it no longer can. Asked until `settleBy`; past it the outcome is unknown.
   */
  async outcome(
    nonce: string,
    cause: Error,
    settleBy = Date.now() + this.redis.outcomeTimeoutMs,
  ): Promise<CommitResult> {
    for (;;) {
      const left = settleBy - Date.now();
      if (left <= 0 || this.redis.isClosed) break;
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
    const id = await this.track(this.cmd.get(`${this.base}_o:${nonce}`));
    if (id) return parseLogId(id);
    const recent = (await this.track(this.cmd.xrevrange(`${this.base}_log`, "+", "-", "COUNT", 10_000))) as [
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
    const [head, epoch] = await this.track(this.cmd.mget(`${this.base}_head`, `${this.base}_epoch`));
    if ((epoch ?? "") !== this.epoch) return "lost";
    return head ? parseLogId(head) : LOG_START;
  }

  async readAfter(after: LogId): Promise<LoggedEntry[] | "lost"> {
    const reply = (await this.track(this.cmd.xrange(`${this.base}_log`, `(${formatLogId(after)}`, "+"))) as [
      string,
      string[],
    ][];
    return entriesOf(reply, this.epoch) ?? "lost";
  }

  /** Delivers what other hosts commit to this session, as its channel tells of it. */
  follow(position: () => LogId, onNew: (entries: LoggedEntry[]) => void, onBehind: () => void): void {
    this.position = position;
    this.onNew = onNew;
    this.onBehind = onBehind;
    void this.redis.subscribe(this).catch(() => {}); // load() subscribed; again only if it was let go
  }

  /**
   * A commit was published (`id`; none: one may have been missed): read the log from where the
   * store has got to, unless it has applied that commit already (this host's own).
   */
  notified(id?: string): void {
    if (!this.position) return;
    if (id !== undefined && compareLogIds(parseLogId(id), this.position()) <= 0) return;
    if (this.pulling) {
      this.again = true;
      return;
    }
    this.pulling = true;
    void (async () => {
      try {
        do {
          this.again = false;
          const entries = await this.readAfter(this.position!());
          if (entries === "lost") this.onBehind?.();
          else if (entries.length > 0) this.onNew?.(entries);
        } while (this.again && !this.redis.isClosed);
      } catch {
        // Redis is away: the next message, reconnect or check reads again.
      } finally {
        this.pulling = false;
      }
    })();
  }

  /** The periodic check: behind the head (a lost message) or ahead of it (Redis lost data). */
  async check(): Promise<void> {
    if (!this.position) return;
    const applied = this.position(); // before asking: commits applied meanwhile must not look like a loss
    const head = await this.head();
    if (head === "lost" || compareLogIds(head, applied) < 0) this.onBehind?.();
    else if (compareLogIds(head, applied) > 0) this.notified();
  }

  /** Renews the session's alive key. */
  touch(info: SessionInfo): Promise<unknown> {
    return this.track(this.cmd.pexpire(`${this.base}${aliveSuffix(info.sessionId)}`, info.ttlMs));
  }

  async remainingTtl(sessionId: string): Promise<number> {
    const ms = await this.track(this.cmd.pttl(`${this.base}${aliveSuffix(sessionId)}`));
    return ms === -1 ? Number.MAX_SAFE_INTEGER : Math.max(0, ms);
  }

  /** This host no longer holds the session: stop following it (the connections stay, shared). */
  async close(): Promise<void> {
    this.position = undefined;
    this.onNew = undefined;
    this.onBehind = undefined;
    await this.redis.unsubscribe(this);
  }
}
