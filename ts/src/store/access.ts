// Access rules: which sessions may read, write, observe or optimize a variable. Enforced
// by the host for every request; clients only ever see the outcome.
import { InvalidArgumentError } from "../errors/index.js";
import { stringMap } from "./input-checks.js";

export const PERMISSIONS = ["read", "write", "observe", "optimize"] as const;
export type Permission = (typeof PERMISSIONS)[number];

export interface AccessRule {
  sessionPattern: string;
  permissions: Permission[];
  conditions: Record<string, string>;
}

/** The longest session pattern a rule may have (session ids are at most 256 characters). */
const MAX_SESSION_PATTERN = 256;

/**
 * Glob match (`*` any run, `?` one character, everything else literal) without a regular
 * expression: greedy with one backtrack point, so at most pattern × text steps whatever the
 * pattern (`*a*a*a*…b` cannot make it backtrack exponentially).
 */
export function globMatches(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let star = -1;
  let mark = 0;
  while (t < text.length) {
    if (p < pattern.length && (pattern[p] === "?" || (pattern[p] !== "*" && pattern[p] === text[t]))) {
      p++;
      t++;
    } else if (p < pattern.length && pattern[p] === "*") {
      star = p++;
      mark = t;
    } else if (star >= 0) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === "*") p++;
  return p === pattern.length;
}

export function normalizeRules(rules: unknown, where = "access_rules"): AccessRule[] {
  if (rules === undefined || rules === null) return [];
  if (!Array.isArray(rules)) throw new InvalidArgumentError(`${where} must be a list of rules`, { parameter: where });
  return rules.map((raw, i) => {
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      throw new InvalidArgumentError(`${where}[${i}] must be a rule {session_pattern, permissions}`, {
        parameter: `${where}[${i}]`,
      });
    }
    const r = raw as Record<string, unknown>;
    const pattern = r.sessionPattern ?? r.session_pattern;
    if (typeof pattern !== "string" || pattern.length === 0 || pattern.length > MAX_SESSION_PATTERN) {
      throw new InvalidArgumentError(
        `${where}[${i}].session_pattern must be a non-empty string of at most ${MAX_SESSION_PATTERN} characters ('any', '*' or a glob)`,
        {
          parameter: `${where}[${i}].session_pattern`,
        },
      );
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
    const conditions = stringMap(r.conditions, `${where}[${i}].conditions`);
    return { sessionPattern: pattern, permissions: [...new Set(perms as Permission[])], conditions };
  });
}

/** No rules: open to every session. Rules: some rule matching `caller` must grant it. */
export function isAllowed(rules: readonly AccessRule[], caller: string, permission: Permission): boolean {
  if (rules.length === 0) return true;
  return rules.some(
    (rule) =>
      rule.permissions.includes(permission) &&
      (rule.sessionPattern === "any" || rule.sessionPattern === "*" || globMatches(rule.sessionPattern, caller)),
  );
}
