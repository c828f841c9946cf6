// Busy polling: the host-side BusyPoll on the real event loop (when it spins, when it
// stops, how its window adapts), the option's check, and pools with it on and off.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Bridge, InvalidArgumentError } from "../src/index.js";
import { BusyPoll } from "../src/transport/busy-poll.js";
import { startPool } from "./helpers.js";

// Windows in milliseconds, so "quick" and "late" stay far apart under any load.
const LIMIT_US = 20_000;

describe("BusyPoll", () => {
  test("a lone flush keeps the loop turning for the window, then stops", async () => {
    const poll = new BusyPoll(LIMIT_US);
    poll.sent(1);
    assert.ok(poll.isSpinning);
    // Timers and other callbacks still run while it spins.
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    await sleep(2);
    assert.ok(poll.isSpinning, "still inside the 20 ms window");
    await sleep(30);
    assert.ok(!poll.isSpinning, "the window has passed");
  });

  test("an arrival ends the spin, and a batch never starts one", async () => {
    const poll = new BusyPoll(LIMIT_US);
    poll.sent(1);
    poll.received();
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    assert.ok(!poll.isSpinning, "the answer came: nothing more to wait for");
    poll.sent(3);
    assert.ok(!poll.isSpinning, "a batch of frames means the loop is busy anyway");
    assert.equal(poll.window, LIMIT_US, "a quick arrival leaves the window as it was");
  });

  test("late arrivals shrink the window to zero and quick ones grow it back", async () => {
    const poll = new BusyPoll(LIMIT_US);
    const windows: number[] = [];
    for (let i = 0; i < 12; i++) {
      poll.sent(1);
      await sleep(25); // later than the 20 ms limit
      poll.received();
      windows.push(poll.window);
    }
    assert.deepEqual(windows.slice(0, 3), [10_000, 5_000, 2_500]);
    assert.equal(windows.at(-1), 0, "halved below 20 µs, then off");
    poll.sent(1);
    assert.ok(!poll.isSpinning, "a zero window does not spin");
    const grown: number[] = [];
    for (let i = 0; i < 3; i++) {
      poll.sent(1);
      await sleep(1); // later than the window, well inside the limit
      poll.received();
      grown.push(poll.window);
    }
    assert.deepEqual(grown, [25, 50, 100]);
  });

  test("a zero limit never spins", () => {
    const poll = new BusyPoll(0);
    poll.sent(1);
    assert.ok(!poll.isSpinning);
  });
});

describe("the busyPollUs option", () => {
  test("a bad value gets InvalidArgumentError naming the option", async () => {
    for (const busyPollUs of [-1, 1.5, 2_000_000, "100" as unknown as number]) {
      await assert.rejects(Bridge.start({ workers: 1, busyPollUs }), (err: unknown) => {
        assert.ok(err instanceof InvalidArgumentError);
        assert.match(err.message, /busyPollUs/);
        return true;
      });
    }
  });

  for (const busyPollUs of [0, 100, 50_000]) {
    test(`a pool with busyPollUs ${busyPollUs} answers sequential, concurrent and slow calls`, async () => {
      const bridge = await startPool({ workers: 2, busyPollUs });
      try {
        for (let i = 0; i < 200; i++) assert.deepEqual(await bridge.execute("echo", { value: i }), i);
        const many = await Promise.all(Array.from({ length: 500 }, (_, i) => bridge.execute<number>("echo", { value: i })));
        assert.deepEqual(many, Array.from({ length: 500 }, (_, i) => i));
        const t0 = performance.now();
        await bridge.execute("sleep", { seconds: 0.05 });
        assert.ok(performance.now() - t0 >= 45, "a slow call still takes its time");
      } finally {
        await bridge.close();
      }
    });
  }
});
