import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ConstraintViolationError, FailedPreconditionError, InvalidArgumentError } from "../src/errors/index.js";
import {
  type Config,
  Rng,
  type SpaceDoc,
  assertValid,
  compileSpace,
  fromConfigSpace,
  sample,
  toConfigSpace,
  validate,
} from "../src/config/index.js";

interface Vectors {
  float_tolerance: { log_scaled_relative: number };
  spaces: Record<string, SpaceDoc>;
  validate: {
    space: string;
    name: string;
    config: Record<string, unknown>;
    violations: [string, string | null, string | null][];
  }[];
  sampling: { space: string; n: number; seed: number; attempts: number; samples: Config[] }[];
  infeasible: { name: string; space: SpaceDoc; n: number; max_attempts: number | null; attempts: number }[];
  malformed: { name: string; document: unknown; path: string }[];
  configspace: { import: unknown; expect: SpaceDoc; unmapped: { name: string; document: unknown; path: string }[] };
}

// Compiled to ts/dist/test/: the repository root is three levels up.
const vectors = JSON.parse(
  readFileSync(fileURLToPath(new URL("../../../testdata/config-spaces.json", import.meta.url)), "utf8"),
) as Vectors;
const TOL = vectors.float_tolerance.log_scaled_relative;

function assertSameSample(space: SpaceDoc, got: Config, want: Config): void {
  assert.deepEqual(Object.keys(got), Object.keys(want));
  const logs = new Set(space.variables.filter((v) => v.log).map((v) => v.name));
  for (const [k, w] of Object.entries(want)) {
    const g = got[k];
    if (logs.has(k) && typeof w === "number" && !Number.isInteger(w)) {
      assert.ok(Math.abs((g as number) - w) <= TOL * Math.abs(w), `${k}: ${String(g)} vs ${w}`);
    } else {
      assert.equal(g, w, k);
    }
  }
}

const expectInvalid = (fn: () => unknown, path: string): void => {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InvalidArgumentError, String(err));
    assert.equal(err.parameter, path, err.message);
    assert.ok(err.message.startsWith(`${path}: `));
    return true;
  });
};

describe("config spaces: shared vectors", () => {
  for (const c of vectors.validate) {
    it(`validate ${c.space}/${c.name}`, () => {
      const r = validate(vectors.spaces[c.space]!, c.config);
      assert.deepEqual(
        r.violations.map((v) => [v.kind, v.name, v.path]),
        c.violations,
      );
      assert.equal(r.ok, c.violations.length === 0);
    });
  }
  for (const c of vectors.sampling) {
    it(`sample ${c.space} seed ${c.seed}: identical to Python`, () => {
      const space = vectors.spaces[c.space]!;
      const r = sample(space, c.n, c.seed);
      assert.equal(r.attempts, c.attempts);
      assert.equal(r.accepted, c.n);
      assert.equal(r.acceptanceRate, c.n / c.attempts);
      assert.equal(r.samples.length, c.samples.length);
      r.samples.forEach((s, i) => assertSameSample(space, s, c.samples[i]!));
    });
  }
  for (const c of vectors.infeasible) {
    it(`infeasible ${c.name}`, () => {
      assert.throws(
        () => sample(c.space, c.n, 1, c.max_attempts === null ? {} : { maxAttempts: c.max_attempts }),
        (err: unknown) => {
          assert.ok(err instanceof FailedPreconditionError);
          assert.equal(err.details.attempts, c.attempts);
          assert.equal(err.details.accepted, 0);
          assert.equal(err.details.acceptance_rate, 0);
          assert.equal(err.details.requested, c.n);
          assert.match(err.message, /infeasible/);
          return true;
        },
      );
    });
  }
  for (const c of vectors.malformed) {
    it(`malformed ${c.name} → ${c.path}`, () => expectInvalid(() => compileSpace(c.document as SpaceDoc), c.path));
  }
  it("ConfigSpace import, export and round trip", () => {
    const cs = vectors.configspace;
    assert.deepEqual(fromConfigSpace(cs.import), cs.expect);
    const exported = toConfigSpace(cs.expect);
    assert.equal(exported.json_format_version, 0.4);
    assert.deepEqual(fromConfigSpace(exported), cs.expect);
    for (const u of cs.unmapped) expectInvalid(() => fromConfigSpace(u.document), u.path);
    expectInvalid(() => toConfigSpace(vectors.spaces.llm!), "constraints[0]");
  });
});

describe("config spaces: properties and errors", () => {
  it("the PRNG stream is pinned (same numbers as the Python suite)", () => {
    const rng = new Rng(0);
    assert.deepEqual(
      [rng.nextU32(), rng.nextU32(), rng.nextU32(), rng.nextU32()],
      [2471417667, 1835675839, 2555194881, 574308149],
    );
    assert.equal(new Rng(2 ** 53 - 1).nextFloat(), 0.11938368372239505);
    for (const bad of [-1, 2 ** 53, 1.5]) assert.throws(() => new Rng(bad), InvalidArgumentError);
  });

  it("10,000 samples of a 20-variable space with 5 cross-variable constraints never violate", () => {
    const space = compileSpace(vectors.spaces.twenty!);
    assert.equal(space.variables.length, 20);
    assert.equal(space.constraints.length, 5);
    const r = sample(space, 10_000, 99);
    assert.equal(r.accepted, 10_000);
    assert.ok(r.acceptanceRate > 0 && r.acceptanceRate <= 1);
    for (const s of r.samples) assert.ok(validate(space, s).ok, JSON.stringify(s));
    assert.ok(r.samples.some((s) => "g" in s) && r.samples.some((s) => !("g" in s)));
  });

  it("an infeasible space errors quickly", () => {
    const doc: SpaceDoc = {
      variables: [
        { name: "x", type: "integer", min: 0, max: 9 },
        { name: "y", type: "integer", min: 0, max: 9 },
      ],
      constraints: [
        {
          name: "odd_sum_even",
          op: "==",
          left: { op: "+", args: [{ var: "x" }, { var: "x" }] },
          right: { op: "+", args: [{ op: "*", args: [{ var: "y" }, { const: 2 }] }, { const: 1 }] },
        },
      ],
    };
    const t0 = performance.now();
    assert.throws(
      () => sample(doc, 100, 5),
      (err: unknown) => err instanceof FailedPreconditionError && err.details.attempts === 10_000,
    );
    assert.ok(performance.now() - t0 < 5000);
  });

  it("is deterministic per seed and changes with the seed", () => {
    const a = sample(vectors.spaces.cross!, 20, 5).samples;
    assert.deepEqual(sample(vectors.spaces.cross!, 20, 5).samples, a);
    assert.notDeepEqual(sample(vectors.spaces.cross!, 20, 6).samples, a);
  });

  it("assertValid throws ConstraintViolationError naming the clause", () => {
    const cross = vectors.spaces.cross!;
    const config = { a: 3, b: 3, n: 10, m: 10, mode: "x" };
    assert.throws(
      () => assertValid(cross, config),
      (err: unknown) => {
        assert.ok(err instanceof ConstraintViolationError);
        assert.equal(err.constraint, "a_below_b");
        assert.equal(err.variable, "a");
        assert.equal(err.type, "float");
        assert.deepEqual((err.details.violations as { variables: unknown }[])[0]!.variables, { a: 3, b: 3 });
        return true;
      },
    );
    assert.throws(
      () => assertValid(cross, { ...config, b: 4, m: 25 }),
      (err: unknown) => {
        assert.ok(err instanceof ConstraintViolationError);
        assert.equal(err.constraint, "max");
        assert.equal(err.limit, 20);
        return true;
      },
    );
    assertValid(cross, { ...config, b: 4 });
  });

  it("narrowing makes tight bounds cheap", () => {
    const doc: SpaceDoc = {
      variables: [
        { name: "x", type: "float", min: 0, max: 1000 },
        { name: "y", type: "integer", min: 0, max: 1e6 },
      ],
      constraints: [
        { op: ">=", left: { var: "x" }, right: { const: 999.5 } },
        { op: "<", left: { var: "y" }, right: { op: "+", args: [{ var: "x" }, { const: 1 }] } },
      ],
    };
    const r = sample(doc, 200, 3);
    assert.equal(r.acceptanceRate, 1);
    for (const s of r.samples) assert.ok((s.x as number) >= 999.5 && (s.y as number) < (s.x as number) + 1);
  });

  it("rejects bad arguments", () => {
    assert.throws(() => sample(vectors.spaces.cross!, -1, 1), InvalidArgumentError);
    assert.throws(() => sample(vectors.spaces.cross!, 1, 1, { maxAttempts: 0 }), InvalidArgumentError);
    assert.throws(
      () => validate(vectors.spaces.cross!, [] as unknown as Record<string, unknown>),
      InvalidArgumentError,
    );
    assert.deepEqual(sample(vectors.spaces.cross!, 0, 1).samples, []);
  });
});
