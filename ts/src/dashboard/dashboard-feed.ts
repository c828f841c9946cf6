// What the dashboard shows, read from the store and, on a running host, from its pool, kept
// up to date from their events: the store's commits and runs, the pool's `call` and `worker`
// events, DSPy's token usage. Only what a page needs is kept here (recent calls and failures,
// latencies per worker, usage per model); the rest is read from the store when asked.
//
// What a page is first sent stays small whatever the store holds: the sessions with their
// variable counts, the variables of one session (the others are read when the page shows
// them), the runs, and the newest runs' scores as [iteration, score] pairs.
import { BridgeError } from "../errors/index.js";
import type { RunHistory } from "../optimize/run-history.js";
import type { BridgeStats } from "../pool/index.js";
import type { Change, Commit, RunRecord, TrialRecord } from "../store/records.js";
import type { Store } from "../store/store.js";
import type { CallEvent, WorkerEvent } from "../telemetry/events.js";
import type { DashboardSource } from "./dashboard-server.js";

/** A running host's parts: absent over a stored state (`dspy-bridge dashboard --store`). */
export interface HostParts {
  stats(): BridgeStats;
  onCall(listener: (e: CallEvent) => void): () => void;
  onWorker(listener: (e: WorkerEvent) => void): () => void;
  /** Token usage per model of each DSPy result. */
  onUsage(listener: (usage: Record<string, unknown>) => void): () => void;
}

export interface FeedParts {
  store: Store;
  runs: RunHistory;
  host?: HostParts;
}

interface CallRow {
  at: number;
  command: string;
  sessionId: string | null;
  workerId: string | null;
  ok: boolean;
  reason: string | null;
  latencyMs: number;
  message: string | null;
  pythonType: string | null;
  traceback: string | null;
}

const RECENT_CALLS = 50;
const RECENT_ERRORS = 20;
const LATENCIES_PER_WORKER = 500;
/** Runs whose trials the first paint carries (the newest); the others are read when chosen. */
const RUNS_WITH_TRIALS = 5;
const VALUE_TEXT = 300;
const HISTORY_SHOWN = 100;

/** A trial as the plot needs it: [iteration, score]. */
type Point = [number, number | null];
const points = (trials: TrialRecord[]): Point[] => trials.map((t) => [t.iteration, t.score]);

function valueText(value: unknown): string {
  let text: string;
  try {
    text = typeof value === "string" ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  return text.length > VALUE_TEXT ? `${text.slice(0, VALUE_TEXT)}…` : text;
}

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export class DashboardFeed implements DashboardSource {
  private readonly listeners = new Set<(event: string, data: unknown) => void>();
  private readonly calls: CallRow[] = [];
  private readonly errors: CallRow[] = [];
  private readonly latencies = new Map<string, number[]>();
  private readonly restarts = new Map<string, number>();
  private readonly usage = new Map<string, Record<string, number>>();
  private readonly stops: (() => void)[] = [];
  private readonly ticker: NodeJS.Timeout;
  private sessionIds = "";

  constructor(private readonly parts: FeedParts) {
    const host = parts.host;
    if (host) {
      this.stops.push(host.onCall((e) => this.onCall(e)));
      this.stops.push(host.onWorker((e) => this.onWorker(e)));
      this.stops.push(host.onUsage((u) => this.onUsage(u)));
    }
    this.stops.push(parts.store.onCommit((c) => this.onCommit(c)));
    this.stops.push(parts.runs.onRun((run, trials) => this.emit("run", { run, trials: points(trials) })));
    // Workers' figures once a second, and the session list when it changed.
    this.ticker = setInterval(() => void this.tick(), 1_000);
    this.ticker.unref();
  }

  close(): void {
    clearInterval(this.ticker);
    for (const stop of this.stops) stop();
    this.listeners.clear();
  }

  subscribe(send: (event: string, data: unknown) => void): () => void {
    this.listeners.add(send);
    return () => this.listeners.delete(send);
  }

  private emit(event: string, data: unknown): void {
    for (const send of this.listeners) send(event, data);
  }

  private onCall(e: CallEvent): void {
    // The dashboard's own reads are not calls; the health of the page must not fill its table.
    const error = e.error instanceof BridgeError ? e.error : undefined;
    const row: CallRow = {
      at: Date.now(),
      command: e.command,
      sessionId: e.sessionId ?? null,
      workerId: e.workerId ?? null,
      ok: e.ok,
      reason: e.reason ?? null,
      latencyMs: Math.round(e.latencyMs * 100) / 100,
      message: e.ok
        ? null
        : error
          ? error.message.slice(0, 2_000)
          : String((e.error as Error | undefined)?.message ?? e.reason ?? "error"),
      pythonType: error?.pythonType ?? null,
      traceback: error && error.traceback.length > 0 ? error.pythonTraceback.slice(0, 20_000) : null,
    };
    this.calls.push(row);
    if (this.calls.length > RECENT_CALLS) this.calls.shift();
    if (!e.ok) {
      this.errors.push(row);
      if (this.errors.length > RECENT_ERRORS) this.errors.shift();
    }
    if (e.workerId !== undefined) {
      let l = this.latencies.get(e.workerId);
      if (!l) this.latencies.set(e.workerId, (l = []));
      l.push(e.latencyMs);
      if (l.length > LATENCIES_PER_WORKER) l.shift();
    }
    this.emit("call", row);
  }

  private onWorker(e: WorkerEvent): void {
    if (e.type === "restarting" || e.type === "recycling")
      this.restarts.set(e.workerId, (this.restarts.get(e.workerId) ?? 0) + 1);
    this.emit("worker", { type: e.type, workerId: e.workerId, pid: e.pid ?? null, detail: e.detail, at: Date.now() });
    this.emit("workers", this.workers());
  }

  private onUsage(usage: Record<string, unknown>): void {
    for (const [model, raw] of Object.entries(usage)) {
      if (!raw || typeof raw !== "object") continue;
      const totals = this.usage.get(model) ?? { calls: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
      totals.calls! += 1;
      for (const key of ["prompt_tokens", "completion_tokens", "total_tokens"]) {
        const n = (raw as Record<string, unknown>)[key];
        if (typeof n === "number") totals[key] = (totals[key] ?? 0) + n;
      }
      this.usage.set(model, totals);
    }
    this.emit("usage", this.usageRows());
  }

  /** One event per commit and session, whatever the number of variables it changed. */
  private onCommit(c: Commit): void {
    if (this.listeners.size === 0 || c.changes.length === 0) return;
    const bySession = new Map<string, Change[]>();
    for (const ch of c.changes) {
      const list = bySession.get(ch.sessionId);
      if (list) list.push(ch);
      else bySession.set(ch.sessionId, [ch]);
    }
    for (const [sessionId, changes] of bySession) {
      this.emit("variables", {
        sessionId,
        changes: changes.map((ch) => ({
          name: ch.name,
          type: ch.type,
          deleted: ch.kind === "delete",
          value: ch.kind === "delete" ? null : valueText(ch.value),
          version: ch.version,
          updatedAtMs: ch.timestampMs,
          source: ch.source,
        })),
      });
    }
  }

  private async tick(): Promise<void> {
    if (this.listeners.size === 0) return;
    if (this.parts.host) this.emit("workers", this.workers());
    const sessions = await this.parts.store.listSessions().catch(() => undefined);
    if (!sessions) return;
    const ids = sessions
      .map((s) => s.sessionId)
      .sort()
      .join("\u0000");
    if (ids !== this.sessionIds) {
      this.sessionIds = ids;
      this.emit("sessions", await this.sessionSummaries());
    }
  }

  private usageRows() {
    return [...this.usage.entries()].map(([model, totals]) => ({ model, ...totals }));
  }

  private workers() {
    const stats = this.parts.host!.stats();
    return {
      state: stats.state,
      queued: stats.queued,
      workers: stats.workers.map((w) => {
        const sorted = [...(this.latencies.get(w.id) ?? [])].sort((a, b) => a - b);
        return {
          ...w,
          p50Ms: percentile(sorted, 50),
          p99Ms: percentile(sorted, 99),
          restarts: this.restarts.get(w.id) ?? 0,
        };
      }),
    };
  }

  /** Every session, by id, with its number of variables. */
  private async sessionSummaries() {
    const sessions = await this.parts.store.listSessions();
    const rows = [];
    for (const s of sessions) {
      // A session gone (deleted, expired) since the listing is left out.
      const variables = await this.parts.store.list(s.sessionId).catch(() => undefined);
      if (variables === undefined) continue;
      rows.push({ sessionId: s.sessionId, createdAtMs: s.createdAtMs, ttlMs: s.ttlMs, variables: variables.length });
    }
    return rows.sort((a, b) => (a.sessionId < b.sessionId ? -1 : a.sessionId > b.sessionId ? 1 : 0));
  }

  /** One session's variables, as the page shows them. */
  async session(sessionId: string) {
    const variables = await this.parts.store.list(sessionId);
    return {
      sessionId,
      variables: variables
        .map((v) => ({
          name: v.name,
          type: v.type,
          value: valueText(v.value),
          version: v.version,
          constraints: Object.keys(v.constraints).length > 0 ? v.constraints : null,
          updatedAtMs: v.updatedAtMs,
          source: v.updatedBy,
        }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    };
  }

  /** A variable's kept versions, newest first. */
  async history(sessionId: string, name: string) {
    const entries = await this.parts.store.history(sessionId, name, HISTORY_SHOWN);
    return {
      sessionId,
      name,
      history: entries.map((e) => ({
        version: e.version,
        value: valueText(e.value),
        updatedAtMs: e.updatedAtMs,
        source: e.updatedBy,
        metadata: e.metadata,
      })),
    };
  }

  /**
   * What a page is sent first. `shown`: the session whose variables it carries (default the
   * first by id; the others are read when the page shows them).
   */
  async snapshot(shown?: string) {
    const [sessions, runs] = await Promise.all([this.sessionSummaries(), this.parts.runs.list()]);
    this.sessionIds = sessions
      .map((s) => s.sessionId)
      .sort()
      .join("\u0000");
    const shownId = sessions.find((s) => s.sessionId === shown)?.sessionId ?? sessions[0]?.sessionId;
    const variables = shownId === undefined ? undefined : await this.session(shownId).catch(() => undefined);
    const trials: Record<string, Point[]> = {};
    for (const run of runs.slice(0, RUNS_WITH_TRIALS)) {
      trials[`${run.sessionId}\u0000${run.id}`] = points(
        (await this.parts.runs.get(run.sessionId, run.id).catch(() => ({ trials: [] }))).trials,
      );
    }
    const host = this.parts.host;
    return {
      at: Date.now(),
      /** "host": a running host's; "store": a stored state, read-only, without workers. */
      source: host ? "host" : "store",
      store: { kind: this.parts.store.backendKind, shared: this.parts.store.isShared },
      workers: host ? this.workers() : null,
      sessions,
      variables: variables ?? null,
      runs,
      trials,
      calls: this.calls,
      errors: this.errors,
      usage: this.usageRows(),
    };
  }

  run(sessionId: string, runId: string): Promise<{ run: RunRecord; trials: TrialRecord[] }> {
    return this.parts.runs.get(sessionId, runId);
  }
}
