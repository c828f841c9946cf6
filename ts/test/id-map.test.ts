// The id map of host calls, against a Map as the model.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { IdMap } from "../src/transport/id-map.js";

test("IdMap behaves like a Map under any mix of sets, deletes and lookups, colliding ids included", () => {
  const id = fc.oneof(
    fc.integer({ min: 0, max: 40 }),
    fc.integer({ min: 0, max: 0xffffffff }),
    fc.integer({ min: 0, max: 40 }).map((n) => n * 16 + 3),
  );
  const op = fc.oneof(
    fc.record({ kind: fc.constant("set" as const), id, value: fc.integer() }),
    fc.record({ kind: fc.constant("delete" as const), id }),
    fc.record({ kind: fc.constant("get" as const), id }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
      const map = new IdMap<number>();
      const model = new Map<number, number>();
      for (const o of ops) {
        if (o.kind === "set") {
          map.set(o.id, o.value);
          model.set(o.id, o.value);
        } else if (o.kind === "delete") {
          assert.equal(map.delete(o.id), model.delete(o.id));
        }
        assert.equal(map.get(o.id), model.get(o.id));
        assert.equal(map.has(o.id), model.has(o.id));
        assert.equal(map.size, model.size);
      }
      for (const [k, v] of model) assert.equal(map.get(k), v, `id ${k}`);
      assert.deepEqual(new Set(map.keys()), new Set(model.keys()));
    }),
    { numRuns: 300 },
  );
});

test("IdMap: sequential ids turning over around long-lived ones, past many growths", () => {
  const map = new IdMap<string>();
  const stay = [1, 17, 33, 49]; // the same home slot in a 16-slot table
  for (const id of stay) map.set(id, `stay ${id}`);
  for (let id = 100; id < 20_000; id++) {
    map.set(id, `call ${id}`);
    if (id % 7 === 0) map.set(id + 1_000_000, "long"); // some stay for good
    assert.ok(map.delete(id));
  }
  for (const id of stay) assert.equal(map.get(id), `stay ${id}`);
  assert.equal(map.size, stay.length + Math.floor(19_999 / 7) - Math.floor(99 / 7));
  assert.equal(map.get(150), undefined);
});
