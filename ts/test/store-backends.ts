// The store backends the conformance suite and the durability tests run against: memory,
// SQLite in a temporary file, Redis — the private server scripts/redis.mjs starts for
// `npm test` (its address in DSPY_BRIDGE_TEST_REDIS) — and a Redis Cluster, the three private
// nodes it starts too (DSPY_BRIDGE_TEST_REDIS_CLUSTER). Without those addresses the Redis
// tests fail, loudly: they are never skipped.
import { randomUUID } from "node:crypto";
import { after } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore, type Store, type StoreOptions, type WatchMessage } from "../src/store/index.js";

export interface Backend {
  name: "memory" | "sqlite" | "redis" | "redis-cluster";
  /** Several hosts may share one location (and sessions are partitioned: each host holds the ones it uses). */
  shared: boolean;
  /** A location no other test uses; `open` it as often as needed (a restart). */
  fresh(): string;
  open(location: string, options?: StoreOptions): Promise<Store>;
}

const tempDir = mkdtempSync(join(tmpdir(), "dspy-bridge-store-"));
process.on("exit", () => rmSync(tempDir, { recursive: true, force: true }));

export function redisUrl(): string {
  const url = process.env.DSPY_BRIDGE_TEST_REDIS;
  if (!url) {
    throw new Error(
      "DSPY_BRIDGE_TEST_REDIS is not set: the Redis tests need the private Redis server that `npm test` starts " +
        "(scripts/redis.mjs). Run them through `npm test` / `npm run test:ts`, or start one with `node scripts/redis.mjs --print`.",
    );
  }
  return url;
}

export function redisClusterUrl(): string {
  const url = process.env.DSPY_BRIDGE_TEST_REDIS_CLUSTER;
  if (!url) {
    throw new Error(
      "DSPY_BRIDGE_TEST_REDIS_CLUSTER is not set: the Redis Cluster tests need the private cluster that `npm test` starts " +
        "(scripts/redis.mjs). Run them through `npm test` / `npm run test:ts`, or start one with `node scripts/redis.mjs --cluster`.",
    );
  }
  return url;
}

const freshPrefix = () => encodeURIComponent(`t-${randomUUID().slice(0, 12)}:`);

const all: Backend[] = [
  { name: "memory", shared: false, fresh: () => "memory", open: (_location, options) => openStore("memory", options) },
  {
    name: "sqlite",
    shared: false,
    fresh: () => `sqlite:${join(tempDir, `${randomUUID()}.db`)}`,
    open: (location, options) => openStore(location, options),
  },
  {
    name: "redis",
    shared: true,
    fresh: () => `${redisUrl()}?prefix=${freshPrefix()}`,
    open: (location, options) => openStore(location, options),
  },
  {
    name: "redis-cluster",
    shared: true,
    fresh: () => `${redisClusterUrl()}?prefix=${freshPrefix()}`,
    open: (location, options) => openStore(location, options),
  },
];

/**
 * The backends to run: all four, or those DSPY_BRIDGE_TEST_STORE_BACKENDS names
 * (e.g. "memory,sqlite": the mutation runs of scripts/mutation.mjs, where a module's logic
 * does not depend on Redis). A name it does not know is an error, not a silent skip.
 */
export const backends: Backend[] = (() => {
  const chosen = process.env.DSPY_BRIDGE_TEST_STORE_BACKENDS;
  if (!chosen) return all;
  const names = chosen.split(",").map((n) => n.trim());
  const unknown = names.filter((n) => !all.some((b) => b.name === n));
  if (unknown.length)
    throw new Error(
      `DSPY_BRIDGE_TEST_STORE_BACKENDS: unknown backend(s) ${unknown.join(", ")} (memory, sqlite, redis, redis-cluster)`,
    );
  return all.filter((b) => names.includes(b.name));
})();

/** Every message and the end of a watch. */
export async function recorded(store: Store, sessionId: string, options: Parameters<Store["watch"]>[1] = {}) {
  const messages: WatchMessage[] = [];
  const ends: unknown[] = [];
  const handle = await store.watch(
    sessionId,
    options,
    (m) => messages.push(m),
    (e) => ends.push(e),
  );
  return { messages, ends, handle };
}

/** The revisions a watch from `start` replays, or "compacted at N". */
export async function replay(store: Store, sessionId: string, start: number): Promise<number[] | string> {
  const { messages, handle } = await recorded(store, sessionId, { startRevision: start });
  handle.cancel();
  if (messages[0]?.kind === "compacted") return `compacted at ${messages[0].compactRevision}`;
  return messages.map((m) => m.revision);
}

/**
 * `open` and `reopen` for one describe block of `backend`: every store they open is closed
 * after the block. `reopen` is a second store on the same file (SQLite) after the first is
 * closed, the state rebuilt from the snapshot; undefined on memory.
 */
export function storeOpeners(backend: Backend) {
  const opened: Store[] = [];
  after(async () => {
    for (const s of opened) await s.close();
  });
  const open = async (options: StoreOptions = {}, location = backend.fresh()): Promise<Store> => {
    const store = await backend.open(location, options);
    opened.push(store);
    return store;
  };
  const reopen = async (store: Store, location: string, options: StoreOptions = {}): Promise<Store | undefined> => {
    if (backend.name === "memory") return undefined;
    await store.close();
    return open(options, location);
  };
  return { open, reopen };
}
