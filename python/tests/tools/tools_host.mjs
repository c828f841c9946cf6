// The TypeScript side of the Python tools tests: a real host (Bridge.start with its bridge
// service on a Unix socket, one worker with bridge_tools_testmod loaded) and TypeScript tools
// registered through bridge.tools.register.
//
// argv: <repo> <listen address> <secret> <python path dir>
// stdout: one JSON line {"event":"ready","address","secret","token"}, then one reply per command.
// stdin: JSON lines {"id", "op", ...}; the host stays up until stdin closes.
//   op "call"    {name, args, session?, timeoutMs?, abortAfterMs?} -> {result} | {error...}
//   op "stream"  {name, args, session?, stopAfter?}                -> {items}  | {error...}
//   op "list"    {session?}                                         -> {tools}
//   op "register_session_tool" {session, name, value}               -> {}
//   op "state"                                                       -> {aborts, calls, streamStops, produced}
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import path from "node:path";

const [, , repo, listen, token, pyPath] = process.argv;
const api = await import(pathToFileURL(path.join(repo, "ts/dist/src/index.js")).href);
const { Bridge, InvalidArgumentError, NotFoundError } = api;

const bridge = await Bridge.start({
  workers: 1,
  preload: [],
  modules: ["bridge_tools_testmod"],
  pythonPath: [pyPath],
  token,
  bridgeService: { listen },
});

const state = { aborts: [], calls: [], streamStops: [], produced: {} };
const number = { type: "number" };

bridge.tools.register(
  "add",
  async (args, ctx) => {
    state.calls.push({ tool: "add", args, session: ctx.session ?? null });
    return args.a + args.b;
  },
  {
    description: "Add two numbers",
    parameters: {
      type: "object",
      properties: { a: { ...number, description: "first number" }, b: { ...number, description: "second number" } },
      required: ["a", "b"],
    },
  },
);

bridge.tools.register(
  "slow",
  (args, ctx) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => resolve("slow done"), args.ms);
      ctx.signal.addEventListener(
        "abort",
        () => {
          clearTimeout(timer);
          state.aborts.push(args.tag);
          reject(new Error(`slow tool aborted (${args.tag})`));
        },
        { once: true },
      );
    }),
  {
    description: "Wait ms milliseconds (honours its AbortSignal)",
    parameters: { type: "object", properties: { ms: { type: "integer" }, tag: { type: "string" } }, required: ["ms", "tag"] },
  },
);

bridge.tools.register(
  "fail",
  async (args) => {
    if (args.kind === "not_found") throw new NotFoundError("no such record: 42", { details: { record: 42 } });
    if (args.kind === "invalid") throw new InvalidArgumentError("bad value for 'limit'", { parameter: "limit" });
    throw new TypeError(`plain failure (${args.kind})`);
  },
  { description: "Throw an error of the given kind", parameters: { type: "object", properties: { kind: { type: "string" } }, required: ["kind"] } },
);

bridge.tools.register(
  "count",
  async function* (args, ctx) {
    try {
      for (let i = 0; i < args.n; i++) {
        if (ctx.signal.aborted) return;
        if (args.delayMs) await new Promise((r) => setTimeout(r, args.delayMs));
        if (args.tag) state.produced[args.tag] = i + 1;
        yield i;
      }
    } finally {
      if (ctx.signal.aborted) state.streamStops.push(args.tag ?? "count");
    }
  },
  {
    description: "Stream the numbers 0..n-1",
    streaming: true,
    parameters: {
      type: "object",
      properties: { n: { type: "integer", minimum: 0 }, delayMs: { type: "integer" }, tag: { type: "string" } },
      required: ["n"],
    },
  },
);

bridge.tools.register(
  "ts_calls_python",
  async (args, ctx) => {
    const sum = await ctx.tools.call("py_add", { a: args.x, b: 1 }, { session: ctx.session, signal: ctx.signal });
    return { from: "typescript", sum };
  },
  {
    description: "Calls the Python tool py_add(x, 1)",
    parameters: { type: "object", properties: { x: { type: "integer" } }, required: ["x"] },
  },
);

const out = (msg) => process.stdout.write(JSON.stringify(msg) + "\n");

function errorFields(err) {
  return {
    ok: false,
    name: err?.name,
    reason: err?.reason,
    code: err?.code,
    error: String(err?.message ?? err),
    details: err?.details ?? null,
    pythonType: err?.pythonType ?? null,
  };
}

async function run(cmd) {
  switch (cmd.op) {
    case "call": {
      const controller = new AbortController();
      if (cmd.abortAfterMs) setTimeout(() => controller.abort(new Error("aborted by the test")), cmd.abortAfterMs);
      const result = await bridge.tools.call(cmd.name, cmd.args ?? {}, {
        session: cmd.session,
        timeoutMs: cmd.timeoutMs,
        signal: controller.signal,
      });
      return { result: result === undefined ? null : result };
    }
    case "stream": {
      const items = [];
      for await (const item of bridge.tools.stream(cmd.name, cmd.args ?? {}, { session: cmd.session })) {
        items.push(item);
        if (cmd.stopAfter && items.length >= cmd.stopAfter) break;
      }
      return { items };
    }
    case "list":
      return { tools: await bridge.tools.list({ session: cmd.session }) };
    case "register_session_tool":
      bridge.tools.register(cmd.name, async (_args, ctx) => ({ value: cmd.value, session: ctx.session }), {
        description: `Secret of session ${cmd.session}`,
        parameters: { type: "object", properties: {} },
        session: cmd.session,
      });
      return {};
    case "state":
      return { ...state };
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

out({ event: "ready", address: bridge.address, secret: bridge.secret, token: bridge.secret });

const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch {
    return;
  }
  run(cmd).then(
    (result) => out({ id: cmd.id, ok: true, ...result }),
    (err) => out({ id: cmd.id, ...errorFields(err) }),
  );
});
const stop = () => bridge.close().then(() => process.exit(0), () => process.exit(1));
rl.on("close", stop);
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
