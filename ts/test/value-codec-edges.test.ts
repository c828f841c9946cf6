// The value codecs' edges: the exact errors for values that cannot cross (what, where, why),
// keys that are data, and the byte swap big-endian hosts use. The round trips and the shared
// vectors are in values.test.ts.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { ValueSchema } from "../src/gen/dspy_bridge/v1/values_pb.js";
import { byteSwapped } from "../src/values/dtype.js";
import { decodeValue, encodeValue, Tensor, ValueDecodingError, ValueEncodingError } from "../src/values/index.js";

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
