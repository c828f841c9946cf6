export { DSPyApi, SessionPrograms, type DSPyResult, type DSPyRunner, type LMSpec, type ModuleType, type ProgramInfo, type RunOptions } from "./dspy-api.js";
