// maxMessageBytes governs every transport: the worker connections (edge-cases, host-calls), the
// bridge service's gRPC server, and the workers' own gRPC channels to it.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import {
  credentials,
  makeGenericClientConstructor,
  Metadata,
  status,
  type Client,
  type ServiceError,
} from "@grpc/grpc-js";
import { Bridge } from "../src/index.js";
import { grpcServiceDefinition } from "../src/bridge-service/grpc-definition.js";
import { BridgeService, PingRequestSchema } from "../src/gen/dspy_bridge/v1/bridge_pb.js";
import { DEFAULT_MAX_MESSAGE_BYTES } from "../src/gen/constants.js";
import { fixturesDir, quietLogs } from "./helpers.js";

const KiB = 1024;
const LIMIT = 64 * KiB;

type PingClient = Client & {
  ping(req: unknown, md: Metadata, cb: (err: ServiceError | null, res: { message: string }) => void): void;
};

function pingOver(bridge: Bridge): (message: string) => Promise<string> {
  const Ctor = makeGenericClientConstructor(grpcServiceDefinition(BridgeService as never) as never, "BridgeService");
  // The client's own limits are far above the host's: what refuses is the host.
  const client = new Ctor(bridge.address!, credentials.createInsecure(), {
    "grpc.max_send_message_length": 64 * 1024 * KiB,
    "grpc.max_receive_message_length": 64 * 1024 * KiB,
  }) as unknown as PingClient;
  return (message) => {
    const md = new Metadata();
    md.set("authorization", `Bearer ${bridge.secret}`);
    return new Promise((resolve, reject) =>
      client.ping(create(PingRequestSchema, { message }), md, (err, res) => (err ? reject(err) : resolve(res.message))),
    );
  };
}

describe("maxMessageBytes on the gRPC transports", () => {
  let bridge: Bridge;
  before(async () => {
    bridge = await Bridge.start({
      workers: 1,
      maxMessageBytes: LIMIT,
      modules: ["py_message_limit"],
      pythonPath: [fixturesDir],
      preload: [],
      healthIntervalMs: 0,
      ...quietLogs,
    });
  });
  after(async () => {
    await bridge?.close();
  });

  test("the host's gRPC server takes its limit from the option", async () => {
    const ping = pingOver(bridge);
    const under = "p".repeat(LIMIT - KiB);
    assert.equal(await ping(under), under);
    await assert.rejects(ping("p".repeat(LIMIT + KiB)), (err: ServiceError) => {
      assert.equal(err.code, status.RESOURCE_EXHAUSTED, err.message);
      return true;
    });
  });

  test("a worker's gRPC channel to the host has the host's limit", async () => {
    assert.equal(await bridge.execute("message_limit"), LIMIT);
    const session = await bridge.sessions.create();
    await session.variables.define("text", "string", "");
    const under = await bridge.execute<{ ok: boolean; length?: number }>("grpc_write", {
      session_id: session.id,
      name: "text",
      size: LIMIT - 2 * KiB,
    });
    assert.deepEqual(under, { ok: true, length: LIMIT - 2 * KiB });
    const over = await bridge.execute<{ ok: boolean; error?: string; message?: string }>("grpc_write", {
      session_id: session.id,
      name: "text",
      size: LIMIT + KiB,
    });
    assert.equal(over.ok, false, "a message over the limit is refused");
    // Typed as on the worker's own connection, naming the limit.
    assert.equal(over.error, "PayloadTooLargeError", over.message);
    assert.match(over.message ?? "", new RegExp(`over the message limit of ${LIMIT} bytes`));
    assert.equal(await session.variables.get("text"), "x".repeat(LIMIT - 2 * KiB), "and the variable keeps its value");
  });
});

test("without the option, every transport uses the shared default", async () => {
  const bridge = await Bridge.start({
    workers: 1,
    modules: ["py_message_limit"],
    pythonPath: [fixturesDir],
    preload: [],
    healthIntervalMs: 0,
    ...quietLogs,
  });
  try {
    assert.equal(bridge.options.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES);
    assert.equal(await bridge.execute("message_limit"), DEFAULT_MAX_MESSAGE_BYTES);
    const ping = pingOver(bridge);
    const big = "p".repeat(LIMIT + KiB);
    assert.equal(await ping(big), big, "a message the smaller limit refuses passes under the default");
  } finally {
    await bridge.close();
  }
});
