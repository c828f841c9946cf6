// grpc-js service definitions built from the protobuf-es descriptors in src/gen, so the
// gRPC surface comes from proto/ like everything else (no second code generator).
import type { ServiceDefinition } from "@grpc/grpc-js";
import { fromBinary, toBinary, type DescMessage } from "@bufbuild/protobuf";
import type { GenService } from "@bufbuild/protobuf/codegenv2";
import { ProtocolError } from "../errors/index.js";
import { toServiceError } from "./service-error.js";

/**
 * A request whose bytes did not decode as the method's message. grpc-js answers a throwing
 * deserializer with a bare INTERNAL status; returning this instead lets the handler wrapper
 * (refuseUndecodable) answer a typed ProtocolError like every other refusal.
 */
export class UndecodableRequest {
  constructor(
    readonly method: string,
    readonly error: ProtocolError,
  ) {}
}

const MAX_DECODE_MESSAGE = 200;

export function grpcServiceDefinition(service: GenService<never>): ServiceDefinition {
  const definition: Record<string, unknown> = {};
  // A response object written to many streams (a watch fan-out) is serialized once.
  const serialized = new WeakMap<object, Buffer>();
  for (const method of service.methods) {
    const input = method.input as DescMessage;
    const output = method.output as DescMessage;
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
      responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
      requestSerialize: (message: never) => Buffer.from(toBinary(input, message)),
      requestDeserialize: (bytes: Buffer) => {
        try {
          return fromBinary(input, bytes);
        } catch (err) {
          const why = (err instanceof Error ? err.message : String(err)).slice(0, MAX_DECODE_MESSAGE);
          return new UndecodableRequest(
            method.name,
            new ProtocolError(`the ${method.name} request is not a valid ${input.typeName} message: ${why}`),
          );
        }
      },
      responseSerialize: (message: never) => {
        let bytes = serialized.get(message as object);
        if (!bytes) {
          bytes = Buffer.from(toBinary(output, message));
          serialized.set(message as object, bytes);
        }
        return bytes;
      },
      responseDeserialize: (bytes: Buffer) => fromBinary(output, bytes),
      originalName: method.localName,
    };
  }
  return definition as ServiceDefinition;
}

type AnyHandler = (
  call: { request?: unknown; emit?: (event: "error", err: unknown) => void },
  callback?: (err: unknown) => void,
) => void;

/** The handlers, each refusing an UndecodableRequest with its typed error instead of running. */
export function refuseUndecodable<T extends Record<string, unknown>>(handlers: T): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, handler] of Object.entries(handlers)) {
    const inner = handler as AnyHandler;
    wrapped[name] = ((call, callback) => {
      if (call.request instanceof UndecodableRequest) {
        const error = toServiceError(call.request.error);
        if (callback) callback(error);
        else call.emit?.("error", error);
        return;
      }
      inner(call, callback);
    }) satisfies AnyHandler;
  }
  return wrapped as T;
}
