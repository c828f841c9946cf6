// grpc-js service definitions built from the protobuf-es descriptors in src/gen, so the
// gRPC surface comes from proto/ like everything else (no second code generator).
import type { ServiceDefinition } from "@grpc/grpc-js";
import { fromBinary, toBinary, type DescMessage } from "@bufbuild/protobuf";
import type { GenService } from "@bufbuild/protobuf/codegenv2";

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
      requestDeserialize: (bytes: Buffer) => fromBinary(input, bytes),
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
