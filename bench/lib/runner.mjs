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
 * The standard measurement for one system: sequential latency (warm-up first), then a
 * short untimed closed-loop warm-up and the timed closed-loop throughput.
 * Returns { p50_us, p99_us, mean_us, calls, throughput_per_s, throughput_calls, throughput_seconds }.
 */
export async function measureCalls(call, { warmup, calls, concurrency, seconds, log = () => {} }) {
  log(`sequential: ${warmup} warm-up + ${calls} timed calls`);
  const lat = await sequentialLatency(call, { warmup, calls });
  let sum = 0;
  for (const x of lat) sum += x;
  const warmSeconds = Math.min(0.5, seconds / 4);
  log(`throughput: ${concurrency} in flight, ${warmSeconds}s warm-up + ${seconds}s timed`);
  await closedLoop(call, { concurrency, seconds: warmSeconds });
  const tp = await closedLoop(call, { concurrency, seconds });
  return {
    p50_us: percentile(lat, 50),
    p99_us: percentile(lat, 99),
    mean_us: sum / lat.length,
    calls: lat.length,
    throughput_per_s: tp.perSecond,
    throughput_calls: tp.calls,
    throughput_seconds: tp.seconds,
  };
}
