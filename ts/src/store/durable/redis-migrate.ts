// Moves a Redis store of key layout 1 (one log stream and one revision counter for every
// session, every host holding every session) to layout 2 (redis-keys.ts: each session under
// its own hash tag, with its own log, head and epoch). Run with every host of the store
// stopped: `npx dspy-bridge store-migrate --store redis://...` (in place), or `--to` another
// Redis or a Redis Cluster (the source is then left as it was).
//
// Each session keeps its records as they were, its log entries (with their revisions) and the
// store's revision: its head starts at the old store's, so a revision a worker or a watcher
// already saw stays behind every new one, and a watch resumes from where it was. Idempotent:
// a run that stopped part-way is run again; the new layout is recorded only once every session
// is written, and the old keys are deleted only after that.
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { LoggedEntry } from "./layout.js";
import { keys, sessionKey } from "./layout.js";
import { redisClient } from "./redis-backend.js";
import { globalKeys, LAYOUT_VERSION, sessionBase, suffixOf } from "./redis-keys.js";
import { LAYOUT1_SNAPSHOT_LUA } from "./redis-scripts.js";
import { formatLogId, parseLogId } from "../log-id.js";
import type { SessionInfo } from "../records.js";

export interface RedisLocation {
  url: string;
  prefix: string;
  cluster?: { host: string; port: number }[];
}

export interface MigrationReport {
  /** "migrated", or "already" when the store was of layout 2 already (old keys left over are removed). */
  outcome: "migrated" | "already";
  sessions: number;
  logEntries: number;
  /** The old store's revision, where every session's revisions go on from. */
  revision: number;
  seconds: number;
}

type Client = ReturnType<typeof redisClient>;

const OLD_SCALARS = ["head", "log", "epoch", "s"];

/** Migrates `from` (layout 1, a single Redis) to layout 2 at `to` (default: in place). */
export async function migrateRedisStore(
  from: RedisLocation,
  to: RedisLocation = from,
  onProgress: (line: string) => void = () => {},
): Promise<MigrationReport> {
  const started = Date.now();
  if (from.cluster) throw new Error("a store of layout 1 lives on a single Redis: give its redis:// URL as --store");
  const inPlace = to.url === from.url && to.prefix === from.prefix && !to.cluster;
  const source = redisClient({ ...from, commandTimeoutMs: 120_000 });
  const target = inPlace ? source : redisClient({ ...to, commandTimeoutMs: 120_000 });
  try {
    await source.connect();
    if (!inPlace) await target.connect();
    const layout = Number((await source.get(`${from.prefix}layout`)) ?? 0);
    const oldKeysLeft = (await source.exists(...OLD_SCALARS.map((k) => `${from.prefix}${k}`))) > 0;
    if (layout === LAYOUT_VERSION && inPlace) {
      if (oldKeysLeft) await deleteLayout1(source, from.prefix, onProgress);
      return { outcome: "already", sessions: 0, logEntries: 0, revision: 0, seconds: (Date.now() - started) / 1000 };
    }
    if (layout !== 1 && !(layout === 0 && oldKeysLeft))
      throw new Error(
        layout === 0
          ? `no dspy-bridge store under prefix '${from.prefix}' at ${redact(from.url)}`
          : `the store under prefix '${from.prefix}' has key layout ${layout}, not 1: nothing to migrate`,
      );
    const targetLayout = Number((await target.get(`${to.prefix}layout`)) ?? 0);
    if (!inPlace && targetLayout !== 0 && targetLayout !== LAYOUT_VERSION)
      throw new Error(
        `the target under prefix '${to.prefix}' holds a store of layout ${targetLayout}: refusing to mix`,
      );

    const snapshot = (await source.eval(LAYOUT1_SNAPSHOT_LUA, 1, from.prefix)) as unknown[];
    const head = String(snapshot[0]);
    const epoch = String(snapshot[1]) || randomUUID();
    const hashes = new Map<string, [string, string][]>();
    const lists = new Map<string, string[]>();
    for (const item of snapshot.slice(2) as string[][]) {
      const [key, kind, ...rest] = item;
      if (kind === "h") {
        const pairs: [string, string][] = [];
        for (let i = 0; i < rest.length; i += 2) pairs.push([rest[i]!, rest[i + 1]!]);
        hashes.set(key!, pairs);
      } else lists.set(key!, rest);
    }
    const stream = (await source.xrange(`${from.prefix}log`, "-", "+")) as [string, string[]][];
    const bySession = new Map<string, LoggedEntry[]>();
    for (const [id, fields] of stream) {
      const entry = fields[fields.indexOf("e") + 1] ?? "";
      const parsed = JSON.parse(entry) as { t: string; sid?: string; info?: { sessionId: string } };
      const sid = parsed.t === "session" ? parsed.info!.sessionId : parsed.sid!;
      let list = bySession.get(sid);
      if (!list) bySession.set(sid, (list = []));
      list.push({ id: parseLogId(id), entry });
    }
    const sessions = hashes.get(keys.sessions) ?? [];
    const g = globalKeys(to.prefix);
    let logEntries = 0;
    for (const [index, [sid, infoJson]] of sessions.entries()) {
      const base = sessionBase(to.prefix, sid);
      // A run stopped part-way wrote some of this session: start it again from nothing.
      const written = await target.smembers(`${base}_keys`);
      if (written.length) await target.del(...written.map((k) => `${base}${k}`));
      await target.del(`${base}_keys`, `${base}_head`, `${base}_log`, `${base}_epoch`);
      const sk = sessionKey(sid);
      const mine = (key: string) => {
        const rest = key.slice(key.indexOf(":") + 1);
        return rest.startsWith(sk) && (rest.length === sk.length || rest[sk.length] === ":");
      };
      const record = async (suffix: string) => target.sadd(`${base}_keys`, suffix);
      await target.hset(`${base}s`, sid, infoJson);
      await record("s");
      for (const [key, pairs] of hashes) {
        if (key === keys.sessions || !mine(key) || pairs.length === 0) continue;
        const suffix = suffixOf(key, sid);
        await target.hset(`${base}${suffix}`, ...pairs.flat());
        await record(suffix);
      }
      for (const [key, items] of lists) {
        if (!mine(key) || items.length === 0) continue;
        const suffix = suffixOf(key, sid);
        await target.rpush(`${base}${suffix}`, ...items);
        await record(suffix);
      }
      const info = JSON.parse(infoJson) as SessionInfo;
      const left = info.ttlMs > 0 ? await source.pttl(`${from.prefix}${keys.alive(sid)}`) : -2;
      if (left > 0) {
        await target.set(`${base}${suffixOf(keys.alive(sid), sid)}`, "1", "PX", left);
        await record(suffixOf(keys.alive(sid), sid));
      }
      for (const { id, entry } of bySession.get(sid) ?? []) {
        await target.xadd(`${base}_log`, formatLogId(id), "e", entry, "n", "migrated", "g", epoch);
        logEntries++;
      }
      await target.set(`${base}_head`, head);
      await target.set(`${base}_epoch`, epoch);
      await target.hset(g.sessions, sid, infoJson);
      if (info.ttlMs > 0) await target.zadd(g.expiry, Date.now() + Math.max(0, left), sid);
      if ((index + 1) % 1000 === 0) onProgress(`${index + 1} of ${sessions.length} sessions`);
    }
    await target.set(g.layout, String(LAYOUT_VERSION));
    if (inPlace) await deleteLayout1(source, from.prefix, onProgress);
    return {
      outcome: "migrated",
      sessions: sessions.length,
      logEntries,
      revision: parseLogId(head).rev,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    source.disconnect();
    if (!inPlace) target.disconnect();
  }
}

/** Deletes what layout 1 wrote under the prefix (the new layout's keys all have a brace or another name). */
async function deleteLayout1(client: Client, prefix: string, onProgress: (line: string) => void): Promise<void> {
  const redis: Redis = client;
  const pattern = `${escapeGlob(prefix)}*`;
  let cursor = "0";
  let deleted = 0;
  const layout1 = /^(?:head|log|epoch|s|[vhdctarp]:\d+:|rt:\d+:|o:)/;
  do {
    const [next, found] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    const old = found.filter((k) => {
      const rest = k.slice(prefix.length);
      return !rest.includes("{") && (OLD_SCALARS.includes(rest) || layout1.test(rest));
    });
    if (old.length) deleted += await redis.del(...old);
  } while (cursor !== "0");
  onProgress(`removed ${deleted} keys of layout 1`);
}

const escapeGlob = (text: string) => text.replace(/[*?[\]\\]/g, "\\$&");

function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}
