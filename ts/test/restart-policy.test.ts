// The restart policy of a worker slot: exponential backoff capped at maxDelayMs, and a crash
// loop declared when more than maxRestarts crashes fall within windowMs. Crashes older than
// the window no longer count, so a slot that crashes now and then is restarted forever.
import assert from "node:assert/strict";
import { test } from "node:test";
import { RestartPolicy } from "../src/pool/restart-policy.js";

test("the delay doubles with each crash in the window and stops at maxDelayMs", () => {
  const policy = new RestartPolicy(100, 1_000, 10, 60_000);
  const delays = [0, 1, 2, 3, 4, 5].map((i) => policy.recordCrash(i * 10).delayMs);
  assert.deepEqual(delays, [100, 200, 400, 800, 1_000, 1_000]);
});

test("more than maxRestarts crashes within the window is a crash loop", () => {
  const policy = new RestartPolicy(10, 1_000, 3, 60_000);
  const decisions = [0, 1, 2, 3].map((i) => policy.recordCrash(1_000 + i));
  assert.deepEqual(
    decisions.map((d) => [d.recentCrashes, d.crashLoop]),
    [
      [1, false],
      [2, false],
      [3, false],
      [4, true],
    ],
  );
});

test("crashes older than the window expire: the count and the delay start again", () => {
  const policy = new RestartPolicy(10, 1_000, 3, 5_000);
  for (const t of [0, 1_000, 2_000]) policy.recordCrash(t);
  // 4_999 is inside the window of the crash at 0 (4_999 - 0 < 5_000): four crashes, a loop.
  assert.equal(policy.recordCrash(4_999).crashLoop, true);
  // At 7_000 the crashes at 0, 1_000 and 2_000 are 5_000 ms or more old: only 4_999 and 7_000 count.
  const later = policy.recordCrash(7_000);
  assert.deepEqual(later, { crashLoop: false, delayMs: 20, recentCrashes: 2 });
  // Long after everything: one crash, the initial delay.
  assert.deepEqual(policy.recordCrash(100_000), { crashLoop: false, delayMs: 10, recentCrashes: 1 });
});
