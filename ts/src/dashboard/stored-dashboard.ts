// The dashboard over a stored state, without a host or workers (`dspy-bridge dashboard
// --store STORE`): sessions, variables and their history, optimization runs and optimizer
// jobs with their trials, read from a SQLite file or a Redis store. Read-only like every
// dashboard, and more: the store is opened to read only (nothing is committed, no session's
// TTL renewed or expiry enforced), so looking at a state never changes it. SQLite: the file as
// it was when opened (a running host keeps it locked: open that host's dashboard instead);
// Redis: live, following what the hosts sharing it commit.
import { InvalidArgumentError } from "../errors/index.js";
import { RunHistory } from "../optimize/run-history.js";
import { openStoreReadOnly } from "../store/open-store.js";
import type { Store } from "../store/store.js";
import { DashboardFeed } from "./dashboard-feed.js";
import { DashboardServer, type DashboardOptions } from "./dashboard-server.js";

export interface StoredDashboardOptions extends DashboardOptions {
  /** "sqlite:PATH" or "redis://HOST:PORT/DB" (with `?prefix=` as the hosts use it). */
  store: string;
  /** What opens the page (at least 16 characters), as a host's token does. */
  token: string;
}

export class StoredDashboard {
  private constructor(
    readonly store: Store,
    private readonly feed: DashboardFeed,
    private readonly server: DashboardServer,
  ) {}

  static async open(options: StoredDashboardOptions): Promise<StoredDashboard> {
    if (typeof options.token !== "string" || options.token.length < 16)
      throw new InvalidArgumentError("token must be at least 16 characters", { parameter: "token" });
    DashboardServer.address(options); // a refused address fails before the store is opened
    const store = await openStoreReadOnly(options.store);
    const feed = new DashboardFeed({ store, runs: new RunHistory(store) });
    try {
      return new StoredDashboard(store, feed, await DashboardServer.start(options, options.token, feed));
    } catch (err) {
      feed.close();
      await store.close();
      throw err;
    }
  }

  /** The address to open, with the token (print it only where the token may be seen). */
  get url(): string {
    return this.server.url;
  }

  /** The address without the token (ready lines, logs). */
  get address(): string {
    return this.server.url.replace(/\?token=.*$/, "");
  }

  async close(): Promise<void> {
    this.feed.close();
    await this.server.close();
    await this.store.close();
  }
}
