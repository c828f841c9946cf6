import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { fromBinary } from "@bufbuild/protobuf";
import { ValueSchema } from "../src/gen/dspy_bridge/v1/values_pb.js";
import {
  ConstraintViolationError,
  InvalidArgumentError,
  TypeMismatchError,
  errorFromDetail,
  errorToDetail,
} from "../src/errors/index.js";
import { Tensor, decodeValue, encodeValue } from "../src/values/index.js";
import {
  VARIABLE_TYPES,
  canonicalType,
  inferType,
  validateConstraints,
  validateValue,
} from "../src/store/types/index.js";

interface Case {
  name: string;
  type: string;
  constraints: Record<string, unknown>;
  value_b64: string;
  expect: { ok?: true; normalized_b64?: string; error?: string; constraint?: string; parameter?: string };
}
interface InferCase {
  name: string;
  value_b64: string;
  type: string | null;
}

// Compiled to ts/dist/test/: the repository root is three levels up.
const vectors = JSON.parse(
  readFileSync(fileURLToPath(new URL("../../../testdata/variable-types.json", import.meta.url)), "utf8"),
) as { cases: Case[]; infer: InferCase[] };

const decode = (b64: string): unknown => decodeValue(fromBinary(ValueSchema, Buffer.from(b64, "base64")));

const CLASS: Record<string, typeof InvalidArgumentError> = {
  type_mismatch: TypeMismatchError,
  constraint_violation: ConstraintViolationError,
  invalid_argument: InvalidArgumentError,
};

describe("shared vectors (testdata/variable-types.json)", () => {
  assert.ok(vectors.cases.length > 100);
  for (const c of vectors.cases) {
    it(c.name, () => {
      const value = decode(c.value_b64);
      if (c.expect.ok) {
        const stored = validateValue(c.type, value, c.constraints, "v");
        const want = c.expect.normalized_b64 === undefined ? value : decode(c.expect.normalized_b64);
        // What travels is the re-encoded stored value.
        assert.deepEqual(decodeValue(encodeValue(stored)), want);
        return;
      }
      let caught: unknown;
      try {
        validateValue(c.type, value, c.constraints, "v");
      } catch (err) {
        caught = err;
      }
      const cls = CLASS[c.expect.error!]!;
      assert.ok(caught instanceof InvalidArgumentError, `${c.name}: expected an error, got ${String(caught)}`);
      assert.equal(caught.constructor, cls, `${c.name}: got ${caught.constructor.name}: ${caught.message}`);
      assert.equal(caught.reason, c.expect.error);
      if (caught instanceof ConstraintViolationError) {
        assert.equal(caught.constraint, c.expect.constraint, caught.message);
        assert.equal(caught.variable, "v");
        assert.equal(caught.type, canonicalType(c.type));
        assert.match(caught.message, new RegExp(`^v.* violates ${c.expect.constraint} = `));
      } else if (caught instanceof TypeMismatchError) {
        assert.equal(caught.variable, "v");
        assert.equal(caught.type, canonicalType(c.type));
        assert.ok(caught.got);
      } else {
        assert.equal(caught.parameter, c.expect.parameter, caught.message);
      }
    });
  }
  for (const c of vectors.infer) {
    it(`inferType: ${c.name}`, () => {
      const value = decode(c.value_b64);
      if (c.type === null) assert.throws(() => inferType(value), TypeMismatchError);
      else assert.equal(inferType(value), c.type);
    });
  }
});

describe("messages and details", () => {
  it("a constraint violation names the variable, the value, the constraint and the limit", () => {
    const err = captured(() => validateValue("float", 2.5, { min: 0, max: 2 }, "temperature"));
    assert.ok(err instanceof ConstraintViolationError);
    assert.equal(err.message, "temperature = 2.5 violates max = 2");
    assert.deepEqual(err.details, { variable: "temperature", type: "float", constraint: "max", limit: 2 });
    assert.equal(err.code, 3);
    const back = errorFromDetail(errorToDetail(err));
    assert.ok(back instanceof ConstraintViolationError && back instanceof InvalidArgumentError);
    assert.equal(back.limit, 2);
    assert.equal(back.constraint, "max");
  });

  it("lengths, choices, embeddings and non-finite values", () => {
    assert.throws(() => validateValue("string", "abcdef", { max_length: 3 }, "name"), {
      message: 'name = "abcdef" violates max_length = 3 (length 6)',
    });
    assert.throws(() => validateValue("choice", "slow", { choices: ["fast", "accurate"] }, "mode"), {
      message: 'mode = "slow" violates choices = ["fast","accurate"]',
    });
    assert.throws(() => validateValue("embedding", [0.1, 0.2], { dimensions: 3 }, "emb"), {
      message: "emb = Float64Array[0.1, 0.2] violates dimensions = 3 (2 dimensions)",
    });
    assert.throws(
      () => validateValue("float", NaN, {}, "t"),
      /^ConstraintViolationError|t = NaN violates finite = true \(NaN and Infinity/,
    );
    assert.throws(() => validateValue("integer", 11, { max: 10 }), { message: "value = 11 violates max = 10" });
  });

  it("a type mismatch names the variable, the type and what it got", () => {
    const err = captured(() => validateValue("integer", true, {}, "max_tokens"));
    assert.ok(err instanceof TypeMismatchError);
    assert.equal(err.message, "max_tokens must be an integer, got boolean true");
    assert.deepEqual(err.details, { variable: "max_tokens", type: "integer", got: "boolean" });
    assert.throws(() => validateValue("list", ["a", "b", 3], { item_type: "string" }, "tags"), {
      message: "tags[2] must be a string, got number 3",
    });
    const unnamed = captured(() => validateValue("float", "x", {}));
    assert.ok(unnamed instanceof TypeMismatchError);
    assert.equal(unnamed.variable, undefined);
    assert.ok(!("variable" in unnamed.details));
  });

  it("bad type names and constraints name the parameter", () => {
    const err = captured(() => canonicalType("number"));
    assert.ok(err instanceof InvalidArgumentError);
    assert.equal(err.parameter, "type");
    assert.match(err.message, /known types: float, integer/);
    const bad = captured(() => validateConstraints("float", { min: 3, max: 1 }));
    assert.ok(bad instanceof InvalidArgumentError);
    assert.equal(bad.constructor, InvalidArgumentError);
    assert.equal(bad.parameter, "constraints.min");
    assert.throws(() => validateConstraints("float", { pattern: "x" }), /unknown constraint 'pattern' for type float/);
    assert.equal(
      (captured(() => validateConstraints("float", "{not json")) as InvalidArgumentError).parameter,
      "constraints",
    );
  });
});

describe("API details", () => {
  it("canonical names, aliases and constraint normalization", () => {
    assert.deepEqual(
      [...VARIABLE_TYPES],
      ["float", "integer", "string", "boolean", "choice", "module", "list", "map", "embedding", "tensor"],
    );
    assert.equal(canonicalType("int"), "integer");
    assert.equal(canonicalType("dict"), "map");
    assert.deepEqual(validateConstraints("list", { item_type: "int" }), { item_type: "integer" });
    assert.deepEqual(validateConstraints("tensor", { shape: [-1, 3] }), { shape: [null, 3] });
    assert.deepEqual(validateConstraints("string", '{"max_length": 4}'), { max_length: 4 });
    assert.deepEqual(validateConstraints("float", undefined), {});
    const normalized = validateConstraints("string", { pattern: "^a" });
    assert.equal(validateConstraints("string", normalized), normalized, "validated constraints are reused");
    assert.throws(() => validateConstraints("float", normalized), InvalidArgumentError);
  });

  it("TypeScript-only inputs", () => {
    assert.equal(validateValue("integer", 5n, {}), 5);
    assert.equal(validateValue("integer", 2 ** 60, {}), 2n ** 60n);
    assert.equal(validateValue("float", 3n, {}), 3);
    const t = validateValue("tensor", new Float32Array([1, 2]), { shape: [2] });
    assert.ok(t instanceof Tensor && t.dtype === "float32");
    const e = validateValue("embedding", new Float32Array([3, 4]), { normalize: true });
    assert.ok(e instanceof Float32Array);
    assert.deepEqual(Array.from(e), [Math.fround(0.6), Math.fround(0.8)]);
    assert.throws(() => validateValue("map", new Map([["a", 1]]), {}), TypeMismatchError);
    assert.equal(inferType(1.5), "float");
    assert.equal(inferType(Object.create(null)), "map");
    assert.throws(() => inferType(undefined), TypeMismatchError);
    assert.throws(() => inferType(new Date()), TypeMismatchError);
  });
});

function captured(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  assert.fail("expected an exception");
}
