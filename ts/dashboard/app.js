// The dashboard page: one EventSource on /api/events (a snapshot, then every change), drawn
// with Preact + htm, the runs' scores with uPlot. Read-only: it only listens.
import { h, render } from "preact";
import { useEffect, useReducer, useRef } from "preact/hooks";
import htm from "htm";
import uPlot from "uplot";

const html = htm.bind(h);

const state = {
  connected: false,
  snapshotAt: 0,
  workers: { state: "?", queued: 0, workers: [] },
  sessions: [],
  runs: [],
  trials: {},
  calls: [],
  errors: [],
  usage: [],
  selectedSession: undefined,
  selectedRun: undefined,
};
const runKey = (r) => `${r.sessionId}\u0000${r.id}`;

let redraw = () => {};
let scheduled = false;
function changed() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    redraw();
  });
}

function upsertRun(run) {
  const i = state.runs.findIndex((r) => r.id === run.id && r.sessionId === run.sessionId);
  if (i >= 0) state.runs[i] = run;
  else state.runs.unshift(run);
}

async function loadTrials(run) {
  const key = runKey(run);
  if (state.trials[key]) return;
  const res = await fetch(`/api/runs/${encodeURIComponent(run.sessionId)}/${encodeURIComponent(run.id)}`);
  if (res.ok) {
    state.trials[key] = (await res.json()).trials;
    changed();
  }
}

const handlers = {
  snapshot(s) {
    Object.assign(state, { snapshotAt: s.at, workers: s.workers, sessions: s.sessions, runs: s.runs, trials: s.trials, calls: s.calls, errors: s.errors, usage: s.usage });
    document.body.dataset.ready = "true";
  },
  workers(w) {
    state.workers = w;
  },
  sessions(rows) {
    state.sessions = rows;
  },
  variable(v) {
    let session = state.sessions.find((s) => s.sessionId === v.sessionId);
    if (!session) {
      session = { sessionId: v.sessionId, variables: [] };
      state.sessions.push(session);
    }
    const i = session.variables.findIndex((x) => x.name === v.name);
    if (v.deleted) {
      if (i >= 0) session.variables.splice(i, 1);
      return;
    }
    const row = { ...(i >= 0 ? session.variables[i] : {}), name: v.name, type: v.type, value: v.value, version: v.version, updatedAtMs: v.updatedAtMs, source: v.source };
    if (i >= 0) session.variables[i] = row;
    else session.variables.push(row);
  },
  run({ run, trials }) {
    upsertRun(run);
    const key = runKey(run);
    if (state.trials[key]) state.trials[key] = state.trials[key].concat(trials);
    else if (trials.length > 0 || run.iterations === 0) state.trials[key] = trials;
  },
  call(row) {
    state.calls.push(row);
    if (state.calls.length > 50) state.calls.shift();
    if (!row.ok) {
      state.errors.push(row);
      if (state.errors.length > 20) state.errors.shift();
    }
  },
  worker() {},
  usage(rows) {
    state.usage = rows;
  },
};

function connect() {
  const source = new EventSource("/api/events");
  for (const [event, handle] of Object.entries(handlers)) {
    source.addEventListener(event, (e) => {
      handle(JSON.parse(e.data));
      changed();
    });
  }
  source.onopen = () => ((state.connected = true), changed());
  source.onerror = () => ((state.connected = false), changed());
}

const fmt = (n, digits = 1) => (n === null || n === undefined ? "–" : Number(n).toFixed(digits));
const time = (ms) => (ms ? new Date(ms).toLocaleTimeString() : "");

function Workers() {
  const w = state.workers;
  return html`<section id="workers"><h2>Workers <span class="muted">${w.state}, ${w.queued} queued</span></h2>
    <table><thead><tr><th>id</th><th>state</th><th>pid</th><th>in flight</th><th>served</th><th>p50 ms</th><th>p99 ms</th><th>memory</th><th>restarts</th></tr></thead>
    <tbody>${w.workers.map(
      (x) => html`<tr><td>${x.id}</td><td>${x.state}</td><td>${x.pid ?? ""}</td><td>${x.inFlight}</td><td>${x.served}</td><td>${fmt(x.p50Ms, 2)}</td><td>${fmt(x.p99Ms, 2)}</td><td>${fmt(x.rssBytes / 1048576, 0)} MB</td><td>${x.restarts}</td></tr>`,
    )}</tbody></table></section>`;
}

function Sessions() {
  const sessions = state.sessions;
  const selected = sessions.find((s) => s.sessionId === state.selectedSession) ?? sessions[0];
  const pick = (id) => () => ((state.selectedSession = id), changed());
  return html`<section id="sessions"><h2>Sessions <span class="muted">${sessions.length}</span></h2>
    <div class="chips">${sessions.slice(0, 200).map((s) => html`<button class=${s === selected ? "selected" : ""} onClick=${pick(s.sessionId)}>${s.sessionId}</button>`)}
    ${sessions.length > 200 ? html`<span class="muted">and ${sessions.length - 200} more</span>` : ""}</div>
    ${selected
      ? html`<table><thead><tr><th>variable</th><th>type</th><th>value</th><th>version</th><th>constraints</th><th>updated</th></tr></thead>
      <tbody>${selected.variables.map(
        (v) => html`<tr><td>${v.name}</td><td>${v.type}</td><td class="value" data-variable=${`${selected.sessionId}/${v.name}`}>${v.value}</td><td>${v.version}</td><td class="value">${v.constraints ? JSON.stringify(v.constraints) : ""}</td><td>${time(v.updatedAtMs)} <span class="muted">${v.source ?? ""}</span></td></tr>`,
      )}</tbody></table>`
      : html`<p class="muted">no sessions</p>`}</section>`;
}

function Plot({ run, trials }) {
  const div = useRef(null);
  const plot = useRef(null);
  const sign = run.direction === "minimize" ? -1 : 1;
  const xs = [];
  const scores = [];
  const best = [];
  let top = null;
  for (const t of trials) {
    xs.push(t.iteration);
    scores.push(t.score);
    if (t.score !== null && (top === null || sign * (t.score - top) > 0)) top = t.score;
    best.push(top);
  }
  const data = [xs, scores, best];
  useEffect(() => {
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
  useEffect(() => plot.current?.setData(data), [trials.length, trials]);
  return html`<div ref=${div} class="plot" data-run-plot=${run.id} data-points=${trials.length}></div>`;
}

function Runs() {
  const runs = state.runs;
  const selected = runs.find((r) => runKey(r) === state.selectedRun) ?? runs[0];
  if (selected && !state.trials[runKey(selected)]) void loadTrials(selected);
  const pick = (r) => () => ((state.selectedRun = runKey(r)), changed());
  return html`<section id="runs"><h2>Optimization runs and optimizer jobs <span class="muted">${runs.length}</span></h2>
    <table><thead><tr><th>run</th><th>session</th><th>target</th><th>optimizer</th><th>state</th><th>progress</th><th>best</th><th>started</th></tr></thead>
    <tbody>${runs.slice(0, 50).map((r) => {
      const expected = r.details?.expected;
      const progress = r.kind === "optimizer_job" && expected ? html`<span class="progress"><span style=${`width:${Math.min(100, (100 * r.iterations) / expected)}%`}></span></span> ${r.iterations}/${expected}` : r.iterations;
      return html`<tr class=${`clickable ${r === selected ? "selected" : ""}`} onClick=${pick(r)} data-run=${r.id}><td>${r.id}</td><td>${r.sessionId}</td><td>${r.target}</td><td>${r.optimizer}</td><td class=${r.state === "failed" ? "bad" : ""}>${r.state}</td><td>${progress}</td><td>${fmt(r.bestScore, 4)}</td><td>${time(r.startedAtMs)}</td></tr>`;
    })}</tbody></table>
    ${selected ? html`<h2>${selected.id} <span class="muted">score per ${selected.kind === "optimization" ? "trial" : "progress report"}, and the best so far</span></h2><${Plot} run=${selected} trials=${state.trials[runKey(selected)] ?? []} />` : ""}
    ${selected?.error ? html`<p class="bad">${selected.error}</p>` : ""}</section>`;
}

function Calls() {
  return html`<section id="calls"><h2>Recent calls</h2>
    <table><thead><tr><th>at</th><th>command</th><th>session</th><th>worker</th><th>ms</th><th>outcome</th></tr></thead>
    <tbody>${state.calls.slice(-25).reverse().map(
      (c) => html`<tr><td>${time(c.at)}</td><td>${c.command}</td><td>${c.sessionId ?? ""}</td><td>${c.workerId ?? ""}</td><td>${fmt(c.latencyMs, 2)}</td><td class=${c.ok ? "good" : "bad"}>${c.ok ? "ok" : c.reason}</td></tr>`,
    )}</tbody></table></section>`;
}

function Errors() {
  return html`<section id="errors"><h2>Failures <span class="muted">${state.errors.length}</span></h2>
    ${state.errors.length === 0 ? html`<p class="muted">none</p>` : ""}
    ${state.errors.slice().reverse().map(
      (e) => html`<div class="error"><p><b>${e.command}</b> <span class="bad">${e.reason}</span> ${e.pythonType ? html`<code>${e.pythonType}</code>` : ""} <span class="muted">${time(e.at)}</span></p><p>${e.message}</p>${e.traceback ? html`<pre class="traceback">${e.traceback}</pre>` : ""}</div>`,
    )}</section>`;
}

function Usage() {
  return html`<section id="usage"><h2>LM usage per model</h2>
    ${state.usage.length === 0 ? html`<p class="muted">no LM calls yet</p>` : ""}
    <table><thead><tr><th>model</th><th>results</th><th>prompt tokens</th><th>completion tokens</th><th>total</th></tr></thead>
    <tbody>${state.usage.map((u) => html`<tr><td>${u.model}</td><td>${u.calls}</td><td>${u.prompt_tokens}</td><td>${u.completion_tokens}</td><td>${u.total_tokens}</td></tr>`)}</tbody></table></section>`;
}

function App() {
  const [, tick] = useReducer((n) => n + 1, 0);
  redraw = tick;
  return html`<header><h1>dspy-bridge</h1><span class=${`live ${state.connected ? "" : "down"}`}>${state.connected ? "live" : "disconnected"}</span></header>
    <div class="grid"><${Sessions} /><${Runs} /><${Workers} /><${Errors} /><${Calls} /><${Usage} /></div>`;
}

const root = document.getElementById("app");
root.textContent = ""; // the "connecting…" placeholder
render(html`<${App} />`, root);
connect();
