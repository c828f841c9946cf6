// Type tests: the compiler, in strict mode, over fixtures that use the package as a user would
// (`import ... from "dspy-bridge"`, the built declarations). test/types/pass/ must compile
// without a diagnostic; each file of test/types/fail/ must fail exactly where its
// `// error: TSnnnn` comments say, with those codes, and nowhere else.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import ts from "typescript";
import { repoRoot } from "./helpers.js";

const dir = join(repoRoot, "ts/test/types");
const options: ts.CompilerOptions = {
  strict: true,
  noEmit: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  lib: ["lib.es2023.d.ts", "lib.esnext.disposable.d.ts"],
  types: ["node"],
  skipLibCheck: true,
  noUnusedLocals: false,
};

function diagnostics(files: string[]): ts.Diagnostic[] {
  const program = ts.createProgram(files, options);
  return ts.getPreEmitDiagnostics(program).filter((d) => d.file === undefined || files.includes(d.file.fileName));
}

function shown(d: ts.Diagnostic): string {
  const where =
    d.file && d.start !== undefined
      ? `${d.file.fileName.slice(dir.length + 1)}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}`
      : "?";
  return `${where} TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
}

const fixtures = (sub: string) =>
  readdirSync(join(dir, sub))
    .filter((f) => f.endsWith(".ts"))
    .map((f) => join(dir, sub, f));

describe("type tests", () => {
  test("the fixtures that must compile do", () => {
    const found = diagnostics(fixtures("pass"));
    assert.deepEqual(found.map(shown), []);
  });

  // One program for all of them (a program costs seconds); each file's errors are its own.
  const failing = fixtures("fail");
  let failed: ts.Diagnostic[] | undefined;
  for (const file of failing) {
    test(`fails where it should: ${file.slice(dir.length + 1)}`, () => {
      const expected = readFileSync(file, "utf8")
        .split("\n")
        .flatMap((text, i) => [...text.matchAll(/\/\/ error: TS(\d+)/g)].map((m) => `${i + 1} TS${m[1]}`));
      assert.ok(expected.length > 0, "a failing fixture says where it fails");
      failed ??= diagnostics(failing);
      const found = failed.filter((d) => d.file?.fileName === file);
      assert.deepEqual(failed.filter((d) => d.file === undefined).map(shown), [], "no diagnostic outside the fixtures");
      const got = found.map((d) => `${d.file!.getLineAndCharacterOfPosition(d.start!).line + 1} TS${d.code}`);
      assert.deepEqual(got, expected, found.map(shown).join("\n"));
    });
  }
});
