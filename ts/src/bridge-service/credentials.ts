// Scoped credentials for outside clients of the bridge service.
//
// The host's own token (the per-host secret) is all-powerful, and the bridge service used to
// take a caller's word for who it was: any holder could say it was any session and so read or
// change another session's variables and access rules. A scoped credential is a token the host
// signs (HMAC-SHA256 under a key derived from its secret) naming a session or a session prefix,
// a set of permissions and an expiry. Over gRPC the caller's identity then comes from the
// credential: every request must name a session in its scope, its caller identity (the
// session access rules are checked against) is the credential's session, and the method must
// be one its permissions allow. Tokens are stateless, so any host with the same secret (a
// shared --token-file) accepts them; revocation is kept by the host that revoked.
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { AuthenticationError, InvalidArgumentError, PermissionDeniedError } from "../errors/index.js";

export type CredentialPermission = "read" | "write" | "optimize" | "admin";
export const PERMISSIONS: readonly CredentialPermission[] = ["read", "write", "optimize", "admin"];

/** What the bridge-service methods need. Reading and watching is `read`; changing variables,
 * configurations and calling tools is `write`; running optimizations is `optimize`; creating,
 * deleting and listing sessions, changing access rules and registering code is `admin`. */
export const METHOD_PERMISSION: Readonly<Record<string, CredentialPermission>> = {
  Ping: "read",
  GetSession: "read",
  GetVariables: "read",
  ListVariables: "read",
  Watch: "read",
  GetHistory: "read",
  GetDependencies: "read",
  CheckAccess: "read",
  ExportVariables: "read",
  GetStats: "read",
  ListTools: "read",
  GetConfiguration: "read",
  SampleConfiguration: "read",
  ValidateConfiguration: "read",
  GetOptimizationStatus: "read",
  GetOptimizationHistory: "read",
  ListRuns: "read",
  GetRun: "read",
  RegisterVariables: "write",
  UpdateVariables: "write",
  DeleteVariables: "write",
  Rollback: "write",
  ChangeDependency: "write",
  ImportVariables: "write",
  RegisterConfiguration: "write",
  ApplyConfiguration: "write",
  CallTool: "write",
  StreamTool: "write",
  StartOptimization: "optimize",
  StopOptimization: "optimize",
  CreateSession: "admin",
  DeleteSession: "admin",
  ListSessions: "admin",
  SetPermissions: "admin",
  RegisterPythonOptimizer: "admin",
};

export interface CredentialSpec {
  /** The one session the credential acts as and may reach. */
  session?: string;
  /** Or: every session whose id starts with this (the caller must then name which it is). */
  sessionPrefix?: string;
  permissions: CredentialPermission[];
  /** Lifetime; default one hour. 0: never expires (only revocation or a new host secret ends it). */
  expiresInMs?: number;
  /** A name for logs and list(). */
  label?: string;
}

export interface Credential {
  id: string;
  session?: string;
  sessionPrefix?: string;
  permissions: CredentialPermission[];
  /** null: no expiry. */
  expiresAt: Date | null;
  label?: string;
}

const PREFIX = "dsb1";
const DEFAULT_LIFETIME_MS = 60 * 60 * 1000;
const MAX_TOKEN_CHARS = 4096;

interface Payload {
  id: string;
  s?: string;
  p?: string;
  perm: CredentialPermission[];
  exp: number;
  l?: string;
}

const b64 = (data: Buffer | string) => Buffer.from(data).toString("base64url");

export class Credentials {
  private readonly key: Buffer;
  private readonly revoked = new Set<string>();
  private readonly minted = new Map<string, Credential>();

  constructor(
    hostSecret: string,
    private readonly now: () => number = Date.now,
  ) {
    // A key of its own: a signature never reveals anything usable as the host token.
    this.key = createHmac("sha256", hostSecret).update("dspy-bridge scoped credentials v1").digest();
  }

  /** A signed token for `spec`, and what it allows. */
  mint(spec: CredentialSpec): { token: string; credential: Credential } {
    if ((spec.session === undefined) === (spec.sessionPrefix === undefined)) {
      throw new InvalidArgumentError("a credential names exactly one of session or sessionPrefix", {
        parameter: "session",
      });
    }
    const scope = spec.session ?? spec.sessionPrefix ?? "";
    if (typeof scope !== "string" || scope.length === 0 || scope.length > 256) {
      throw new InvalidArgumentError("session / sessionPrefix must be a non-empty string of at most 256 characters", {
        parameter: "session",
      });
    }
    const permissions = [...new Set(spec.permissions)];
    if (permissions.length === 0 || permissions.some((p) => !PERMISSIONS.includes(p))) {
      throw new InvalidArgumentError(`permissions must be a non-empty list of ${PERMISSIONS.join(", ")}`, {
        parameter: "permissions",
      });
    }
    const lifetime = spec.expiresInMs ?? DEFAULT_LIFETIME_MS;
    if (!Number.isSafeInteger(lifetime) || lifetime < 0) {
      throw new InvalidArgumentError("expiresInMs must be a whole number of milliseconds >= 0", {
        parameter: "expiresInMs",
      });
    }
    const payload: Payload = {
      id: randomUUID(),
      ...(spec.session !== undefined ? { s: spec.session } : { p: spec.sessionPrefix }),
      perm: permissions,
      exp: lifetime === 0 ? 0 : this.now() + lifetime,
      ...(spec.label ? { l: String(spec.label).slice(0, 100) } : {}),
    };
    const body = b64(JSON.stringify(payload));
    const token = `${PREFIX}.${body}.${this.sign(body)}`;
    const credential = toCredential(payload);
    this.minted.set(credential.id, credential);
    return { token, credential };
  }

  /** Ends a credential at once on this host (any credential signed with this secret, by id);
   * false if it was already revoked. */
  revoke(id: string): boolean {
    if (this.revoked.has(id)) return false;
    this.revoked.add(id);
    this.minted.delete(id);
    return true;
  }

  /** Credentials this host minted that are neither revoked nor expired. */
  list(): Credential[] {
    const now = this.now();
    return [...this.minted.values()].filter((c) => c.expiresAt === null || c.expiresAt.getTime() > now);
  }

  /** True if `token` has a scoped credential's shape (it is then verified, never compared to the host token). */
  static looksScoped(token: string): boolean {
    return token.startsWith(`${PREFIX}.`);
  }

  /** The credential a token carries; AuthenticationError (without echoing the token) otherwise. */
  verify(token: string): Credential {
    if (token.length > MAX_TOKEN_CHARS) throw new AuthenticationError("credential too long");
    const [prefix, body, signature, extra] = token.split(".");
    if (prefix !== PREFIX || !body || !signature || extra !== undefined)
      throw new AuthenticationError("malformed credential");
    const expected = Buffer.from(this.sign(body));
    const presented = Buffer.from(signature);
    if (expected.length !== presented.length || !timingSafeEqual(expected, presented)) {
      throw new AuthenticationError("credential not signed by this host's secret");
    }
    let payload: Payload;
    try {
      payload = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as Payload;
    } catch {
      throw new AuthenticationError("malformed credential");
    }
    if (this.revoked.has(payload.id)) throw new AuthenticationError(`credential ${payload.id} was revoked`);
    if (payload.exp !== 0 && payload.exp <= this.now())
      throw new AuthenticationError(`credential ${payload.id} expired`);
    return toCredential(payload);
  }

  private sign(body: string): string {
    return createHmac("sha256", this.key).update(body).digest("base64url");
  }
}

function toCredential(p: Payload): Credential {
  return {
    id: p.id,
    ...(p.s !== undefined ? { session: p.s } : { sessionPrefix: p.p }),
    permissions: [...p.perm],
    expiresAt: p.exp === 0 ? null : new Date(p.exp),
    ...(p.l ? { label: p.l } : {}),
  };
}

export function inScope(credential: Credential, sessionId: string): boolean {
  return credential.session !== undefined
    ? sessionId === credential.session
    : sessionId.startsWith(credential.sessionPrefix ?? "\u0000");
}

/**
 * Checks a request made with a scoped credential, in place: the method is allowed by its
 * permissions, the session it names is in its scope, and the caller identity access rules are
 * checked against is the credential's session (a prefix credential may name any session in
 * scope as the caller, and defaults to the target session).
 */
export function authorize(credential: Credential, method: string, request: Record<string, unknown>): void {
  const needed = METHOD_PERMISSION[method];
  if (needed === undefined) throw new PermissionDeniedError(`a scoped credential cannot call ${method.slice(0, 100)}`);
  if (!credential.permissions.includes(needed)) {
    throw new PermissionDeniedError(
      `credential ${credential.id} lacks the ${needed} permission ${method} needs (it has ${credential.permissions.join(", ")})`,
    );
  }
  if (method === "Ping" || method === "ListSessions") return; // ListSessions' answer is filtered to the scope
  const sessionId = typeof request.sessionId === "string" ? request.sessionId : "";
  if (!inScope(credential, sessionId)) {
    throw new PermissionDeniedError(
      `credential ${credential.id} does not reach session ${JSON.stringify(sessionId.slice(0, 100))}`,
    );
  }
  if ("callerSessionId" in request) {
    const claimed = typeof request.callerSessionId === "string" ? request.callerSessionId : "";
    if (credential.session !== undefined) request.callerSessionId = credential.session;
    else if (claimed === "") request.callerSessionId = sessionId;
    else if (!inScope(credential, claimed)) {
      throw new PermissionDeniedError(
        `credential ${credential.id} cannot act as session ${JSON.stringify(claimed.slice(0, 100))}`,
      );
    }
  }
}
