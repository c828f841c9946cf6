// Busy polling: the host's BusyPoll driver and per-connection windows on the real event
// loop (adaptation judged with an injected clock, so no assertion depends on how fast this
// machine is right now), the option's check, and pools with it on and off.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Bridge, InvalidArgumentError } from "../src/index.js";
import type { ForkServer } from "../src/pool/fork-server.js";
import { BusyPoll } from "../src/transport/busy-poll.js";
import { startPool } from "./helpers.js";

const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

/** A driver on a clock that moves only when the test says so (ms). */
function frozen(limitUs: number) {
  const clock = { t: 1_000 };
  return { clock, poll: new BusyPoll(limitUs, () => clock.t) };
}

describe("BusyPoll", () => {
  test("a lone flush keeps the loop turning, timers still fire, and the answer ends it", async () => {
    const { poll } = frozen(100);
    const conn = poll.connection();
    conn.sent(1);
    assert.ok(poll.isSpinning);
    await turns(10);
    await sleep(2);
    assert.ok(poll.isSpinning, "the clock has not moved: still inside the window");
    conn.received();
    await turns(2);
    assert.ok(!poll.isSpinning, "the answer came: nothing more to wait for");
  });

  test("on the real clock the spin ends when the window has passed", async () => {
    const poll = new BusyPoll(10_000);
    poll.connection().sent(1);
    assert.ok(poll.isSpinning);
    await sleep(60);
    assert.ok(!poll.isSpinning, "10 ms window, 60 ms later");
  });

  test("a batch starts nothing, and leaves another connection's wait alone", async () => {
    const { poll } = frozen(100);
    const a = poll.connection();
    const b = poll.connection();
    b.sent(5);
    assert.ok(!poll.isSpinning, "a batch of frames means the loop is busy anyway");
    a.sent(1);
    b.sent(3);
    await turns(3);
    assert.ok(poll.isSpinning, "a is still waiting for its answer");
    b.sent(1);
    a.received();
    await turns(3);
    assert.ok(poll.isSpinning, "b is still waiting for its answer");
    b.received();
    await turns(2);
    assert.ok(!poll.isSpinning);
  });

  test("late answers shrink a connection's window to zero; quick ones grow it back", async () => {
    const { clock, poll } = frozen(100);
    const conn = poll.connection();
    const exchange = (waitedUs: number) => {
      conn.sent(1);
      clock.t += waitedUs / 1000;
      conn.received();
      return conn.window;
    };
    assert.equal(exchange(150), 100, "within twice the limit: stays on");
    assert.deepEqual([300, 300, 300, 300].map(exchange), [50, 25, 12.5, 0], "later than twice the limit: halved, then off");
    await turns(2); // the earlier exchanges' chains see their answers and end
    conn.sent(1);
    assert.ok(!poll.isSpinning, "a zero window spins nothing");
    clock.t += 0.5;
    conn.received();
    assert.equal(conn.window, 0, "a slow answer leaves it off");
    assert.deepEqual([150, 150, 150, 150].map(exchange), [25, 50, 100, 100], "quick answers double it up to the limit");
    assert.equal(exchange(10), 100, "an answer inside the window changes nothing");
  });

  test("windows are per connection", () => {
    const { clock, poll } = frozen(100);
    const slow = poll.connection();
    const quick = poll.connection();
    slow.sent(1);
    quick.sent(1);
    clock.t += 0.01;
    quick.received();
    clock.t += 1;
    slow.received();
    assert.equal(slow.window, 50);
    assert.equal(quick.window, 100);
  });

  test("stop() ends a spin for good; a zero limit never spins", async () => {
    const { poll } = frozen(100);
    poll.connection().sent(1);
    poll.stop();
    await turns(2);
    assert.ok(!poll.isSpinning);
    poll.connection().sent(1);
    assert.ok(!poll.isSpinning, "stopped");
    const off = new BusyPoll(0);
    off.connection().sent(1);
    assert.ok(!off.isSpinning);
  });
});

describe("the busyPollUs option", () => {
  test("a bad value gets InvalidArgumentError naming the option", async () => {
    for (const busyPollUs of [-1, 1.5, 20_000, "100" as unknown as number]) {
      await assert.rejects(Bridge.start({ workers: 1, busyPollUs }), (err: unknown) => {
        assert.ok(err instanceof InvalidArgumentError);
        assert.match(err.message, /busyPollUs/);
        return true;
      });
    }
  });

  for (const busyPollUs of [0, 100, 10_000]) {
    test(`a pool with busyPollUs ${busyPollUs} passes it to its workers and answers sequential, concurrent and slow calls`, async () => {
      const bridge = await startPool({ workers: 2, busyPollUs });
      try {
        const args = (bridge as unknown as { forkServer: ForkServer }).forkServer.child.spawnargs;
        assert.equal(args[args.indexOf("--busy-poll-us") + 1], String(busyPollUs));
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
