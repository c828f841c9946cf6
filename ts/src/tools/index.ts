export { ToolsApi, type ToolContext, type ToolFunction, type ToolInfo, type ToolOptions } from "./tools-api.js";
export type { JsonSchema } from "./schema.js";
