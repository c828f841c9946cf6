// The OpenAI-compatible test server itself (ts/test/fixtures/openai-server.ts), with plain fetch.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";
import { startOpenAIServer, type OpenAIServer } from "./fixtures/openai-server.js";
import { repoRoot } from "./helpers.js";

// A ChainOfThought prompt exactly as DSPy 3.4's ChatAdapter writes it.
const SYSTEM = `Your input fields are:
1. \`question\` (str):
Your output fields are:
1. \`reasoning\` (str): 
2. \`answer\` (int): 
3. \`tags\` (list[str]): 
4. \`kind\` (Literal['alpha', 'beta']):
All interactions will be structured in the following way, with the appropriate values filled in.

[[ ## question ## ]]
{question}

[[ ## reasoning ## ]]
{reasoning}

[[ ## answer ## ]]
{answer}        # note: the value you produce must be a single int value

[[ ## completed ## ]]
In adhering to this structure, your objective is: 
        Given the fields \`question\`, produce the fields \`answer\`.`;
const USER =
  "[[ ## question ## ]]\nWhat is 2+2?\n\nRespond with the corresponding output fields, starting with the field `[[ ## reasoning ## ]]`, then `[[ ## answer ## ]]` (must be formatted as a valid Python int), then `[[ ## tags ## ]]` (must be formatted as a valid Python list[str]), then `[[ ## kind ## ]]` (must be formatted as a valid Python Literal['alpha', 'beta']), and then ending with the marker for `[[ ## completed ## ]]`.";
const EXPECTED =
  '[[ ## reasoning ## ]]\nreasoning: What is 2+2?\n\n[[ ## answer ## ]]\n42\n\n[[ ## tags ## ]]\n["a","b"]\n\n[[ ## kind ## ]]\nalpha\n\n[[ ## completed ## ]]';

const REACT_SYSTEM = `Your input fields are:
1. \`question\` (str): 
2. \`trajectory\` (str):
Your output fields are:
1. \`next_thought\` (str): 
2. \`next_tool_name\` (Literal['lookup', 'finish']): 
3. \`next_tool_args\` (dict[str, Any]):
All interactions will be structured in the following way, with the appropriate values filled in.
In adhering to this structure, your objective is: 
        (1) lookup, whose description is <desc>Look a city's weather up</desc>. It takes arguments {'city': {'type': 'string'}, 'days': {'type': 'integer'}, 'metric': {'type': 'boolean', 'description': "the user's choice"}}.
        (2) finish, whose description is <desc>Marks the task as complete.</desc>. It takes arguments {}.
        When providing \`next_tool_args\`, the value inside the field must be in JSON format`;
const REACT_REMINDER =
  "Respond with the corresponding output fields, starting with the field `[[ ## next_thought ## ]]`, then `[[ ## next_tool_name ## ]]` (must be formatted as a valid Python Literal['lookup', 'finish']), then `[[ ## next_tool_args ## ]]` (must be formatted as a valid Python dict[str, Any]), and then ending with the marker for `[[ ## completed ## ]]`.";

const chatBody = (model = "fixture", extra: Record<string, unknown> = {}) => ({
  model,
  messages: [
    { role: "system", content: SYSTEM },
    { role: "user", content: USER },
  ],
  ...extra,
});

let server: OpenAIServer;
before(async () => {
  server = await startOpenAIServer();
});
after(() => server.close());

const post = (body: unknown, init: RequestInit = {}) =>
  fetch(`${server.url}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer sk-selftest" },
    body: JSON.stringify(body),
    ...init,
  });

/** The assistant text of a streamed answer, and the pieces it came in. */
async function readStream(
  res: Response,
): Promise<{ pieces: string[]; usage?: Record<string, number>; finish?: string; done: boolean }> {
  const raw = await res.text();
  const pieces: string[] = [];
  let usage: Record<string, number> | undefined;
  let finish: string | undefined;
  let done = false;
  for (const event of raw.split("\n\n")) {
    if (!event.startsWith("data: ")) continue;
    const data = event.slice(6);
    if (data === "[DONE]") {
      done = true;
      continue;
    }
    const chunk = JSON.parse(data);
    assert.equal(chunk.object, "chat.completion.chunk");
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices[0];
    if (choice?.delta?.content) pieces.push(choice.delta.content);
    if (choice?.finish_reason) finish = choice.finish_reason;
  }
  return { pieces, usage, finish, done };
}

describe("OpenAI fixture server", () => {
  test("a default answer has every output field in ChatAdapter format, and the request is recorded", async () => {
    server.reset();
    const res = await post(chatBody());
    assert.equal(res.status, 200);
    const json = (await res.json()) as any;
    assert.equal(json.object, "chat.completion");
    assert.equal(json.model, "fixture");
    assert.equal(json.choices[0].message.role, "assistant");
    assert.equal(json.choices[0].message.content, EXPECTED);
    assert.equal(json.choices[0].finish_reason, "stop");
    assert.ok(json.usage.prompt_tokens > 100 && json.usage.completion_tokens > 10);
    assert.equal(json.usage.total_tokens, json.usage.prompt_tokens + json.usage.completion_tokens);
    assert.equal(server.requests.length, 1);
    assert.equal(server.requests[0]!.headers.authorization, "Bearer sk-selftest");
    assert.equal(server.requests[0]!.body.model, "fixture");
    assert.equal(server.stats().completed, 1);
    // /chat/completions without /v1 too; n choices; scripted fields and content
    const bare = await fetch(server.url.replace(/\/v1$/, "/chat/completions"), {
      method: "POST",
      body: JSON.stringify(chatBody("fixture", { n: 2 })),
    });
    assert.equal(((await bare.json()) as any).choices.length, 2);
    server.script({ fields: { answer: 7, kind: "beta" } }, { content: "raw text" });
    assert.match(
      ((await (await post(chatBody())).json()) as any).choices[0].message.content,
      /\[\[ ## answer ## \]\]\n7\n\n\[\[ ## tags ## \]\]\n\["a","b"\]\n\n\[\[ ## kind ## \]\]\nbeta\n/,
    );
    assert.equal(((await (await post(chatBody())).json()) as any).choices[0].message.content, "raw text");
  });

  test("ReAct: the first tool with arguments from its schema, then finish once there is an observation; JSON mode", async () => {
    const react = (trajectory: string) => ({
      model: "fixture",
      messages: [
        { role: "system", content: REACT_SYSTEM },
        {
          role: "user",
          content: `[[ ## question ## ]]\nWeather in Paris?\n\n[[ ## trajectory ## ]]\n${trajectory}\n\n${REACT_REMINDER}`,
        },
      ],
    });
    const first = ((await (await post(react(""))).json()) as any).choices[0].message.content as string;
    assert.match(
      first,
      /\[\[ ## next_tool_name ## \]\]\nlookup\n\n\[\[ ## next_tool_args ## \]\]\n\{"city":"x","days":1,"metric":true\}\n/,
    );
    const second = (
      (await (await post(react("[[ ## thought_0 ## ]]\nt\n\n[[ ## observation_0 ## ]]\nsunny"))).json()) as any
    ).choices[0].message.content as string;
    assert.match(second, /\[\[ ## next_tool_name ## \]\]\nfinish\n\n\[\[ ## next_tool_args ## \]\]\n\{\}\n/);
    const json = {
      model: "fixture",
      response_format: { type: "json_object" },
      messages: [
        {
          role: "user",
          content:
            "[[ ## question ## ]]\nx\n\nRespond with a JSON object in the following order of fields: `answer` (must be formatted as a valid Python int), then `why`.",
        },
      ],
    };
    assert.deepEqual(JSON.parse(((await (await post(json)).json()) as any).choices[0].message.content), {
      answer: 42,
      why: "why: x",
    });
  });

  test("errors: 429 with Retry-After, scripted 401, 404 route, malformed, empty, drop, models", async () => {
    const limited = await post(chatBody("fixture-status-429-retry-2"));
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get("retry-after"), "2");
    const body = (await limited.json()) as any;
    assert.equal(body.error.code, "rate_limit_exceeded");
    assert.match(body.error.message, /Rate limit/);
    server.script({ status: 401 });
    const denied = await post(chatBody());
    assert.equal(denied.status, 401);
    assert.match(((await denied.json()) as any).error.message, /Incorrect API key provided/);
    const missing = await fetch(server.url.replace(/\/v1$/, "/v2/nothing"));
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as any).error.code, "unknown_url");
    const malformed = await post(chatBody("fixture-malformed"));
    assert.equal(malformed.status, 200);
    await assert.rejects(malformed.json());
    assert.deepEqual(((await (await post(chatBody("fixture-empty"))).json()) as any).choices, []);
    const dropped = server.stats().dropped;
    await assert.rejects(post(chatBody("fixture-drop")), TypeError, "a transport error");
    assert.equal(server.stats().dropped, dropped + 1);
    const models = (await (await fetch(`${server.url}/models`)).json()) as any;
    assert.equal(models.data[0].id, "fixture");
    const t0 = performance.now();
    await (await post(chatBody("fixture-delay-150"))).json();
    assert.ok(performance.now() - t0 >= 140, "delay-150 waits");
  });

  test("streaming: pieces concatenate to the full answer, markers are split across chunks, usage and [DONE] come last", async () => {
    const res = await post(chatBody("fixture", { stream: true, stream_options: { include_usage: true } }));
    assert.equal(res.headers.get("content-type"), "text/event-stream");
    const { pieces, usage, finish, done } = await readStream(res);
    assert.equal(pieces.join(""), EXPECTED);
    assert.ok(pieces.length > 20);
    assert.ok(!pieces.some((p) => p.includes("[[ ## answer ## ]]")), "no chunk carries a whole marker");
    assert.equal(finish, "stop");
    assert.ok(usage && usage.total_tokens > 0);
    assert.equal(done, true);
    // chunkDelayMs and delayMs (time to first chunk) in streaming mode
    server.script({ delayMs: 100, chunkDelayMs: 1, content: "one two three" });
    const t0 = performance.now();
    const slow = await readStream(await post(chatBody("fixture", { stream: true })));
    assert.equal(slow.pieces.join(""), "one two three");
    assert.ok(performance.now() - t0 >= 100);
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on("warning", onWarning);
    server.script({ chunkDelayMs: 1 });
    const paced = await readStream(await post(chatBody("fixture", { stream: true })));
    process.off("warning", onWarning);
    assert.equal(paced.pieces.join(""), EXPECTED, "paced chunks, the same text");
    assert.deepEqual(warnings, [], "no listener piles up per chunk");
  });

  test("a hanging request the client aborts counts in abortedByClient; latency applies to every answer", async () => {
    server.reset();
    const controller = new AbortController();
    const pending = post(chatBody("fixture-hang"), { signal: controller.signal });
    await server.waitFor(() => server.stats().inFlight === 1, 2_000);
    controller.abort();
    await assert.rejects(pending, { name: "AbortError" });
    await server.waitFor(() => server.stats().abortedByClient === 1, 2_000);
    assert.equal(server.stats().completed, 0);
    assert.equal(server.stats().inFlight, 0);
    server.setLatency(60);
    const t0 = performance.now();
    await (await post(chatBody())).json();
    assert.ok(performance.now() - t0 >= 55);
    server.setLatency(0);
  });

  test("standalone: a ready line, the admin endpoints, and it exits when stdin closes", async () => {
    const child = spawn(
      process.execPath,
      [join(repoRoot, "ts/dist/test/fixtures/openai-server.js"), "--latency-ms", "0"],
      { stdio: ["pipe", "pipe", "inherit"] },
    );
    const lines = createInterface({ input: child.stdout! });
    const [line] = (await once(lines, "line")) as [string];
    const ready = JSON.parse(line);
    assert.equal(ready.event, "ready");
    assert.match(ready.url, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    const admin = ready.url.replace(/\/v1$/, "/_fixture");
    await fetch(`${admin}/script`, { method: "POST", body: JSON.stringify([{ status: 503 }]) });
    const res = await fetch(`${ready.url}/chat/completions`, { method: "POST", body: JSON.stringify(chatBody()) });
    assert.equal(res.status, 503);
    await res.text();
    const recorded = (await (await fetch(`${admin}/requests`)).json()) as any[];
    assert.equal(recorded.length, 1);
    assert.equal(recorded[0].body.model, "fixture");
    assert.equal(((await (await fetch(`${admin}/stats`)).json()) as any).completed, 1);
    await fetch(`${admin}/reset`, { method: "POST" });
    assert.deepEqual(await (await fetch(`${admin}/requests`)).json(), []);
    child.stdin!.end();
    const [code] = await once(child, "exit");
    assert.equal(code, 0);
  });
});
