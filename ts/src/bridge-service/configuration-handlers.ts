// The bridge service's configuration-space RPCs (Python's ConfigurationSpace calls them).
import { create } from "@bufbuild/protobuf";
import { InvalidArgumentError } from "../errors/index.js";
import type { Configurations } from "../config/index.js";
import type { SpaceDoc } from "../config/index.js";
import {
  ApplyConfigurationResponseSchema,
  ConfigurationInfoSchema,
  SampleConfigurationResponseSchema,
  ValidateConfigurationResponseSchema,
  type ApplyConfigurationRequest,
  type GetConfigurationRequest,
  type RegisterConfigurationRequest,
  type SampleConfigurationRequest,
  type ValidateConfigurationRequest,
} from "../gen/dspy_bridge/v1/configuration_pb.js";
import { decodeValue, encodeValue, JSON_SHAPE_LIMITS, jsonNestsDeeperThan } from "../values/index.js";
import { clip } from "../store/types/describe.js";
import { caller, type Wrap } from "./unary.js";

function parseDefinition(text: string): SpaceDoc {
  if (jsonNestsDeeperThan(text))
    throw new InvalidArgumentError(`definition_json ${JSON_SHAPE_LIMITS}`, { parameter: "definition_json" });
  try {
    return JSON.parse(text) as SpaceDoc;
  } catch (err) {
    throw new InvalidArgumentError(`definition_json is not valid JSON: ${clip((err as Error).message, 200)}`, {
      parameter: "definition_json",
    });
  }
}

function objectArg(value: unknown, where: string): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new InvalidArgumentError(`${where} must be an object of variable name -> value`, { parameter: where });
  }
  return value as Record<string, unknown>;
}

export function configurationHandlers(configurations: Configurations, unary: Wrap) {
  const info = (sessionId: string, name: string) => {
    const i = configurations.info(sessionId, name);
    return create(ConfigurationInfoSchema, {
      name: i.name,
      definitionJson: JSON.stringify(i.definition),
      version: BigInt(i.version),
      variables: i.variables,
    });
  };
  return {
    registerConfiguration: unary<RegisterConfigurationRequest, unknown>(async (req) => {
      await configurations.register(req.sessionId, req.name, parseDefinition(req.definitionJson), caller(req));
      return info(req.sessionId, req.name);
    }),
    getConfiguration: unary<GetConfigurationRequest, unknown>((req) => info(req.sessionId, req.name)),
    applyConfiguration: unary<ApplyConfigurationRequest, unknown>(async (req) => {
      const values = objectArg(req.values ? decodeValue(req.values, "values") : undefined, "values");
      const { version, revision } = await configurations.apply(
        req.sessionId,
        req.name,
        values,
        req.metadata,
        caller(req),
      );
      return create(ApplyConfigurationResponseSchema, { version: BigInt(version), revision: BigInt(revision) });
    }),
    sampleConfiguration: unary<SampleConfigurationRequest, unknown>((req) => {
      const r = configurations.sample(req.sessionId, req.name, req.seed ? Number(req.seed) : undefined, req.count || 1);
      return create(SampleConfigurationResponseSchema, {
        samples: encodeValue(r.samples, "samples"),
        acceptanceRate: r.acceptanceRate,
      });
    }),
    validateConfiguration: unary<ValidateConfigurationRequest, unknown>((req) => {
      const values = objectArg(req.values ? decodeValue(req.values, "values") : {}, "values");
      const r = configurations.validate(req.sessionId, req.name, values);
      return create(ValidateConfigurationResponseSchema, { ok: r.ok, violationsJson: JSON.stringify(r.violations) });
    }),
  };
}
