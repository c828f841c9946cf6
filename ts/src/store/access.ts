// Access rules: which sessions may read, write, observe or optimize a variable. Enforced
// by the host for every request; clients only ever see the outcome.
import { InvalidArgumentError } from "../errors/index.js";

export const PERMISSIONS = ["read", "write", "observe", "optimize"] as const;
export type Permission = (typeof PERMISSIONS)[number];

export interface AccessRule {
  sessionPattern: string;
  permissions: Permission[];
  conditions: Record<string, string>;
}

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${escaped}$`);
}

export function normalizeRules(rules: unknown, where = "access_rules"): AccessRule[] {
  if (rules === undefined || rules === null) return [];
  if (!Array.isArray(rules)) throw new InvalidArgumentError(`${where} must be a list of rules`, { parameter: where });
  return rules.map((raw, i) => {
    const r = raw as Record<string, unknown>;
    const pattern = r.sessionPattern ?? r.session_pattern;
    if (typeof pattern !== "string" || pattern.length === 0) {
      throw new InvalidArgumentError(`${where}[${i}].session_pattern must be a non-empty string ('any', '*' or a glob)`, {
        parameter: `${where}[${i}].session_pattern`,
      });
    }
    const perms = r.permissions;
    if (!Array.isArray(perms) || perms.some((p) => !PERMISSIONS.includes(p as Permission))) {
      throw new InvalidArgumentError(`${where}[${i}].permissions must be a list of ${PERMISSIONS.join(", ")}`, {
        parameter: `${where}[${i}].permissions`,
      });
    }
    if (typeof r.conditions === "object" && r.conditions !== null && Object.keys(r.conditions).length > 0) {
      // Accepting them would make a rule grant more than it says (the host has nothing to check them against).
      throw new InvalidArgumentError(
        `${where}[${i}].conditions are not supported: the host does not evaluate access-rule conditions, so a rule with them would grant more than it says. Say who may access with session_pattern (a glob on the caller's session id, e.g. 'admin_*'), one rule per group of sessions`,
        { parameter: `${where}[${i}].conditions` },
      );
    }
    const conditions = (r.conditions ?? {}) as Record<string, string>;
    return { sessionPattern: pattern, permissions: [...new Set(perms as Permission[])], conditions: { ...conditions } };
  });
}

/** No rules: open to every session. Rules: some rule matching `caller` must grant it. */
export function isAllowed(rules: readonly AccessRule[], caller: string, permission: Permission): boolean {
  if (rules.length === 0) return true;
  return rules.some(
    (rule) =>
      rule.permissions.includes(permission) &&
      (rule.sessionPattern === "any" || rule.sessionPattern === "*" || globToRegExp(rule.sessionPattern).test(caller)),
  );
}
