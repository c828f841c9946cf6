// A node:test reporter that writes one JSON line per top-level test or suite: its file and its
// time ({"file": ..., "ms": ...}). scripts/run-tests.mjs runs it beside the usual report and
// adds them up per file to name the slowest test files in its summary.
export default async function* fileDurations(source) {
  for await (const event of source) {
    if ((event.type === "test:pass" || event.type === "test:fail") && event.data.nesting === 0 && event.data.file)
      yield `${JSON.stringify({ file: event.data.file, ms: event.data.details?.duration_ms ?? 0 })}\n`;
  }
}
