// No import cycles in ts/src, type-only ones included: a cycle ties modules so that none of
// them can be read, tested or moved alone, and value cycles make load order matter. And each
// folder imports only what the folder map in docs/architecture.md allows it.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { repoRoot } from "./helpers.js";
import { importCycles, importGraph, layeringViolations, readFolderMap } from "./import-graph.js";

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
  assert.deepEqual(
    cycles,
    [],
    `import cycles in ts/src (each line one cycle's modules):\n${cycles.map((c) => c.join(" <-> ")).join("\n")}`,
  );
});

const FOLDER_MAP = "## The TypeScript folder map";

test("the layering check reads the folder map and reports what it does not allow", () => {
  const map = readFolderMap(
    `# Doc\n\n${FOLDER_MAP}\n\n| folder | what | may import |\n| --- | --- | --- |\n| \`top.ts\` | root | \`low\`, \`mid/\` |\n| \`mid/\` | middle | \`low\` |\n| \`low/\` | leaf | nothing |\n\n## Next\n\n| \`ignored/\` | x | \`top.ts\` |\n`,
    FOLDER_MAP,
  );
  assert.deepEqual(
    map,
    new Map([
      ["top.ts", new Set(["low", "mid"])],
      ["mid", new Set(["low"])],
      ["low", new Set()],
    ]),
  );
  const graph = new Map([
    ["top.ts", new Set(["mid/a.ts", "low/b.ts"])],
    ["mid/a.ts", new Set(["low/b.ts", "mid/c.ts"])],
    ["mid/c.ts", new Set<string>()],
    ["low/b.ts", new Set(["mid/c.ts"])],
    ["stray/d.ts", new Set<string>()],
  ]);
  assert.deepEqual(layeringViolations(graph, map), [
    "low/b.ts imports mid/c.ts: low may not import mid",
    "stray has no row in the folder map",
  ]);
});

test("each folder of ts/src imports only what docs/architecture.md's folder map allows", () => {
  const map = readFolderMap(readFileSync(join(repoRoot, "docs/architecture.md"), "utf8"), FOLDER_MAP);
  assert.ok(map.size >= 15, `the folder map has ${map.size} rows`);
  const violations = layeringViolations(importGraph(join(repoRoot, "ts/src")), map);
  assert.deepEqual(
    violations,
    [],
    `imports the folder map does not allow (fix the import, or the map in docs/architecture.md):\n${violations.join("\n")}`,
  );
});
