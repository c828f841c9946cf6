// `dspy-bridge store-migrate`: moves a Redis store of key layout 1 (one log stream for every
// session) to the layout of this version (each session under its own hash tag, with its own
// log and revisions: what lets a host hold only the sessions it serves, and a Redis Cluster
// spread them). Every host of the store must be stopped first.
import { migrateStore } from "../store/index.js";
import { EXIT_OK, str, UsageError, flag, type OptionTable, type Parsed } from "./args.js";

export const STORE_MIGRATE_HELP = `Usage: npx dspy-bridge store-migrate --store URL [--to URL] [--json]

Move a Redis store written by dspy-bridge before key layout 2 (one log for every session) to
layout 2 (one log per session). Stop every host of the store first. Idempotent: a run that
stopped part-way is run again.

Options:
  --store URL   the store: redis://host:port/db?prefix=... (the prefix as the hosts use it)
  --to URL      write the migrated store there instead (another Redis, or a Redis Cluster:
                redis+cluster://host:port,host:port?prefix=...); the source is left as it was
  --json        print the result as one JSON object
  -h, --help    this text`;

export const STORE_MIGRATE_OPTIONS: OptionTable = {
  store: { type: "string" },
  to: { type: "string" },
  json: { type: "boolean" },
};

export async function runStoreMigrate(values: Parsed["values"]): Promise<number> {
  const store = str(values, "store");
  if (store === undefined) throw new UsageError("--store is required");
  const json = flag(values, "json");
  const report = await migrateStore(store, str(values, "to"), (line) => {
    if (!json) console.error(line);
  });
  if (json) console.log(JSON.stringify({ event: "migrated", ...report }));
  else if (report.outcome === "already") console.log("the store is of layout 2 already: nothing to migrate");
  else
    console.log(
      `migrated ${report.sessions} sessions and ${report.logEntries} log entries in ${report.seconds.toFixed(1)} s; revisions go on from ${report.revision}`,
    );
  return EXIT_OK;
}
