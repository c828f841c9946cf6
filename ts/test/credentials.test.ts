// Scoped credentials: tokens the host signs for one session (or a prefix) and a permission set,
// expiring and revocable. Over gRPC an outside client's identity then comes from its credential,
// so session access rules hold against it (ts/src/bridge-service/credentials.ts).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import { AuthenticationError, type Bridge, InvalidArgumentError, PermissionDeniedError } from "../src/index.js";
import { authorize, Credentials } from "../src/bridge-service/credentials.js";
import { fixturesDir, repoRoot, startPool } from "./helpers.js";

const run = promisify(execFile);

describe("credentials: minting and verifying", () => {
  let clock = 1_000_000;
  const credentials = new Credentials("host-secret-0123456789", () => clock);

  test("a minted token verifies to its scope and permissions", () => {
    const { token, credential } = credentials.mint({
      session: "user-42",
      permissions: ["read", "write"],
      label: "web",
    });
    assert.match(token, /^dsb1\./);
    assert.ok(!token.includes("host-secret"), "the secret is not in the token");
    assert.deepEqual(credentials.verify(token), credential);
    assert.deepEqual(credential.permissions, ["read", "write"]);
    assert.equal(credential.expiresAt?.getTime(), clock + 60 * 60 * 1000, "one hour by default");
  });

  test("a forged, tampered, foreign, expired or revoked token is refused", () => {
    const { token, credential } = credentials.mint({ session: "user-42", permissions: ["read"], expiresInMs: 1000 });
    const [prefix, body, signature] = token.split(".");
    const widened = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(body!, "base64url").toString()), perm: ["admin"] }),
    ).toString("base64url");
    assert.throws(
      () => credentials.verify(`${prefix}.${widened}.${signature}`),
      AuthenticationError,
      "a widened payload keeps its old signature",
    );
    assert.throws(() => credentials.verify(`${token}x`), AuthenticationError);
    assert.throws(() => new Credentials("another-secret").verify(token), AuthenticationError, "another host's secret");
    assert.throws(() => credentials.verify("dsb1.garbage"), AuthenticationError);
    assert.throws(
      () => credentials.verify("x".repeat(10_000)),
      (e: unknown) => e instanceof AuthenticationError && e.message.length < 100,
    );
    clock += 1001;
    assert.throws(() => credentials.verify(token), /expired/);
    const other = credentials.mint({ sessionPrefix: "team-", permissions: ["read"], expiresInMs: 0 });
    assert.equal(other.credential.expiresAt, null);
    assert.equal(credentials.revoke(other.credential.id), true);
    assert.equal(credentials.revoke(other.credential.id), false);
    assert.throws(() => credentials.verify(other.token), /revoked/);
    assert.ok(!credentials.list().some((c) => c.id === other.credential.id || c.id === credential.id));
  });

  test("bad specs are refused with typed errors", () => {
    assert.throws(() => credentials.mint({ permissions: ["read"] }), InvalidArgumentError);
    assert.throws(
      () => credentials.mint({ session: "a", sessionPrefix: "b", permissions: ["read"] }),
      InvalidArgumentError,
    );
    assert.throws(() => credentials.mint({ session: "a", permissions: [] }), InvalidArgumentError);
    assert.throws(() => credentials.mint({ session: "a", permissions: ["root" as never] }), InvalidArgumentError);
    assert.throws(
      () => credentials.mint({ session: "a", permissions: ["read"], expiresInMs: -1 }),
      InvalidArgumentError,
    );
  });

  test("authorize: methods by permission, sessions by scope, the caller from the credential", () => {
    const reader = credentials.verify(credentials.mint({ session: "s1", permissions: ["read"] }).token);
    const request = { sessionId: "s1", callerSessionId: "someone-else" };
    authorize(reader, "GetVariables", request);
    assert.equal(request.callerSessionId, "s1", "the claimed caller is replaced");
    assert.throws(() => authorize(reader, "UpdateVariables", { sessionId: "s1" }), PermissionDeniedError);
    assert.throws(() => authorize(reader, "GetVariables", { sessionId: "s2" }), PermissionDeniedError);
    assert.throws(() => authorize(reader, "CreateSession", { sessionId: "s1" }), PermissionDeniedError);
    assert.throws(() => authorize(reader, "NoSuchMethod", { sessionId: "s1" }), PermissionDeniedError);
    const team = credentials.verify(credentials.mint({ sessionPrefix: "team-", permissions: ["read", "write"] }).token);
    const teamRequest = { sessionId: "team-a", callerSessionId: "" };
    authorize(team, "UpdateVariables", teamRequest);
    assert.equal(teamRequest.callerSessionId, "team-a");
    assert.throws(
      () => authorize(team, "GetVariables", { sessionId: "team-a", callerSessionId: "admin" }),
      PermissionDeniedError,
    );
    assert.throws(() => authorize(team, "GetVariables", { sessionId: "other" }), PermissionDeniedError);
  });
});

describe("credentials over gRPC: an outside client is who its credential says", () => {
  let bridge: Bridge;
  before(async () => {
    bridge = await startPool({ workers: 1 });
    for (const id of ["alice", "bob"]) {
      const s = await bridge.sessions.create({ id });
      await s.variables.define("temperature", "float", 0.5);
    }
    // A variable in alice's session that only "trusted-admin" may read.
    const alice = await bridge.sessions.get("alice");
    await alice.variables.define("secret", "string", "s3cr3t", {
      accessRules: [{ sessionPattern: "trusted-admin", permissions: ["read"] }],
    });
  });
  after(() => bridge.close());

  async function asClient(
    token: string,
    own: string,
    other: string,
  ): Promise<Record<string, { ok: boolean; value?: unknown; reason?: string }>> {
    const { stdout } = await run(
      join(repoRoot, ".venv/bin/python"),
      [join(fixturesDir, "scoped_client.py"), bridge.address!, token, own, other],
      {
        env: { ...process.env, PYTHONPATH: join(repoRoot, "python") },
        timeout: 60_000,
      },
    );
    return JSON.parse(stdout) as Record<string, { ok: boolean; value?: unknown; reason?: string }>;
  }

  test("a read-write credential for alice: alice's variables only, and not what alice's rules forbid", async () => {
    const { token } = bridge.credentials.mint({ session: "alice", permissions: ["read", "write"] });
    const out = await asClient(token, "alice", "bob");
    assert.deepEqual(out.read_own, { ok: true, value: 0.5 });
    assert.equal(out.write_own?.ok, true);
    assert.equal(await (await bridge.sessions.get("alice")).variables.get("temperature"), 0.9);
    assert.equal(out.read_secret_as_impostor?.ok, false, "claiming to be trusted-admin read the secret");
    assert.equal(out.read_secret_as_impostor?.reason, "permission_denied");
    assert.equal(out.read_other?.reason, "permission_denied");
    assert.equal(out.write_other?.reason, "permission_denied");
    assert.equal(
      await (await bridge.sessions.get("bob")).variables.get("temperature"),
      0.5,
      "bob's variable is untouched",
    );
  });

  test("a read-only credential cannot write; a revoked one cannot do anything", async () => {
    const { token, credential } = bridge.credentials.mint({ session: "bob", permissions: ["read"] });
    const out = await asClient(token, "bob", "alice");
    assert.deepEqual(out.read_own, { ok: true, value: 0.5 });
    assert.equal(out.write_own?.reason, "permission_denied");
    bridge.credentials.revoke(credential.id);
    await assert.rejects(asClient(token, "bob", "alice"), /revoked|unauthenticated|AuthenticationError/);
  });

  test("the host token keeps its full powers (trusted tools)", async () => {
    const out = await asClient(bridge.secret, "alice", "bob");
    assert.equal(out.read_other?.ok, true);
    assert.equal(out.read_secret_as_impostor?.ok, true, "the host token may act as any caller");
  });
});
