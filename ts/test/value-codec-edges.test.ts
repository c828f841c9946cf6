// The value codecs' edges: the exact errors for values that cannot cross (what, where, why),
// keys that are data, and the byte swap big-endian hosts use. The round trips and the shared
// vectors are in values.test.ts.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import {
  type Attachment,
  AttachmentDescriptorSchema,
  AttachmentSchema,
  DType,
  TensorSchema,
  ValueSchema,
} from "../src/gen/dspy_bridge/v1/values_pb.js";
import { LONG_STRING_CHARS } from "../src/values/encode.js";
import { byteSwapped, HOST_IS_LITTLE_ENDIAN } from "../src/values/dtype.js";
import {
  decodeValue,
  dtypeFromProto,
  dtypeToProto,
  encodeValue,
  isDTypeName,
  Tensor,
  ValueDecodingError,
  ValueEncodingError,
} from "../src/values/index.js";

const encodeError = (value: unknown): ValueEncodingError => {
  try {
    encodeValue(value);
  } catch (e) {
    assert.ok(e instanceof ValueEncodingError, `a ValueEncodingError, got ${String(e)}`);
    return e;
  }
  assert.fail("encoded a value that cannot cross");
};
const decodeError = (json: string): ValueDecodingError => {
  try {
    decodeValue(create(ValueSchema, { json }));
  } catch (e) {
    assert.ok(e instanceof ValueDecodingError, `a ValueDecodingError, got ${String(e)}`);
    return e;
  }
  assert.fail(`decoded ${json}`);
};

describe("encoding refuses what cannot cross, naming it and where it is", () => {
  test("functions, named or not", () => {
    assert.equal(
      encodeError({ f: function named() {} }).message,
      "cannot encode value.f: values of type function named are not supported",
    );
    const anonymous = encodeError([
      (
        () => () =>
          1
      )(),
    ]);
    assert.equal(anonymous.path, "value[0]");
    assert.equal(anonymous.detail, "values of type function (anonymous) are not supported");
  });

  test("a Map key that is not a string, with the key and its type", () => {
    const symbolKey = encodeError(new Map<unknown, unknown>([[Symbol("k"), 1]]));
    assert.match(symbolKey.detail, /^Map key Symbol\(k\) has type symbol; only string keys are allowed$/);
    const numberKey = encodeError({ m: new Map<unknown, unknown>([[7, 1]]) });
    assert.equal(numberKey.path, "value.m");
    assert.match(numberKey.detail, /^Map key 7 has type number; only string keys are allowed$/);
  });

  test("a reference cycle names the object that contains itself", () => {
    const a: Record<string, unknown> = { x: 1 };
    a.self = a;
    assert.match(encodeError({ a }).message, /reference cycle \(Object instance contains itself\)/);
  });

  test("class instances and objects with a custom prototype say which", () => {
    class Point {
      x = 1;
    }
    assert.match(encodeError({ p: new Point() }).detail, /Point instance/);
    assert.match(
      encodeError({ p: Object.create(Object.create(null)) as object }).detail,
      /values of type object with a custom prototype are not supported/,
    );
  });
});

describe("keys are data", () => {
  test("a Map with a __proto__ key encodes it as an own key, and it decodes as one", () => {
    const back = decodeValue(encodeValue(new Map([["__proto__", { polluted: 1 }]]))) as Record<string, unknown>;
    assert.ok(Object.hasOwn(back, "__proto__"));
    assert.deepEqual(back.__proto__, { polluted: 1 });
    assert.equal(({} as { polluted?: number }).polluted, undefined, "no prototype was touched");
  });

  test("a Map with a $type key is sent as a tagged map and comes back the same", () => {
    const back = decodeValue(
      encodeValue(
        new Map<string, unknown>([
          ["$type", "not a tag"],
          ["n", 1],
        ]),
      ),
    );
    assert.deepEqual(back, { $type: "not a tag", n: 1 });
  });
});

describe("decoding refuses malformed tags, saying what is wrong", () => {
  test("a tag with extra or missing keys names the key it needs and the ones it got", () => {
    assert.equal(
      decodeError('{"$type": "bigint", "value": "1", "extra": 2}').detail,
      '"bigint" tag must have exactly the key "value", got [value, extra]',
    );
    assert.equal(decodeError('{"$type": "float"}').detail, '"float" tag must have exactly the key "value", got []');
  });

  test("map entries that are not an object say what they were", () => {
    assert.match(decodeError('{"$type": "map", "entries": null}').detail, /map entries must be an object, got null/);
    assert.match(
      decodeError('{"$type": "map", "entries": [1]}').detail,
      /map entries must be an object, got (an )?array/,
    );
  });

  test("the path of a bad node inside lists and maps", () => {
    assert.equal(decodeError('{"a": [1, {"$type": "bigint", "value": "x"}]}').path, "value.a[1]");
  });
});

describe("tensors", () => {
  test("data of the wrong kind is named by what it is", () => {
    const wrong = (data: unknown) => () => new Tensor("float32", [1], data as Float32Array);
    assert.throws(wrong(null), { message: "Tensor: float32 data must be a Float32Array, got null" });
    assert.throws(wrong([1]), { message: "Tensor: float32 data must be a Float32Array, got Array" });
    assert.throws(wrong(new Float64Array(1)), {
      message: "Tensor: float32 data must be a Float32Array, got Float64Array",
    });
    assert.throws(wrong(Object.create(null)), { message: "Tensor: float32 data must be a Float32Array, got object" });
    assert.throws(wrong(1), { message: "Tensor: float32 data must be a Float32Array, got number" });
  });
});

test("byteSwapped reverses each element's bytes (what a big-endian host sends and reads)", () => {
  const bytes = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual([...byteSwapped(bytes, 4)], [4, 3, 2, 1, 8, 7, 6, 5]);
  assert.deepEqual([...byteSwapped(bytes, 2)], [2, 1, 4, 3, 6, 5, 8, 7]);
  assert.deepEqual([...byteSwapped(bytes, 8)], [8, 7, 6, 5, 4, 3, 2, 1]);
  assert.deepEqual([...byteSwapped(bytes, 1)], [...bytes]);
  assert.deepEqual(bytes, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), "a copy: the input is left alone");
});

/** The error decoding `json` with these attachments throws. */
const decodeErrorWith = (json: string, attachments: Attachment[]): ValueDecodingError => {
  try {
    decodeValue(create(ValueSchema, { json, attachments }));
  } catch (e) {
    assert.ok(e instanceof ValueDecodingError, `a ValueDecodingError, got ${String(e)}`);
    return e;
  }
  assert.fail(`decoded ${json}`);
};
const bytesAttachment = (bytes: number[]) =>
  create(AttachmentSchema, { kind: { case: "bytes", value: new Uint8Array(bytes) } });
const tensorAttachment = (dtype: DType, shape: bigint[], data: number[]) =>
  create(AttachmentSchema, {
    kind: { case: "tensor", value: create(TensorSchema, { dtype, shape, data: new Uint8Array(data) }) },
  });

describe("long strings", () => {
  test("from LONG_STRING_CHARS characters on they travel as UTF-8 attachments, when asked; shorter ones in the JSON", () => {
    const at = "é".repeat(LONG_STRING_CHARS);
    const below = "é".repeat(LONG_STRING_CHARS - 1);
    const long = encodeValue({ at, below }, "value", { longStringAttachments: true });
    assert.deepEqual(JSON.parse(long.json), { at: { $type: "string", ref: 0 }, below });
    assert.equal(long.attachments.length, 1);
    assert.equal(long.attachments[0]!.kind.case, "utf8");
    assert.deepEqual(decodeValue(long), { at, below });
    assert.equal(encodeValue({ at }).attachments.length, 0, "not asked: in the JSON");
    assert.equal(encodeValue({ at }, "value", { longStringAttachments: false }).attachments.length, 0);
  });

  test("a long string with a lone surrogate stays in the JSON (UTF-8 cannot carry it)", () => {
    const lone = `${"a".repeat(LONG_STRING_CHARS)}\ud800`;
    const v = encodeValue(lone, "value", { longStringAttachments: true });
    assert.equal(v.attachments.length, 0);
    assert.equal(decodeValue(v), lone);
  });

  test("a string attachment that is not UTF-8 is refused", () => {
    const bad = create(AttachmentSchema, { kind: { case: "utf8", value: new Uint8Array([0xff, 0xfe]) } });
    assert.equal(
      decodeErrorWith('{"$type": "string", "ref": 0}', [bad]).detail,
      "string attachment 0 is not valid UTF-8",
    );
  });
});

describe("numbers at their edges", () => {
  test("the largest safe integers are numbers, one past them a tagged bigint, both ways", () => {
    const max = BigInt(Number.MAX_SAFE_INTEGER);
    assert.equal(encodeValue(max).json, String(Number.MAX_SAFE_INTEGER));
    assert.equal(encodeValue(-max).json, String(-Number.MAX_SAFE_INTEGER));
    assert.deepEqual(JSON.parse(encodeValue(max + 1n).json), { $type: "bigint", value: String(max + 1n) });
    assert.deepEqual(JSON.parse(encodeValue(-max - 1n).json), { $type: "bigint", value: String(-max - 1n) });
    const tagged = (digits: string) =>
      decodeValue(create(ValueSchema, { json: `{"$type":"bigint","value":"${digits}"}` }));
    assert.equal(tagged(String(max)), Number.MAX_SAFE_INTEGER);
    assert.equal(tagged(String(-max)), -Number.MAX_SAFE_INTEGER);
    assert.equal(tagged(String(max + 1n)), max + 1n);
    assert.equal(tagged(String(-max - 1n)), -max - 1n);
    assert.equal(tagged("0"), 0);
  });

  test("malformed bigint and float tags say what they got", () => {
    for (const digits of ["01", "1.5", "", "+1", "1e3", " 1"]) {
      assert.equal(
        decodeError(`{"$type": "bigint", "value": ${JSON.stringify(digits)}}`).detail,
        `bigint value must be a decimal integer string, got ${JSON.stringify(digits)}`,
      );
    }
    assert.equal(
      decodeError('{"$type": "bigint", "value": 5}').detail,
      "bigint value must be a decimal integer string, got 5",
    );
    assert.equal(
      decodeError('{"$type": "float", "value": "inf"}').detail,
      'float value must be "NaN", "Infinity" or "-Infinity", got "inf"',
    );
    assert.equal(
      decodeError('{"$type": "float", "value": "toString"}').detail,
      'float value must be "NaN", "Infinity" or "-Infinity", got "toString"',
    );
    assert.equal(
      decodeError('{"$type": "float", "value": 1}').detail,
      'float value must be "NaN", "Infinity" or "-Infinity", got 1',
    );
    assert.deepEqual(JSON.parse(encodeValue([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]).json), [
      { $type: "float", value: "NaN" },
      { $type: "float", value: "Infinity" },
      { $type: "float", value: "-Infinity" },
    ]);
  });
});

describe("decoding: attachments and tags", () => {
  test("an unknown tag, and refs that point at nothing or at the wrong kind", () => {
    assert.equal(decodeError('{"$type": "weird"}').detail, 'unknown $type "weird"');
    const one = [bytesAttachment([1])];
    assert.equal(
      decodeErrorWith('{"$type": "bytes", "ref": -1}', one).detail,
      "ref must be a non-negative integer, got -1",
    );
    assert.equal(
      decodeErrorWith('{"$type": "bytes", "ref": 0.5}', one).detail,
      "ref must be a non-negative integer, got 0.5",
    );
    assert.equal(
      decodeErrorWith('{"$type": "bytes", "ref": "0"}', one).detail,
      'ref must be a non-negative integer, got "0"',
    );
    assert.equal(decodeErrorWith('{"$type": "bytes", "ref": 1}', one).detail, "ref 1 out of range (1 attachments)");
    assert.equal(
      decodeErrorWith('{"$type": "tensor", "ref": 0}', one).detail,
      "attachment 0 holds bytes, expected tensor",
    );
    assert.equal(
      decodeErrorWith('{"$type": "bytes", "ref": 0}', [create(AttachmentSchema, {})]).detail,
      "attachment 0 holds nothing, expected bytes",
    );
    assert.deepEqual(decodeValue(create(ValueSchema, { json: '[{"$type": "bytes", "ref": 0}]', attachments: one })), [
      new Uint8Array([1]),
    ]);
  });

  test("external attachments are refused outside a worker connection; without a tag nothing looks at them", () => {
    const external = [create(AttachmentDescriptorSchema, {})];
    assert.throws(
      () => decodeValue(create(ValueSchema, { json: '{"$type": "bytes", "ref": 0}', external })),
      (e: unknown) =>
        e instanceof ValueDecodingError &&
        e.detail === "external attachments only travel on a worker connection (send them as attachments)",
    );
    assert.deepEqual(decodeValue(create(ValueSchema, { json: '{"a": 1}', external })), { a: 1 });
  });

  test("an escaped key spells a tag too", () => {
    assert.equal(decodeValue(create(ValueSchema, { json: '{"\\u0024type": "bigint", "value": "7"}' })), 7);
    assert.deepEqual(decodeValue(create(ValueSchema, { json: '{"s": "\\u00e9"}' })), { s: "é" });
  });

  test("malformed JSON and JSON nested too deeply are refused at the root", () => {
    assert.match(decodeError("{").message, /^cannot decode value: malformed JSON: ./);
    const deep = `${"[".repeat(10_000)}${"]".repeat(10_000)}`;
    assert.match(decodeError(deep).detail, /^its JSON nests more than \d+ levels deep/);
  });

  test("an error inside a tagged map's entries names the path through them", () => {
    const e = decodeError('{"m": {"$type": "map", "entries": {"$type": "x", "k": {"$type": "bigint", "value": "z"}}}}');
    assert.equal(e.path, "value.m.entries.k");
    assert.equal(decodeError('{"$type": "map", "entries": 3}').detail, "map entries must be an object, got number");
  });

  test("tensor attachments: unknown dtypes, sizes that do not match, bool bytes other than 0 and 1", () => {
    const json = '{"$type": "tensor", "ref": 0}';
    assert.equal(decodeErrorWith(json, [tensorAttachment(0 as DType, [1n], [0])]).detail, "unsupported tensor dtype 0");
    assert.equal(
      decodeErrorWith(json, [tensorAttachment(DType.DTYPE_FLOAT32, [2n, 2n], [0, 0, 0, 0])]).detail,
      "tensor data is 4 bytes but float32 shape [2, 2] needs 16",
    );
    assert.equal(
      decodeErrorWith(json, [tensorAttachment(DType.DTYPE_UINT8, [2n ** 53n], [])]).detail,
      `tensor dimension ${2n ** 53n} is too large`,
    );
    assert.equal(
      decodeErrorWith(json, [tensorAttachment(DType.DTYPE_BOOL, [2n], [1, 2])]).detail,
      "bool tensor bytes must be 0 or 1",
    );
    const ok = decodeValue(
      create(ValueSchema, { json, attachments: [tensorAttachment(DType.DTYPE_BOOL, [2n], [1, 0])] }),
    ) as Tensor;
    assert.deepEqual([ok.dtype, [...ok.shape], [...ok.data]], ["bool", [2], [1, 0]]);
    assert.equal(
      decodeErrorWith(json, [tensorAttachment(DType.DTYPE_UINT8, [2n ** 53n - 1n], [])]).detail,
      `tensor data is 0 bytes but uint8 shape [${2n ** 53n - 1n}] needs ${2n ** 53n - 1n}`,
    );
  });

  test("embedding attachments must be float32 or float64 and one-dimensional", () => {
    const json = '{"$type": "embedding", "ref": 0}';
    assert.equal(
      decodeErrorWith(json, [tensorAttachment(DType.DTYPE_INT32, [1n], [0, 0, 0, 0])]).detail,
      "embedding must be float32 or float64, got int32",
    );
    assert.equal(
      decodeErrorWith(json, [tensorAttachment(99 as DType, [1n], [0])]).detail,
      "embedding must be float32 or float64, got 99",
    );
    assert.equal(
      decodeErrorWith(json, [tensorAttachment(DType.DTYPE_FLOAT64, [1n, 1n], [0, 0, 0, 0, 0, 0, 0, 0])]).detail,
      "embedding must be 1-D, got shape [1, 1]",
    );
    assert.equal(
      decodeErrorWith(json, [tensorAttachment(DType.DTYPE_FLOAT32, [2n], [0, 0, 0, 0])]).detail,
      "embedding data is 4 bytes but float32 shape [2] needs 8",
    );
    const back = decodeValue(
      create(ValueSchema, { json, attachments: [tensorAttachment(DType.DTYPE_FLOAT32, [1n], [0, 0, 0x80, 0x3f])] }),
    );
    assert.deepEqual(back, new Float32Array([1]));
  });
});

describe("encoding: what is tagged and what is refused", () => {
  test("a plain object is sent as itself; only one with a $type key becomes a tagged map", () => {
    assert.equal(encodeValue({ a: { b: 1 } }).json, '{"a":{"b":1}}');
    assert.equal(encodeValue({ a: { $type: 1 } }).json, '{"a":{"$type":"map","entries":{"$type":1}}}');
    assert.equal(encodeValue(new Map([["a", 1]])).json, '{"a":1}');
    assert.equal(encodeValue(Object.assign(Object.create(null) as object, { n: 1 })).json, '{"n":1}');
  });

  test("typed arrays other than bytes and embeddings, ArrayBuffers and exotic objects are refused by name", () => {
    assert.equal(
      encodeError(new Int16Array(1)).detail,
      "Int16Array instance is not supported (bytes are Uint8Array, embeddings Float32Array/Float64Array; wrap other arrays in a Tensor)",
    );
    assert.equal(
      encodeError(new DataView(new ArrayBuffer(1))).detail,
      "DataView instance is not supported (bytes are Uint8Array, embeddings Float32Array/Float64Array; wrap other arrays in a Tensor)",
    );
    assert.equal(
      encodeError(new ArrayBuffer(1)).detail,
      "ArrayBuffer is not supported (wrap it: new Uint8Array(buffer))",
    );
    assert.equal(
      encodeError(new Set()).detail,
      "values of type Set instance are not supported (only plain objects, arrays, Map, Uint8Array, Float32Array/Float64Array, Tensor)",
    );
    assert.equal(encodeError(Symbol("s")).detail, "values of type symbol are not supported");
    assert.equal(encodeError(new Map([["k", [1, () => 0]]])).path, "value.k[1]");
  });

  test("a reference cycle through a Map or a list names where it closes", () => {
    const list: unknown[] = [];
    list.push(list);
    const e = encodeError({ a: list });
    assert.equal(e.path, "value.a[0]");
    assert.equal(e.detail, "reference cycle (Array instance contains itself)");
    const m = new Map<string, unknown>();
    m.set("self", m);
    assert.equal(encodeError({ m }).path, "value.m.self");
  });

  test("a value nested too deeply (no cycle) is refused at the root", () => {
    let deep: unknown = 1;
    for (let i = 0; i < 200_000; i++) deep = [deep];
    const e = encodeError(deep);
    assert.equal(e.path, "value");
    assert.equal(e.detail, "value is nested too deeply");
  });

  test("tensors carry their dtype, shape and little-endian bytes", () => {
    const t = Tensor.fromValues("int16", [2], [1, -2]);
    const v = encodeValue(t);
    const att = v.attachments[0]!;
    assert.equal(att.kind.case, "tensor");
    const msg = att.kind.value as { dtype: DType; shape: bigint[]; data: Uint8Array };
    assert.equal(msg.dtype, DType.DTYPE_INT16);
    assert.deepEqual(msg.shape, [2n]);
    assert.deepEqual([...msg.data], [1, 0, 0xfe, 0xff]);
    assert.ok(HOST_IS_LITTLE_ENDIAN);
    const emb = encodeValue(new Float64Array([1])).attachments[0]!.kind.value as { dtype: DType; shape: bigint[] };
    assert.deepEqual([emb.dtype, emb.shape], [DType.DTYPE_FLOAT64, [1n]]);
  });
});

describe("Tensor and dtype names", () => {
  test("a Tensor's refusals say what was wrong", () => {
    assert.throws(() => new Tensor("complex" as never, [1], new Float32Array(1) as never), {
      message: "Tensor: unknown dtype complex",
    });
    assert.throws(() => new Tensor("int32", [1.5], new Int32Array(1)), {
      message: "Tensor: invalid dimension 1.5 in shape",
    });
    assert.throws(() => new Tensor("int32", [2, 2], new Int32Array(3)), {
      message: "Tensor: shape [2, 2] needs 4 elements, data has 3",
    });
    assert.throws(() => new Tensor("bool", [2], new Uint8Array([0, 2])), {
      message: "Tensor: bool data must be 0 or 1",
    });
    const zero = new Tensor("float32", [0, 3], new Float32Array(0));
    assert.equal(zero.size, 0);
  });

  test("a Tensor keeps its own frozen copy of the shape", () => {
    const shape = [2];
    const t = new Tensor("uint8", shape, new Uint8Array(2));
    shape[0] = 5;
    assert.deepEqual(t.shape, [2]);
    assert.ok(Object.isFrozen(t.shape));
  });

  test("fromValues converts numbers, booleans and bigints to the dtype's array", () => {
    assert.deepEqual([...Tensor.fromValues("bool", [3], [true, false, 1]).data], [1, 0, 1]);
    assert.deepEqual([...Tensor.fromValues("int64", [2], [1, 2n]).data], [1n, 2n]);
    assert.deepEqual([...Tensor.fromValues("uint64", [1], [3]).data], [3n]);
    assert.ok(Tensor.fromValues("float16", [1], [0x3c00]).data instanceof Uint16Array);
  });

  test("dtype names and their proto values", () => {
    assert.equal(dtypeToProto("float16"), DType.DTYPE_FLOAT16);
    assert.equal(dtypeFromProto(DType.DTYPE_INT8), "int8");
    assert.equal(dtypeFromProto(0), undefined);
    assert.equal(isDTypeName("bool"), true);
    assert.equal(isDTypeName("toString"), false);
    assert.equal(isDTypeName(5), false);
  });
});
