import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { ErrorDetailSchema, type ErrorDetail } from "../src/gen/dspy_bridge/v1/errors_pb.js";
import * as errors from "../src/errors/index.js";
import {
  BridgeError,
  CancelledError,
  Code,
  ERROR_CLASSES,
  InternalError,
  InvalidArgumentError,
  LMError,
  PayloadTooLargeError,
  PythonError,
  QueueFullError,
  TimeoutError,
  WorkerCrashedError,
  codeName,
  errorClassForReason,
  errorFromDetail,
  errorToDetail,
  formatPythonTraceback,
} from "../src/errors/index.js";

interface Row {
  reason: string;
  code: number;
  code_name: string;
  ts_class: string;
  python_class: string | null;
  details: Record<string, "string" | "integer" | "json">;
  retryable: boolean;
  meaning: string;
}
interface Table {
  codes: Record<string, number>;
  errors: Row[];
}

// Compiled to ts/dist/test/errors.test.js: the repository root is three levels up.
const table = JSON.parse(
  readFileSync(fileURLToPath(new URL("../../../testdata/errors.json", import.meta.url)), "utf8"),
) as Table;

const SAMPLE = { string: "sample", integer: 7, json: 2.5 } as const;
const camel = (key: string): string => key.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());

function classFor(row: Row): typeof BridgeError {
  const value = (errors as Record<string, unknown>)[row.ts_class];
  assert.equal(typeof value, "function", `no exported class ${row.ts_class}`);
  return value as typeof BridgeError;
}

function detailFor(row: Row): ErrorDetail {
  const details: Record<string, unknown> = { request_id: "r-1" };
  for (const [key, kind] of Object.entries(row.details)) details[key] = SAMPLE[kind];
  return create(ErrorDetailSchema, {
    code: row.code,
    reason: row.reason,
    message: `${row.reason} happened`,
    pythonType: "some.module.Origin",
    traceback: [{ filename: "/w/prog.py", lineno: 12, name: "forward", line: "raise Origin()" }],
    detailsJson: JSON.stringify(details),
  });
}

describe("error table", () => {
  it("Code matches the table's gRPC codes", () => {
    assert.deepEqual({ ...Code }, table.codes);
    for (const row of table.errors) {
      assert.equal(Code[row.code_name as keyof typeof Code], row.code, row.reason);
      assert.equal(codeName(row.code), row.code_name);
    }
    assert.equal(codeName(99), "CODE_99");
  });

  it("every row has a TypeScript class with that name, code and reason", () => {
    for (const row of table.errors) {
      const cls = classFor(row);
      assert.equal(cls.name, row.ts_class);
      assert.equal(cls.code, row.code, `${row.ts_class}.code`);
      assert.equal(cls.reason, row.reason, `${row.ts_class}.reason`);
      const err = new cls("boom");
      assert.ok(err instanceof BridgeError && err instanceof Error && err instanceof cls);
      assert.equal(err.name, row.ts_class);
      assert.equal(err.code, row.code);
      assert.equal(err.reason, row.reason);
      assert.deepEqual(err.details, {});
      assert.equal(errorClassForReason(row.reason), cls);
    }
  });

  it("the registry holds exactly the table's classes", () => {
    assert.deepEqual(ERROR_CLASSES.map((c) => c.name).sort(), table.errors.map((r) => r.ts_class).sort());
    assert.deepEqual(ERROR_CLASSES.map((c) => c.reason).sort(), table.errors.map((r) => r.reason).sort());
    // Every exported BridgeError subclass is registered (nothing defined but unmapped).
    const exported = Object.values(errors).filter(
      (v): v is typeof BridgeError => typeof v === "function" && v.prototype instanceof BridgeError,
    );
    assert.deepEqual(exported.map((c) => c.name).sort(), ERROR_CLASSES.map((c) => c.name).sort());
  });

  it("every class is retryable by default exactly as the table says, and details.retryable overrides it", () => {
    for (const row of table.errors) {
      const cls = classFor(row) as typeof BridgeError & { retryable: boolean };
      assert.equal(cls.retryable, row.retryable, `${row.ts_class}.retryable`);
      assert.equal(new cls("x").retryable, row.retryable, row.ts_class);
      assert.equal(new cls("x", { details: { retryable: !row.retryable } }).retryable, !row.retryable, row.ts_class);
      // A non-boolean in details is ignored, not trusted.
      assert.equal(new cls("x", { details: { retryable: "yes" } }).retryable, row.retryable, row.ts_class);
    }
    // Through the wire: an LM error the worker marked retryable (an HTTP 503) arrives so.
    const fromWire = errorFromDetail(
      create(ErrorDetailSchema, {
        code: 2,
        reason: "lm_error",
        message: "503",
        detailsJson: '{"retryable":true,"status":503}',
      }),
    );
    assert.ok(fromWire instanceof LMError);
    assert.equal(fromWire.retryable, true);
    assert.equal((fromWire as LMError).status, 503);
  });

  it("subclasses ignore attempts to change their code or reason", () => {
    const options = { code: Code.INTERNAL, reason: "something_else" } as Record<string, unknown>;
    const err = new QueueFullError("full", options);
    assert.equal(err.code, Code.RESOURCE_EXHAUSTED);
    assert.equal(err.reason, "queue_full");
    const custom = new BridgeError("custom", { code: Code.DATA_LOSS, reason: "disk_on_fire" });
    assert.equal(custom.code, 15);
    assert.equal(custom.reason, "disk_on_fire");
    const bare = new BridgeError("bare");
    assert.equal(bare.code, Code.UNKNOWN);
    assert.equal(bare.reason, "unknown");
  });
});

describe("errorFromDetail", () => {
  for (const row of table.errors) {
    it(`${row.reason} → ${row.ts_class}`, () => {
      const detail = detailFor(row);
      const err = errorFromDetail(detail);
      const cls = classFor(row);
      assert.ok(err instanceof cls, `expected ${row.ts_class}, got ${err.constructor.name}`);
      assert.equal(err.constructor, cls);
      assert.equal(err.code, row.code);
      assert.equal(err.reason, row.reason);
      assert.deepEqual(err.details, JSON.parse(detail.detailsJson));
      assert.equal(err.pythonType, "some.module.Origin");
      assert.deepEqual(err.traceback, [
        { filename: "/w/prog.py", lineno: 12, name: "forward", line: "raise Origin()" },
      ]);
      if (err instanceof PythonError) {
        assert.equal(err.message, "some.module.Origin: python_error happened");
        assert.equal(err.pythonMessage, detail.message);
      } else {
        assert.equal(err.message, detail.message);
      }
      // Typed fields come from the table's well-known detail keys.
      for (const [key, kind] of Object.entries(row.details)) {
        assert.equal((err as unknown as Record<string, unknown>)[camel(key)], SAMPLE[kind], key);
      }
    });
  }

  it("an unknown reason gives a BridgeError with the received code and reason", () => {
    const err = errorFromDetail(
      create(ErrorDetailSchema, { code: 15, reason: "from_the_future", message: "?", detailsJson: "[1]" }),
    );
    assert.equal(err.constructor, BridgeError);
    assert.equal(err.code, 15);
    assert.equal(err.reason, "from_the_future");
    assert.equal(err.message, "?");
    assert.equal(err.pythonType, undefined);
    assert.deepEqual(err.details, { details_json: "[1]" });
    assert.deepEqual(errorFromDetail(create(ErrorDetailSchema, { code: 2, detailsJson: "{bad" })).details, {
      details_json: "{bad",
    });
  });

  it("a known reason wins over a mismatched code", () => {
    const err = errorFromDetail(create(ErrorDetailSchema, { code: 13, reason: "not_found", message: "m" }));
    assert.ok(err instanceof errors.NotFoundError);
    assert.equal(err.code, Code.NOT_FOUND);
  });
});

describe("errorToDetail", () => {
  it("errorToDetail ∘ errorFromDetail preserves code, reason, message, details and origin", () => {
    for (const row of table.errors) {
      const detail = detailFor(row);
      const back = errorToDetail(errorFromDetail(detail));
      assert.equal(back.code, detail.code, row.reason);
      assert.equal(back.reason, detail.reason);
      assert.equal(back.message, detail.message);
      assert.deepEqual(JSON.parse(back.detailsJson), JSON.parse(detail.detailsJson));
      assert.equal(back.pythonType, detail.pythonType);
      assert.deepEqual(back.traceback, detail.traceback);
    }
  });

  it("typed options travel in details", () => {
    const detail = errorToDetail(new PayloadTooLargeError("too big", { size: 2048, limit: 1024 }));
    assert.equal(detail.code, Code.RESOURCE_EXHAUSTED);
    assert.equal(detail.reason, "payload_too_large");
    assert.deepEqual(JSON.parse(detail.detailsJson), { size: 2048, limit: 1024 });
    assert.equal(detail.pythonType, "");
    const back = errorFromDetail(detail) as PayloadTooLargeError;
    assert.equal(back.size, 2048);
    assert.equal(back.limit, 1024);

    const crashed = new WorkerCrashedError("worker died", { workerId: "w-3", signal: "SIGKILL" });
    assert.deepEqual(crashed.details, { worker_id: "w-3", signal: "SIGKILL" });
    assert.equal(crashed.exitCode, undefined);
    // camelCase keys written straight into details are read too (snake_case is the wire form).
    const camelDetails = new WorkerCrashedError("died", { details: { workerId: "w-1", exitCode: 137 } });
    assert.equal(camelDetails.workerId, "w-1");
    assert.equal(camelDetails.exitCode, 137);
    assert.equal(new WorkerCrashedError("died", { details: { exitCode: "137" } }).exitCode, undefined);
    const arg = new InvalidArgumentError("bad temperature", { parameter: "temperature", details: { max: 2 } });
    assert.deepEqual(JSON.parse(errorToDetail(arg).detailsJson), { max: 2, parameter: "temperature" });
  });

  it("a plain Error is sent as internal with an empty details_json", () => {
    const detail = errorToDetail(new RangeError("out of range"));
    assert.equal(detail.code, Code.INTERNAL);
    assert.equal(detail.reason, "internal");
    assert.equal(detail.message, "out of range");
    assert.equal(detail.detailsJson, "");
  });

  it("details that JSON cannot hold do not throw", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const detail = errorToDetail(new BridgeError("x", { details: { cyclic, n: 10n } }));
    assert.deepEqual(JSON.parse(detail.detailsJson), { unserializable_details: ["cyclic", "n"] });
    assert.deepEqual(JSON.parse(errorToDetail(new BridgeError("x", { details: { n: 10n } })).detailsJson), {
      n: "10",
    });
  });
});

describe("PythonError", () => {
  const detail = create(ErrorDetailSchema, {
    code: Code.UNKNOWN,
    reason: "python_error",
    message: "temperature must be a float",
    pythonType: "ValueError",
    traceback: [
      { filename: "/app/worker.py", lineno: 40, name: "handle", line: "    return program(**inputs)" },
      { filename: "/app/prog.py", lineno: 7, name: "forward", line: 'raise ValueError("temperature must be a float")' },
    ],
  });

  it("carries the Python type, message and frames", () => {
    const err = errorFromDetail(detail);
    assert.ok(err instanceof PythonError);
    assert.equal(err.pythonType, "ValueError");
    assert.equal(err.pythonMessage, "temperature must be a float");
    assert.equal(err.message, "ValueError: temperature must be a float");
    assert.equal(err.traceback.length, 2);
    assert.equal(err.traceback[1]?.name, "forward");
    assert.equal(err.traceback[1]?.lineno, 7);
    assert.equal(
      err.pythonTraceback,
      [
        "Traceback (most recent call last):",
        '  File "/app/worker.py", line 40, in handle',
        "    return program(**inputs)",
        '  File "/app/prog.py", line 7, in forward',
        '    raise ValueError("temperature must be a float")',
        "ValueError: temperature must be a float",
      ].join("\n"),
    );
    assert.ok(!("$typeName" in (err.traceback[0] as object)), "frames are plain objects");
  });

  it("a typed error that came from Python also keeps its Python traceback", () => {
    const err = errorFromDetail(
      create(ErrorDetailSchema, {
        code: 3,
        reason: "invalid_argument",
        message: "bad",
        pythonType: "dspy_bridge.errors.InvalidArgumentError",
        traceback: [{ filename: "/app/x.py", lineno: 1, name: "f", line: "" }],
      }),
    );
    assert.equal(
      err.pythonTraceback,
      'Traceback (most recent call last):\n  File "/app/x.py", line 1, in f\ndspy_bridge.errors.InvalidArgumentError: bad',
    );
    assert.equal(new InvalidArgumentError("local").pythonTraceback, "");
  });

  it("formats an exception without message or frames like Python", () => {
    assert.equal(formatPythonTraceback([], "KeyboardInterrupt", ""), "KeyboardInterrupt");
    assert.equal(new PythonError("", { pythonType: "StopIteration" }).message, "StopIteration");
  });
});

describe("BridgeError.from", () => {
  it("keeps bridge errors as they are", () => {
    const err = new QueueFullError("full", { limit: 10 });
    assert.equal(BridgeError.from(err), err);
  });

  it("wraps a plain Error as InternalError with the original as cause", () => {
    const original = new TypeError("x is not a function");
    const err = BridgeError.from(original);
    assert.ok(err instanceof InternalError);
    assert.equal(err.code, Code.INTERNAL);
    assert.equal(err.reason, "internal");
    assert.equal(err.message, "x is not a function");
    assert.equal(err.cause, original);
  });

  it("wraps a string and other thrown values", () => {
    const err = BridgeError.from("it broke");
    assert.ok(err instanceof InternalError);
    assert.equal(err.message, "it broke");
    assert.equal(BridgeError.from(42).message, "42");
    const weird = BridgeError.from(Object.create(null));
    assert.ok(weird instanceof InternalError);
    assert.equal(weird.message, "[object Object]");
  });

  it("maps an AbortSignal abort reason to CancelledError", () => {
    const reason: unknown = AbortSignal.abort().reason;
    const err = BridgeError.from(reason);
    assert.ok(err instanceof CancelledError);
    assert.equal(err.code, Code.CANCELLED);
    assert.equal(err.reason, "cancelled");
    assert.equal(err.cause, reason);

    const controller = new AbortController();
    controller.abort();
    assert.ok(BridgeError.from(controller.signal.reason) instanceof CancelledError);
  });

  it("maps an AbortSignal.timeout reason to TimeoutError", async () => {
    const signal = AbortSignal.timeout(1);
    await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    const reason: unknown = signal.reason;
    assert.ok(reason instanceof DOMException && reason.name === "TimeoutError");
    const err = BridgeError.from(reason);
    assert.ok(err instanceof TimeoutError);
    assert.equal(err.code, Code.DEADLINE_EXCEEDED);
    assert.equal(err.reason, "timeout");
    assert.equal(err.cause, reason);
  });

  it("sends abort and timeout reasons with their codes", () => {
    assert.equal(errorToDetail(AbortSignal.abort().reason).reason, "cancelled");
    assert.equal(errorToDetail(new DOMException("late", "TimeoutError")).code, Code.DEADLINE_EXCEEDED);
  });
});

describe("variable type errors", () => {
  it("TypeMismatchError and ConstraintViolationError are InvalidArgumentErrors with typed details", () => {
    const tm = new errors.TypeMismatchError("x must be a float", { variable: "x", type: "float", got: "string" });
    assert.ok(tm instanceof InvalidArgumentError);
    assert.equal(tm.code, Code.INVALID_ARGUMENT);
    assert.deepEqual(tm.details, { variable: "x", type: "float", got: "string" });
    const cv = new errors.ConstraintViolationError("t = 3 violates max = 2", {
      variable: "t",
      constraint: "max",
      limit: [0, 2],
    });
    assert.ok(cv instanceof InvalidArgumentError);
    assert.deepEqual(cv.limit, [0, 2]);
    const back = errorFromDetail(errorToDetail(cv)) as errors.ConstraintViolationError;
    assert.equal(back.constructor, errors.ConstraintViolationError);
    assert.deepEqual(back.limit, [0, 2]);
    assert.equal(back.constraint, "max");
  });
});

describe("edges of the error mapping", () => {
  it("abort and timeout reasons keep their own message, or say what happened when they have none", () => {
    assert.equal(BridgeError.from({ name: "AbortError", message: "user left" }).message, "user left");
    assert.equal(BridgeError.from({ name: "AbortError" }).message, "the operation was aborted");
    assert.equal(BridgeError.from({ name: "AbortError", message: 7 }).message, "the operation was aborted");
    assert.equal(BridgeError.from({ name: "TimeoutError", message: "" }).message, "the operation timed out");
    assert.equal(BridgeError.from({ name: "TimeoutError", message: "too slow" }).message, "too slow");
    // A name that is not a string is not an abort.
    assert.ok(BridgeError.from({ name: 1, message: "x" }) instanceof InternalError);
    assert.ok(BridgeError.from(null) instanceof InternalError);
  });

  it("a thrown string has no cause; any other value is kept as the cause", () => {
    assert.equal(BridgeError.from("it broke").cause, undefined);
    const thrown = { odd: true };
    assert.equal(BridgeError.from(thrown).cause, thrown);
    assert.equal(new InternalError("x").cause, undefined);
    assert.ok(!("cause" in new InternalError("x")), "no cause property without a cause");
  });

  it("pythonTraceback is empty for an error that did not come from Python, and Python's text otherwise", () => {
    assert.equal(new InternalError("host side").pythonTraceback, "");
    const typed = new InvalidArgumentError("bad", { pythonType: "ValueError" });
    assert.equal(typed.pythonTraceback, "ValueError: bad");
    const framesOnly = errorFromDetail(
      create(ErrorDetailSchema, {
        code: 3,
        reason: "invalid_argument",
        message: "m",
        traceback: [{ filename: "f.py", lineno: 1, name: "g", line: "x" }],
      }),
    );
    assert.match(framesOnly.pythonTraceback, /^Traceback \(most recent call last\):\n {2}File "f\.py", line 1, in g\n/);
  });

  it("a PythonError without a type reads as its message", () => {
    const e = new PythonError("plain");
    assert.equal(e.message, "plain");
    assert.equal(e.pythonMessage, "plain");
    assert.equal(new PythonError("m", { pythonType: "KeyError" }).message, "KeyError: m");
  });

  it("an empty reason from the wire is BridgeError's own; a negative or fractional code is sent as UNKNOWN", () => {
    const e = errorFromDetail(create(ErrorDetailSchema, { code: 2, reason: "", message: "m" }));
    assert.equal(e.reason, BridgeError.reason);
    assert.equal(errorToDetail(new BridgeError("m", { code: -1 })).code, Code.UNKNOWN);
    assert.equal(errorToDetail(new BridgeError("m", { code: 1.5 })).code, Code.UNKNOWN);
    assert.equal(errorToDetail(new BridgeError("m", { code: 0 })).code, 0);
  });

  it("details_json that is not an object is kept as text; empty is no details", () => {
    const detailsOf = (detailsJson: string) =>
      errorFromDetail(create(ErrorDetailSchema, { code: 2, reason: "internal", message: "m", detailsJson })).details;
    assert.deepEqual(detailsOf(""), {});
    assert.deepEqual(detailsOf("[1, 2]"), { details_json: "[1, 2]" });
    assert.deepEqual(detailsOf("null"), { details_json: "null" });
    assert.deepEqual(detailsOf("7"), { details_json: "7" });
    assert.deepEqual(detailsOf("{not json"), { details_json: "{not json" });
    assert.deepEqual(detailsOf('{"a": 1}'), { a: 1 });
  });

  it("typed fields read only values of their type (a finite number, a string)", () => {
    assert.equal(new TimeoutError("t", { details: { timeout_ms: "soon" } }).timeoutMs, undefined);
    assert.equal(new TimeoutError("t", { details: { timeout_ms: Number.POSITIVE_INFINITY } }).timeoutMs, undefined);
    assert.equal(new TimeoutError("t", { details: { timeout_ms: 5 } }).timeoutMs, 5);
    assert.equal(new TimeoutError("t", { details: { timeoutMs: 6 } }).timeoutMs, 6, "camelCase accepted when reading");
    assert.equal(new InvalidArgumentError("i", { details: { parameter: 3 } }).parameter, undefined);
    assert.equal(new InvalidArgumentError("i", { details: { parameter: "p" } }).parameter, "p");
  });
});
