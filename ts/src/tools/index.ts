export { ToolsApi, type ToolContext, type ToolFunction, type ToolInfo, type ToolOptions, type ToolRunner } from "./tools-api.js";
export type { JsonSchema } from "./schema.js";
