// No import cycles in ts/src, type-only ones included: a cycle ties modules so that none of
// them can be read, tested or moved alone, and value cycles make load order matter.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { repoRoot } from "./helpers.js";
import { importCycles, importGraph } from "./import-graph.js";

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "import-graph-"));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

test("the cycle check finds value, type-only, re-export, dynamic and self cycles, and nothing else", () => {
  const root = tree({
    "a/one.ts": `import { two } from "./two.js";\nexport const one = two;`,
    "a/two.ts": `import type { One } from "../b/index.js";\nexport const two = 2;`,
    "b/index.ts": `export { type One } from "./types.js";`,
    "b/types.ts": `export type One = typeof import("../a/one.js").one;`,
    "c/lazy.ts": `export const load = () => import("./eager.js");`,
    "c/eager.ts": `import { load } from "./lazy.js";\nexport const again = load;`,
    "d/self.ts": `import * as self from "./self.js";\nexport const me = self;`,
    "e/leaf.ts": `import { readFileSync } from "node:fs";\nexport const read = readFileSync;`,
    "e/user.ts": `import { read } from "./leaf.js";\nimport { one } from "../a/one.js";\nexport const x = [read, one];`,
  });
  try {
    const graph = importGraph(root);
    assert.deepEqual([...graph.get("e/leaf.ts")!], []);
    assert.deepEqual([...graph.get("b/index.ts")!], ["b/types.ts"]);
    assert.deepEqual(importCycles(graph), [
      ["a/one.ts", "a/two.ts", "b/index.ts", "b/types.ts"],
      ["c/eager.ts", "c/lazy.ts"],
      ["d/self.ts"],
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("ts/src has no import cycles", () => {
  const graph = importGraph(join(repoRoot, "ts/src"));
  assert.ok(graph.size > 50, `expected the whole source tree, read ${graph.size} modules`);
  const cycles = importCycles(graph);
  assert.deepEqual(cycles, [], `import cycles in ts/src (each line one cycle's modules):\n${cycles.map((c) => c.join(" <-> ")).join("\n")}`);
});
