// A node:test reporter that writes one JSON line per top-level test or suite: its file and its
// time ({"file": ..., "ms": ...}), and one per failed test at any depth ({"failed": name, ...})
// with the first line of its error. scripts/run-tests.mjs runs it beside the usual report, adds
// the times up per file to name the slowest test files, and names the failures in its summary:
// CI keeps only the tail of the output, so a failure must be named there.
export default async function* fileDurations(source) {
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    const { data } = event;
    if (data.nesting === 0 && data.file)
      yield `${JSON.stringify({ file: data.file, ms: data.details?.duration_ms ?? 0 })}\n`;
    if (event.type === "test:fail") {
      const error = data.details?.error;
      const cause = error?.cause ?? error;
      const message = String(cause?.message ?? cause ?? "")
        .split("\n")[0]
        .slice(0, 300);
      yield `${JSON.stringify({ failed: data.name, file: data.file, nesting: data.nesting, message })}\n`;
    }
  }
}
