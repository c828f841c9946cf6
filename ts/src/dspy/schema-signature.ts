// Signatures from schema objects (zod, Valibot, ArkType: any library implementing Standard
// Schema and Standard JSON Schema): the input and output objects' JSON Schema becomes a typed
// DSPy signature with its descriptions, and what DSPy returns is validated by the output
// schema before the caller sees it. No schema library is a dependency: these are the
// libraries' shared interfaces.
import type { StandardJSONSchemaV1, StandardSchemaV1 } from "@standard-schema/spec";
import { InvalidArgumentError, ParseError } from "../errors/index.js";

/** A schema usable in a signature: validates (Standard Schema) and describes itself as JSON Schema (Standard JSON Schema). */
export type SignatureSchema<Input = unknown, Output = Input> = StandardSchemaV1<Input, Output> &
  StandardJSONSchemaV1<Input, Output>;

/**
 * A signature given as two object schemas, e.g. with zod:
 * `{ inputs: z.object({ question: z.string() }), outputs: z.object({ answer: z.number().describe("a number") }) }`.
 * A schema's `.describe()` texts become DSPy's field descriptions; `instructions` (or the
 * outputs schema's own description) the signature's instructions.
 */
export interface SchemaSignature<
  I extends SignatureSchema = SignatureSchema,
  O extends SignatureSchema = SignatureSchema,
> {
  inputs: I;
  outputs: O;
  instructions?: string;
}

/** What the workers receive for a schema signature: DSPy's typed string plus what a string cannot carry. */
export interface SignatureSpec {
  signature: string;
  instructions?: string;
  descriptions?: Record<string, string>;
}

type JsonSchema = Record<string, unknown>;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_ISSUES = 5;

export function isSchemaSignature(value: unknown): value is SchemaSignature {
  return typeof value === "object" && value !== null && "inputs" in value && "outputs" in value;
}

const specs = new WeakMap<SchemaSignature, SignatureSpec>();

/** The spec the workers build the DSPy signature from (computed once per signature object). */
export function signatureSpec(signature: SchemaSignature): SignatureSpec {
  let spec = specs.get(signature);
  if (spec === undefined) {
    spec = buildSpec(signature);
    specs.set(signature, spec);
  }
  return spec;
}

function jsonSchemaOf(schema: unknown, side: "inputs" | "outputs"): JsonSchema {
  const standard = (
    schema as {
      "~standard"?: { version?: number; jsonSchema?: { input?: (o: { target: string }) => JsonSchema } };
    } | null
  )?.["~standard"];
  if (typeof standard?.jsonSchema?.input !== "function") {
    throw new InvalidArgumentError(
      `signature.${side} must be an object schema implementing Standard JSON Schema (zod 4.2+, or a library's Standard JSON Schema adapter)`,
      { parameter: `signature.${side}` },
    );
  }
  // The schema's input form: it describes the JSON DSPy produces, before the schema's transforms.
  const json = standard.jsonSchema.input({ target: "draft-2020-12" });
  if (json.type !== "object" || typeof json.properties !== "object" || json.properties === null) {
    throw new InvalidArgumentError(`signature.${side} must be an object schema (one property per field)`, {
      parameter: `signature.${side}`,
    });
  }
  return json;
}

function buildSpec(signature: SchemaSignature): SignatureSpec {
  const descriptions: Record<string, string> = {};
  const side = (which: "inputs" | "outputs"): string => {
    const json = jsonSchemaOf(signature[which], which);
    const required = new Set(Array.isArray(json.required) ? (json.required as string[]) : []);
    const fields = Object.entries(json.properties as Record<string, JsonSchema>);
    if (fields.length === 0)
      throw new InvalidArgumentError(`signature.${which} needs at least one field`, {
        parameter: `signature.${which}`,
      });
    return fields
      .map(([name, field]) => {
        if (!IDENTIFIER.test(name)) {
          throw new InvalidArgumentError(`signature.${which}.${name}: a DSPy field name must be a Python identifier`, {
            parameter: `signature.${which}.${name}`,
          });
        }
        if (name in descriptions)
          throw new InvalidArgumentError(`field '${name}' is both an input and an output`, {
            parameter: `signature.${which}.${name}`,
          });
        if (typeof field.description === "string") descriptions[name] = field.description;
        else descriptions[name] = "";
        let type = pythonType(field);
        if (!required.has(name) && !type.startsWith("Optional[")) type = `Optional[${type}]`;
        return `${name}: ${type}`;
      })
      .join(", ");
  };
  const text = `${side("inputs")} -> ${side("outputs")}`;
  for (const [name, description] of Object.entries(descriptions)) if (description === "") delete descriptions[name];
  const outputsDescription = jsonSchemaOf(signature.outputs, "outputs").description;
  const instructions =
    signature.instructions ?? (typeof outputsDescription === "string" ? outputsDescription : undefined);
  return {
    signature: text,
    ...(instructions ? { instructions } : {}),
    ...(Object.keys(descriptions).length > 0 ? { descriptions } : {}),
  };
}

/** A JSON Schema -> the Python annotation DSPy resolves in a string signature (its adapters then parse the LM's text to it). */
export function pythonType(schema: JsonSchema): string {
  const literals = Array.isArray(schema.enum) ? schema.enum : "const" in schema ? [schema.const] : undefined;
  if (literals?.every((v) => typeof v === "string" || typeof v === "number" || typeof v === "boolean" || v === null)) {
    const values = literals.filter((v) => v !== null).map(pythonLiteral);
    const literal = values.length > 0 ? `Literal[${values.join(", ")}]` : "None";
    return literals.includes(null) && values.length > 0 ? `Optional[${literal}]` : literal;
  }
  const union = (Array.isArray(schema.anyOf) ? schema.anyOf : Array.isArray(schema.oneOf) ? schema.oneOf : undefined) as
    | JsonSchema[]
    | undefined;
  if (union !== undefined) return unionType(union.map((s) => (s.type === "null" ? "None" : pythonType(s))));
  if (Array.isArray(schema.type))
    return unionType(
      (schema.type as string[]).map((t) => (t === "null" ? "None" : pythonType({ ...schema, type: t }))),
    );
  switch (schema.type) {
    case "string":
      return "str";
    case "integer":
      return "int";
    case "number":
      return "float";
    case "boolean":
      return "bool";
    case "null":
      return "None";
    case "array":
      return typeof schema.items === "object" && schema.items !== null && !Array.isArray(schema.items)
        ? `list[${pythonType(schema.items as JsonSchema)}]`
        : "list";
    case "object":
      // A record's values have one schema; an object of named properties has none DSPy's
      // string signatures can name, so its values are left to the output schema's check.
      return typeof schema.additionalProperties === "object" &&
        schema.additionalProperties !== null &&
        schema.properties === undefined
        ? `dict[str, ${pythonType(schema.additionalProperties as JsonSchema)}]`
        : "dict[str, Any]";
    default:
      return "Any";
  }
}

function unionType(members: string[]): string {
  const unique = [...new Set(members)];
  const rest = unique.filter((m) => m !== "None");
  const inner = rest.length === 1 ? rest[0]! : rest.length === 0 ? "None" : `Union[${rest.join(", ")}]`;
  return unique.includes("None") && rest.length > 0 ? `Optional[${inner}]` : inner;
}

function pythonLiteral(value: string | number | boolean): string {
  if (typeof value === "boolean") return value ? "True" : "False";
  if (typeof value === "number") return String(value);
  return JSON.stringify(value); // a JSON string is a valid Python string literal for printable text
}

/** Validates a side's values with its schema: InvalidArgumentError (inputs) or ParseError (outputs) naming the first bad field. */
export async function validateSide<T>(
  schema: StandardSchemaV1<unknown, T>,
  values: unknown,
  side: "inputs" | "outputs",
): Promise<T> {
  let result = schema["~standard"].validate(values);
  if (result instanceof Promise) result = await result;
  if (result.issues === undefined) return result.value;
  const issues = result.issues.slice(0, MAX_ISSUES).map((issue) => ({
    path: (issue.path ?? []).map((p) => String(typeof p === "object" && p !== null ? p.key : p)).join("."),
    message: issue.message.length > 200 ? `${issue.message.slice(0, 200)}…` : issue.message,
  }));
  const first = issues[0]!;
  const field = first.path.split(".")[0] || undefined;
  const more = result.issues.length > 1 ? ` (and ${result.issues.length - 1} more)` : "";
  if (side === "inputs") {
    throw new InvalidArgumentError(`input field '${first.path}': ${first.message}${more}`, {
      parameter: `inputs${first.path ? `.${first.path}` : ""}`,
      details: { issues },
    });
  }
  throw new ParseError(`DSPy's output field '${first.path}' does not fit the output schema: ${first.message}${more}`, {
    details: { field, issues },
  });
}

/** The output fields of a schema signature validated, the module's extra fields (reasoning) kept. */
export async function validateOutputs(
  signature: SchemaSignature,
  fields: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const names = Object.keys((jsonSchemaOf(signature.outputs, "outputs").properties as object) ?? {});
  const picked = Object.fromEntries(names.filter((n) => n in fields).map((n) => [n, fields[n]]));
  const valid = await validateSide(signature.outputs, picked, "outputs");
  return { ...fields, ...(valid as Record<string, unknown>) };
}
