// Export documents of many variables, as exportVariables writes them: what the large-import
// tests import (in this process or another host's).
import { valueToJson } from "../src/store/entries.js";

/** The values the variables take in turn: a float, a string, a small map. */
export const VALUES = [0.5, "hello world", { a: 1, b: [1, 2] }];
const TYPES = ["float", "string", "map"];

/** An export document of `n` variables named `${prefix}0`, `${prefix}1`, …, with VALUES in turn. */
export function exportDocument(n: number, prefix = "v"): Buffer {
  const variables = Array.from({ length: n }, (_, i) => ({
    name: `${prefix}${i}`,
    type: TYPES[i % 3],
    value: valueToJson(VALUES[i % 3]),
    constraints: {},
    metadata: { who: "import-test" },
    access_rules: [],
    version: 1,
  }));
  return Buffer.from(JSON.stringify({ format: "dspy-bridge/variables", version: 1, session_id: "x", variables }));
}
