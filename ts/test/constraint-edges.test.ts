// The constraint checker at its edges: each refusal names the constraint (`parameter`) and says
// what was wrong in the words a user reads, and each boundary value on the accepted side is
// accepted and normalized. The shared vectors (variable-types.test.ts) check which constraints
// are refused; these check what the refusal says and where every limit sits.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvalidArgumentError } from "../src/errors/index.js";
import {
  CONSTRAINTS_BY_TYPE,
  DEFAULT_NORM_TOLERANCE,
  LIST_ITEM_TYPES,
  validateConstraints,
  validateValue,
} from "../src/store/types/index.js";

/** The error `validateConstraints(type, constraints)` throws: InvalidArgumentError, with its parameter and message. */
function refusal(type: string, constraints: unknown): { parameter: string | undefined; message: string } {
  try {
    validateConstraints(type, constraints);
  } catch (err) {
    assert.ok(err instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(err)}`);
    assert.equal(err.constructor, InvalidArgumentError);
    return { parameter: err.parameter, message: err.message };
  }
  assert.fail(`${type} ${JSON.stringify(constraints)} was accepted`);
}

// [type, constraints, parameter, message]
const REFUSED: [string, unknown, string, string][] = [
  // What the constraints are
  ["float", "[1]", "constraints", "constraints must be a JSON object, got [1]"],
  ["float", 5, "constraints", "constraints must be a JSON object, got 5"],
  ["float", [1], "constraints", "constraints must be a JSON object, got [1]"],
  ["float", new Map([["min", 1]]), "constraints", "constraints must be a JSON object, got {}"],
  ["float", new (class Limits {})(), "constraints", "constraints must be a JSON object, got {}"],
  [
    "float",
    { max_length: 3 },
    "constraints.max_length",
    "unknown constraint 'max_length' for type float (known: min, max)",
  ],
  [
    "boolean",
    { choices: ["true"] },
    "constraints.choices",
    "unknown constraint 'choices' for type boolean (it takes none)",
  ],
  [
    "list",
    { pattern: "a" },
    "constraints.pattern",
    "unknown constraint 'pattern' for type list (known: min_length, max_length, item_type)",
  ],
  [
    "string",
    { item_type: "string" },
    "constraints.item_type",
    "unknown constraint 'item_type' for type string (known: min_length, max_length, pattern)",
  ],
  // Numbers, and how a value is shown
  ["float", { min: "1" }, "constraints.min", `float constraint 'min' must be a finite number, got "1"`],
  [
    "integer",
    { max: Number.POSITIVE_INFINITY },
    "constraints.max",
    "integer constraint 'max' must be a finite number, got null",
  ],
  ["float", { max: Number.NaN }, "constraints.max", "float constraint 'max' must be a finite number, got null"],
  ["float", { min: 1n }, "constraints.min", "float constraint 'min' must be a finite number, got bigint"],
  ["float", { min: undefined }, "constraints.min", "float constraint 'min' must be a finite number, got undefined"],
  ["float", { min: 2, max: 1 }, "constraints.min", "float constraint 'min' (2) is greater than 'max' (1)"],
  ["integer", { min: 5, max: -5 }, "constraints.min", "integer constraint 'min' (5) is greater than 'max' (-5)"],
  // Lengths and counts
  [
    "string",
    { min_length: -1 },
    "constraints.min_length",
    "string constraint 'min_length' must be a non-negative integer, got -1",
  ],
  [
    "list",
    { max_length: 1.5 },
    "constraints.max_length",
    "list constraint 'max_length' must be a non-negative integer, got 1.5",
  ],
  [
    "list",
    { max_length: 2 ** 53 },
    "constraints.max_length",
    `list constraint 'max_length' must be a non-negative integer, got ${2 ** 53}`,
  ],
  [
    "string",
    { max_length: "3" },
    "constraints.max_length",
    `string constraint 'max_length' must be a non-negative integer, got "3"`,
  ],
  [
    "string",
    { min_length: 3, max_length: 2 },
    "constraints.min_length",
    "string constraint 'min_length' (3) is greater than 'max_length' (2)",
  ],
  [
    "list",
    { min_length: 1, max_length: 0 },
    "constraints.min_length",
    "list constraint 'min_length' (1) is greater than 'max_length' (0)",
  ],
  [
    "string",
    { pattern: 5 },
    "constraints.pattern",
    "string constraint 'pattern' must be a regular expression string, got 5",
  ],
  [
    "list",
    { item_type: "map" },
    "constraints.item_type",
    `list constraint 'item_type' must be one of float, integer, string, boolean, got "map"`,
  ],
  [
    "list",
    { item_type: "number" },
    "constraints.item_type",
    `list constraint 'item_type' must be one of float, integer, string, boolean, got "number"`,
  ],
  [
    "list",
    { item_type: 5 },
    "constraints.item_type",
    "list constraint 'item_type' must be one of float, integer, string, boolean, got 5",
  ],
  // Choices and keys
  ["choice", {}, "constraints.choices", "choice variables need a 'choices' constraint (a non-empty list of strings)"],
  [
    "choice",
    { choices: [] },
    "constraints.choices",
    "choice constraint 'choices' must be a non-empty list of strings, got []",
  ],
  [
    "choice",
    { choices: ["a", 1n] },
    "constraints.choices",
    "choice constraint 'choices' must be a non-empty list of strings, got a list",
  ],
  [
    "module",
    { choices: "Predict" },
    "constraints.choices",
    `module constraint 'choices' must be a non-empty list of strings, got "Predict"`,
  ],
  [
    "map",
    { required_keys: [1] },
    "constraints.required_keys",
    "map constraint 'required_keys' must be a list of strings, got [1]",
  ],
  ["map", { max_keys: -1 }, "constraints.max_keys", "map constraint 'max_keys' must be a non-negative integer, got -1"],
  [
    "map",
    { required_keys: ["a", "b"], max_keys: 1 },
    "constraints.max_keys",
    "map constraint 'max_keys' (1) is less than the 2 required keys",
  ],
  // Embeddings
  [
    "embedding",
    { dimensions: 0 },
    "constraints.dimensions",
    "embedding constraint 'dimensions' must be an integer >= 1, got 0",
  ],
  [
    "embedding",
    { dtype: "int32" },
    "constraints.dtype",
    `embedding constraint 'dtype' must be "float32" or "float64", got "int32"`,
  ],
  [
    "embedding",
    { normalize: 1 },
    "constraints.normalize",
    "embedding constraint 'normalize' must be true or false, got 1",
  ],
  [
    "embedding",
    { norm: "l3" },
    "constraints.norm",
    `embedding constraint 'norm' must be a number >= 0 or one of "unit", "l2", "l1", got "l3"`,
  ],
  [
    "embedding",
    { normalize: true, norm: "l1" },
    "constraints.norm",
    `embedding constraint 'norm' must be 1, "unit" or "l2" when 'normalize' is true (it scales to unit L2 norm), got "l1"`,
  ],
  ["embedding", { norm: -1 }, "constraints.norm", "embedding constraint 'norm' must be >= 0, got -1"],
  ["embedding", { norm: null }, "constraints.norm", "embedding constraint 'norm' must be a finite number, got null"],
  [
    "embedding",
    { normalize: true, norm: 2 },
    "constraints.norm",
    "embedding constraint 'norm' must be 1 when 'normalize' is true, got 2",
  ],
  [
    "embedding",
    { norm_tolerance: -0.1 },
    "constraints.norm_tolerance",
    "embedding constraint 'norm_tolerance' must be >= 0, got -0.1",
  ],
  [
    "embedding",
    { norm_tolerance: "1e-3" },
    "constraints.norm_tolerance",
    `embedding constraint 'norm_tolerance' must be a finite number, got "1e-3"`,
  ],
  [
    "embedding",
    { range: [1, -1] },
    "constraints.range",
    "embedding constraint 'range' must be [lo, hi] with finite numbers lo <= hi, got [1,-1]",
  ],
  [
    "embedding",
    { range: [0] },
    "constraints.range",
    "embedding constraint 'range' must be [lo, hi] with finite numbers lo <= hi, got [0]",
  ],
  [
    "embedding",
    { range: [0, 1, 2] },
    "constraints.range",
    "embedding constraint 'range' must be [lo, hi] with finite numbers lo <= hi, got [0,1,2]",
  ],
  [
    "embedding",
    { range: [0, Number.POSITIVE_INFINITY] },
    "constraints.range",
    "embedding constraint 'range' must be [lo, hi] with finite numbers lo <= hi, got [0,null]",
  ],
  [
    "embedding",
    { range: "0,1" },
    "constraints.range",
    `embedding constraint 'range' must be [lo, hi] with finite numbers lo <= hi, got "0,1"`,
  ],
  // Tensors
  [
    "tensor",
    { shape: 3 },
    "constraints.shape",
    "tensor constraint 'shape' must be a list of non-negative integers (null or -1 = any size), got 3",
  ],
  [
    "tensor",
    { shape: [2, -2] },
    "constraints.shape",
    "tensor constraint 'shape' must be a list of non-negative integers (null or -1 = any size), got [2,-2]",
  ],
  [
    "tensor",
    { shape: [1.5] },
    "constraints.shape",
    "tensor constraint 'shape' must be a list of non-negative integers (null or -1 = any size), got [1.5]",
  ],
  [
    "tensor",
    { shape: ["2"] },
    "constraints.shape",
    `tensor constraint 'shape' must be a list of non-negative integers (null or -1 = any size), got ["2"]`,
  ],
  [
    "tensor",
    { dtype: "complex64" },
    "constraints.dtype",
    `tensor constraint 'dtype' must be a dtype name such as "float32", got "complex64"`,
  ],
  [
    "tensor",
    { dtype: 32 },
    "constraints.dtype",
    `tensor constraint 'dtype' must be a dtype name such as "float32", got 32`,
  ],
  [
    "tensor",
    { dtype: "bool", range: [0, 1] },
    "constraints.range",
    "tensor constraint 'range' applies to numeric dtypes only, not bool",
  ],
  [
    "tensor",
    { dtype: "bool", min_value: 0 },
    "constraints.min_value",
    "tensor constraint 'min_value' applies to numeric dtypes only, not bool",
  ],
  [
    "tensor",
    { dtype: "bool", max_value: 1 },
    "constraints.max_value",
    "tensor constraint 'max_value' applies to numeric dtypes only, not bool",
  ],
  [
    "tensor",
    { range: [3, 2] },
    "constraints.range",
    "tensor constraint 'range' must be [lo, hi] with finite numbers lo <= hi, got [3,2]",
  ],
  [
    "tensor",
    { min_value: "0" },
    "constraints.min_value",
    `tensor constraint 'min_value' must be a finite number, got "0"`,
  ],
  [
    "tensor",
    { max_value: "5" },
    "constraints.max_value",
    `tensor constraint 'max_value' must be a finite number, got "5"`,
  ],
  [
    "tensor",
    { min_value: 2, max_value: 1 },
    "constraints.max_value",
    "tensor constraint 'max_value' (1) is less than 'min_value' (2)",
  ],
];

// [type, constraints, the normalized constraints]: each limit's accepted side.
const ACCEPTED: [string, unknown, Record<string, unknown>][] = [
  ["float", undefined, {}],
  ["float", null, {}],
  ["float", "", {}],
  ["float", "null", {}],
  ["float", '{"min": 0, "max": 1}', { min: 0, max: 1 }],
  ["float", Object.assign(Object.create(null) as object, { min: -1 }), { min: -1 }],
  ["float", { min: 1, max: 1 }, { min: 1, max: 1 }],
  ["integer", { max: -3 }, { max: -3 }],
  ["string", { min_length: 0, max_length: 0 }, { min_length: 0, max_length: 0 }],
  ["string", { min_length: 2, max_length: 2, pattern: "^a" }, { min_length: 2, max_length: 2, pattern: "^a" }],
  ["list", { item_type: "bool", max_length: 2 ** 53 - 1 }, { item_type: "boolean", max_length: 2 ** 53 - 1 }],
  ["list", { item_type: "float" }, { item_type: "float" }],
  ["boolean", {}, {}],
  ["choice", { choices: ["a"] }, { choices: ["a"] }],
  ["module", {}, {}],
  ["module", { choices: ["Predict", "ChainOfThought"] }, { choices: ["Predict", "ChainOfThought"] }],
  ["map", { required_keys: [] }, { required_keys: [] }],
  ["map", { max_keys: 0 }, { max_keys: 0 }],
  ["map", { required_keys: ["a", "a"], max_keys: 1 }, { required_keys: ["a", "a"], max_keys: 1 }],
  ["map", { required_keys: ["a", "b"], max_keys: 2 }, { required_keys: ["a", "b"], max_keys: 2 }],
  ["embedding", { dimensions: 1, dtype: "float64" }, { dimensions: 1, dtype: "float64" }],
  ["embedding", { dtype: "float32", normalize: false }, { dtype: "float32", normalize: false }],
  ["embedding", { normalize: true, norm: 1 }, { normalize: true, norm: 1 }],
  ["embedding", { normalize: true, norm: "unit" }, { normalize: true, norm: "unit" }],
  ["embedding", { normalize: true, norm: "l2" }, { normalize: true, norm: "l2" }],
  ["embedding", { normalize: false, norm: "l1" }, { normalize: false, norm: "l1" }],
  ["embedding", { normalize: false, norm: 2 }, { normalize: false, norm: 2 }],
  ["embedding", { norm: 0, norm_tolerance: 0 }, { norm: 0, norm_tolerance: 0 }],
  ["embedding", { range: [2, 2] }, { range: [2, 2] }],
  ["tensor", { shape: [null, -1, 0, 3] }, { shape: [null, null, 0, 3] }],
  ["tensor", { dtype: "int8", range: [-1, 1] }, { dtype: "int8", range: [-1, 1] }],
  ["tensor", { min_value: 1, max_value: 1 }, { min_value: 1, max_value: 1 }],
  ["tensor", { max_value: -1 }, { max_value: -1 }],
  ["tensor", { dtype: "bool", shape: [2] }, { dtype: "bool", shape: [2] }],
];

describe("constraints: what a refusal says", () => {
  for (const [type, constraints, parameter, message] of REFUSED) {
    it(`${type} ${message}`, () => {
      assert.deepEqual(refusal(type, constraints), { parameter, message });
    });
  }

  it("a constraint text that is not JSON says so and keeps the parser's error as the cause", () => {
    let caught: unknown;
    try {
      validateConstraints("float", "{min: 1");
    } catch (err) {
      caught = err;
    }
    assert.ok(caught instanceof InvalidArgumentError);
    assert.equal(caught.parameter, "constraints");
    assert.match(caught.message, /^constraints are not valid JSON: ./);
    assert.ok(caught.cause instanceof SyntaxError);
  });

  it("a pattern that is not RE2 says it is the string constraint 'pattern', and quotes it", () => {
    const { parameter, message } = refusal("string", { pattern: "(?<=a)b" });
    assert.equal(parameter, "constraints.pattern");
    assert.match(message, /^string constraint 'pattern' "\(\?<=a\)b" is not a valid RE2 regular expression: /);
  });

  it("a long value is shown clipped to 100 characters", () => {
    const long = "x".repeat(500);
    const { message } = refusal("string", { max_length: long });
    const shown = JSON.stringify(long).slice(0, 99);
    assert.equal(message, `string constraint 'max_length' must be a non-negative integer, got ${shown}…`);
  });
});

describe("constraints: the accepted side of every limit, normalized", () => {
  for (const [type, constraints, normalized] of ACCEPTED) {
    it(`${type} ${typeof constraints === "string" ? constraints || '""' : JSON.stringify(constraints)}`, () => {
      const out = validateConstraints(type, constraints);
      assert.deepEqual({ ...out }, normalized);
      assert.ok(Object.isFrozen(out), "normalized constraints are frozen");
    });
  }

  it("the lists a caller gives are copied, not kept", () => {
    const choices = ["a", "b"];
    const out = validateConstraints("choice", { choices });
    choices.push("c");
    assert.deepEqual(out.choices, ["a", "b"]);
  });

  it("normalized constraints are reused for their own type only", () => {
    const plain = { min: 0 };
    const once = validateConstraints("float", plain);
    assert.notEqual(once, plain, "a caller's object is not the normalized one");
    assert.equal(validateConstraints("float", once), once);
    assert.equal(validateConstraints("int", validateConstraints("integer", { max: 1 })).max, 1);
    const forString = validateConstraints("string", { max_length: 2 });
    assert.deepEqual({ ...validateConstraints("list", forString) }, { max_length: 2 }, "checked again for a list");
    assert.equal(refusal("float", forString).parameter, "constraints.max_length");
  });

  it("the constraint table, item types and norm tolerance are the documented ones", () => {
    assert.deepEqual(
      { ...CONSTRAINTS_BY_TYPE },
      {
        float: ["min", "max"],
        integer: ["min", "max"],
        string: ["min_length", "max_length", "pattern"],
        boolean: [],
        choice: ["choices"],
        module: ["choices"],
        list: ["min_length", "max_length", "item_type"],
        map: ["required_keys", "max_keys"],
        embedding: ["dimensions", "dtype", "normalize", "norm", "norm_tolerance", "range"],
        tensor: ["shape", "dtype", "range", "min_value", "max_value"],
      },
    );
    assert.deepEqual([...LIST_ITEM_TYPES], ["float", "integer", "string", "boolean"]);
    assert.equal(DEFAULT_NORM_TOLERANCE, 1e-6);
  });

  it("a string pattern searches the value (not anchored) after it was normalized", () => {
    const c = validateConstraints("string", { pattern: "b+" });
    assert.equal(validateValue("string", "abbc", c, "s"), "abbc");
    assert.throws(() => validateValue("string", "ac", c, "s"), /s = "ac" violates pattern/);
  });
});
