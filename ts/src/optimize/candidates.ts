// Where candidates come from. Every optimizer is a CandidateSource the run loop asks for the
// next configuration and tells its score: random and grid search are generated here on the
// host; the bayesian optimizer and registered Python optimizers live in the session's worker
// (worker-optimizer.ts).
import { Rng, compileSpace, sample, validate, type Config, type Space, type SpaceDoc } from "../config/index.js";

export interface CandidateSource {
  /** The next configuration to try, or undefined when the source is exhausted. */
  ask(): Promise<Config | undefined>;
  /** The score of the candidate last asked; `undefined`: the host rejected it as infeasible without evaluating it. */
  tell(values: Config, score: number | undefined): Promise<void>;
  /** The run ended (finished, stopped or failed): release what the source holds. */
  close(): Promise<void>;
}

function hostSource(next: () => Config | undefined): CandidateSource {
  return { ask: () => Promise.resolve(next()), tell: () => Promise.resolve(), close: () => Promise.resolve() };
}

export function randomSource(doc: SpaceDoc, seed: number): CandidateSource {
  const space = compileSpace(doc);
  const rng = new Rng(seed);
  return hostSource(() => sample(space, 1, rng.nextBelow(2 ** 31)).samples[0]);
}

export function gridSource(doc: SpaceDoc, points: number): CandidateSource {
  const space: Space = compileSpace(doc);
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
  return hostSource(() => {
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
  });
}
