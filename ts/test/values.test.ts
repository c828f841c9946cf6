// Value envelope tests: the shared vectors in testdata/values.json plus TypeScript-specific cases.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { AttachmentSchema, ValueSchema } from "../src/gen/dspy_bridge/v1/values_pb.js";
import type { Attachment, Value } from "../src/gen/dspy_bridge/v1/values_pb.js";
import {
  DTYPE_INFO,
  Tensor,
  ValueDecodingError,
  ValueEncodingError,
  decodeValue,
  dtypeFromProto,
  encodeValue,
  encodeValueParts,
  isDTypeName,
} from "../src/values/index.js";
import type { DTypeName } from "../src/values/index.js";

// ts/dist/test/values.test.js -> repo root is three levels up
const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

interface AttachmentDesc {
  bytes?: string;
  tensor?: { dtype: string | number; shape: number[]; data: string };
}
interface EnvelopeDesc {
  json: string;
  attachments: AttachmentDesc[];
}
type Node =
  | { t: "null" }
  | { t: "bool"; v: boolean }
  | { t: "int"; v: string }
  | { t: "float"; v: number | string }
  | { t: "str"; v: string }
  | { t: "bytes"; v: string }
  | { t: "list"; v: Node[] }
  | { t: "map"; v: Record<string, Node> }
  | { t: "tensor"; dtype: string; shape: number[]; data: string; values: unknown[] }
  | { t: "embedding"; dtype: string; data: string; values: unknown[] };
interface ValidCase {
  name: string;
  envelope: EnvelopeDesc;
  binary: string;
  expected: Node;
  reencoded?: EnvelopeDesc;
}
interface InvalidCase {
  name: string;
  envelope: EnvelopeDesc;
  binary: string;
  error: string;
  path: string;
  message_contains: string;
}

const vectors = JSON.parse(readFileSync(join(ROOT, "testdata", "values.json"), "utf8")) as {
  valid: ValidCase[];
  invalid: InvalidCase[];
};

// ---- helpers --------------------------------------------------------------------------------
function b64(s: string): Uint8Array {
  // a plain Uint8Array (not a Buffer) so prototypes compare equal
  return new Uint8Array(Buffer.from(s, "base64"));
}

function buildEnvelope(env: EnvelopeDesc): Value {
  const attachments: Attachment[] = env.attachments.map((a) => {
    if (a.bytes !== undefined) return create(AttachmentSchema, { kind: { case: "bytes", value: b64(a.bytes) } });
    if (a.tensor !== undefined) {
      const { dtype, shape, data } = a.tensor;
      return create(AttachmentSchema, {
        kind: {
          case: "tensor",
          value: {
            dtype: typeof dtype === "number" ? dtype : DTYPE_INFO[dtype as DTypeName].proto,
            shape: shape.map((d) => BigInt(d)),
            data: b64(data),
          },
        },
      });
    }
    return create(AttachmentSchema, {});
  });
  return create(ValueSchema, { json: env.json, attachments });
}

function typedFromBytes(dtype: DTypeName, bytes: Uint8Array): Tensor["data"] {
  const info = DTYPE_INFO[dtype];
  const copy = bytes.slice();
  return new info.ctor(copy.buffer, 0, copy.length / info.itemSize);
}

function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
}

function expectedValue(node: Node): unknown {
  switch (node.t) {
    case "null":
      return null;
    case "bool":
    case "str":
      return node.v;
    case "int": {
      const n = BigInt(node.v);
      return Number.isSafeInteger(Number(n)) && BigInt(Number(n)) === n ? Number(n) : n;
    }
    case "float":
      return typeof node.v === "number" ? node.v : Number(node.v);
    case "bytes":
      return b64(node.v);
    case "list":
      return node.v.map(expectedValue);
    case "map": {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(node.v)) setOwn(out, k, expectedValue(v));
      return out;
    }
    case "tensor":
      assert.ok(isDTypeName(node.dtype));
      return new Tensor(node.dtype, node.shape, typedFromBytes(node.dtype, b64(node.data)) as never);
    case "embedding":
      assert.ok(node.dtype === "float32" || node.dtype === "float64");
      return typedFromBytes(node.dtype, b64(node.data));
  }
}

function checkElementValues(data: Tensor["data"], dtype: string, values: unknown[]): void {
  if (dtype === "float16") return; // no native half floats in Node 20; bytes are compared instead
  assert.equal(data.length, values.length);
  for (let i = 0; i < values.length; i++) {
    const got = data[i]!;
    const want = values[i];
    if (dtype === "int64" || dtype === "uint64") assert.equal(got, BigInt(want as string));
    else if (dtype === "bool") assert.equal(got, want ? 1 : 0);
    else if (typeof want === "string") assert.ok(Object.is(got, Number(want)), `element ${i}: ${got} vs ${want}`);
    else assert.equal(got, want);
  }
}

/** Deep comparison plus element-wise checks of the `values` lists in tensor/embedding nodes. */
function assertDecodedEquals(actual: unknown, node: Node): void {
  assert.deepStrictEqual(actual, expectedValue(node));
  const visit = (a: unknown, n: Node): void => {
    if (n.t === "list") n.v.forEach((c, i) => visit((a as unknown[])[i], c));
    else if (n.t === "map") for (const [k, c] of Object.entries(n.v)) visit((a as Record<string, unknown>)[k], c);
    else if (n.t === "tensor") {
      assert.ok(a instanceof Tensor);
      checkElementValues(a.data, n.dtype, n.values);
    } else if (n.t === "embedding") {
      assert.ok(a instanceof (n.dtype === "float32" ? Float32Array : Float64Array));
      checkElementValues(a as Float32Array, n.dtype, n.values);
    } else if (n.t === "bytes") assert.equal(Object.getPrototypeOf(a), Uint8Array.prototype);
  };
  visit(actual, node);
}

function assertSameEnvelope(actual: Value, expected: Value): void {
  const parse = (s: string): unknown => (s === "" ? null : JSON.parse(s));
  assert.deepStrictEqual(parse(actual.json), parse(expected.json));
  assert.equal(actual.attachments.length, expected.attachments.length);
  actual.attachments.forEach((att, i) => {
    assert.deepStrictEqual(
      toBinary(AttachmentSchema, att),
      toBinary(AttachmentSchema, expected.attachments[i]!),
      `attachment ${i}`,
    );
  });
}

// ---- shared vectors -------------------------------------------------------------------------
for (const c of vectors.valid) {
  test(`vector decodes: ${c.name}`, () => {
    const msg = buildEnvelope(c.envelope);
    const wire = toBinary(ValueSchema, msg);
    assert.equal(Buffer.from(wire).toString("base64"), c.binary, "protobuf bytes differ from the vector");
    const parsed = fromBinary(ValueSchema, b64(c.binary));
    assertDecodedEquals(decodeValue(parsed), c.expected);
    assertDecodedEquals(decodeValue(msg), c.expected);
  });

  test(`vector re-encodes: ${c.name}`, () => {
    const decoded = decodeValue(fromBinary(ValueSchema, b64(c.binary)));
    const target = buildEnvelope(c.reencoded ?? c.envelope);
    const again = encodeValue(decoded);
    assertSameEnvelope(again, target);
    // the natively built expected value encodes to the same envelope too
    assertSameEnvelope(encodeValue(expectedValue(c.expected)), target);
    // serialized bytes survive a protobuf round trip
    const wire = toBinary(ValueSchema, again);
    const back = fromBinary(ValueSchema, wire);
    assert.deepStrictEqual(toBinary(ValueSchema, back), wire);
    assertDecodedEquals(decodeValue(back), c.expected);
  });
}

for (const c of vectors.invalid) {
  test(`invalid vector rejected: ${c.name}`, () => {
    assert.equal(c.error, "ValueDecodingError");
    const msg = fromBinary(ValueSchema, b64(c.binary));
    assert.deepStrictEqual(toBinary(ValueSchema, msg), toBinary(ValueSchema, buildEnvelope(c.envelope)));
    assert.throws(
      () => decodeValue(msg),
      (e: unknown) => {
        assert.ok(e instanceof ValueDecodingError, `got ${String(e)}`);
        assert.equal(e.path, c.path);
        assert.ok(e.message.includes(c.message_contains), e.message);
        assert.equal(e.reason, "invalid_argument");
        return true;
      },
    );
  });
}

test("vector file has the required coverage", () => {
  assert.ok(vectors.valid.length >= 30);
  assert.ok(vectors.invalid.length >= 20);
  const names = vectors.valid.map((c) => c.name).join(" | ");
  for (const needle of [
    "float32 2-D",
    "float64 3-D",
    "empty [0]",
    "scalar shape []",
    "int64 beyond 2^53",
    "embedding float32",
    "all 256",
  ]) {
    assert.ok(names.includes(needle), needle);
  }
});

// ---- TypeScript-specific behaviour ----------------------------------------------------------
test("plain values use one JSON.stringify and no attachments", () => {
  const v = encodeValue({ x: 1, s: "hello", l: [1.5, null, true] });
  assert.equal(v.json, '{"x":1,"s":"hello","l":[1.5,null,true]}');
  assert.equal(v.attachments.length, 0);
  assert.deepStrictEqual(decodeValue(v), { x: 1, s: "hello", l: [1.5, null, true] });
});

test("undefined becomes null (top level, in objects, in arrays and holes)", () => {
  assert.equal(encodeValue(undefined).json, "null");
  // eslint-disable-next-line no-sparse-arrays
  assert.deepStrictEqual(JSON.parse(encodeValue({ a: undefined, b: [undefined, , 1] }).json), {
    a: null,
    b: [null, null, 1],
  });
});

test("bigint: safe values become numbers, others are tagged", () => {
  assert.equal(encodeValue(5n).json, "5");
  assert.deepStrictEqual(JSON.parse(encodeValue(2n ** 64n).json), { $type: "bigint", value: "18446744073709551616" });
  assert.equal(decodeValue(encodeValue(-(2n ** 70n))), -(2n ** 70n));
  assert.equal(decodeValue(encodeValue(2n ** 53n - 1n)), Number.MAX_SAFE_INTEGER);
});

test("non-finite numbers are tagged and restored", () => {
  const out = decodeValue(encodeValue([NaN, Infinity, -Infinity, { n: NaN }])) as unknown[];
  assert.deepStrictEqual(out, [NaN, Infinity, -Infinity, { n: NaN }]);
});

test("Map with string keys encodes as a map (and $type keys are escaped)", () => {
  const m = new Map<string, unknown>([
    ["a", 1],
    ["$type", "x"],
    ["b", new Map([["c", 2n ** 60n]])],
  ]);
  const v = encodeValue(m);
  assert.equal((JSON.parse(v.json) as { $type: string }).$type, "map");
  assert.deepStrictEqual(decodeValue(v), { a: 1, $type: "x", b: { c: 2n ** 60n } });
});

test("Buffer encodes as bytes and decodes as a plain Uint8Array view", () => {
  const v = encodeValue({ b: Buffer.from("hello") });
  const out = (decodeValue(fromBinary(ValueSchema, toBinary(ValueSchema, v))) as { b: Uint8Array }).b;
  assert.equal(Object.getPrototypeOf(out), Uint8Array.prototype);
  assert.deepStrictEqual(out, new Uint8Array(Buffer.from("hello")));
});

test("embeddings: Float32Array and Float64Array round trip as themselves", () => {
  const v = encodeValue({ a: new Float32Array([1, 2.5]), b: new Float64Array([0.1]) });
  assert.deepStrictEqual(JSON.parse(v.json), { a: { $type: "embedding", ref: 0 }, b: { $type: "embedding", ref: 1 } });
  const out = decodeValue(fromBinary(ValueSchema, toBinary(ValueSchema, v))) as Record<string, unknown>;
  assert.deepStrictEqual(out, { a: new Float32Array([1, 2.5]), b: new Float64Array([0.1]) });
});

test("decoded tensors are views when aligned and copies when not", () => {
  const t = Tensor.fromValues("float64", [2, 2], [1, 2, 3, 4]);
  const wire = toBinary(ValueSchema, encodeValue(t));
  for (const shift of [0, 1, 3, 8]) {
    const buf = new Uint8Array(wire.length + shift);
    buf.set(wire, shift);
    const msg = fromBinary(ValueSchema, buf.subarray(shift));
    const out = decodeValue(msg) as Tensor<"float64">;
    assert.deepStrictEqual([...out.data], [1, 2, 3, 4]);
    assert.deepStrictEqual(out.shape, [2, 2]);
    assert.equal(out.data.byteOffset % 8, 0);
    const att = msg.attachments[0]!.kind.value as { data: Uint8Array };
    const aligned = att.data.byteOffset % 8 === 0;
    assert.equal(out.data.buffer === buf.buffer, aligned, `shift ${shift}`);
  }
});

test("Tensor validates dtype, shape and data", () => {
  assert.throws(() => new Tensor("float32", [3], new Float32Array(2)), /needs 3 elements/);
  assert.throws(() => new Tensor("float32", [2], new Float64Array(2) as never), /must be a Float32Array/);
  assert.throws(() => new Tensor("bool", [1], new Uint8Array([2])), /0 or 1/);
  assert.throws(() => new Tensor("int32", [-1], new Int32Array(0)), /invalid dimension/);
  const t = Tensor.fromValues("uint64", [2], [0n, 2n ** 64n - 1n]);
  assert.equal(t.size, 2);
  assert.equal(dtypeFromProto(DTYPE_INFO.uint64.proto), "uint64");
});

test("every dtype round trips", () => {
  for (const name of Object.keys(DTYPE_INFO) as DTypeName[]) {
    const vals = name === "int64" || name === "uint64" ? [0n, 1n, 0n, 1n, 1n, 0n] : [0, 1, 0, 1, 1, 0];
    const t = Tensor.fromValues(name, [3, 2], vals);
    const out = decodeValue(fromBinary(ValueSchema, toBinary(ValueSchema, encodeValue([t])))) as Tensor[];
    assert.deepStrictEqual(out[0], t, name);
  }
});

test("encodeValueParts returns the json text and attachments", () => {
  const { json, attachments } = encodeValueParts({ b: new Uint8Array([1]) });
  assert.equal(json, '{"b":{"$type":"bytes","ref":0}}');
  assert.equal(attachments.length, 1);
  assert.equal(attachments[0]!.kind.case, "bytes");
});

test("__proto__ keys are data, never prototypes", () => {
  const input = JSON.parse('{"__proto__":{"polluted":1},"n":[1]}') as Record<string, unknown>;
  const out = decodeValue(encodeValue({ wrap: input, big: 2n ** 60n })) as { wrap: Record<string, unknown> };
  assert.equal(Object.getPrototypeOf(out.wrap), Object.prototype);
  assert.ok(Object.hasOwn(out.wrap, "__proto__"));
  assert.equal((out.wrap as { polluted?: unknown }).polluted, undefined);
});

test("empty json decodes as null", () => {
  assert.equal(decodeValue(create(ValueSchema, {})), null);
});

// ---- encoding errors name the path ----------------------------------------------------------
class Point {
  constructor(readonly x: number) {}
}
const encodingErrors: [string, unknown, string, string, RegExp][] = [
  ["function", { items: [1, 2, 3, () => 1] }, "args", "args.items[3]", /function/],
  ["symbol", { s: Symbol("s") }, "value", "value.s", /symbol/],
  ["class instance", [new Point(1)], "value", "value[0]", /Point instance/],
  ["Date", { when: new Date(0) }, "value", "value.when", /Date instance/],
  ["Map with non-string key", { m: new Map([[1, "x"]]) }, "value", "value.m", /Map key 1 has type number/],
  ["Int32Array", { "odd key": [new Int32Array(2)] }, "value", 'value["odd key"][0]', /Int32Array.*Tensor/],
  ["ArrayBuffer", new ArrayBuffer(4), "value", "value", /ArrayBuffer/],
  ["Set", { s: new Set([1]) }, "value", "value.s", /Set instance/],
  ["inside an escaped map", { $type: "x", bad: () => 0 }, "value", "value.bad", /function/],
  ["inside a Map", new Map([["k", [Symbol.iterator]]]), "value", "value.k[0]", /symbol/],
];
for (const [label, value, root, path, re] of encodingErrors) {
  test(`encoding error names the path: ${label}`, () => {
    assert.throws(
      () => encodeValue(value, root),
      (e: unknown) => {
        assert.ok(e instanceof ValueEncodingError, `got ${String(e)}`);
        assert.equal(e.path, path);
        assert.match(e.message, re);
        assert.equal(e.reason, "invalid_argument");
        return true;
      },
    );
  });
}

test("cycles are reported with their path", () => {
  const a: unknown[] = [1];
  a.push({ back: a });
  assert.throws(
    () => encodeValue({ x: a }),
    (e: unknown) => e instanceof ValueEncodingError && e.path === "value.x[1].back" && /cycle/.test(e.message),
  );
});
