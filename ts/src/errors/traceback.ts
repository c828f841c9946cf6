/** One Python stack frame as carried in `ErrorDetail.traceback` (a plain object, not a message). */
export interface TracebackFrame {
  readonly filename: string;
  readonly lineno: number;
  readonly name: string;
  readonly line: string;
}

/**
 * Format frames the way Python prints an uncaught exception:
 *
 *     Traceback (most recent call last):
 *       File "/app/prog.py", line 3, in forward
 *         raise ValueError("bad")
 *     ValueError: bad
 */
export function formatPythonTraceback(frames: readonly TracebackFrame[], pythonType: string, message: string): string {
  const lines: string[] = [];
  if (frames.length > 0) {
    lines.push("Traceback (most recent call last):");
    for (const f of frames) {
      lines.push(`  File "${f.filename}", line ${f.lineno}, in ${f.name}`);
      if (f.line.trim() !== "") lines.push(`    ${f.line.trim()}`);
    }
  }
  const type = pythonType === "" ? "Exception" : pythonType;
  lines.push(message === "" ? type : `${type}: ${message}`);
  return lines.join("\n");
}
