// The dashboard page: one EventSource on /api/events (a snapshot, then every change; opened by
// boot.js before this module and its libraries load), drawn
// with Preact + htm, the runs' scores with uPlot. Read-only: it only listens and reads.
//
// Kept fast on large states: the snapshot carries the sessions with their variable counts and
// the variables of one session only (another session's are read when it is shown); events are
// applied as they come and drawn at most once per animation frame, by one synchronous render in
// which only the parts whose data changed are redrawn (each part and each variable row skips
// its render when its inputs are the same); long lists are filtered and paged.
//
// Performance marks, for the benchmark (bench/dashboard.mjs) and anyone curious:
// "dashboard:first-paint" once the snapshot's data is in the page (its startTime: ms since the
// page was requested; "dashboard:snapshot-received" when the snapshot arrived), and "dashboard:update" each time a variable's new value is in the page,
// with detail.latencyMs = now - the commit's time on the host (same machine, same clock).
import { Component, h, render } from "preact";
import { useLayoutEffect, useRef } from "preact/hooks";
import htm from "htm";
import uPlot from "uplot";

const html = htm.bind(h);
/** Rows of one page of variables, chips of sessions shown, runs listed. */
const PAGE = 200;
const SESSION_CHIPS = 200;
const RUNS_LISTED = 50;
/** Sessions whose variables stay in memory besides the one shown (the others are read again when shown). */
const SESSIONS_KEPT = 20;
const UPDATE_MARKS_KEPT = 1_000;

const state = {
  connected: false,
  source: "host",
  store: null,
  workers: null,
  /** Every session, by id: { sessionId, createdAtMs, ttlMs, variables (count) }. */
  sessions: [],
  sessionIndex: new Map(),
  /** sessionId -> { rows: Map(name -> row), order: names sorted, or null when to sort again }. */
  variables: new Map(),
  /** sessionId -> the changes that arrived while its variables are being read. */
  loading: new Map(),
  selectedSession: undefined,
  sessionFilter: "",
  variableFilter: "",
  variablePage: 0,
  selectedVariable: undefined,
  /** `${sessionId}\0${name}` -> kept versions, newest first. */
  histories: new Map(),
  runs: [],
  trials: {},
  selectedRun: undefined,
  calls: [],
  errors: [],
  usage: [],
  /** What changed since the last draw, per part: a part redraws only when its number moved. */
  rev: { sessions: 0, variables: 0, runs: 0, workers: 0, calls: 0, usage: 0 },
};
const runKey = (r) => `${r.sessionId}\u0000${r.id}`;
const historyKey = (sessionId, name) => `${sessionId}\u0000${name}`;
const byName = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

// ---------------------------------------------------------------------------------------------
// Drawing: at most once per animation frame, synchronously, then the performance marks.

let scheduled = false;
let firstPaint = false;
let pendingUpdates = [];
let updateMarks = 0;
function changed() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(draw);
}

let placeholder = true;
function draw() {
  scheduled = false;
  if (placeholder) {
    root.textContent = ""; // the "connecting…" placeholder, until there is something to draw
    placeholder = false;
  }
  render(html`<${App} ...${state.rev} connected=${state.connected} />`, root);
  if (firstPaint) {
    firstPaint = false;
    const detail = { sessions: state.sessions.length, runs: state.runs.length };
    // After the microtasks the render queued (uPlot draws its canvas in one).
    queueMicrotask(() => {
      performance.mark("dashboard:first-paint", { detail });
      document.body.dataset.ready = "true";
    });
  }
  if (pendingUpdates.length > 0) {
    const now = Date.now();
    for (const u of pendingUpdates) {
      if (++updateMarks > UPDATE_MARKS_KEPT) {
        performance.clearMarks("dashboard:update");
        updateMarks = 1;
      }
      performance.mark("dashboard:update", { detail: { ...u, latencyMs: now - u.updatedAtMs } });
    }
    pendingUpdates = [];
  }
}

// ---------------------------------------------------------------------------------------------
// The data: the snapshot, then the events.

function setSessions(rows) {
  state.sessions = rows;
  state.sessionIndex = new Map(rows.map((s) => [s.sessionId, s]));
  for (const id of [...state.variables.keys()]) if (!state.sessionIndex.has(id)) state.variables.delete(id);
  state.rev.sessions++;
}

function keepVariables(sessionId, rows) {
  state.variables.set(sessionId, { rows: new Map(rows.map((r) => [r.name, r])), order: null });
  // The sessions read longest ago go first (a Map iterates in insertion order).
  for (const id of state.variables.keys()) {
    if (state.variables.size <= SESSIONS_KEPT + 1) break;
    if (id !== state.selectedSession && id !== sessionId) state.variables.delete(id);
  }
}

/** Applies one variable change to a session whose variables are in memory; returns true if it applied. */
function applyChange(sessionId, kept, c) {
  const old = kept.rows.get(c.name);
  if (old && old.version > c.version && !c.deleted) return false; // read already newer
  if (c.deleted) {
    if (!old) return false;
    kept.rows.delete(c.name);
    kept.order = null;
  } else {
    if (!old) kept.order = null;
    kept.rows.set(c.name, {
      name: c.name,
      type: c.type,
      value: c.value,
      version: c.version,
      constraints: old?.constraints ?? null,
      updatedAtMs: c.updatedAtMs,
      source: c.source,
    });
  }
  const history = state.histories.get(historyKey(sessionId, c.name));
  if (history && !c.deleted && (history.length === 0 || history[0].version < c.version))
    history.unshift({ version: c.version, value: c.value, updatedAtMs: c.updatedAtMs, source: c.source, metadata: {} });
  return true;
}

async function loadSession(sessionId) {
  if (state.loading.has(sessionId)) return;
  state.loading.set(sessionId, []);
  try {
    const res = await fetch(`/api/sessions/${encodeURIComponent(sessionId)}`);
    if (!res.ok) return;
    const body = await res.json();
    keepVariables(sessionId, body.variables);
    const kept = state.variables.get(sessionId);
    for (const c of state.loading.get(sessionId) ?? []) applyChange(sessionId, kept, c);
    const summary = state.sessionIndex.get(sessionId);
    if (summary) summary.variables = kept.rows.size;
    state.rev.sessions++;
    state.rev.variables++;
    changed();
  } finally {
    state.loading.delete(sessionId);
  }
}

async function loadHistory(sessionId, name) {
  const res = await fetch(`/api/history/${encodeURIComponent(sessionId)}/${encodeURIComponent(name)}`);
  if (!res.ok) return;
  state.histories.set(historyKey(sessionId, name), (await res.json()).history);
  state.rev.variables++;
  changed();
}

async function loadTrials(run) {
  const key = runKey(run);
  if (state.trials[key]) return;
  state.trials[key] = []; // trials that land meanwhile gather here
  const res = await fetch(`/api/runs/${encodeURIComponent(run.sessionId)}/${encodeURIComponent(run.id)}`);
  if (res.ok) {
    const read = (await res.json()).trials.map((t) => [t.iteration, t.score]);
    const last = read.length > 0 ? read[read.length - 1][0] : Number.NEGATIVE_INFINITY;
    state.trials[key] = read.concat(state.trials[key].filter((p) => p[0] > last));
    state.rev.runs++;
    changed();
  }
}

/** The variables of the session shown, read if they are not in memory. */
function readShown() {
  const id = state.selectedSession;
  if (id !== undefined && !state.variables.has(id)) void loadSession(id);
}

function upsertRun(run) {
  const i = state.runs.findIndex((r) => r.id === run.id && r.sessionId === run.sessionId);
  if (i >= 0) state.runs[i] = run;
  else state.runs.unshift(run);
}

const handlers = {
  snapshot(s) {
    Object.assign(state, {
      source: s.source,
      store: s.store,
      workers: s.workers,
      runs: s.runs,
      trials: s.trials,
      calls: s.calls,
      errors: s.errors,
      usage: s.usage,
    });
    state.variables = new Map();
    state.histories = new Map();
    setSessions(s.sessions);
    if (s.variables) keepVariables(s.variables.sessionId, s.variables.variables);
    if (state.selectedSession === undefined || !state.sessionIndex.has(state.selectedSession))
      state.selectedSession = s.variables?.sessionId ?? s.sessions[0]?.sessionId;
    readShown();
    for (const key of Object.keys(state.rev)) state.rev[key]++;
    firstPaint = !document.body.dataset.ready;
  },
  workers(w) {
    state.workers = w;
    state.rev.workers++;
  },
  sessions(rows) {
    setSessions(rows);
    if (!state.sessionIndex.has(state.selectedSession)) state.selectedSession = rows[0]?.sessionId;
    readShown();
  },
  /** One commit's changes in one session. */
  variables({ sessionId, changes }) {
    const summary = state.sessionIndex.get(sessionId);
    const kept = state.variables.get(sessionId);
    const pending = state.loading.get(sessionId);
    const shown = sessionId === state.selectedSession;
    for (const c of changes) {
      if (pending) pending.push(c);
      if (kept) {
        const existed = kept.rows.has(c.name);
        if (!applyChange(sessionId, kept, c)) continue;
        if (summary) summary.variables += c.deleted ? -1 : existed ? 0 : 1;
        if (shown && !c.deleted)
          pendingUpdates.push({ sessionId, name: c.name, version: c.version, updatedAtMs: c.updatedAtMs });
      } else if (summary) {
        // Not in memory: a new variable starts at version 1.
        summary.variables += c.deleted ? -1 : c.version === 1 ? 1 : 0;
      }
    }
    if (shown) state.rev.variables++;
    state.rev.sessions++;
  },
  run({ run, trials }) {
    upsertRun(run);
    const key = runKey(run);
    if (state.trials[key]) state.trials[key] = state.trials[key].concat(trials);
    // A run this page has not read: this event holds all its trials only if it is new.
    else if (run.kind === "optimization" && trials.length >= run.iterations) state.trials[key] = trials;
    state.rev.runs++;
  },
  call(row) {
    state.calls.push(row);
    if (state.calls.length > 50) state.calls.shift();
    if (!row.ok) {
      state.errors.push(row);
      if (state.errors.length > 20) state.errors.shift();
    }
    state.rev.calls++;
  },
  worker() {},
  usage(rows) {
    state.usage = rows;
    state.rev.usage++;
  },
};

/** Takes over the event stream boot.js opened: the events it kept first, then the others as they come. */
function connect() {
  const { source, take } = window.dashboardStream;
  const handle = (e) => {
    // Where a first paint's time goes: until the snapshot arrives (the page, its modules, the
    // host reading the state), then reading and drawing it.
    if (e.type === "snapshot" && !document.body.dataset.ready) performance.mark("dashboard:snapshot-received");
    handlers[e.type]?.(JSON.parse(e.data));
    changed();
  };
  for (const event of Object.keys(handlers)) source.addEventListener(event, handle);
  for (const e of take()) handle(e);
  state.connected = source.readyState === EventSource.OPEN;
  source.onopen = () => ((state.connected = true), changed());
  source.onerror = () => ((state.connected = false), changed());
}

// ---------------------------------------------------------------------------------------------
// The parts of the page.

/** A part that redraws only when one of its inputs changed (Preact's core has no memo). */
class Pure extends Component {
  shouldComponentUpdate(next) {
    for (const key in next) if (next[key] !== this.props[key]) return true;
    for (const key in this.props) if (!(key in next)) return true;
    return false;
  }
}

const fmt = (n, digits = 1) => (n === null || n === undefined ? "–" : Number(n).toFixed(digits));
const time = (ms) => (ms ? new Date(ms).toLocaleTimeString() : "");
const bump = (part) => {
  state.rev[part]++;
  changed();
};

class Workers extends Pure {
  render() {
    const w = state.workers;
    return html`<section id="workers"><h2>Workers <span class="muted">${w.state}, ${w.queued} queued</span></h2>
    <table><thead><tr><th>id</th><th>state</th><th>pid</th><th>in flight</th><th>served</th><th>p50 ms</th><th>p99 ms</th><th>memory</th><th>restarts</th></tr></thead>
    <tbody>${w.workers.map(
      (x) => html`<tr><td>${x.id}</td><td>${x.state}</td><td>${x.pid ?? ""}</td><td>${x.inFlight}</td><td>${x.served}</td><td>${fmt(x.p50Ms, 2)}</td><td>${fmt(x.p99Ms, 2)}</td><td>${fmt(x.rssBytes / 1048576, 0)} MB</td><td>${x.restarts}</td></tr>`,
    )}</tbody></table></section>`;
  }
}

class SessionList extends Pure {
  render() {
    const filter = state.sessionFilter;
    const matching = filter ? state.sessions.filter((s) => s.sessionId.includes(filter)) : state.sessions;
    const pick = (id) => () => {
      state.selectedSession = id;
      state.variablePage = 0;
      state.selectedVariable = undefined;
      if (!state.variables.has(id)) void loadSession(id);
      state.rev.sessions++;
      bump("variables");
    };
    const onFilter = (e) => {
      state.sessionFilter = e.currentTarget.value;
      bump("sessions");
    };
    return html`<h2>Sessions <span class="muted" id="session-count">${state.sessions.length}</span></h2>
      ${state.sessions.length > 10 ? html`<input class="filter" type="search" placeholder="filter sessions" value=${filter} onInput=${onFilter} />` : ""}
      <div class="chips">${matching.slice(0, SESSION_CHIPS).map(
        (s) =>
          html`<button class=${s.sessionId === state.selectedSession ? "selected" : ""} onClick=${pick(s.sessionId)} data-session=${s.sessionId}>${s.sessionId} <span class="count">${s.variables}</span></button>`,
      )}
      ${matching.length > SESSION_CHIPS ? html`<span class="muted">and ${matching.length - SESSION_CHIPS} more: filter to find them</span>` : ""}</div>`;
  }
}

class VariableRow extends Pure {
  render({ sessionId, v, selected, onPick }) {
    return html`<tr class=${`clickable ${selected ? "selected" : ""}`} onClick=${onPick}><td>${v.name}</td><td>${v.type}</td><td class="value" data-variable=${`${sessionId}/${v.name}`} data-version=${v.version}>${v.value}</td><td>${v.version}</td><td class="value">${v.constraints ? JSON.stringify(v.constraints) : ""}</td><td>${time(v.updatedAtMs)} <span class="muted">${v.source ?? ""}</span></td></tr>`;
  }
}

/** One handler per variable name, kept: a row's inputs stay the same from one draw to the next. */
const pickers = new Map();
function picker(sessionId, name) {
  const key = historyKey(sessionId, name);
  let pick = pickers.get(key);
  if (!pick) {
    pick = () => {
      state.selectedVariable = state.selectedVariable === name ? undefined : name;
      if (state.selectedVariable && !state.histories.has(key)) void loadHistory(sessionId, name);
      bump("variables");
    };
    if (pickers.size > 5_000) pickers.clear();
    pickers.set(key, pick);
  }
  return pick;
}

class Variables extends Pure {
  render() {
    const sessionId = state.selectedSession;
    if (sessionId === undefined) return html`<p class="muted">no sessions</p>`;
    const kept = state.variables.get(sessionId);
    if (!kept) return html`<p class="muted">reading the variables of ${sessionId}…</p>`;
    kept.order ??= [...kept.rows.keys()].sort(byName);
    const filter = state.variableFilter;
    const names = filter ? kept.order.filter((n) => n.includes(filter)) : kept.order;
    const pages = Math.max(1, Math.ceil(names.length / PAGE));
    const page = Math.min(state.variablePage, pages - 1);
    const shown = names.slice(page * PAGE, (page + 1) * PAGE);
    const onFilter = (e) => {
      state.variableFilter = e.currentTarget.value;
      state.variablePage = 0;
      bump("variables");
    };
    const turn = (to) => () => {
      state.variablePage = to;
      bump("variables");
    };
    const selected = state.selectedVariable;
    const history = selected === undefined ? undefined : state.histories.get(historyKey(sessionId, selected));
    return html`<h2>${sessionId} <span class="muted"><span id="variable-count">${kept.rows.size}</span> variables</span></h2>
      ${kept.rows.size > 10 ? html`<input class="filter" type="search" placeholder="filter variables" value=${filter} onInput=${onFilter} />` : ""}
      ${pages > 1 ? html`<span class="pager"><button disabled=${page === 0} onClick=${turn(page - 1)}>‹</button> page ${page + 1} of ${pages} <button disabled=${page >= pages - 1} onClick=${turn(page + 1)}>›</button></span>` : ""}
      <table><thead><tr><th>variable</th><th>type</th><th>value</th><th>version</th><th>constraints</th><th>updated</th></tr></thead>
      <tbody>${shown.map(
        (name) =>
          html`<${VariableRow} key=${name} sessionId=${sessionId} v=${kept.rows.get(name)} selected=${name === selected} onPick=${picker(sessionId, name)} />`,
      )}</tbody></table>
      ${selected !== undefined ? html`<${History} sessionId=${sessionId} name=${selected} history=${history} />` : ""}`;
  }
}

function History({ sessionId, name, history }) {
  return html`<div id="history" data-history=${`${sessionId}/${name}`}><h2>${name} <span class="muted">history, newest first${history ? ` (${history.length} kept)` : ""}</span></h2>
    ${history === undefined
      ? html`<p class="muted">reading…</p>`
      : html`<table><thead><tr><th>version</th><th>value</th><th>set at</th><th>by</th></tr></thead>
        <tbody>${history.map(
          (e) => html`<tr data-history-version=${e.version}><td>${e.version}</td><td class="value">${e.value}</td><td>${time(e.updatedAtMs)}</td><td class="muted">${e.source}${e.metadata?.rollback_to_version ? ` (rollback to ${e.metadata.rollback_to_version})` : ""}</td></tr>`,
        )}</tbody></table>`}</div>`;
}

function Plot({ run, trials }) {
  const div = useRef(null);
  const plot = useRef(null);
  const sign = run.direction === "minimize" ? -1 : 1;
  const xs = new Array(trials.length);
  const scores = new Array(trials.length);
  const best = new Array(trials.length);
  let top = null;
  for (let i = 0; i < trials.length; i++) {
    const [x, score] = trials[i];
    xs[i] = x;
    scores[i] = score;
    if (score !== null && (top === null || sign * (score - top) > 0)) top = score;
    best[i] = top;
  }
  const data = [xs, scores, best];
  // Layout effects: the plot is drawn within the render that brings its data.
  useLayoutEffect(() => {
    plot.current = new uPlot(
      {
        width: Math.max(320, (div.current.clientWidth || 600) - 10),
        height: 220,
        scales: { x: { time: false } },
        axes: [{ label: run.kind === "optimization" ? "trial" : "metric calls" }, { label: "score" }],
        series: [{}, { label: "score", stroke: "#3b82f6", width: 0, points: { show: true, size: 5 } }, { label: "best so far", stroke: "#1f7a3a", width: 2, points: { show: false } }],
      },
      data,
      div.current,
    );
    return () => plot.current.destroy();
  }, [runKey(run)]);
  useLayoutEffect(() => plot.current?.setData(data), [trials]);
  return html`<div ref=${div} class="plot" data-run-plot=${run.id} data-points=${trials.length}></div>`;
}

class Runs extends Pure {
  render() {
    const runs = state.runs;
    const selected = runs.find((r) => runKey(r) === state.selectedRun) ?? runs[0];
    if (selected && !state.trials[runKey(selected)]) void loadTrials(selected);
    const pick = (r) => () => {
      state.selectedRun = runKey(r);
      bump("runs");
    };
    return html`<section id="runs"><h2>Optimization runs and optimizer jobs <span class="muted" id="run-count">${runs.length}</span></h2>
    <table><thead><tr><th>run</th><th>session</th><th>target</th><th>optimizer</th><th>state</th><th>progress</th><th>best</th><th>started</th></tr></thead>
    <tbody>${runs.slice(0, RUNS_LISTED).map((r) => {
      const expected = r.details?.expected;
      const progress = r.kind === "optimizer_job" && expected ? html`<span class="progress"><span style=${`width:${Math.min(100, (100 * r.iterations) / expected)}%`}></span></span> ${r.iterations}/${expected}` : r.iterations;
      return html`<tr class=${`clickable ${r === selected ? "selected" : ""}`} onClick=${pick(r)} data-run=${r.id}><td>${r.id}</td><td>${r.sessionId}</td><td>${r.target}</td><td>${r.optimizer}</td><td class=${r.state === "failed" ? "bad" : ""}>${r.state}</td><td>${progress}</td><td>${fmt(r.bestScore, 4)}</td><td>${time(r.startedAtMs)}</td></tr>`;
    })}</tbody></table>
    ${runs.length > RUNS_LISTED ? html`<p class="muted">the ${RUNS_LISTED} newest of ${runs.length}</p>` : ""}
    ${selected ? html`<h2>${selected.id} <span class="muted">score per ${selected.kind === "optimization" ? "trial" : "progress report"}, and the best so far</span></h2><${Plot} run=${selected} trials=${state.trials[runKey(selected)] ?? []} />` : ""}
    ${selected?.error ? html`<p class="bad">${selected.error}</p>` : ""}</section>`;
  }
}

class Calls extends Pure {
  render() {
    return html`<section id="calls"><h2>Recent calls</h2>
    <table><thead><tr><th>at</th><th>command</th><th>session</th><th>worker</th><th>ms</th><th>outcome</th></tr></thead>
    <tbody>${state.calls.slice(-25).reverse().map(
      (c) => html`<tr><td>${time(c.at)}</td><td>${c.command}</td><td>${c.sessionId ?? ""}</td><td>${c.workerId ?? ""}</td><td>${fmt(c.latencyMs, 2)}</td><td class=${c.ok ? "good" : "bad"}>${c.ok ? "ok" : c.reason}</td></tr>`,
    )}</tbody></table></section>`;
  }
}

class Errors extends Pure {
  render() {
    return html`<section id="errors"><h2>Failures <span class="muted">${state.errors.length}</span></h2>
    ${state.errors.length === 0 ? html`<p class="muted">none</p>` : ""}
    ${state.errors.slice().reverse().map(
      (e) => html`<div class="error"><p><b>${e.command}</b> <span class="bad">${e.reason}</span> ${e.pythonType ? html`<code>${e.pythonType}</code>` : ""} <span class="muted">${time(e.at)}</span></p><p>${e.message}</p>${e.traceback ? html`<pre class="traceback">${e.traceback}</pre>` : ""}</div>`,
    )}</section>`;
  }
}

class Usage extends Pure {
  render() {
    return html`<section id="usage"><h2>LM usage per model</h2>
    ${state.usage.length === 0 ? html`<p class="muted">no LM calls yet</p>` : ""}
    <table><thead><tr><th>model</th><th>results</th><th>prompt tokens</th><th>completion tokens</th><th>total</th></tr></thead>
    <tbody>${state.usage.map((u) => html`<tr><td>${u.model}</td><td>${u.calls}</td><td>${u.prompt_tokens}</td><td>${u.completion_tokens}</td><td>${u.total_tokens}</td></tr>`)}</tbody></table></section>`;
  }
}

function App({ sessions, variables, runs, workers, calls, usage, connected }) {
  const stored = state.source === "store";
  const what = stored
    ? `stored state (${state.store?.kind ?? "?"}), read-only, no workers${state.store?.shared ? "" : ": as it was when opened"}`
    : "";
  return html`<header><h1>dspy-bridge</h1><span class=${`live ${connected ? "" : "down"}`}>${connected ? (stored && !state.store?.shared ? "connected" : "live") : "disconnected"}</span>${what ? html`<span class="source" id="source">${what}</span>` : ""}</header>
    <div class="grid"><section id="sessions"><${SessionList} rev=${sessions} /><${Variables} rev=${variables} /></section><${Runs} rev=${runs} />
    ${state.workers ? html`<${Workers} rev=${workers} />` : ""}
    ${stored ? "" : html`<${Errors} rev=${calls} /><${Calls} rev=${calls} /><${Usage} rev=${usage} />`}</div>`;
}

const root = document.getElementById("app");
connect();
