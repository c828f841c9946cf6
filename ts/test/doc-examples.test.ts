// The code examples of README.md and docs/*.md still compile against the code as it is:
// every ```ts block is type-checked against the built package (an import of "dspy-bridge"
// resolves to ts/dist/src/index.d.ts), every ```python block is compiled by the venv's
// Python (top-level await allowed), and the blocks marked runnable are run against real
// workers. A block that is not code (a signature, an excerpt with "…") is marked in the
// markdown with the reason, on the line before it:
//   <!-- doc-example: skip (why) -->    left out, for the reason given
//   <!-- doc-example: run -->           also run (TypeScript: with node; Python: with the venv)
// Names an excerpt uses without defining (`bridge`, `session`, `question`, ...) are declared
// for it with their types (PRELUDE below); the package's exports it uses are imported.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, describe, test } from "node:test";
import ts from "typescript";
import { repoRoot } from "./helpers.js";

interface Block {
  file: string;
  line: number;
  lang: string;
  code: string;
  mark: string | undefined;
}

/** Every fenced block of the README and docs/, with the doc-example mark before it, if any. */
function blocks(): Block[] {
  const files = [
    "README.md",
    ...readdirSync(join(repoRoot, "docs"))
      .filter((f) => f.endsWith(".md"))
      .map((f) => `docs/${f}`),
  ];
  const out: Block[] = [];
  for (const file of files) {
    const lines = readFileSync(join(repoRoot, file), "utf8").split("\n");
    for (let i = 0; i < lines.length; i++) {
      const open = /^```(\w*)\s*$/.exec(lines[i]!);
      if (!open) continue;
      const start = i;
      const body: string[] = [];
      for (i++; i < lines.length && !lines[i]!.startsWith("```"); i++) body.push(lines[i]!);
      let before = start - 1;
      while (before >= 0 && lines[before]!.trim() === "") before--;
      const mark = before >= 0 ? /^<!-- doc-example: (.*?) -->$/.exec(lines[before]!.trim())?.[1] : undefined;
      out.push({ file, line: start + 1, lang: open[1]!, code: body.join("\n"), mark });
    }
  }
  return out;
}

const all = blocks();
const skipped = (b: Block) => b.mark?.startsWith("skip") ?? false;
const where = (b: Block) => `${b.file}:${b.line}`;

/** What an excerpt may use without defining it: `declare`d for it when it does not define the name itself. */
const PRELUDE: Record<string, string> = {
  bridge: "declare const bridge: Bridge;",
  session: "declare const session: Session;",
  question: "declare const question: string;",
  context: "declare const context: string;",
  text: "declare const text: string;",
  inputs: "declare const inputs: Record<string, unknown>;",
  lm: "declare const lm: LMSpec;",
  trainset: "declare const trainset: Array<Record<string, unknown>>;",
  render: "declare function render(field: string, text: string): void;",
  done: "declare function done(fields: Record<string, unknown>): void;",
  sleep: "declare function sleep(ms: number): Promise<void>;",
  evaluate: "declare function evaluate(values: Record<string, unknown>): Promise<number>;",
  searchIndex: "declare function searchIndex(query: string, options: { signal: AbortSignal }): Promise<unknown>;",
  N: "declare const N: number;",
};

const dist = join(repoRoot, "ts/dist/src/index.d.ts");
const exported = (() => {
  const program = ts.createProgram([dist], { skipLibCheck: true, noEmit: true });
  const checker = program.getTypeChecker();
  const symbol = checker.getSymbolAtLocation(program.getSourceFile(dist)!);
  return new Set(checker.getExportsOfModule(symbol!).map((s) => s.name));
})();

/** The block as a module: the package's names it uses imported, the prelude's names it uses declared. */
function asModule(b: Block, specifier: string): string {
  const defines = (name: string) =>
    new RegExp(`(?:const|let|var|function|class)\\s+(?:\\{[^}]*\\b)?${name}\\b|import\\s*\\{[^}]*\\b${name}\\b`).test(
      b.code,
    );
  const uses = (name: string) => new RegExp(`(?<![.\\w"'])${name}\\b`).test(b.code);
  // The prelude's declarations name Bridge, Session and LMSpec.
  const imports = [...exported].filter(
    (n) => (uses(n) || n === "Bridge" || n === "Session" || n === "LMSpec") && !defines(n),
  );
  const declared = Object.entries(PRELUDE)
    .filter(([name]) => uses(name) && !defines(name))
    .map(([, d]) => d);
  const own = b.code.replace(/from "dspy-bridge"/g, `from ${JSON.stringify(specifier)}`);
  return [
    `import { ${imports.map((n) => `${n} as ${n}`).join(", ")} } from ${JSON.stringify(specifier)};`,
    ...declared,
    "export {};",
    own,
  ].join("\n");
}

const work = mkdtempSync(join(tmpdir(), "dspy-bridge-doc-examples-"));
after(() => rmSync(work, { recursive: true, force: true }));

describe("documentation examples", () => {
  test("every TypeScript example type-checks against the built package", () => {
    const ts_ = all.filter((b) => (b.lang === "ts" || b.lang === "typescript") && !skipped(b));
    assert.ok(ts_.length >= 15, `found ${ts_.length} TypeScript examples`);
    const files = ts_.map((b, i) => {
      const path = join(work, `example-${i}.ts`);
      writeFileSync(path, asModule(b, "dspy-bridge"));
      return { path, b };
    });
    const options: ts.CompilerOptions = {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: ["node"],
      typeRoots: [join(repoRoot, "node_modules/@types")],
      paths: { "dspy-bridge": [dist] },
    };
    const program = ts.createProgram(
      files.map((f) => f.path),
      options,
    );
    const problems = ts.getPreEmitDiagnostics(program).map((d) => {
      const f = files.find((x) => x.path === d.file?.fileName);
      const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : 0;
      const prelude = f ? asModule(f.b, "dspy-bridge").split("\n").length - f.b.code.split("\n").length : 0;
      return `${f ? `${f.b.file}:${f.b.line + 1 + line - prelude}` : d.file?.fileName}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
    });
    assert.equal(problems.length, 0, `\n${problems.join("\n")}`);
  });

  test("every Python example compiles", () => {
    const py = all.filter((b) => (b.lang === "python" || b.lang === "py") && !skipped(b));
    assert.ok(py.length >= 25, `found ${py.length} Python examples`);
    const script = [
      "import ast, doctest, json, sys",
      "problems = []",
      "for b in json.load(sys.stdin):",
      "    # An interpreter session (>>> lines): each statement is compiled on its own.",
      "    parts = [e.source for e in doctest.DocTestParser().get_examples(b['code'])] if '>>> ' in b['code'] else [b['code']]",
      "    for code in parts:",
      "        try:",
      "            compile(code, b['where'], 'exec', flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)",
      "        except SyntaxError as e:",
      "            problems.append(f\"{b['where']}+{e.lineno}: {e.msg}\")",
      "print(json.dumps(problems))",
    ].join("\n");
    const r = spawnSync(join(repoRoot, ".venv/bin/python"), ["-c", script], {
      input: JSON.stringify(py.map((b) => ({ where: where(b), code: b.code }))),
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    const problems = JSON.parse(r.stdout) as string[];
    assert.equal(problems.length, 0, `\n${problems.join("\n")}`);
  });

  test("every skipped example says why", () => {
    const unexplained = all.filter((b) => b.mark !== undefined && !/^(skip \(.+\)|run)$/.test(b.mark)).map(where);
    assert.deepEqual(unexplained, [], "a mark is `skip (reason)` or `run`");
  });

  for (const b of all.filter((x) => x.mark === "run")) {
    test(`runs ${where(b)}`, { timeout: 120_000 }, () => {
      if (b.lang === "ts") {
        const out = ts.transpileModule(asModule(b, pathToFileURL(join(repoRoot, "ts/dist/src/index.js")).href), {
          compilerOptions: {
            target: ts.ScriptTarget.ES2022,
            module: ts.ModuleKind.ESNext,
            verbatimModuleSyntax: false,
          },
        }).outputText;
        const path = join(work, `run-${b.line}.mjs`);
        writeFileSync(path, out);
        const r = spawnSync(process.execPath, [path], { cwd: repoRoot, encoding: "utf8", timeout: 110_000 });
        assert.equal(r.status, 0, `${where(b)} exited ${r.status}: ${r.stderr.slice(-2000)}`);
      } else {
        const r = spawnSync(join(repoRoot, ".venv/bin/python"), ["-c", b.code], {
          cwd: repoRoot,
          encoding: "utf8",
          timeout: 110_000,
        });
        assert.equal(r.status, 0, `${where(b)} exited ${r.status}: ${r.stderr.slice(-2000)}`);
      }
    });
  }
});
