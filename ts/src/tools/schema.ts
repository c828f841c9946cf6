// Argument validation for TypeScript tools: JSON Schema, compiled once per tool (ajv).
import AjvModule from "ajv";
import { InvalidArgumentError } from "../errors/index.js";

type AjvClass = typeof AjvModule.default;
const Ajv: AjvClass = (AjvModule as unknown as { default: AjvClass }).default ?? (AjvModule as unknown as AjvClass);
const ajv = new Ajv({ allErrors: false, strict: false });

export type JsonSchema = Record<string, unknown>;
export type Validator = (args: unknown) => void;

/** A validator throwing InvalidArgumentError that names the offending argument. */
export function compileArgsSchema(tool: string, schema: JsonSchema): Validator {
  if (schema.type !== undefined && schema.type !== "object") {
    throw new InvalidArgumentError(`tool '${tool}': the parameters schema must describe an object`, {
      parameter: "parameters",
    });
  }
  let check;
  try {
    check = ajv.compile(schema);
  } catch (err) {
    throw new InvalidArgumentError(`tool '${tool}': invalid JSON Schema: ${(err as Error).message}`, {
      parameter: "parameters",
    });
  }
  return (args: unknown) => {
    if (check(args)) return;
    const e = check.errors?.[0];
    const missing = (e?.params as { missingProperty?: string } | undefined)?.missingProperty;
    const extra = (e?.params as { additionalProperty?: string } | undefined)?.additionalProperty;
    const path = (e?.instancePath ?? "").replace(/^\//, "").replace(/\//g, ".");
    const argument = missing ?? extra ?? (path || "args");
    throw new InvalidArgumentError(
      `tool '${tool}', argument '${argument}': ${e?.message ?? "does not match the schema"}`,
      {
        parameter: argument,
      },
    );
  };
}
