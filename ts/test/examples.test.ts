// examples/typescript/: every example type-checks (strict, against the built package, as a
// user's project would see it) and runs offline to completion, exiting by itself.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, test } from "node:test";
import ts from "typescript";
import { repoRoot } from "./helpers.js";

const dir = join(repoRoot, "examples/typescript");
const out = join(repoRoot, "ts/dist/examples"); // inside the repository: "dspy-bridge" resolves as for an app
const examples = readdirSync(dir).filter((f) => f.endsWith(".ts"));
const run = promisify(execFile);

describe("examples/typescript", () => {
  test("every example type-checks with its tsconfig", () => {
    const config = ts.readConfigFile(join(dir, "tsconfig.json"), (p) => ts.sys.readFile(p));
    const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, dir);
    const program = ts.createProgram(parsed.fileNames, parsed.options);
    const diagnostics = ts
      .getPreEmitDiagnostics(program)
      .map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n") + (d.file ? ` (${d.file.fileName})` : ""));
    assert.deepEqual(diagnostics, []);
    assert.ok(parsed.fileNames.length >= 5);
  });

  const expected: Record<string, RegExp> = {
    "quick-tour.ts": /the LM call saw temperature 0\.9/,
    "zod-signature.ts": /billing 4[\s\S]*refused: urgency/,
    "optimizer-job.ts": /progress: \d+\/[\d?]+ metric calls[\s\S]*best score/,
    "express-server.ts": /alice: \{ answer: [\s\S]*carol's call was cancelled: the client left/,
    "next-route.ts": /200 \{ answer: '10' \}/,
  };
  for (const file of examples) {
    test(`${file} runs offline and exits by itself`, async () => {
      mkdirSync(out, { recursive: true });
      const js = ts.transpileModule(readFileSync(join(dir, file), "utf8"), {
        compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext },
      }).outputText;
      const target = join(out, file.replace(/\.ts$/, ".mjs"));
      writeFileSync(target, js);
      const { stdout } = await run(process.execPath, [target], { timeout: 180_000 });
      assert.match(stdout, expected[file] ?? /./, stdout);
    });
  }
});
