// The worker thread of codec.ts: parses an export document (handing its variables back a
// slice at a time, each when the host asks for it) or writes one as YAML (fed its variables
// in slices). Nothing here touches the store.
import { parentPort, workerData } from "node:worker_threads";
import { stringify as stringifyYaml } from "yaml";
import { InvalidArgumentError } from "../errors/index.js";
import { CODEC_SLICE, parseText, type WorkerReply, type WorkerTask } from "./codec.js";

const port = parentPort!;
const send = (m: WorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
const task = workerData as WorkerTask;

function fail(err: unknown): void {
  send({
    kind: "error",
    message: err instanceof Error ? err.message : String(err),
    invalid: err instanceof InvalidArgumentError,
  });
}

if (task.op === "decode") {
  try {
    const { bytes, list } = task;
    const text = task.text ?? Buffer.from(bytes!.buffer, bytes!.byteOffset, bytes!.byteLength).toString("utf8");
    const parsed = parseText(text, task.format);
    const doc = parsed.value as Record<string, unknown> | null;
    if (!doc || typeof doc !== "object" || Array.isArray(doc) || !Array.isArray(doc[list])) {
      send({ kind: "whole", value: parsed.value, warnings: parsed.warnings });
    } else {
      const { [list]: items, ...head } = doc as Record<string, unknown[]>;
      send({ kind: "parsed", head, total: items!.length, warnings: parsed.warnings });
      let at = 0;
      port.on("message", () => {
        send({ kind: "slice", items: items!.slice(at, at + CODEC_SLICE) });
        at += CODEC_SLICE;
      });
    }
  } catch (err) {
    fail(err);
  }
} else {
  let doc: Record<string, unknown> & { variables: unknown[] } = { variables: [] };
  port.on(
    "message",
    (m: { kind: "head"; head: typeof doc } | { kind: "slice"; items: unknown[] } | { kind: "end" }) => {
      try {
        if (m.kind === "head") doc = m.head;
        else if (m.kind === "slice") for (const item of m.items) doc.variables.push(item);
        else {
          const bytes = new TextEncoder().encode(stringifyYaml(doc));
          send({ kind: "text", bytes }, [bytes.buffer as ArrayBuffer]);
        }
      } catch (err) {
        fail(err);
      }
    },
  );
}
