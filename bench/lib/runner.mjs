// Measurement loops shared by the benchmarks.
import { percentile } from "./stats.mjs";

const now = () => process.hrtime.bigint();

/**
 * Sequential round trips: `warmup` untimed calls, then `calls` calls each timed with
 * process.hrtime.bigint(). Returns per-call latencies in microseconds, sorted ascending.
 */
export async function sequentialLatency(call, { warmup, calls }) {
  for (let i = 0; i < warmup; i++) await call(i);
  const samples = new Float64Array(calls);
  for (let i = 0; i < calls; i++) {
    const t0 = now();
    await call(i);
    samples[i] = Number(now() - t0) / 1000;
  }
  return samples.sort();
}

/**
 * Closed loop: `concurrency` lanes each keep one call outstanding, issuing the next as
 * soon as the previous completes, until `seconds` have passed (or `maxCalls` completed).
 * The calls still in flight at the deadline are drained and counted; elapsed time runs
 * to the last completion.
 */
export async function closedLoop(call, { concurrency, seconds, maxCalls = Infinity }) {
  let issued = 0;
  let completed = 0;
  let stop = false;
  const t0 = now();
  const deadline = t0 + BigInt(Math.round(seconds * 1e9));
  async function lane() {
    while (!stop) {
      await call(issued++);
      completed++;
      if (completed >= maxCalls || now() >= deadline) stop = true;
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane));
  const elapsed = Number(now() - t0) / 1e9;
  return { calls: completed, seconds: elapsed, perSecond: completed / elapsed };
}

/**
 * Measures several systems side by side. On a small VM the scheduler flips between fast
 * and slow wake-up modes every second or so; measuring one system after the other would
 * credit whichever ran in the fast mode. So every system runs `rounds` short sessions of
 * sequential calls and of closed-loop throughput, in rotating order, and its figures pool
 * all its sessions. Each timed session is preceded by a short untimed one, so no system pays
 * its ramp-up inside a timed window.
 * `systems` is [{ name, call }]; returns { [name]: { p50_us, p99_us, mean_us, calls,
 * throughput_per_s, throughput_calls, throughput_seconds } }.
 */
/** The rotating order of round `r`: every system leads once every `systems.length` rounds. */
const roundOrder = (systems, r) => systems.map((_, i) => systems[(i + r) % systems.length]);

/** One timed throughput window of `seconds`, after an untimed ramp-up so it starts with the pipeline full; added to `acc`. */
async function timedWindow(call, acc, { concurrency, seconds }) {
  await closedLoop(call, { concurrency, seconds: 0.25 });
  const tp = await closedLoop(call, { concurrency, seconds });
  acc.calls += tp.calls;
  acc.seconds += tp.seconds;
}

export async function measureInterleaved(systems, { rounds, warmup, calls, concurrency, seconds, log = () => {} }) {
  for (const { name, call } of systems) {
    log(`${name}: warm-up (${warmup} sequential calls, ${concurrency} in flight for 0.5s)`);
    await sequentialLatency(call, { warmup, calls: 0 });
    await closedLoop(call, { concurrency, seconds: 0.5 });
  }
  const pooled = new Map(systems.map(({ name }) => [name, { lat: [], calls: 0, seconds: 0 }]));
  const perRoundCalls = Math.max(1, Math.ceil(calls / rounds));
  for (let r = 0; r < rounds; r++) {
    const order = roundOrder(systems, r);
    log(`round ${r + 1}/${rounds}: ${order.map((s) => s.name).join(", ")}`);
    for (const { name, call } of order) {
      const acc = pooled.get(name);
      acc.lat.push(...(await sequentialLatency(call, { warmup: Math.min(200, warmup), calls: perRoundCalls })));
      await timedWindow(call, acc, { concurrency, seconds: seconds / rounds });
    }
  }
  const out = {};
  for (const [name, acc] of pooled) {
    const lat = Float64Array.from(acc.lat).sort();
    let sum = 0;
    for (const x of lat) sum += x;
    out[name] = {
      p50_us: percentile(lat, 50),
      p99_us: percentile(lat, 99),
      mean_us: sum / lat.length,
      calls: lat.length,
      throughput_per_s: acc.calls / acc.seconds,
      throughput_calls: acc.calls,
      throughput_seconds: acc.seconds,
    };
  }
  return out;
}

/**
 * Closed-loop throughput of several systems side by side: each first runs `warmupSeconds`
 * untimed (long enough for a Python process to reach its steady state: caches, histories
 * at their bounds), then `rounds` timed windows of `seconds / rounds` each, in rotating
 * order, each after a short untimed ramp-up; figures pool the windows. The same reasoning
 * as measureInterleaved: a small VM flips between fast and slow modes, and measuring one
 * system after the other would credit whichever ran in the fast mode.
 * Returns { [name]: { per_s, calls, seconds } }.
 */
export async function throughputInterleaved(systems, { rounds, warmupSeconds, seconds, concurrency, log = () => {} }) {
  for (const { name, call } of systems) {
    log(`${name}: warm-up (${concurrency} in flight for ${warmupSeconds}s)`);
    await closedLoop(call, { concurrency, seconds: warmupSeconds });
  }
  const pooled = new Map(systems.map(({ name }) => [name, { calls: 0, seconds: 0 }]));
  for (let r = 0; r < rounds; r++) {
    const order = roundOrder(systems, r);
    log(`round ${r + 1}/${rounds}: ${order.map((s) => s.name).join(", ")}`);
    for (const { name, call } of order)
      await timedWindow(call, pooled.get(name), { concurrency, seconds: seconds / rounds });
  }
  const out = {};
  for (const [name, acc] of pooled)
    out[name] = { per_s: acc.calls / acc.seconds, calls: acc.calls, seconds: acc.seconds };
  return out;
}
