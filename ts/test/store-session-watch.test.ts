// `session.variables.watch` with an AbortSignal: a signal already aborted ends the watch at
// once, and a long-lived signal shared by many watches keeps no listener of a watch that ended.
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { test } from "node:test";
import { SessionVariables } from "../src/sessions/index.js";
import { MemoryStore } from "../src/index.js";

async function session(): Promise<{ store: MemoryStore; variables: SessionVariables }> {
  const store = new MemoryStore();
  await store.createSession({ sessionId: "s" });
  await store.register("s", [{ name: "v", type: "integer", initialValue: 1 }]);
  return { store, variables: new SessionVariables(store, "s") };
}

test("a watch given an already aborted signal ends at once and leaves no watcher behind", async () => {
  const { store, variables } = await session();
  const seen: unknown[] = [];
  for await (const u of variables.watch([], { signal: AbortSignal.abort(), includeInitial: true })) seen.push(u);
  assert.deepEqual(seen, []);
  await new Promise((r) => setImmediate(r)); // the store's watch registers after a turn
  assert.equal(store.watcherCount, 0);
});

test("watches that end do not leave their abort listener on a shared signal", async () => {
  const { store, variables } = await session();
  const controller = new AbortController();
  for (let i = 0; i < 20; i++) {
    const w = variables.watch(["v"], { signal: controller.signal });
    await store.set("s", "v", i);
    assert.equal((await w.next()).value.value, i);
    w.cancel();
  }
  const ended = variables.watch(["v"], { signal: controller.signal });
  await new Promise((r) => setImmediate(r));
  await store.deleteSession("s"); // ends the watch from the store's side
  await assert.rejects(ended.next(), /deleted/);
  assert.equal(getEventListeners(controller.signal, "abort").length, 0);
});
