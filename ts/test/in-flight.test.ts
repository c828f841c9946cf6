// The table of calls in flight on a worker connection, against a Map as the model.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { create } from "@bufbuild/protobuf";
import { ValueSchema } from "../src/gen/dspy_bridge/v1/values_pb.js";
import { Call } from "../src/pool/call.js";
import { InFlightCalls } from "../src/pool/in-flight.js";

const MAX_ID = 0xffffffff;
const newCall = () => new Call("ping", create(ValueSchema, { json: "{}" }), undefined, 0, false);

/** Reserve, then put: what the pool does for every call it sends. */
function start(table: InFlightCalls): Call {
  const call = newCall();
  call.id = table.reserveId();
  table.put(call);
  return call;
}

test("InFlightCalls behaves like a Map of id to call under any mix of starts and finishes", () => {
  fc.assert(
    fc.property(
      // "refused": an id reserved and never put (a frame over the size limit).
      fc.array(fc.oneof(fc.constant("start" as const), fc.constant("refused" as const), fc.nat(1000)), {
        maxLength: 600,
      }),
      fc.constantFrom(1, 1000, MAX_ID - 40),
      (ops, firstId) => {
        const table = new InFlightCalls(firstId);
        const model = new Map<number, Call>();
        let lastId = firstId - 1;
        for (const op of ops) {
          if (op === "start") {
            const call = start(table);
            assert.ok(!model.has(call.id), `id ${call.id} given twice while in flight`);
            assert.ok(call.id >= 1 && call.id <= MAX_ID);
            // Increasing, except where the uint32 range wraps back to 1.
            if (call.id <= lastId) assert.ok(lastId > MAX_ID - 1000, `id ${call.id} after ${lastId}`);
            lastId = call.id;
            model.set(call.id, call);
          } else if (op === "refused") {
            const id = table.reserveId();
            assert.ok(!model.has(id), `reserved id ${id} is in flight`);
            if (id <= lastId) assert.ok(lastId > MAX_ID - 1000, `id ${id} after ${lastId}`);
            lastId = id;
          } else if (model.size > 0) {
            const victim = [...model.values()][op % model.size]!;
            assert.equal(table.delete(victim), true);
            assert.equal(table.delete(victim), false, "a second delete finds nothing");
            model.delete(victim.id);
            assert.equal(table.get(victim.id), undefined);
          }
          assert.equal(table.size, model.size);
        }
        for (const [id, call] of model) assert.equal(table.get(id), call);
        assert.deepEqual(new Set(table.values()), new Set(model.values()));
        table.clear();
        assert.equal(table.size, 0);
        for (const id of model.keys()) assert.equal(table.get(id), undefined);
      },
    ),
    { numRuns: 200 },
  );
});

test("InFlightCalls skips an id whose slot an older call still holds, and grows past half full", () => {
  const table = new InFlightCalls();
  const stuck = start(table); // id 1, never finishes (a long stream, say)
  for (let i = 0; i < 255; i++) table.delete(start(table)); // ids 2..256
  // Id 257 would share slot 1 with the stuck call in a 256-slot table: it is skipped.
  const next = start(table);
  assert.equal(next.id, 258);
  assert.equal(table.get(1), stuck);
  assert.equal(table.get(257), undefined, "an id never given finds nothing, even where its slot is taken");
  // Fill well past the initial 256 slots: every call stays findable.
  const many = Array.from({ length: 1000 }, () => start(table));
  for (const call of [stuck, next, ...many]) assert.equal(table.get(call.id), call);
  assert.equal(table.size, 1002);
});

test("InFlightCalls refuses a put without a reservation and a bad first id", () => {
  const table = new InFlightCalls();
  const a = start(table);
  const b = newCall();
  b.id = a.id; // not reserved: the slot is taken
  assert.throws(() => table.put(b), /not reserved/);
  assert.equal(table.get(a.id), a);
  for (const bad of [0, -1, 1.5, MAX_ID + 1]) assert.throws(() => new InFlightCalls(bad), RangeError);
});
