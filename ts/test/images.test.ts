// Images into DSPy programs: a Buffer/Uint8Array or a file path given for a `dspy.Image`
// input field reaches the program as a dspy.Image, and the provider request carries it
// (a real OpenAI-compatible HTTP server records what DSPy sent).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Bridge, InvalidArgumentError, type LMSpec } from "../src/index.js";
import { startOpenAIServer, type OpenAIServer, type RecordedRequest } from "./fixtures/openai-server.js";
import { quietLogs } from "./helpers.js";

const KEY_ENV = "FIXTURE_OPENAI_KEY";
// A 1×1 PNG and the first bytes of a JPEG (the type is read from the magic bytes).
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  "base64",
);
const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(60, 7)]);
const SIGNATURE = "image: dspy.Image, question -> answer";

let server: OpenAIServer;
let bridge: Bridge;
let dir: string;
const lm = (): LMSpec => ({ model: "openai/fixture", apiBase: server.url, apiKeyEnv: KEY_ENV, cache: false });

/** The image URLs (data URLs) of the last chat request's messages. */
function imageUrls(req: RecordedRequest): string[] {
  const urls: string[] = [];
  for (const m of req.body.messages as { content: unknown }[]) {
    if (!Array.isArray(m.content)) continue;
    for (const part of m.content as { type: string; image_url?: { url: string } }[])
      if (part.type === "image_url") urls.push(part.image_url!.url);
  }
  return urls;
}
const lastChat = (): RecordedRequest => server.chatRequests().at(-1)!;

before(async () => {
  server = await startOpenAIServer();
  process.env[KEY_ENV] = "sk-test-fixture-key";
  bridge = await Bridge.start({ workers: 1, preload: ["dspy"], healthIntervalMs: 0, ...quietLogs });
  dir = mkdtempSync(join(tmpdir(), "dspy-bridge-images-"));
});
after(async () => {
  await bridge?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("images into DSPy programs", () => {
  test("a Buffer (PNG) reaches the provider as a data URL", async () => {
    const r = await bridge.dspy.run({
      module: "Predict",
      signature: SIGNATURE,
      inputs: { image: PNG, question: "What is in the picture?" },
      lm: lm(),
    });
    assert.equal(typeof r.fields.answer, "string");
    assert.deepEqual(imageUrls(lastChat()), [`data:image/png;base64,${PNG.toString("base64")}`]);
  });

  test("a plain Uint8Array (JPEG) and a file path work the same", async () => {
    await bridge.dspy.run({
      module: "Predict",
      signature: SIGNATURE,
      inputs: { image: new Uint8Array(JPEG), question: "And this?" },
      lm: lm(),
    });
    assert.deepEqual(imageUrls(lastChat()), [`data:image/jpeg;base64,${JPEG.toString("base64")}`]);
    const path = join(dir, "picture.png");
    writeFileSync(path, PNG);
    await bridge.dspy.run({
      module: "ChainOfThought",
      signature: SIGNATURE,
      inputs: { image: path, question: "From a file?" },
      lm: lm(),
    });
    assert.deepEqual(imageUrls(lastChat()), [`data:image/png;base64,${PNG.toString("base64")}`]);
  });

  test("a session program takes images too", async () => {
    const session = await bridge.sessions.create();
    try {
      const program = await session.programs.create("looker", { module: "Predict", signature: SIGNATURE });
      await program.execute({ image: PNG, question: "Session?" }, { lm: lm() });
      assert.deepEqual(imageUrls(lastChat()), [`data:image/png;base64,${PNG.toString("base64")}`]);
    } finally {
      await bridge.sessions.delete(session.id);
    }
  });

  test("what is not an image is refused naming the field, before any LM call", async () => {
    const before = server.chatRequests().length;
    for (const [image, why] of [
      [
        Buffer.from("not an image at all"),
        /inputs\.image is not an image DSPy can read: its 19 bytes are not a PNG, JPEG, GIF or WebP image/,
      ],
      [join(dir, "missing.png"), /inputs\.image is not an image DSPy can read: File not found/],
      [42, /inputs\.image is an image field: give the image's bytes, a file path or a URL, got int/],
    ] as const) {
      // Untyped inputs: the number is what a caller without types might send.
      const inputs: Record<string, unknown> = { image, question: "?" };
      await assert.rejects(
        bridge.dspy.run({ module: "Predict", signature: SIGNATURE as string, inputs, lm: lm() }),
        (err: unknown) => {
          assert.ok(err instanceof InvalidArgumentError, `got ${String(err)}`);
          assert.match(err.message, why);
          return true;
        },
      );
    }
    assert.equal(server.chatRequests().length, before, "no request reached the provider");
  });
});
