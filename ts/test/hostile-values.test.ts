// Hostile and oversized values from clients: each test reproduces a way a client could once
// freeze, exhaust or confuse the host (the hardening issue's items A, B, C, I, J, P).
// Memory-bound scenarios run in a child process with a capped heap (and --expose-gc), so a
// regression fails the test instead of the test runner.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import { create, fromBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { credentials, makeGenericClientConstructor, Metadata, type Client, type ServiceError } from "@grpc/grpc-js";
import { BridgeServer } from "../src/bridge-service/bridge-server.js";
import { bridgeServiceHandlers } from "../src/bridge-service/handlers.js";
import { grpcServiceDefinition } from "../src/bridge-service/grpc-definition.js";
import { ERROR_DETAIL_METADATA_KEY } from "../src/bridge-service/service-error.js";
import {
  type BridgeError,
  CompactedError,
  ConstraintViolationError,
  errorFromDetail,
  InvalidArgumentError,
  NotFoundError,
  PayloadTooLargeError,
} from "../src/errors/index.js";
import { ErrorDetailSchema } from "../src/gen/dspy_bridge/v1/errors_pb.js";
import { BridgeService, PingRequestSchema } from "../src/gen/dspy_bridge/v1/bridge_pb.js";
import { CreateSessionRequestSchema } from "../src/gen/dspy_bridge/v1/session_pb.js";
import {
  ExportVariablesRequestSchema,
  GetVariablesRequestSchema,
  ImportVariablesRequestSchema,
  ListVariablesRequestSchema,
  RegisterVariablesRequestSchema,
  UpdateVariablesRequestSchema,
  type UpdateVariablesResponse,
} from "../src/gen/dspy_bridge/v1/variables_pb.js";
import {
  exportVariables,
  importVariables,
  openStore,
  type Store,
  type StoreOptions,
  type WatchMessage,
} from "../src/store/index.js";
import { globMatches } from "../src/store/access.js";
import { MAX_VALUE_DEPTH } from "../src/store/limits.js";
import { decodeValue, encodeValue, jsonNestsDeeperThan, ValueDecodingError } from "../src/values/index.js";
import { repoRoot } from "./helpers.js";
import { backends } from "./store-backends.js";

const run = promisify(execFile);
const MiB = 1024 * 1024;
const dist = join(repoRoot, "ts/dist/src");

/** Runs an ES module in a child node with `flags`; returns what it printed as JSON on its last line. */
async function child<T>(code: string, flags: string[], timeout = 120_000): Promise<T> {
  const { stdout } = await run(process.execPath, [...flags, "--input-type=module", "-e", code], {
    timeout,
    maxBuffer: 16 * MiB,
  });
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as T;
}

const nested = (depth: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
};

async function memoryStore(options: StoreOptions = {}): Promise<Store> {
  const store = await openStore("memory", options);
  await store.createSession({ sessionId: "s" });
  return store;
}

// ------------------------------------------------------------------------------------------
// A. Huge strings: every string check is linear and allocates (almost) nothing.

describe("A: a 100 MiB string value", () => {
  test("is refused (over maxValueBytes) without the host's heap growing beyond 3x the value", async () => {
    const out = await child<{ error: string; ms: number; grew: number; size: number }>(
      `
      import { openStore } from ${JSON.stringify(join(dist, "store/index.js"))};
      const store = await openStore("memory");
      await store.createSession({ sessionId: "s" });
      await store.register("s", [{ name: "v", type: "string", initialValue: "a", constraints: { max_length: 10, pattern: "^a+$" } }]);
      // Flat, as a decoded message would be ("x".repeat alone would be a small tree of shared halves).
      const big = JSON.parse(JSON.stringify("x".repeat(100 * 1024 * 1024) + "!"));
      globalThis.gc();
      const before = process.memoryUsage().heapUsed;
      const t = performance.now();
      let error = "none", size = 0;
      try { await store.set("s", "v", big); } catch (e) { error = e.constructor.name; size = e.size; }
      const ms = performance.now() - t;
      const grew = process.memoryUsage().heapUsed - before;
      console.log(JSON.stringify({ error, ms, grew, size }));
      `,
      // 3x the value: the string itself plus two more of its size at most.
      ["--expose-gc", "--max-old-space-size=330"],
    );
    assert.equal(out.error, "PayloadTooLargeError");
    assert.ok(out.size > 100 * MiB && out.size < 100 * MiB + 100, `size ${out.size}`); // the string's UTF-8 bytes, quotes, the empty metadata
    assert.ok(out.grew < 200 * MiB, `heap grew by ${out.grew} bytes`);
    assert.ok(out.ms < 2_000, `took ${out.ms} ms`);
  });

  test("allowed by the limit, it is checked (length, pattern) in linear time and stored", async () => {
    const out = await child<{ errors: string[]; ms: number[]; stored: number }>(
      `
      import { openStore } from ${JSON.stringify(join(dist, "store/index.js"))};
      const store = await openStore("memory", { maxValueBytes: 256 * 1024 * 1024, historyBytesLimit: 1024 * 1024 * 1024, sessionBytesLimit: 1024 * 1024 * 1024 });
      await store.createSession({ sessionId: "s" });
      await store.register("s", [
        { name: "short", type: "string", initialValue: "a", constraints: { max_length: 10 } },
        { name: "long", type: "string", initialValue: "a", constraints: { min_length: 1 } },
      ]);
      const big = JSON.parse(JSON.stringify("x".repeat(100 * 1024 * 1024)));
      const errors = [], ms = [];
      for (const name of ["short", "long"]) {
        const t = performance.now();
        try { await store.set("s", name, big); errors.push("none"); } catch (e) { errors.push(e.constructor.name + ": " + e.message.slice(0, 200)); }
        ms.push(performance.now() - t);
      }
      console.log(JSON.stringify({ errors, ms, stored: (await store.get("s", "long")).value.length }));
      `,
      ["--max-old-space-size=330"],
    );
    assert.match(
      out.errors[0]!,
      /^ConstraintViolationError: short = "x{50,}… violates max_length = 10 \(length 104857600\)$/,
    );
    assert.equal(out.errors[1], "none");
    assert.equal(out.stored, 100 * MiB);
    for (const ms of out.ms) assert.ok(ms < 2_000, `a check took ${ms} ms`);
  });

  test("error messages quote a long string clipped, astral characters never cut in half", async () => {
    const store = await memoryStore();
    await store.register("s", [{ name: "v", type: "string", initialValue: "a", constraints: { max_length: 1 } }]);
    await assert.rejects(store.set("s", "v", "😀".repeat(10_000)), (err: unknown) => {
      assert.ok(err instanceof ConstraintViolationError);
      assert.ok(err.message.length < 200, err.message);
      assert.doesNotMatch(err.message, /[\ud800-\udbff](?![\udc00-\udfff])/, "no lone high surrogate");
      assert.match(err.message, /\(length 10000\)$/);
      return true;
    });
    await store.close();
  });
});

// ------------------------------------------------------------------------------------------
// B. Byte limits: one value, a variable's history, a session, the watch log.

describe("B: history is bounded in bytes", () => {
  test("repeated 20 MiB map writes to one variable level off (memory store, default limits but a 32 MiB value)", async () => {
    const out = await child<{ heap: number[] }>(
      `
      import { openStore } from ${JSON.stringify(join(dist, "store/index.js"))};
      const store = await openStore("memory", { maxValueBytes: 32 * 1024 * 1024 });
      await store.createSession({ sessionId: "s" });
      const heap = [];
      for (let i = 0; i < 30; i++) {
        const value = { data: JSON.parse(JSON.stringify("x".repeat(20 * 1024 * 1024 - 64) + i)), i };
        if (i === 0) await store.register("s", [{ name: "m", type: "map", initialValue: value }]);
        else await store.set("s", "m", value);
        globalThis.gc();
        heap.push(process.memoryUsage().heapUsed);
      }
      console.log(JSON.stringify({ heap }));
      `,
      ["--expose-gc", "--max-old-space-size=600"],
    );
    const at = (i: number) => out.heap[i]!;
    // The value log (256 MiB of new and old values) and the history (64 MiB) hold a handful
    // of values; after them every write replaces one.
    assert.ok(at(29) - at(14) < 25 * MiB, `heap grew from ${at(14)} to ${at(29)} between writes 15 and 30`);
    assert.ok(at(29) < 320 * MiB, `heap at ${at(29)} bytes`);
  });

  for (const backend of backends) {
    describe(backend.name, () => {
      const opened: Store[] = [];
      after(async () => {
        for (const s of opened) await s.close();
      });
      const open = async (location: string, options: StoreOptions): Promise<Store> => {
        const store = await backend.open(location, options);
        opened.push(store);
        return store;
      };
      // ~1 KB values: the limits below are a few of them.
      const blob = (tag: string) => ({ tag, pad: "p".repeat(1000) });
      const limits: StoreOptions = {
        maxValueBytes: 4_000,
        historyBytesLimit: 3_300,
        sessionBytesLimit: 8_000,
        eventLogBytesLimit: 6_000,
      };

      test("a value over maxValueBytes is a PayloadTooLargeError with size and limit; nothing is written", async () => {
        const store = await open(backend.fresh(), limits);
        await store.createSession({ sessionId: "s" });
        const before = store.currentRevision;
        await assert.rejects(
          store.register("s", [{ name: "big", type: "string", initialValue: "x".repeat(5_000) }]),
          (err: unknown) => {
            assert.ok(err instanceof PayloadTooLargeError);
            assert.equal(err.limit, 4_000);
            assert.ok(err.size! > 5_000 && err.size! < 5_100, `size ${err.size}`);
            assert.match(err.message, /maxValueBytes/);
            return true;
          },
        );
        await store.register("s", [{ name: "m", type: "map", initialValue: blob("0") }]);
        const { results } = await store.update("s", [{ name: "m", value: { pad: "x".repeat(5_000) } }], {
          atomic: false,
        });
        assert.ok(results[0]!.error instanceof PayloadTooLargeError);
        await assert.rejects(
          store.createSession({ sessionId: "t", metadata: { note: "n".repeat(5_000) } }),
          PayloadTooLargeError,
        );
        assert.equal(store.currentRevision, before + 1);
      });

      test("a variable keeps the versions that fit its history limit; the session drops its oldest versions first, never a current value; a reopened store has the same", async () => {
        const location = backend.fresh();
        const store = await open(location, limits);
        await store.createSession({ sessionId: "s" });
        await store.register("s", [{ name: "a", type: "map", initialValue: blob("a1") }]);
        for (let i = 2; i <= 5; i++) await store.set("s", "a", blob(`a${i}`));
        // ~1 KB each: 3 versions fit in 3,300 bytes.
        assert.deepEqual(
          (await store.history("s", "a")).map((h) => h.version),
          [5, 4, 3],
        );
        await store.register("s", [{ name: "b", type: "map", initialValue: blob("b1") }]);
        for (let i = 2; i <= 3; i++) await store.set("s", "b", blob(`b${i}`));
        await store.register("s", [{ name: "c", type: "map", initialValue: blob("c1") }]);
        // 3 + 3 + 1 versions of ~1,030 bytes are over 8,000 bytes once more arrive: a's oldest go first.
        await store.set("s", "c", blob("c2"));
        const versions = async () =>
          Object.fromEntries(
            await Promise.all(
              ["a", "b", "c"].map(async (n) => [n, (await store.history("s", n)).map((h) => h.version)]),
            ),
          );
        const seen = await versions();
        assert.deepEqual(seen, { a: [5, 4], b: [3, 2, 1], c: [2, 1] });
        await store.set("s", "c", blob("c3"));
        assert.deepEqual(await versions(), { a: [5], b: [3, 2, 1], c: [3, 2, 1] });
        // c's own limit drops its oldest version: the session is back under its limit.
        await store.set("s", "c", blob("c4"));
        assert.deepEqual(await versions(), { a: [5], b: [3, 2, 1], c: [4, 3, 2] });
        // New variables push out the oldest versions (b's, then c's) until only current values are left ...
        for (const n of ["d", "e", "f", "g"])
          await store.register("s", [{ name: n, type: "map", initialValue: blob(`${n}1`) }]);
        // ... then a new variable is refused: current values are never dropped.
        await assert.rejects(
          store.register("s", [{ name: "h", type: "map", initialValue: blob("h1") }]),
          (err: unknown) => {
            assert.ok(err instanceof PayloadTooLargeError);
            assert.equal(err.limit, 8_000);
            assert.match(err.message, /sessionBytesLimit/);
            return true;
          },
        );
        assert.deepEqual(await versions(), { a: [5], b: [3], c: [4] });
        assert.deepEqual((await store.get("s", "c")).value, blob("c4"), "a current value is never dropped");
        // A write that does not make the session bigger still goes through.
        await store.set("s", "a", blob("a6"));
        assert.deepEqual(
          (await store.history("s", "a")).map((h) => h.version),
          [6],
        );
        if (backend.name === "memory") return;
        // The durable copy was trimmed the same way.
        const names = ["a", "b", "c", "d", "e", "f", "g"];
        const expected = await Promise.all(names.map(async (n) => (await store.history("s", n)).map((h) => h.version)));
        await store.close();
        const again = await open(location, limits);
        for (const [i, n] of names.entries())
          assert.deepEqual(
            (await again.history("s", n)).map((h) => h.version),
            expected[i],
            n,
          );
      });

      test("the watch log is bounded in bytes: resuming from a revision it dropped is compacted (and resyncs)", async () => {
        const location = backend.fresh();
        const store = await open(location, { ...limits, sessionBytesLimit: 1_000_000, historyBytesLimit: 1_000_000 });
        await store.createSession({ sessionId: "s" });
        await store.register("s", [{ name: "m", type: "map", initialValue: blob("1") }]);
        const first = store.currentRevision;
        for (let i = 2; i <= 8; i++) await store.set("s", "m", blob(String(i)));
        const last = store.currentRevision;
        const watchFrom = async (s: Store, start: number) => {
          const messages: WatchMessage[] = [];
          let ended: BridgeError | undefined;
          const h = await s.watch(
            "s",
            { startRevision: start },
            (m) => messages.push(m),
            (e) => (ended = e),
          );
          h.cancel();
          return { messages, ended };
        };
        const old = await watchFrom(store, first);
        assert.equal(old.messages[0]?.kind, "compacted");
        assert.ok(old.ended instanceof CompactedError);
        // ~2 KB per commit (new and old value): the last couple are kept.
        const recent = await watchFrom(store, last - 1);
        assert.deepEqual(
          recent.messages.map((m) => m.kind === "commit" && m.revision),
          [last - 1, last],
        );
        if (backend.name === "memory") return;
        await store.close();
        // Reopened with room for everything: what is missing is missing from the durable log.
        const again = await open(location, { ...limits, eventLogBytesLimit: 1e9 });
        const reopened = await watchFrom(again, first + 1);
        assert.equal(reopened.messages[0]?.kind, "compacted", "the durable log was trimmed too");
      });
    });
  }

  test("size options must be positive integers", async () => {
    await assert.rejects(openStore("memory", { maxValueBytes: 0 }), InvalidArgumentError);
    await assert.rejects(openStore("memory", { sessionBytesLimit: 1.5 }), InvalidArgumentError);
  });
});

// ------------------------------------------------------------------------------------------
// C. Patterns from clients run on RE2: linear time, never a frozen host.

describe("C: catastrophic regular expressions", () => {
  test("the pattern ^(a+)+$ against 10,000 characters and a '!' is checked in milliseconds", async () => {
    const store = await memoryStore();
    await store.register("s", [
      { name: "v", type: "string", initialValue: "aaa", constraints: { pattern: "^(a+)+$" } },
    ]);
    for (const n of [30, 10_000]) {
      const t = performance.now();
      await assert.rejects(store.set("s", "v", `${"a".repeat(n)}!`), ConstraintViolationError);
      const ms = performance.now() - t;
      assert.ok(ms < 100, `${n} characters: ${ms} ms`);
    }
    await store.set("s", "v", "a".repeat(10_000));
    await store.close();
  });

  test("ListVariables patterns and export filters are RE2 too", async () => {
    const store = await memoryStore();
    const long = `${"a".repeat(250)}b`;
    await store.register("s", [
      { name: long, type: "integer", initialValue: 1 },
      { name: "aaa", type: "integer", initialValue: 2 },
    ]);
    const t = performance.now();
    assert.deepEqual(
      (await store.list("s", "^(a|aa)+$")).map((r) => r.name),
      ["aaa"],
    );
    const { count } = await exportVariables(store, "s", { filterPattern: "^(a|aa)+$" });
    assert.equal(count, 1);
    assert.ok(performance.now() - t < 200, `${performance.now() - t} ms`);
    await assert.rejects(
      store.list("s", "(?=a)"),
      (err: unknown) => err instanceof InvalidArgumentError && err.parameter === "pattern",
    );
    await assert.rejects(
      exportVariables(store, "s", { filterPattern: "(a)\\1" }),
      (err: unknown) => err instanceof InvalidArgumentError && err.parameter === "filter_pattern",
    );
    await store.close();
  });

  test("a pattern RE2 cannot compile is refused at definition, naming the problem in a bounded message", async () => {
    const store = await memoryStore();
    const cases: [string, RegExp][] = [
      ["^(?=a)a$", /not a valid RE2 regular expression: .*\(\?=/],
      ["(a)\\1", /not a valid RE2 regular expression: invalid escape sequence/],
      ["a\\Z", /invalid escape sequence/],
      ["x".repeat(100_000), /is 100000 UTF-16 units long, over the limit of 1000 characters/],
      ["😀".repeat(1_001), /is 1001 characters long, over the limit of 1000 characters/],
      [`${"(".repeat(500)}a`, /missing closing \)/],
      ["[a-z]{1000}".repeat(10), /compiles to a program of \d+ instructions, over the limit/],
    ];
    for (const [pattern, why] of cases) {
      await assert.rejects(
        store.register("s", [{ name: "v", type: "string", initialValue: "a", constraints: { pattern } }]),
        (err: unknown) => {
          assert.ok(err instanceof InvalidArgumentError, String(err));
          assert.equal(err.parameter, "constraints.pattern");
          assert.match(err.message, why);
          assert.ok(err.message.length < 500, `${err.message.length} characters`);
          return true;
        },
      );
    }
    await store.close();
  });

  test("a check that would cost too much is refused rather than run", async () => {
    const store = await memoryStore();
    await store.register("s", [
      { name: "v", type: "string", initialValue: "a", constraints: { pattern: "^a$|\\p{L}{900}" } },
    ]);
    const t = performance.now();
    await assert.rejects(store.set("s", "v", "é".repeat(20_000)), (err: unknown) => {
      assert.ok(err instanceof ConstraintViolationError);
      assert.equal(err.constraint, "pattern");
      assert.match(err.message, /too long to check against this pattern: at most \d+/);
      return true;
    });
    assert.ok(performance.now() - t < 100);
    await store.close();
  });

  test("session-pattern globs match in linear time", () => {
    const t = performance.now();
    assert.equal(globMatches(`${"*a".repeat(100)}b`, "a".repeat(100_000)), false);
    assert.ok(performance.now() - t < 500, `${performance.now() - t} ms`);
    for (const [p, s, want] of [
      ["admin_*", "admin_x", true],
      ["a?c", "ac", false],
      ["*a*b", "xaxb", true],
      ["*a*b", "xaxbx", false],
      ["", "", true],
    ] as const) {
      assert.equal(globMatches(p, s), want, `${p} ${s}`);
    }
  });
});

// ------------------------------------------------------------------------------------------
// I, J, P through the TypeScript API.

describe("I: nesting depth", () => {
  test(`a value nested ${MAX_VALUE_DEPTH} deep is stored, ${MAX_VALUE_DEPTH + 1} or 1,500 deep is refused naming the limit`, async () => {
    const store = await memoryStore();
    await store.register("s", [{ name: "ok", type: "list", initialValue: nested(MAX_VALUE_DEPTH) }]);
    for (const depth of [MAX_VALUE_DEPTH + 1, 1_500, 1_000_000]) {
      await assert.rejects(
        store.register("s", [{ name: "deep", type: "list", initialValue: nested(depth) }]),
        (err: unknown) => {
          assert.ok(err instanceof InvalidArgumentError);
          assert.match(err.message, new RegExp(`more than ${MAX_VALUE_DEPTH} levels deep`));
          return true;
        },
      );
      await assert.rejects(store.set("s", "ok", nested(depth)), InvalidArgumentError);
      await assert.rejects(store.set("s", "fresh", nested(depth), { createIfMissing: true }), InvalidArgumentError);
    }
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    await assert.rejects(store.set("s", "ok", cyclic), InvalidArgumentError);
    await store.close();
  });
});

describe("I: JSON nested past 1,000 levels is refused before it is parsed", () => {
  test("the scan skips strings (brackets and escaped quotes inside them) and counts only structure", () => {
    const deep = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`;
    assert.equal(jsonNestsDeeperThan(deep(1_000)), false);
    assert.equal(jsonNestsDeeperThan(deep(1_001)), true);
    const inString = JSON.stringify(["[".repeat(5_000), '\\"[[[', "\\", "{".repeat(3_000)]);
    assert.equal(jsonNestsDeeperThan(inString), false);
    assert.equal(jsonNestsDeeperThan(`[${JSON.stringify('\\"')},${deep(1_001)}]`), true);
    assert.equal(jsonNestsDeeperThan(JSON.stringify({ a: "x".repeat(1_000_000), b: nested(999) })), false);
  });

  test("a 20 MB value of 10 million levels is a ValueDecodingError at once, not seconds of parsing and half a gigabyte", () => {
    const json = `${"[".repeat(10_000_000)}${"]".repeat(10_000_000)}`;
    const t = performance.now();
    assert.throws(
      () => decodeValue({ $typeName: "dspy_bridge.v1.Value", json, attachments: [], external: [] }),
      (err: unknown) => {
        assert.ok(err instanceof ValueDecodingError);
        assert.match(err.message, /nests more than 1000 levels deep/);
        return true;
      },
    );
    assert.ok(performance.now() - t < 1_000, `${performance.now() - t} ms`);
    assert.deepEqual(decodeValue(encodeValue(nested(1_000))), nested(1_000));
  });

  test("so is a text of more than 4 million lists and maps (128 MiB of `{},` would take gigabytes to parse)", () => {
    const json = `[${"{},".repeat(1 << 22)}{}]`;
    const t = performance.now();
    assert.throws(
      () => decodeValue({ $typeName: "dspy_bridge.v1.Value", json, attachments: [], external: [] }),
      /holds more than 4194304 lists and maps/,
    );
    assert.ok(performance.now() - t < 1_000, `${performance.now() - t} ms`);
  });
});

describe("J: names shaped like ids", () => {
  test("a name of the form var_<name>_<revision> is refused everywhere a variable is created; ids stay unambiguous", async () => {
    const store = await memoryStore();
    const [f] = await store.register("s", [{ name: "f", type: "integer", initialValue: 1 }]);
    assert.equal(f!.id, `var_f_${store.currentRevision}`);
    const isShape = (err: unknown) => err instanceof InvalidArgumentError && /shape of a variable id/.test(err.message);
    await assert.rejects(store.register("s", [{ name: f!.id, type: "integer", initialValue: 2 }]), isShape);
    await assert.rejects(store.set("s", "var_x_12", 2, { createIfMissing: true }), isShape);
    const doc = {
      format: "dspy-bridge/variables",
      version: 1,
      variables: [{ name: "var_g_3", type: "integer", value: { json: "3" } }],
    };
    const summary = await importVariables(store, "s", Buffer.from(JSON.stringify(doc)));
    assert.equal(summary.errors, 1);
    assert.match(summary.details[0]!.error!, /shape of a variable id/);
    assert.equal((await store.get("s", f!.id)).name, "f");
    // Names that merely start with var_ are fine.
    await store.register("s", [{ name: "var_threshold", type: "integer", initialValue: 1 }]);
    await store.close();
  });
});

describe("P: every error typed and bounded", () => {
  test("session metadata nested a million deep is an InvalidArgumentError and creates nothing", async () => {
    const store = await openStore("memory");
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 1_000_000; i++) deep = { d: deep };
    await assert.rejects(store.createSession({ sessionId: "s", metadata: deep }), InvalidArgumentError);
    await assert.rejects(store.getSession("s"), NotFoundError);
    await store.close();
  });

  test("an import whose dependencies are [null, 5] is an InvalidArgumentError", async () => {
    const store = await memoryStore();
    const doc = { format: "dspy-bridge/variables", version: 1, variables: [], dependencies: [null, 5] };
    await assert.rejects(importVariables(store, "s", Buffer.from(JSON.stringify(doc))), (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError, String(err));
      assert.match(err.message, /dependencies\[0\] must be \{from, to, type\}/);
      return true;
    });
    await store.close();
  });

  test("a 100,000-character name, session or caller is quoted clipped in the error", async () => {
    const store = await memoryStore();
    const long = "n".repeat(100_000);
    const checks: [Promise<unknown>, new (...args: never[]) => Error][] = [
      [store.register("s", [{ name: long, type: "integer", initialValue: 1 }]), InvalidArgumentError],
      [store.get("s", long), NotFoundError],
      [store.get(long, "x"), NotFoundError],
      [store.set("s", long, 1, { createIfMissing: true }), InvalidArgumentError],
      [
        store
          .update("s", [
            { name: long, value: 1 },
            { name: `${long}2`, value: 2 },
            { name: `${long}3`, value: 3 },
            { name: `${long}4`, value: 4 },
          ])
          .then((r) => {
            throw r.results[0]!.error;
          }),
        NotFoundError,
      ],
    ];
    for (const [promise, type] of checks) {
      await assert.rejects(promise, (err: unknown) => {
        assert.ok(err instanceof type, String(err));
        assert.ok((err as Error).message.length < 600, `${(err as Error).message.length} characters`);
        assert.ok(JSON.stringify((err as BridgeError).details).length < 600);
        return true;
      });
    }
    await store.close();
  });

  test("a map with a __proto__ key is ordinary data: stored, merged on import, never a prototype", async () => {
    const store = await memoryStore();
    const value = JSON.parse('{"__proto__": {"polluted": 1}, "a": 2}') as Record<string, unknown>;
    await store.register("s", [
      {
        name: "m",
        type: "map",
        initialValue: value,
        metadata: JSON.parse('{"__proto__": "x"}') as Record<string, string>,
      },
    ]);
    const { data } = await exportVariables(store, "s");
    await store.createSession({ sessionId: "t" });
    await store.register("t", [{ name: "m", type: "map", initialValue: { b: 1 } }]);
    const summary = await importVariables(store, "t", data, { mergeStrategy: "merge" });
    assert.equal(summary.errors, 0, JSON.stringify(summary.details));
    const merged = (await store.get("t", "m")).value as Record<string, unknown>;
    assert.deepEqual(Object.keys(merged).sort(), ["__proto__", "a", "b"]);
    assert.equal(Object.getPrototypeOf(merged), Object.prototype);
    assert.deepEqual(Object.getOwnPropertyDescriptor(merged, "__proto__")?.value, { polluted: 1 });
    assert.equal((await store.get("s", "m")).metadata.__proto__, "x");
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    await store.close();
  });

  test("constraints and rules nested a million deep are InvalidArgumentErrors", async () => {
    const store = await memoryStore();
    await assert.rejects(
      store.register("s", [
        { name: "c", type: "choice", initialValue: "a", constraints: { choices: nested(1_000_000) } },
      ]),
      InvalidArgumentError,
    );
    await assert.rejects(
      store.register("s", [
        {
          name: "c",
          type: "integer",
          initialValue: 1,
          accessRules: [{ session_pattern: "*", permissions: ["read"], conditions: { x: nested(1_000_000) } }],
        },
      ]),
      InvalidArgumentError,
    );
    await assert.rejects(
      store.register("s", [{ name: "c", type: "integer", initialValue: 1, dependencies: [null as unknown as string] }]),
      InvalidArgumentError,
    );
    await store.close();
  });
});

// ------------------------------------------------------------------------------------------
// The same over gRPC: typed errors (not RESOURCE_EXHAUSTED, not INTERNAL), a host that keeps answering.

describe("over gRPC", () => {
  const TOKEN = "hostile-values-test-token";
  let store: Store;
  let server: BridgeServer;
  let client: Client &
    Record<
      string,
      (req: unknown, md: Metadata, opts: object, cb: (err: ServiceError | null, res: unknown) => void) => void
    >;
  let dir: string;

  before(async () => {
    store = await openStore("memory");
    dir = mkdtempSync(join(tmpdir(), "dspy-bridge-hostile-"));
    const handlers = bridgeServiceHandlers({
      hostVersion: "test",
      workersReady: () => 0,
      store,
      tools: {} as never,
      configurations: {} as never,
      optimization: {} as never,
      runs: {} as never,
    });
    server = await BridgeServer.start({
      listen: `unix:${join(dir, "bridge.sock")}`,
      token: TOKEN,
      handlers,
      onLog: () => {},
    });
    const Ctor = makeGenericClientConstructor(grpcServiceDefinition(BridgeService as never) as never, "BridgeService");
    client = new Ctor(server.address, credentials.createInsecure(), {
      "grpc.max_send_message_length": 128 * MiB,
      "grpc.max_receive_message_length": 128 * MiB,
    }) as never;
    await store.createSession({ sessionId: "s" });
  });
  after(async () => {
    client.close();
    await server.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function call<S extends DescMessage>(method: string, schema: S, init: MessageInitShape<S>): Promise<unknown> {
    const md = new Metadata();
    md.set("authorization", `Bearer ${TOKEN}`);
    return new Promise((resolve, reject) =>
      client[method]!(create(schema, init), md, {}, (err, res) => {
        if (!err) return resolve(res);
        const bin = err.metadata?.get(ERROR_DETAIL_METADATA_KEY)[0];
        reject(bin ? errorFromDetail(fromBinary(ErrorDetailSchema, bin as Buffer)) : err);
      }),
    );
  }

  const typed = (type: new (...args: never[]) => BridgeError) => (err: unknown) => {
    assert.ok(err instanceof type, `${(err as Error).constructor.name}: ${(err as Error).message?.slice(0, 300)}`);
    assert.ok((err as Error).message.length < 2_100);
    return true;
  };

  test("CreateSession with metadata_json nested a million deep: InvalidArgumentError", async () => {
    const json = `${'{"a":'.repeat(1_000_000)}1${"}".repeat(1_000_000)}`;
    await assert.rejects(
      call("createSession", CreateSessionRequestSchema, { sessionId: "deep", metadataJson: json }),
      typed(InvalidArgumentError),
    );
  });

  test("a 100,000-character variable name: the typed InvalidArgumentError, not RESOURCE_EXHAUSTED", async () => {
    const name = "n".repeat(100_000);
    await assert.rejects(
      call("registerVariables", RegisterVariablesRequestSchema, {
        sessionId: "s",
        variables: [{ name, type: "integer", initialValue: encodeValue(1) }],
      }),
      typed(InvalidArgumentError),
    );
    await assert.rejects(
      call("getVariables", GetVariablesRequestSchema, { sessionId: name, names: ["x"] }),
      typed(NotFoundError),
    );
  });

  test("a list nested 150 or 1,500 deep is refused with the limit named; 100 deep round-trips", async () => {
    const register = (depth: number) =>
      call("registerVariables", RegisterVariablesRequestSchema, {
        sessionId: "s",
        variables: [{ name: "deep", type: "list", initialValue: encodeValue(nested(depth)) }],
      });
    await assert.rejects(
      register(150),
      (err: unknown) => typed(InvalidArgumentError)(err) && /more than 100 levels deep/.test((err as Error).message),
    );
    // Past 1,000 levels the message is not even parsed.
    await assert.rejects(
      register(1_500),
      (err: unknown) =>
        typed(InvalidArgumentError)(err) && /nests more than 1000 levels deep/.test((err as Error).message),
    );
    await call("registerVariables", RegisterVariablesRequestSchema, {
      sessionId: "s",
      variables: [{ name: "deep", type: "list", initialValue: encodeValue(nested(100)) }],
    });
  });

  test("a 20 MiB value is a PayloadTooLargeError; import with dependencies [null, 5] an InvalidArgumentError", async () => {
    const res = (await call("updateVariables", UpdateVariablesRequestSchema, {
      sessionId: "s",
      createIfMissing: true,
      updates: [{ name: "big", value: encodeValue("x".repeat(20 * MiB)) }],
    })) as UpdateVariablesResponse;
    assert.equal(res.results[0]!.ok, false);
    assert.equal(res.results[0]!.error!.reason, "payload_too_large");
    const doc = { format: "dspy-bridge/variables", version: 1, variables: [], dependencies: [null, 5] };
    await assert.rejects(
      call("importVariables", ImportVariablesRequestSchema, {
        sessionId: "s",
        data: Buffer.from(JSON.stringify(doc)),
        format: "json",
      }),
      typed(InvalidArgumentError),
    );
  });

  test("catastrophic patterns: the host answers a ping while they are checked", async () => {
    await call("registerVariables", RegisterVariablesRequestSchema, {
      sessionId: "s",
      variables: [
        {
          name: "p",
          type: "string",
          initialValue: encodeValue("aa"),
          constraintsJson: JSON.stringify({ pattern: "^(a+)+$" }),
        },
      ],
    });
    const evil = encodeValue(`${"a".repeat(10_000)}!`);
    const writes = Array.from({ length: 20 }, () =>
      call("updateVariables", UpdateVariablesRequestSchema, { sessionId: "s", updates: [{ name: "p", value: evil }] }),
    );
    const t = performance.now();
    await call("ping", PingRequestSchema, { message: "still there?" });
    const pingMs = performance.now() - t;
    const results = (await Promise.all(writes)) as UpdateVariablesResponse[];
    for (const r of results) assert.equal(r.results[0]!.error!.reason, "constraint_violation");
    assert.ok(pingMs < 1_000, `ping took ${pingMs} ms`);
    await assert.rejects(
      call("listVariables", ListVariablesRequestSchema, { sessionId: "s", pattern: "(?<=a)" }),
      typed(InvalidArgumentError),
    );
    await call("exportVariables", ExportVariablesRequestSchema, {
      sessionId: "s",
      format: "json",
      filterPattern: "^(a|aa)+$",
    });
  });
});
