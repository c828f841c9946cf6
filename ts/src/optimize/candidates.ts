// Candidate generators for the host-side optimizers: random search (seeded samples of the
// space) and grid search (every combination of per-variable grid points that satisfies the
// space's constraints).
import { Rng, compileSpace, sample, validate, type Config, type Space, type SpaceDoc } from "../config/index.js";
import { NotImplementedError } from "../errors/index.js";

export type OptimizerName = "random" | "grid" | "random_search" | "grid_search";

export interface CandidateSource {
  /** The next configuration to try, or undefined when the source is exhausted. */
  next(): Config | undefined;
}

function randomSource(space: Space, seed: number): CandidateSource {
  const rng = new Rng(seed);
  return { next: () => sample(space, 1, rng.nextBelow(2 ** 31)).samples[0] };
}

function gridSource(space: Space, points: number): CandidateSource {
  const axes = space.variables.map((v) => {
    if (v.type === "choice") return [...v.values];
    if (v.type === "boolean") return [false, true];
    if (v.type === "constant") return [v.value!];
    if (v.type === "integer") {
      const span = v.max - v.min;
      const n = Math.min(points, span + 1);
      return [...new Set(Array.from({ length: n }, (_, i) => Math.round(v.min + (span * i) / Math.max(1, n - 1))))];
    }
    return Array.from({ length: points }, (_, i) => v.min + ((v.max - v.min) * i) / Math.max(1, points - 1));
  });
  const index = new Array<number>(axes.length).fill(0);
  let done = axes.some((a) => a.length === 0);
  return {
    next: () => {
      while (!done) {
        const config: Config = {};
        space.variables.forEach((v, i) => (config[v.name] = axes[i]![index[i]!] as Config[string]));
        // advance the odometer
        let k = axes.length - 1;
        while (k >= 0 && ++index[k]! >= axes[k]!.length) index[k--] = 0;
        if (k < 0) done = true;
        const checked = validate(space, config);
        if (checked.ok || checked.violations.every((x) => x.kind === "inactive")) return config;
      }
      return undefined;
    },
  };
}

export function candidateSource(optimizer: string, doc: SpaceDoc, options: { seed: number; gridPoints: number }): CandidateSource {
  const space = compileSpace(doc);
  switch (optimizer) {
    case "random":
    case "random_search":
      return randomSource(space, options.seed);
    case "grid":
    case "grid_search":
      return gridSource(space, options.gridPoints);
    case "bayesian":
    case "tpe":
      throw new NotImplementedError("the bayesian optimizer (Optuna TPE in a worker) is not implemented yet; use 'random' or 'grid'");
    default:
      throw new NotImplementedError(`optimizer '${optimizer}' is not available (built in: random, grid)`);
  }
}
