// The module graph of ts/src as the TypeScript compiler reads it, and its cycles. Every edge
// counts: value imports, `import type`, `export ... from`, `import()` and `import("...").T`
// types. A type-only cycle costs nothing at run time, but it still ties two modules so that
// neither can be understood, tested or moved without the other.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

/** Module (path relative to the root, "/"-separated) -> the modules it imports. */
export type ImportGraph = Map<string, Set<string>>;

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (name.endsWith(".ts") && !name.endsWith(".d.ts")) out.push(path);
  }
  return out;
}

/** Relative specifiers are written as the emitted `.js`; the source is the `.ts` beside it. */
function resolveSpecifier(fromFile: string, specifier: string, known: Set<string>): string | undefined {
  if (!specifier.startsWith(".")) return undefined; // a package, not part of the graph
  const base = resolve(dirname(fromFile), specifier);
  for (const candidate of [base.replace(/\.js$/, ".ts"), `${base}.ts`, join(base, "index.ts")]) {
    if (known.has(candidate)) return candidate;
  }
  return undefined;
}

/** Every module under `root` and what it imports from under `root`. */
export function importGraph(rootDir: string): ImportGraph {
  const root = resolve(rootDir);
  const files = sourceFiles(root);
  const known = new Set(files);
  const graph: ImportGraph = new Map();
  for (const file of files) {
    const info = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
    const targets = new Set<string>();
    for (const imported of info.importedFiles) {
      const target = resolveSpecifier(file, imported.fileName, known);
      if (target) targets.add(relative(root, target).split("\\").join("/"));
    }
    graph.set(relative(root, file).split("\\").join("/"), targets);
  }
  return graph;
}

/**
 * The strongly connected components with more than one module, or one module importing
 * itself (Tarjan's algorithm, iterative so that a deep chain cannot overflow the stack).
 * Each is returned sorted; the list is sorted by its first module.
 */
export function importCycles(graph: ImportGraph): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const found: string[][] = [];
  for (const start of graph.keys()) {
    if (index.has(start)) continue;
    const work: { node: string; edges: string[]; next: number }[] = [];
    const enter = (node: string): void => {
      index.set(node, counter);
      low.set(node, counter);
      counter++;
      stack.push(node);
      onStack.add(node);
      work.push({ node, edges: [...(graph.get(node) ?? [])], next: 0 });
    };
    enter(start);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      if (frame.next < frame.edges.length) {
        const to = frame.edges[frame.next++]!;
        if (!index.has(to)) enter(to);
        else if (onStack.has(to)) low.set(frame.node, Math.min(low.get(frame.node)!, index.get(to)!));
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      if (low.get(frame.node) !== index.get(frame.node)) continue;
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== frame.node);
      if (component.length > 1 || graph.get(frame.node)?.has(frame.node)) found.push(component.sort());
    }
  }
  return found.sort((a, b) => a[0]!.localeCompare(b[0]!));
}

/** The unit a module belongs to: its top folder ("pool"), or the file itself at the top ("bridge.ts"). */
export function unitOf(module: string): string {
  const slash = module.indexOf("/");
  return slash < 0 ? module : module.slice(0, slash);
}

/**
 * The folder map of docs/architecture.md: unit -> the units it may import. Read from the table
 * under `heading` whose first column names a folder (`pool/`) or file (`bridge.ts`) and whose
 * last column lists what it may import (or says "nothing").
 */
export function readFolderMap(markdown: string, heading: string): Map<string, Set<string>> {
  const start = markdown.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`no section '${heading}'`);
  const rest = markdown.slice(start + heading.length + 2);
  const end = rest.search(/\n#{1,3} /);
  const map = new Map<string, Set<string>>();
  for (const line of (end < 0 ? rest : rest.slice(0, end)).split("\n")) {
    const cells = line.split("|").map((c) => c.trim());
    if (cells.length < 4) continue;
    const unit = /^`([^`]+)`$/.exec(cells[1]!)?.[1];
    if (!unit) continue;
    const allowed = [...cells[cells.length - 2]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!.replace(/\/$/, ""));
    map.set(unit.replace(/\/$/, ""), new Set(allowed));
  }
  return map;
}

/** Imports between units that the map does not allow, and units the map does not list. */
export function layeringViolations(graph: ImportGraph, map: Map<string, Set<string>>): string[] {
  const out = new Set<string>();
  for (const [module, targets] of graph) {
    const from = unitOf(module);
    const allowed = map.get(from);
    if (!allowed) {
      out.add(`${from} has no row in the folder map`);
      continue;
    }
    for (const target of targets) {
      const to = unitOf(target);
      if (to !== from && !allowed.has(to)) out.add(`${module} imports ${target}: ${from} may not import ${to}`);
    }
  }
  return [...out].sort();
}
