// Which store a bridge uses: `"memory"` (default), `"sqlite:PATH"`, `"redis://host:port/db"`
// or a Redis Cluster, `"redis+cluster://host:port,host:port"` (with `?prefix=...` to share a
// Redis between deployments).
import { FailedPreconditionError, InvalidArgumentError } from "../errors/index.js";
import { Store, type StoreOptions } from "./store.js";

/** A spec in an error message: clipped, and without a password. */
const clip = (spec: string): string => spec.replace(/\/\/[^@/]*@/, "//***@").slice(0, 200);

export type StoreSpec =
  | { backend: "memory" }
  | { backend: "sqlite"; path: string; synchronous: "full" | "normal" }
  | { backend: "redis"; url: string; prefix: string; cluster?: { host: string; port: number }[] };

export function parseStoreSpec(spec: string | undefined): StoreSpec {
  if (spec === undefined || spec === "" || spec === "memory") return { backend: "memory" };
  if (typeof spec !== "string")
    throw new InvalidArgumentError("store must be 'memory', 'sqlite:PATH', a redis:// or a redis+cluster:// URL", {
      parameter: "store",
    });
  if (spec.startsWith("sqlite:")) {
    const [path, query = ""] = spec.slice("sqlite:".length).split("?");
    if (!path)
      throw new InvalidArgumentError("store 'sqlite:' needs a file path, e.g. 'sqlite:./bridge.db'", {
        parameter: "store",
      });
    const sync = new URLSearchParams(query).get("synchronous") ?? "full";
    if (sync !== "full" && sync !== "normal")
      throw new InvalidArgumentError(`sqlite synchronous must be 'full' or 'normal', got '${sync}'`, {
        parameter: "store",
      });
    return { backend: "sqlite", path, synchronous: sync };
  }
  if (spec.startsWith("redis://") || spec.startsWith("rediss://")) {
    let url: URL;
    try {
      url = new URL(spec);
    } catch {
      throw new InvalidArgumentError(`not a valid Redis URL: '${spec}'`, { parameter: "store" });
    }
    const prefix = url.searchParams.get("prefix") ?? "dspy-bridge:";
    url.search = "";
    return { backend: "redis", url: url.toString(), prefix };
  }
  const cluster = /^(rediss?)\+cluster:\/\/(?:([^@/?]*)@)?([^/?]*)\/?(?:\?(.*))?$/.exec(spec);
  if (cluster) {
    const [, scheme, credentials, hosts = "", query = ""] = cluster;
    const nodes = hosts.split(",").map((hostPort) => {
      const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(hostPort.trim());
      if (!m || Number(m[2]) > 65535)
        throw new InvalidArgumentError(
          `Redis Cluster node '${hostPort.slice(0, 100)}' is not host:port (in '${clip(spec)}')`,
          { parameter: "store" },
        );
      return { host: m[1]!.replace(/^\[|\]$/g, ""), port: Number(m[2]) };
    });
    const prefix = new URLSearchParams(query).get("prefix") ?? "dspy-bridge:";
    // The first node's URL carries the credentials and TLS every node uses.
    const first = nodes[0]!;
    const host = first.host.includes(":") ? `[${first.host}]` : first.host;
    const url = `${scheme}://${credentials ? `${credentials}@` : ""}${host}:${first.port}`;
    return { backend: "redis", url, prefix, cluster: nodes };
  }
  throw new InvalidArgumentError(
    `unknown store '${clip(spec)}': use 'memory', 'sqlite:PATH', 'redis://host:port/db' or 'redis+cluster://host:port,host:port'`,
    {
      parameter: "store",
    },
  );
}

/** Opens the store the spec names, loaded and (Redis) following the other hosts. */
export async function openStore(spec: string | undefined, options: StoreOptions = {}): Promise<Store> {
  const parsed = parseStoreSpec(spec);
  const logLimit = options.eventLogLimit ?? 10_000;
  if (parsed.backend === "memory") return new Store(options);
  if (parsed.backend === "sqlite") {
    const { SqliteBackend } = await loadBackend(
      () => import("./durable/sqlite-backend.js"),
      "better-sqlite3",
      "a 'sqlite:' store",
    );
    return new Store(
      options,
      new SqliteBackend({ path: parsed.path, synchronous: parsed.synchronous, logLimit }),
    ).open();
  }
  const { RedisBackend } = await loadBackend(
    () => import("./durable/redis-backend.js"),
    "ioredis",
    "a 'redis://' store",
  );
  return new Store(
    options,
    await RedisBackend.connect({
      url: parsed.url,
      prefix: parsed.prefix,
      logLimit,
      ...(parsed.cluster ? { cluster: parsed.cluster } : {}),
    }),
  ).open();
}

/**
 * Moves a Redis store written by key layout 1 (one log for every session) to the layout of
 * this version (one log per session, under its hash tag), in place or to `toSpec` (another
 * Redis or a Redis Cluster). Every host of the store must be stopped while it runs.
 */
export async function migrateStore(
  spec: string,
  toSpec?: string,
  onProgress?: (line: string) => void,
): Promise<{
  outcome: "migrated" | "already";
  sessions: number;
  logEntries: number;
  revision: number;
  seconds: number;
}> {
  const from = parseStoreSpec(spec);
  const to = toSpec === undefined ? from : parseStoreSpec(toSpec);
  if (from.backend !== "redis" || to.backend !== "redis")
    throw new InvalidArgumentError("only a Redis store is migrated: give redis:// (and redis+cluster://) URLs", {
      parameter: "store",
    });
  const { migrateRedisStore } = await loadBackend(
    () => import("./durable/redis-migrate.js"),
    "ioredis",
    "migrating a Redis store",
  );
  try {
    return await migrateRedisStore(from, to, onProgress);
  } catch (err) {
    throw new FailedPreconditionError(`the store was not migrated: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * A durable backend's module, loaded when a store asks for it: their client packages are
 * optional peer dependencies, so an app on the memory store installs (and compiles) neither.
 * A missing one is a FailedPreconditionError naming the package to install.
 */
async function loadBackend<T>(load: () => Promise<T>, pkg: string, what: string): Promise<T> {
  try {
    return await load();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const message = err instanceof Error ? err.message : String(err);
    if ((code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") && message.includes(`'${pkg}'`)) {
      throw new FailedPreconditionError(
        `${what} needs the ${pkg} package, which is not installed: run \`npm install ${pkg}\` in your app`,
        {
          details: { package: pkg },
        },
      );
    }
    throw err;
  }
}

/**
 * Opens a durable store to read it only (`dspy-bridge dashboard --store`): nothing is
 * written — no commit, no TTL renewed, no expired session dropped. SQLite: the file as it is
 * when opened (a running host keeps it locked: that is an error); Redis: loaded, then
 * following what the hosts sharing it commit.
 */
export async function openStoreReadOnly(spec: string, options: StoreOptions = {}): Promise<Store> {
  const parsed = parseStoreSpec(spec);
  const logLimit = options.eventLogLimit ?? 10_000;
  if (parsed.backend === "memory")
    throw new InvalidArgumentError("a memory store keeps nothing to read: give sqlite:PATH or a redis:// URL", {
      parameter: "store",
    });
  if (parsed.backend === "sqlite") {
    const { SqliteBackend } = await loadBackend(
      () => import("./durable/sqlite-backend.js"),
      "better-sqlite3",
      "a 'sqlite:' store",
    );
    return new Store(options, new SqliteBackend({ path: parsed.path, logLimit, readOnly: true })).open();
  }
  const [{ RedisBackend }, { ReadOnlyPartitionedBackend }] = await Promise.all([
    loadBackend(() => import("./durable/redis-backend.js"), "ioredis", "a 'redis://' store"),
    import("./durable/read-only-backend.js"),
  ]);
  const backend = await RedisBackend.connect({
    url: parsed.url,
    prefix: parsed.prefix,
    logLimit,
    ...(parsed.cluster ? { cluster: parsed.cluster } : {}),
  });
  return new Store(options, new ReadOnlyPartitionedBackend(backend)).open();
}
