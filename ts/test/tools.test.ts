// Tools from the TypeScript side: registration, schemas, sessions, calls and cancellation.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  AlreadyExistsError,
  type Bridge,
  CancelledError,
  InvalidArgumentError,
  NotFoundError,
  TimeoutError,
} from "../src/index.js";
import { startPool } from "./helpers.js";

let bridge: Bridge;
before(async () => {
  bridge = await startPool({ workers: 1 });
});
after(() => bridge.close());

describe("TypeScript tools", () => {
  test("register with a JSON Schema, list, and call; arguments are validated by the owner", async () => {
    bridge.tools.register("add", async (args) => (args.a as number) + (args.b as number), {
      description: "Add two numbers",
      parameters: {
        type: "object",
        properties: { a: { type: "number" }, b: { type: "number" } },
        required: ["a", "b"],
        additionalProperties: false,
      },
    });
    assert.equal(await bridge.tools.call("add", { a: 2, b: 3 }), 5);
    const listed = bridge.tools.listLocal().find((t) => t.name === "add");
    assert.deepEqual([listed?.description, listed?.owner], ["Add two numbers", "typescript"]);
    await assert.rejects(
      bridge.tools.call("add", { a: 2 }),
      (e: unknown) => e instanceof InvalidArgumentError && (e as InvalidArgumentError).details.parameter === "b",
    );
    await assert.rejects(
      bridge.tools.call("add", { a: "2", b: 3 }),
      (e: unknown) => e instanceof InvalidArgumentError && /argument 'a'/.test((e as Error).message),
    );
    await assert.rejects(
      bridge.tools.call("add", { a: 1, b: 2, c: 3 }),
      (e: unknown) => (e as InvalidArgumentError).details.parameter === "c",
    );
    assert.throws(() => bridge.tools.register("add", () => 0), AlreadyExistsError);
    assert.throws(() => bridge.tools.register("bad name!", () => 0), InvalidArgumentError);
  });

  test("per-session tools are invisible to other sessions", async () => {
    bridge.tools.register("secret", () => "for alice", { session: "alice" });
    assert.equal(await bridge.tools.call("secret", {}, { session: "alice" }), "for alice");
    await assert.rejects(bridge.tools.call("secret", {}, { session: "bob" }), NotFoundError);
    await assert.rejects(bridge.tools.call("secret", {}), NotFoundError);
    assert.ok(bridge.tools.listLocal("alice").some((t) => t.name === "secret"));
    assert.ok(!bridge.tools.listLocal("bob").some((t) => t.name === "secret"));
  });

  test("a tool that throws rejects its caller with the error", async () => {
    bridge.tools.register("boom", () => {
      throw new Error("kaput");
    });
    await assert.rejects(bridge.tools.call("boom"), /kaput/);
  });

  test("streaming tools and cancellation of a slow tool", async () => {
    bridge.tools.register(
      "countdown",
      async function* (args) {
        for (let i = args.from as number; i > 0; i--) yield i;
      },
      {
        streaming: true,
        parameters: { type: "object", properties: { from: { type: "integer" } }, required: ["from"] },
      },
    );
    const items: number[] = [];
    for await (const n of bridge.tools.stream<number>("countdown", { from: 3 })) items.push(n);
    assert.deepEqual(items, [3, 2, 1]);
    let sawAbort = false;
    bridge.tools.register(
      "slow",
      (_args, ctx) =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => resolve("done"), 10_000);
          ctx.signal.addEventListener("abort", () => {
            sawAbort = true;
            clearTimeout(timer);
            reject(new Error("aborted"));
          });
        }),
    );
    const controller = new AbortController();
    const pending = bridge.tools.call("slow", {}, { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await assert.rejects(pending, CancelledError);
    assert.equal(sawAbort, true, "the tool saw the cancellation");
    // A tool that ignores its signal: the caller is still answered at the timeout, typed.
    bridge.tools.register("stubborn", () => new Promise((resolve) => setTimeout(() => resolve("late"), 1_500)));
    const t0 = performance.now();
    await assert.rejects(bridge.tools.call("stubborn", {}, { timeoutMs: 100 }), TimeoutError);
    assert.ok(performance.now() - t0 < 1_000, "answered at the timeout, not when the tool finished");
    const aborted = new AbortController();
    aborted.abort();
    await assert.rejects(bridge.tools.call("stubborn", {}, { signal: aborted.signal }), CancelledError);
  });
});
