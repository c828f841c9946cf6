// Every shared value vector makes the full trip: decoded in TypeScript, sent to a real
// Python worker, returned by `echo`, decoded again, and still equal. This catches what
// the per-language codec tests cannot: alignment of views into received frames, the
// hand-written frame codec, and the two codecs disagreeing.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { fromBinary } from "@bufbuild/protobuf";
import { type Bridge, decodeValue } from "../src/index.js";
import { ValueSchema } from "../src/gen/dspy_bridge/v1/values_pb.js";
import { startPool, testdata } from "./helpers.js";

const vectors = JSON.parse(readFileSync(testdata("values.json"), "utf8")) as {
  valid: { name: string; binary: string }[];
};

describe("value vectors round-trip through a Python worker", () => {
  let bridge: Bridge;
  before(async () => {
    bridge = await startPool({ workers: 1 });
  });
  after(() => bridge.close());

  for (const vector of vectors.valid) {
    test(vector.name, async () => {
      const original = decodeValue(fromBinary(ValueSchema, Buffer.from(vector.binary, "base64")));
      const back = await bridge.execute("echo", { value: original });
      assert.deepStrictEqual(back, original);
    });
  }

  test("all vectors at once, nested in one call", async () => {
    const all = vectors.valid.map((v) => decodeValue(fromBinary(ValueSchema, Buffer.from(v.binary, "base64"))));
    assert.deepStrictEqual(await bridge.execute("echo", { value: all }), all);
  });
});
