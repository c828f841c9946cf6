// A guard run before JSON.parse on text from a peer: V8 parses any depth, but a deeply
// nested text is expensive per byte (a 20 MB "[[[[…" takes seconds and half a gigabyte), and
// a 128 MiB one would exhaust the heap. Nothing legitimate nests this deep (the store keeps
// values to 100 levels; Python decodes under 1,000).

/** The deepest JSON a peer may send (objects and arrays). */
export const MAX_JSON_DEPTH = 1_000;
/**
 * The most arrays and objects one JSON text may hold: each costs the parser tens of bytes of
 * heap, so 128 MiB of `[{},{},…]` would otherwise take gigabytes (a stored value, at most
 * maxValueBytes, holds under a million).
 */
export const MAX_JSON_CONTAINERS = 1 << 22;

/** What a text refused by jsonNestsDeeperThan (with the default limit) is: for messages. */
export const JSON_SHAPE_LIMITS = `nests more than ${MAX_JSON_DEPTH} levels deep or holds more than ${MAX_JSON_CONTAINERS} lists and maps`;

/**
 * True when `text` opens more than `max` arrays/objects at once, or more than
 * MAX_JSON_CONTAINERS in all. One pass, strings skipped with indexOf, nothing allocated.
 * Malformed text is left to JSON.parse to describe.
 */
export function jsonNestsDeeperThan(text: string, max = MAX_JSON_DEPTH): boolean {
  // Depth d needs at least 2d characters to be well-formed.
  if (text.length <= 2 * max) return false;
  let depth = 0;
  let containers = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: jump to its closing quote (one preceded by an even number of backslashes).
      let j = i;
      for (;;) {
        j = text.indexOf('"', j + 1);
        if (j < 0) return false;
        let k = j - 1;
        while (text.charCodeAt(k) === 0x5c) k--;
        if ((j - 1 - k) % 2 === 0) break;
      }
      i = j;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max || ++containers > MAX_JSON_CONTAINERS) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}
