// A Next.js App Router route handler (app/api/ask/route.ts in a Next app). It uses only the
// Web's Request/Response, which is all Next gives a route handler, so npm test type-checks and
// calls it here without installing Next (a large download the tests do not need). One bridge
// per server process, started on first use; `request.signal` aborts when the client leaves.
import { Bridge } from "dspy-bridge";

let started: Promise<Bridge> | undefined;
function bridge(): Promise<Bridge> {
  // unref: a dev server's hot reload or a serverless runtime can end without a close().
  started ??= Bridge.start({ workers: 1, preload: ["dspy"], unref: true }).then((b) => {
    b.dspy.configureLM({ model: "scripted" });
    return b;
  });
  return started;
}

export async function POST(request: Request): Promise<Response> {
  const { question } = (await request.json()) as { question?: unknown };
  if (typeof question !== "string") return Response.json({ error: "question must be a string" }, { status: 400 });
  const b = await bridge();
  const r = await b.dspy.run({ module: "Predict", signature: "question -> answer", inputs: { question }, signal: request.signal });
  return Response.json({ answer: r.fields.answer });
}

// What Next would do with the route, so that the example runs on its own:
if (import.meta.url === `file://${process.argv[1]}`) {
  const response = await POST(new Request("http://localhost/api/ask", { method: "POST", body: JSON.stringify({ question: "What is 5+5?" }) }));
  console.log(response.status, await response.json());
  await (await bridge()).close();
}
