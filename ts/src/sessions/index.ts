export { Session, Sessions } from "./sessions.js";
export {
  SessionVariables,
  type DefineOptions,
  type VariableInfo,
  type VariableTypeName,
  type VariableUpdate,
  type VariableValue,
  type VariableValueTypes,
  type Watch,
  type WatchOptions,
} from "./session-variables.js";
