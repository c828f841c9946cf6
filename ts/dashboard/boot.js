// The page's entry: opens the event stream at once, then loads the page (app.js) and its
// libraries, so that the host reads the snapshot while they load instead of after. Events that
// arrive before app.js takes the stream over are kept, in order, for it.
const EVENTS = ["snapshot", "workers", "sessions", "variables", "run", "call", "worker", "usage", "failure"];
const source = new EventSource("/api/events");
const early = [];
const keep = (e) => early.push(e);
for (const name of EVENTS) source.addEventListener(name, keep);
window.dashboardStream = {
  source,
  events: EVENTS,
  /** Hands the stream over: no more keeping; returns what was kept. */
  take() {
    for (const name of EVENTS) source.removeEventListener(name, keep);
    return early.splice(0);
  },
};
import("./app.js");
