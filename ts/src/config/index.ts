// Configuration spaces (docs/configuration.md): the declarative constraint language,
// conditional variables, structured validation, seeded sampling identical to Python's, and
// ConfigSpace JSON (format 0.4) import/export where it maps. The building block for the
// (not yet built) CognitiveConfiguration register/apply and the optimizers.
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
export { JSON_FORMAT_VERSION, fromConfigSpace, toConfigSpace } from "./configspace.js";
export { CognitiveConfiguration, Configurations, type ConfigurationInfo } from "./cognitive-configuration.js";
