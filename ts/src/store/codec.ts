// Reading and writing export documents (JSON, YAML) without blocking the host. An export or
// import of 100k variables takes seconds of CPU (YAML most: parsing 100k variables is tens of
// seconds on a busy machine); done in one go it stalls every other client of the host for as
// long. So the work is cut up: YAML text, and any large document, is parsed and written in a
// worker thread (codec-worker.ts), its variables handed over in slices the host takes one at
// a time between other work; what has to run here (reading the variables, checking them,
// writing JSON) yields to the event loop every few milliseconds (pacing.ts).
//
// YAML warnings (an unknown tag, ...) are collected, bounded, and returned with the result;
// nothing is printed, and never a line of the document.
import { Worker } from "node:worker_threads";
import { parseDocument, stringify as stringifyYaml } from "yaml";
import { InvalidArgumentError } from "../errors/index.js";
import { JSON_SHAPE_LIMITS, jsonNestsDeeperThan } from "../values/json-depth.js";
import { clip } from "./types/describe.js";
import { Pacer, type CodecProgress } from "./pacing.js";

export { Pacer, type CodecProgress } from "./pacing.js";

/** At most this many warnings are kept, each at most WARNING_CHARS long; `count` has them all. */
const MAX_WARNINGS = 20;
const WARNING_CHARS = 200;

export interface ParseWarnings {
  messages: string[];
  count: number;
}

/** Documents at least this large are parsed in a worker thread (YAML parses about a hundred times slower than JSON). */
const WORKER_MIN_BYTES = { json: 1024 * 1024, yaml: 16 * 1024 } as const;
/** YAML exports of at least this many variables are written in a worker thread. */
const YAML_WORKER_MIN_VARIABLES = 200;
/** Variables handed between the threads at a time. */
const SLICE = 500;
/** YAML text to a JS value, with its warnings bounded and free of the document's text. */
export function parseYamlText(text: string): { value: unknown; warnings: ParseWarnings } {
  // prettyErrors off: messages without the document's lines; warnings collected, never logged.
  const doc = parseDocument(text, { prettyErrors: false, logLevel: "silent" });
  const describe = (e: { code: string; message: string; pos: [number, number] }) =>
    clip(`${e.code} at offset ${e.pos[0]}: ${e.message}`, WARNING_CHARS);
  if (doc.errors.length > 0)
    throw new InvalidArgumentError(`malformed yaml import: ${describe(doc.errors[0]!)}`, { parameter: "data" });
  const warnings = { messages: doc.warnings.slice(0, MAX_WARNINGS).map(describe), count: doc.warnings.length };
  return { value: doc.toJS(), warnings };
}

/** JSON or YAML text to a JS value; JSON is looked over before it is parsed (values/json-depth.ts). */
export function parseText(text: string, format: "json" | "yaml"): { value: unknown; warnings: ParseWarnings } {
  if (format === "yaml") return parseYamlText(text);
  if (jsonNestsDeeperThan(text))
    throw new InvalidArgumentError(`malformed json import: the document ${JSON_SHAPE_LIMITS}`, { parameter: "data" });
  try {
    return { value: JSON.parse(text), warnings: { messages: [], count: 0 } };
  } catch (err) {
    throw new InvalidArgumentError(`malformed json import: ${clip(String((err as Error).message), 300)}`, {
      parameter: "data",
    });
  }
}

/** Messages between this thread and the codec worker. */
export type WorkerReply =
  | { kind: "parsed"; head: Record<string, unknown>; total: number; warnings: ParseWarnings }
  | { kind: "whole"; value: unknown; warnings: ParseWarnings }
  | { kind: "slice"; items: unknown[] }
  | { kind: "text"; bytes: Uint8Array }
  | { kind: "error"; message: string; invalid: boolean };

function startWorker(data: WorkerTask, transfer: ArrayBuffer[] = []): Worker {
  // Not unref'd: the call waiting for it is work in progress; it is terminated when the call ends.
  return new Worker(new URL("./codec-worker.js", import.meta.url), { workerData: data, transferList: transfer });
}

/** The next message from the worker (its error or an unexpected exit as an exception). */
function nextReply(worker: Worker): Promise<WorkerReply> {
  return new Promise((resolve, reject) => {
    const done = () => {
      worker.off("message", onMessage);
      worker.off("error", onError);
      worker.off("exit", onExit);
    };
    const onMessage = (m: WorkerReply) => {
      done();
      if (m.kind === "error")
        reject(m.invalid ? new InvalidArgumentError(m.message, { parameter: "data" }) : new Error(m.message));
      else resolve(m);
    };
    const onError = (err: Error) => (done(), reject(err));
    const onExit = (code: number) => (done(), reject(new Error(`the codec worker exited with code ${code}`)));
    worker.on("message", onMessage);
    worker.on("error", onError);
    worker.on("exit", onExit);
  });
}

/**
 * The document in `data` as a JS value. Large documents and YAML are parsed in a worker
 * thread; a document's `variables` list comes over in slices, taken between other work.
 */
export async function decodeDocument(
  data: Uint8Array,
  format: "json" | "yaml",
  onProgress?: (p: CodecProgress) => void,
): Promise<{ value: unknown; warnings: ParseWarnings }> {
  if (data.byteLength < WORKER_MIN_BYTES[format])
    return parseText(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("utf8"), format);
  // A copy the worker owns, made a megabyte at a time (128 MiB in one go is a long pause).
  const bytes = new Uint8Array(data.byteLength);
  for (let at = 0; at < data.byteLength; at += 1 << 20) {
    bytes.set(data.subarray(at, at + (1 << 20)), at);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  const task: WorkerTask = { op: "decode", format, bytes, list: "variables" };
  return decodeInWorker(task, [bytes.buffer as ArrayBuffer], new Pacer(onProgress, "decode", 0));
}

/**
 * JSON text too large to parse on the event loop (a shared store's log entry of a
 * 100,000-variable import is about 14 MB: JSON.parse of it took seconds on a loaded
 * machine), parsed in a worker thread; its `list` comes over in slices, taken between other
 * work. `signal`: abandon it (the worker is stopped; the call fails).
 */
export async function decodeJsonInWorker(
  text: string,
  list: string,
  pace: Pacer,
  signal?: AbortSignal,
): Promise<unknown> {
  // The string is copied to the worker whole (a memory copy: milliseconds for tens of MB).
  const { value } = await decodeInWorker({ op: "decode", format: "json", text, list }, [], pace, signal);
  return value;
}

/** What the codec worker is started for. */
export type WorkerTask =
  | { op: "decode"; format: "json" | "yaml"; bytes?: Uint8Array; text?: string; list: string }
  | { op: "encode-yaml" };

async function decodeInWorker(
  task: Extract<WorkerTask, { op: "decode" }>,
  transfer: ArrayBuffer[],
  pace: Pacer,
  signal?: AbortSignal,
): Promise<{ value: unknown; warnings: ParseWarnings }> {
  const worker = startWorker(task, transfer);
  const stop = () => void worker.terminate();
  signal?.addEventListener("abort", stop, { once: true });
  try {
    const first = await nextReply(worker);
    if (first.kind === "whole") return { value: first.value, warnings: first.warnings };
    if (first.kind !== "parsed") throw new Error(`unexpected codec worker reply ${first.kind}`);
    const items: unknown[] = [];
    pace.next("decode", first.total);
    while (items.length < first.total) {
      worker.postMessage("next");
      const reply = await nextReply(worker);
      if (reply.kind !== "slice") throw new Error(`unexpected codec worker reply ${reply.kind}`);
      for (const item of reply.items) items.push(item);
      await pace.tick(reply.items.length);
    }
    return { value: { ...first.head, [task.list]: items }, warnings: first.warnings };
  } finally {
    signal?.removeEventListener("abort", stop);
    stop();
  }
}

/**
 * `doc` as text. JSON is written here, a variable at a time with yields (the same text as
 * JSON.stringify(doc, null, 2)); YAML by the yaml library in a worker thread, fed the
 * variables in slices, once the document is large.
 */
export async function encodeDocument(
  doc: Record<string, unknown> & { variables: unknown[] },
  format: "json" | "yaml",
  pace: Pacer,
): Promise<Buffer> {
  const { variables } = doc;
  pace.next("encode", variables.length);
  if (format === "json") {
    if (variables.length === 0) return Buffer.from(JSON.stringify(doc, null, 2), "utf8");
    // The document with a marker where the variables go; each variable written on its own, indented to its place.
    const marker = JSON.stringify(`dspy-bridge variables ${Math.random()}`);
    const [before, after] = JSON.stringify({ ...doc, variables: [JSON.parse(marker)] }, null, 2).split(marker) as [
      string,
      string,
    ];
    // Encoded a slice at a time, so no step at the end handles the whole text at once.
    const chunks: Buffer[] = [];
    let parts: string[] = [before];
    for (let i = 0; i < variables.length; i++) {
      if (i > 0) parts.push(",\n    ");
      parts.push(JSON.stringify(variables[i], null, 2).replaceAll("\n", "\n    "));
      if (parts.length >= 2 * SLICE) {
        chunks.push(Buffer.from(parts.join(""), "utf8"));
        parts = [];
      }
      await pace.tick();
    }
    parts.push(after);
    chunks.push(Buffer.from(parts.join(""), "utf8"));
    return Buffer.concat(chunks);
  }
  if (variables.length < YAML_WORKER_MIN_VARIABLES) return Buffer.from(stringifyYaml(doc), "utf8");
  const worker = startWorker({ op: "encode-yaml" });
  try {
    worker.postMessage({ kind: "head", head: { ...doc, variables: [] } });
    for (let i = 0; i < variables.length; i += SLICE) {
      const items = variables.slice(i, i + SLICE);
      worker.postMessage({ kind: "slice", items });
      await pace.tick(items.length);
    }
    worker.postMessage({ kind: "end" });
    const reply = await nextReply(worker);
    if (reply.kind !== "text") throw new Error(`unexpected codec worker reply ${reply.kind}`);
    return Buffer.from(reply.bytes.buffer, reply.bytes.byteOffset, reply.bytes.byteLength);
  } finally {
    void worker.terminate();
  }
}

export { SLICE as CODEC_SLICE };
