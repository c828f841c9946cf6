// Flow control of bridge.stream() against real Python workers: a slow consumer holds the
// Python generator back to the stream window (StreamCredit frames), and it resumes as the
// consumer catches up. The `produce` built-in records how many items it has produced, read
// with `produce_probe` on the same (only) worker while the stream is paused.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { Bridge, InvalidArgumentError, TimeoutError } from "../src/index.js";
import type { StreamSink } from "../src/stream-sink.js";
import { startPool, waitFor } from "./helpers.js";

interface Produced {
  i: number;
  produced: number;
}
interface Probe {
  produced?: number;
  state?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Takes `n` items with explicit next() calls (no for-await: the stream stays open). */
async function take(it: AsyncIterator<Produced>, n: number): Promise<Produced[]> {
  const out: Produced[] = [];
  for (let k = 0; k < n; k++) {
    const r = await it.next();
    assert.equal(r.done, false, `item ${k} of ${n}`);
    out.push(r.value);
  }
  return out;
}

/** Waits until the producer has stopped (its count is unchanged for 150 ms); returns its state. */
async function settledProbe(bridge: Bridge, probe: string): Promise<Probe> {
  let last = -1;
  for (;;) {
    const p = await bridge.execute<Probe>("produce_probe", { probe });
    if (p.produced === last) return p;
    last = p.produced ?? -1;
    await sleep(150);
  }
}

describe("stream flow control, default window (64)", () => {
  let bridge: Bridge;
  before(async () => {
    bridge = await startPool({ workers: 1 });
  });
  after(() => bridge.close());

  test("a paused consumer stops the producer near the window; after the pause every item arrives in order", async () => {
    const probe = randomUUID();
    const n = 2_000;
    const it = bridge.stream<Produced>("produce", { n, probe });
    const first = await take(it, 5);
    assert.deepEqual(
      first.map((x) => x.i),
      [0, 1, 2, 3, 4],
    );
    const paused = await settledProbe(bridge, probe);
    // 64 sent (5 of them taken, no credit yet: that comes at 32 taken) plus the one held at its yield.
    assert.equal(paused.state, "running");
    assert.ok(paused.produced! >= 64, `produced ${paused.produced}, expected the producer to fill the window`);
    assert.ok(paused.produced! <= 64 + 2, `produced ${paused.produced} while paused, window 64`);
    assert.ok((it as unknown as StreamSink<Produced>).buffered <= 64, "the host buffers at most a window");
    const rest: number[] = [];
    for await (const x of { [Symbol.asyncIterator]: () => it }) rest.push(x.i);
    assert.deepEqual(
      [...first.map((x) => x.i), ...rest],
      Array.from({ length: n }, (_, i) => i),
    );
    assert.deepEqual(await bridge.execute("produce_probe", { probe }), { produced: n, state: "completed" });
  });

  test("a per-call window holds the producer to that window, and resumes it repeatedly", async () => {
    const probe = randomUUID();
    const it = bridge.stream<Produced>("produce", { n: 100, probe }, { streamWindow: 8 });
    const seen: number[] = [];
    for (let round = 0; round < 3; round++) {
      seen.push(...(await take(it, 3)).map((x) => x.i));
      const p = await settledProbe(bridge, probe);
      // Credit comes every 4 taken items: at most 8 unconsumed plus the one held.
      assert.ok(
        p.produced! <= seen.length + 8 + 1,
        `round ${round}: produced ${p.produced} with ${seen.length} taken, window 8`,
      );
      assert.ok(p.produced! >= 8, `round ${round}: produced ${p.produced}`);
    }
    for await (const x of { [Symbol.asyncIterator]: () => it }) seen.push(x.i);
    assert.deepEqual(
      seen,
      Array.from({ length: 100 }, (_, i) => i),
    );
  });

  test("window 1 still delivers every item in order", async () => {
    const items: number[] = [];
    for await (const n of bridge.stream<number>("count", { n: 300 }, { streamWindow: 1 })) items.push(n);
    assert.deepEqual(
      items,
      Array.from({ length: 300 }, (_, i) => i),
    );
  });

  test("streamWindow: 0 per call restores unlimited sending", async () => {
    const probe = randomUUID();
    const it = bridge.stream<Produced>("produce", { n: 500, probe }, { streamWindow: 0 });
    await take(it, 2);
    const p = await settledProbe(bridge, probe);
    assert.deepEqual(
      p,
      { produced: 500, state: "completed" },
      "the generator ran to its end while the consumer paused",
    );
    const rest: number[] = [];
    for await (const x of { [Symbol.asyncIterator]: () => it }) rest.push(x.i);
    assert.equal(rest.length, 498);
    assert.deepEqual(
      rest,
      Array.from({ length: 498 }, (_, i) => i + 2),
    );
  });

  test("breaking out of a stream blocked on credit ends the generator in Python", async () => {
    const probe = randomUUID();
    const it = bridge.stream<Produced>("produce", { n: 10_000, probe }, { streamWindow: 4 });
    await take(it, 2);
    const p = await settledProbe(bridge, probe);
    assert.equal(p.state, "running");
    // 2 taken (a credit of 2 granted) + a window of 4 + the one held at its yield.
    assert.ok(p.produced! <= 2 + 4 + 1, `produced ${p.produced}`);
    await it.return!();
    await waitFor(
      () => bridge.stats().workers.every((w) => w.inFlight === 0),
      5_000,
      "the cancelled stream to end in Python",
    );
    const ended = await bridge.execute<Probe>("produce_probe", { probe });
    assert.equal(ended.state, "closed");
    assert.equal(ended.produced, p.produced, "nothing produced after the break");
  });

  test("a stream that times out while blocked on credit ends in Python", async () => {
    const probe = randomUUID();
    const it = bridge.stream<Produced>("produce", { n: 10_000, probe }, { streamWindow: 4, timeoutMs: 400 });
    await take(it, 1);
    await sleep(600);
    const rest: number[] = [];
    await assert.rejects(async () => {
      for (;;) {
        const r = await it.next();
        if (r.done) break;
        rest.push(r.value.i);
      }
    }, TimeoutError);
    assert.ok(rest.length <= 4, `${rest.length} buffered items after the timeout`);
    await waitFor(
      () => bridge.stats().workers.every((w) => w.inFlight === 0),
      5_000,
      "the timed-out stream to end in Python",
    );
    const ended = await bridge.execute<Probe>("produce_probe", { probe });
    assert.equal(ended.state, "closed");
    assert.ok(ended.produced! <= 4 + 1, `produced ${ended.produced}: one taken, no credit yet (that comes at 2)`);
  });

  test("a bad per-call streamWindow fails the stream with InvalidArgumentError", async () => {
    for (const streamWindow of [-1, 1.5, Number.NaN, 2 ** 32, "8" as unknown as number]) {
      const it = bridge.stream("count", { n: 1 }, { streamWindow });
      await assert.rejects(it.next(), InvalidArgumentError, `streamWindow ${String(streamWindow)}`);
    }
    assert.deepEqual(await bridge.execute("ping"), { ok: true });
  });
});

describe("stream flow control disabled by the pool option", () => {
  let bridge: Bridge;
  before(async () => {
    bridge = await startPool({ workers: 1, streamWindow: 0 });
  });
  after(() => bridge.close());

  test("streamWindow: 0 lets the generator run ahead of a paused consumer", async () => {
    const probe = randomUUID();
    const it = bridge.stream<Produced>("produce", { n: 300, probe });
    await take(it, 3);
    assert.deepEqual(await settledProbe(bridge, probe), { produced: 300, state: "completed" });
    let count = 3;
    for await (const x of { [Symbol.asyncIterator]: () => it }) assert.equal(x.i, count++);
    assert.equal(count, 300);
  });

  test("a per-call window still applies", async () => {
    const probe = randomUUID();
    const it = bridge.stream<Produced>("produce", { n: 300, probe }, { streamWindow: 10 });
    await take(it, 1);
    const p = await settledProbe(bridge, probe);
    assert.ok(p.produced! <= 10 + 2, `produced ${p.produced}`);
    await it.return!();
  });
});

test("bad streamWindow pool options are refused with InvalidArgumentError", async () => {
  for (const streamWindow of [-1, 2.5, 2 ** 32, "64" as unknown as number]) {
    await assert.rejects(Bridge.start({ streamWindow, workers: 1, preload: [] }), (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError, String(err));
      assert.match((err as Error).message, /streamWindow/);
      return true;
    });
  }
});
