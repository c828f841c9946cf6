// The host under hostile input (a small seed in `npm test`; `npm run fuzz` runs 100,000 cases):
// every bridge-service method with messages from the contract filled with hostile values or
// raw bytes, and garbage on the worker socket. The host must stay up, refuse with typed,
// bounded errors, and store nothing from a refused call (ts/test/fixtures/bridge-fuzz.ts).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Bridge } from "../src/index.js";
import { fuzzBridgeService, fuzzWorkerSocket } from "./fixtures/bridge-fuzz.js";
import { prepareFuzzSessions, FUZZ_SESSIONS, FUZZ_VARIABLES } from "./fixtures/fuzz-sessions.js";
import { startPool } from "./helpers.js";

const SEED = Number(process.env.DSPY_BRIDGE_FUZZ_SEED ?? 20261207);
const CASES = Number(process.env.DSPY_BRIDGE_FUZZ_CASES ?? 1200);

describe("fuzzing the host's surfaces", () => {
  let bridge: Bridge;
  before(async () => {
    bridge = await startPool({ workers: 1 });
  });
  after(() => bridge.close());

  test(`${CASES} hostile bridge-service calls: no crash, every refusal typed and bounded, nothing stored from a refusal`, async () => {
    const report = await fuzzBridgeService(
      {
        address: bridge.address!,
        token: bridge.secret,
        revision: () => bridge.store.currentRevision,
        sessions: FUZZ_SESSIONS,
        variables: FUZZ_VARIABLES,
      },
      { cases: CASES, seed: SEED, prepare: () => prepareFuzzSessions(bridge) },
    );
    assert.equal(report.cases, CASES);
    assert.deepEqual(report.findings.slice(0, 20), [], `seed ${SEED}: ${report.findings.length} findings`);
    // The cases reached real code: some calls succeeded and many were refused for a reason.
    assert.ok(report.answeredOk > CASES / 20, `only ${report.answeredOk} calls succeeded`);
    assert.ok(Object.keys(report.byReason).length >= 4, `refusals: ${JSON.stringify(report.byReason)}`);
    assert.deepEqual(await bridge.execute("ping"), { ok: true });
  });

  test("garbage on the worker socket is refused connection by connection; the pool keeps working", async () => {
    const result = await fuzzWorkerSocket(bridge.workerSocketPath, { connections: 200, seed: SEED });
    assert.equal(result.closedByHost, result.connections);
    assert.deepEqual(await bridge.execute("ping"), { ok: true });
    assert.equal(bridge.stats().workers.filter((w) => w.state === "ready").length, 1);
  });
});
