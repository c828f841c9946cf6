// Dependencies between the variables of one session: "from depends on to". Edges that
// would close a cycle are refused.
import { InvalidArgumentError } from "../errors/index.js";
import { quote } from "./types/describe.js";

export interface Edge {
  to: string;
  type: string;
  metadata: Record<string, string>;
}

export const DEPENDENCY_TYPES = ["data", "constraint", "optimization"] as const;

/** A dependency type the store knows, or InvalidArgumentError naming the choices. */
export function checkDependencyType(type: string): void {
  if (!(DEPENDENCY_TYPES as readonly string[]).includes(type)) {
    throw new InvalidArgumentError(
      `dependency type must be one of ${DEPENDENCY_TYPES.join(", ")}, got ${quote(type)}`,
      { parameter: "dependency_type" },
    );
  }
}

export class DependencyGraph {
  /** from -> (to -> edge) */
  private readonly out = new Map<string, Map<string, Edge>>();
  /** to -> set of from */
  private readonly in = new Map<string, Set<string>>();

  /** The path from `start` to `goal` following edges, or undefined. */
  private path(start: string, goal: string): string[] | undefined {
    const stack: [string, string[]][] = [[start, [start]]];
    const seen = new Set<string>();
    while (stack.length) {
      const [node, path] = stack.pop()!;
      if (node === goal) return path;
      if (seen.has(node)) continue;
      seen.add(node);
      for (const next of this.out.get(node)?.keys() ?? []) stack.push([next, [...path, next]]);
    }
    return undefined;
  }

  /** Throws InvalidArgumentError naming the cycle if from -> to would close one. */
  checkAdd(from: string, to: string): void {
    if (from === to)
      throw new InvalidArgumentError(`a variable cannot depend on itself ('${from}')`, { parameter: "to_variable" });
    const back = this.path(to, from);
    if (back) {
      // A cycle through thousands of variables is named by its first and last steps.
      const cycle = [from, ...back];
      const shown =
        cycle.length <= 12 ? cycle : [...cycle.slice(0, 6), `… ${cycle.length - 11} more …`, ...cycle.slice(-5)];
      throw new InvalidArgumentError(`dependency ${from} -> ${to} would create a cycle: ${shown.join(" -> ")}`, {
        parameter: "to_variable",
        details: { cycle: shown },
      });
    }
  }

  add(from: string, to: string, type: string, metadata: Record<string, string> = {}): void {
    this.checkAdd(from, to);
    if (!this.out.has(from)) this.out.set(from, new Map());
    this.out.get(from)!.set(to, { to, type, metadata: { ...metadata } });
    if (!this.in.has(to)) this.in.set(to, new Set());
    this.in.get(to)!.add(from);
  }

  remove(from: string, to: string): boolean {
    const removed = this.out.get(from)?.delete(to) ?? false;
    this.in.get(to)?.delete(from);
    return removed;
  }

  /** Removes a variable and every edge touching it. */
  drop(name: string): void {
    for (const to of this.out.get(name)?.keys() ?? []) this.in.get(to)?.delete(name);
    for (const from of this.in.get(name) ?? []) this.out.get(from)?.delete(name);
    this.out.delete(name);
    this.in.delete(name);
  }

  edgesFrom(name: string): Edge[] {
    return [...(this.out.get(name)?.values() ?? [])];
  }

  /** Breadth-first: [name, type, depth] of what `name` depends on (or, reversed, what depends on it). */
  walk(name: string, transitive: boolean, reverse: boolean): { variable: string; type: string; depth: number }[] {
    const result: { variable: string; type: string; depth: number }[] = [];
    const seen = new Set<string>([name]);
    let frontier = [name];
    for (let depth = 1; frontier.length; depth++) {
      const next: string[] = [];
      for (const node of frontier) {
        const neighbours: [string, string][] = reverse
          ? [...(this.in.get(node) ?? [])].map((from) => [from, this.out.get(from)?.get(node)?.type ?? "data"])
          : this.edgesFrom(node).map((e) => [e.to, e.type]);
        for (const [other, type] of neighbours) {
          if (seen.has(other)) continue;
          seen.add(other);
          result.push({ variable: other, type, depth });
          next.push(other);
        }
      }
      if (!transitive) break;
      frontier = next;
    }
    return result;
  }

  /** Every edge, for export. */
  allEdges(): { from: string; to: string; type: string; metadata: Record<string, string> }[] {
    const all = [];
    for (const [from, edges] of this.out)
      for (const e of edges.values()) all.push({ from, to: e.to, type: e.type, metadata: e.metadata });
    return all;
  }

  clone(): DependencyGraph {
    const copy = new DependencyGraph();
    for (const e of this.allEdges()) copy.add(e.from, e.to, e.type, e.metadata);
    return copy;
  }
}
