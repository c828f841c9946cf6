// Configuration spaces registered in a session: atomic, versioned apply; validation of the
// whole resulting configuration; a bound DSPy program picks the values up.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  AlreadyExistsError,
  Bridge,
  ConstraintViolationError,
  InvalidArgumentError,
  type SpaceDoc,
} from "../src/index.js";
import type { WatchMessage } from "../src/store/index.js";
import { quietLogs } from "./helpers.js";

const reactSpace: SpaceDoc = {
  name: "react_agent_config",
  variables: [
    { name: "temperature", type: "float", min: 0, max: 1.5, default: 0.7 },
    { name: "max_iters", type: "integer", min: 3, max: 10, default: 5 },
    {
      name: "reasoning_model",
      type: "choice",
      values: ["gpt-4-turbo", "claude-3-opus", "gemini-1.5-pro"],
      default: "gpt-4-turbo",
    },
    { name: "max_tokens", type: "integer", min: 64, max: 8192, default: 1024 },
  ],
  constraints: [
    {
      name: "token_budget",
      op: "<=",
      left: { var: "max_tokens" },
      right: {
        lookup: { var: "reasoning_model" },
        table: { "gpt-4-turbo": 4096, "claude-3-opus": 8192 },
        default: 2048,
      },
    },
  ],
} as SpaceDoc;

let bridge: Bridge;
before(async () => {
  bridge = await Bridge.start({ workers: 1, healthIntervalMs: 0, ...quietLogs });
  bridge.dspy.configureLM({ model: "scripted" });
});
after(() => bridge.close());

describe("configuration spaces", () => {
  test("register creates the variables with their defaults; apply is atomic, versioned and validated as a whole", async () => {
    const s = await bridge.sessions.create({ id: "cfg-1" });
    const cfg = await s.configurations.register("react", reactSpace);
    assert.equal(cfg.info().version, 1);
    assert.deepEqual(cfg.getCurrentValues(), {
      temperature: 0.7,
      max_iters: 5,
      reasoning_model: "gpt-4-turbo",
      max_tokens: 1024,
    });
    await assert.rejects(s.configurations.register("react", reactSpace), AlreadyExistsError);

    const seen: WatchMessage[] = [];
    await bridge.store.watch(
      "cfg-1",
      {},
      (m) => seen.push(m),
      () => {},
    );
    const { version, revision } = await cfg.apply({ temperature: 0.0, max_iters: 4 }, { reason: "tuning" });
    assert.equal(version, 2);
    assert.equal(seen.length, 1, "one commit");
    const only = seen[0]!;
    assert.ok(only.kind === "commit" && only.revision === revision && only.changes.length === 2);
    assert.equal(only.kind === "commit" && only.changes[0]!.metadata.configuration_version, "2");

    // The whole resulting configuration must hold: 6000 tokens is fine for claude, not for gpt-4.
    await assert.rejects(
      cfg.apply({ max_tokens: 6000 }),
      (e: unknown) =>
        e instanceof ConstraintViolationError &&
        /token_budget/.test(
          String(
            (e as ConstraintViolationError).details.violations
              ? JSON.stringify((e as ConstraintViolationError).details.violations)
              : "",
          ),
        ),
    );
    assert.equal(cfg.info().version, 2, "a refused apply changes nothing");
    assert.equal(seen.length, 1);
    assert.equal((await cfg.apply({ reasoning_model: "claude-3-opus", max_tokens: 6000 })).version, 3);
    await assert.rejects(cfg.apply({ temperature: 2 }), ConstraintViolationError);
    await assert.rejects(cfg.apply({ nope: 1 }), InvalidArgumentError);
    assert.equal(cfg.validate({ max_tokens: 9000 }).ok, false);
  });

  test("getCurrentValues is a read like any other: it counts in the variables' stats", async () => {
    const s = await bridge.sessions.create({ id: "cfg-reads" });
    const cfg = await s.configurations.register("react", reactSpace);
    const reads = async () => ((await s.variables.stats("temperature")) as { read_count: number }).read_count;
    const before = await reads();
    assert.deepEqual(cfg.getCurrentValues(), {
      temperature: 0.7,
      max_iters: 5,
      reasoning_model: "gpt-4-turbo",
      max_tokens: 1024,
    });
    assert.equal(await reads(), before + 1);
  });

  test("sample gives valid configurations, reproducibly for a seed", async () => {
    const s = await bridge.sessions.create({ id: "cfg-2" });
    const cfg = await s.configurations.register("react", reactSpace);
    const a = cfg.sample(42, 50);
    const b = cfg.sample(42, 50);
    assert.deepEqual(a.samples, b.samples);
    for (const sample of a.samples) assert.equal(cfg.validate(sample).ok, true);
    assert.equal((await cfg.apply(a.samples[0]!)).version, 2);
  });

  test("apply from TypeScript reaches a bound DSPy program in the worker", async () => {
    const s = await bridge.sessions.create({ id: "cfg-3" });
    const cfg = await s.configurations.register("react", reactSpace);
    await s.programs.create("agent", {
      module: "ChainOfThought",
      signature: "question -> answer",
      bindings: { temperature: "temperature", max_tokens: "max_tokens" },
    });
    const before = await s.programs.execute("agent", { question: "q" });
    assert.deepEqual([before.lmCalls[0]!.temperature, before.lmCalls[0]!.max_tokens], [0.7, 1024]);
    await cfg.apply({ temperature: 0.1, max_tokens: 512 });
    const after = await s.programs.execute("agent", { question: "q" });
    assert.deepEqual([after.lmCalls[0]!.temperature, after.lmCalls[0]!.max_tokens], [0.1, 512]);
  });
});
