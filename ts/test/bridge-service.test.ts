// The bridge service (gRPC, worker or outside client -> host): authenticated, local-only.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { statSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import { Bridge, InvalidArgumentError } from "../src/index.js";
import { fixturesDir, repoRoot, startPool } from "./helpers.js";

const run = promisify(execFile);

describe("the bridge service", () => {
  let bridge: Bridge;
  before(async () => {
    bridge = await startPool({ workers: 2 });
  });
  after(() => bridge.close());

  test("listens on a 0600 Unix socket by default", () => {
    const address = bridge.address!;
    assert.match(address, /^unix:\//);
    const mode = statSync(address.slice("unix:".length)).mode & 0o777;
    assert.equal(mode, 0o600);
    assert.equal(statSync(bridge.workerSocketPath).mode & 0o777, 0o600);
  });

  test("a worker calls back into the host with the secret it got on stdin", async () => {
    const reply = await bridge.execute<{ message: string; workers_ready: number }>("host_ping", { message: "hi" });
    assert.equal(reply.message, "hi");
    assert.equal(reply.workers_ready, 2);
  });

  test("an outside Python process connects with the token; a wrong token is refused; errors arrive typed", async () => {
    const { stdout } = await run(
      join(repoRoot, ".venv/bin/python"),
      [join(fixturesDir, "outside_client.py"), bridge.address!, bridge.secret],
      {
        env: { ...process.env, PYTHONPATH: join(repoRoot, "python") },
      },
    );
    const out = JSON.parse(stdout) as {
      ping: { message: string; workers_ready: number };
      missing_session: { code: number; type: string; is_key_error: boolean };
      wrong_token: { code: number; type: string; message: string };
    };
    assert.deepEqual(out.ping, { message: "from outside", workers_ready: 2 });
    assert.deepEqual(out.missing_session, { code: 5, type: "NotFoundError", is_key_error: true });
    assert.equal(out.wrong_token.type, "AuthenticationError");
    assert.equal(out.wrong_token.code, 16);
    assert.match(out.wrong_token.message, /wrong token/);
  });
});

describe("watch errors over gRPC", () => {
  test("a watch that cannot start ends at once with its typed status (not a silent, endless stream)", async () => {
    const bridge = await startPool({ workers: 1 });
    try {
      const { stdout } = await run(
        join(repoRoot, ".venv/bin/python"),
        [join(fixturesDir, "watch_error_client.py"), bridge.address!, bridge.secret],
        {
          env: { ...process.env, PYTHONPATH: join(repoRoot, "python") },
          timeout: 10_000,
        },
      );
      assert.match(stdout, /error after \d+ ms: AioRpcError StatusCode.NOT_FOUND variable 'nope' not found/);
    } finally {
      await bridge.close();
    }
  });
});

describe("bridge service addresses", () => {
  test("a non-loopback address is refused unless allowRemote is set", async () => {
    await assert.rejects(startPool({ workers: 1, bridgeService: { listen: "0.0.0.0:0" } }), (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError);
      assert.match(err.message, /local-only/);
      return true;
    });
  });

  test("a loopback TCP port works and reports its real port", async () => {
    const bridge = await startPool({ workers: 1, bridgeService: { listen: "127.0.0.1:0" } });
    try {
      assert.match(bridge.address!, /^127\.0\.0\.1:\d+$/);
      assert.doesNotMatch(bridge.address!, /:0$/);
      const reply = await bridge.execute<{ message: string }>("host_ping", { message: "tcp" });
      assert.equal(reply.message, "tcp");
    } finally {
      await bridge.close();
    }
  });

  test("a short token is refused", async () => {
    await assert.rejects(Bridge.start({ workers: 1, token: "short" }), InvalidArgumentError);
  });
});
