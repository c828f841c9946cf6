// Configuration spaces (docs/configuration.md), in three layers:
// - space.ts (with lang.ts, rng.ts): a space document compiled, validated and sampled: the
//   declarative constraint language, conditional variables, structured validation, seeded
//   sampling identical to Python's. Pure: no store, no session.
// - configspace-json.ts: import/export of the ConfigSpace library's JSON (format 0.4), where it maps.
// - session-configurations.ts: spaces registered in sessions (`Configurations`, and the
//   `ConfigurationSpace` handle on one), whose variables live in the store.
export { MAX_SEED, Rng } from "./rng.js";
export type { ConditionDoc, ConstraintDoc, ExprDoc, Scalar } from "./lang.js";
export {
  type Config,
  type Constraint,
  type SampleOptions,
  type SampleResult,
  Space,
  type SpaceDoc,
  VARIABLE_TYPES,
  type ValidationResult,
  type Variable,
  type VariableDoc,
  type VariableType,
  type Violation,
  assertValid,
  compileSpace,
  sample,
  validate,
} from "./space.js";
export { JSON_FORMAT_VERSION, fromConfigSpace, toConfigSpace } from "./configspace-json.js";
export {
  CognitiveConfiguration,
  ConfigurationSpace,
  Configurations,
  type ConfigurationInfo,
} from "./session-configurations.js";
