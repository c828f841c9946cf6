export { Session, Sessions } from "./sessions.js";
export { SessionVariables, type DefineOptions, type VariableInfo, type VariableUpdate, type Watch, type WatchOptions } from "./session-variables.js";
