// Where the Redis backend keeps things (key layout 2). Every key of one session shares the
// hash tag `{<session>}`, so the session lives in one slot: a commit is one script on one
// node, and a Redis Cluster spreads sessions over its nodes.
//
//   <prefix>layout              string  the key layout version (2)
//   <prefix>sessions            hash    session id -> SessionInfo JSON: the list of sessions
//   <prefix>expiry              zset    sessions with a TTL, by when it may have run out (the sweep)
//   <prefix>stagings            zset    [session, staging] JSON, by when it is abandoned (redis-staging.ts)
//   <prefix>{<tag>}:<suffix>    one session's keys:
//       s, v, h:<name>, d, c, t, a, r, rt:<run>, ... its records (layout.ts's keys, without the session part)
//       _head   string  id of the session's newest log entry
//       _log    stream  the session's log entries (what its watches replay)
//       _epoch  string  names this history of the session (a new one after Redis lost it)
//       _keys   set     every record key the session wrote (a drop deletes them; a load reads them)
//       _o:<n>  string  the log id of the commit with nonce n, kept a while (outcome lookups)
//       _staging string the staging that holds the session (a large commit being written; expires)
//       _x:<id>:...     a staging's keys (redis-staging.ts): copies, lists of keys, the log entry
//   channel <prefix>{<tag>}:_n  told the id of each commit (hosts following the session)
//
// The tag is the session id itself when it is non-empty and has no `}` and does not start with
// `#`; otherwise `#` and the id's bytes in hex. Both are one-to-one, so two sessions never share keys.
import { sessionKey } from "./layout.js";

export const LAYOUT_VERSION = 2;

const PLAIN_TAG = /^[^}#][^}]*$/;

/** The session's hash tag (without braces). */
export function sessionTag(sid: string): string {
  return PLAIN_TAG.test(sid) ? sid : `#${Buffer.from(sid, "utf8").toString("hex")}`;
}

/** The start of every key of the session. */
export const sessionBase = (prefix: string, sid: string): string => `${prefix}{${sessionTag(sid)}}:`;

/**
 * A key of layout.ts (`s`, `v:<sk>`, `h:<sk>:<name>`, any `<kind>:<sk>[:<rest>]`) as the
 * suffix under the session's base: the session part goes, the kind and the rest stay.
 */
export function suffixOf(logical: string, sid: string): string {
  if (logical === "s") return "s";
  const colon = logical.indexOf(":");
  const sk = sessionKey(sid);
  if (colon < 0 || !logical.startsWith(sk, colon + 1))
    throw new Error(`store key '${logical.slice(0, 100)}' is not a key of session '${sid.slice(0, 100)}'`);
  const kind = logical.slice(0, colon);
  const rest = logical.slice(colon + 1 + sk.length);
  return rest === "" ? kind : `${kind}${rest}`; // rest is ":<name>" or empty
}

/** The inverse of suffixOf. */
export function logicalOf(suffix: string, sid: string): string {
  if (suffix === "s") return "s";
  const colon = suffix.indexOf(":");
  const sk = sessionKey(sid);
  return colon < 0 ? `${suffix}:${sk}` : `${suffix.slice(0, colon)}:${sk}${suffix.slice(colon)}`;
}

export const globalKeys = (prefix: string) => ({
  layout: `${prefix}layout`,
  sessions: `${prefix}sessions`,
  expiry: `${prefix}expiry`,
  stagings: `${prefix}stagings`,
});
