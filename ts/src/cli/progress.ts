// Progress for long CLI runs: a bar redrawn in place on a TTY, plain lines otherwise (at most
// one per `plainIntervalMs`, plus the last), so logs and CI output stay readable. `--json`
// output does not come through here: the commands print their events as JSON lines.

export interface ProgressBarOptions {
  /** Where to draw (default process.stderr, so stdout stays clean for results). */
  stream?: NodeJS.WriteStream;
  /** Redraw in place (default: stream.isTTY). */
  tty?: boolean;
  /** Bar width in characters (default: fits the terminal, 10 to 40). */
  width?: number;
  /** Non-TTY: minimum time between two lines. Default 1000 ms. */
  plainIntervalMs?: number;
  label?: string;
}

/** "[########------------]" for `done` of `total`; an unknown total gives a moving block. */
export function renderBar(done: number, total: number | null, width: number, tick = 0): string {
  const inner = Math.max(1, width - 2);
  if (total === null || total <= 0) {
    const cells = Array.from({ length: inner }, () => "-");
    for (let i = 0; i < Math.min(3, inner); i++) cells[(tick + i) % inner] = "#";
    return `[${cells.join("")}]`;
  }
  const filled = Math.min(inner, Math.round((Math.min(done, total) / total) * inner));
  return `[${"#".repeat(filled)}${"-".repeat(inner - filled)}]`;
}

/** "12/40  30%" or "12 done" when the total is unknown. */
export function renderCount(done: number, total: number | null): string {
  if (total === null || total <= 0) return `${done} done`;
  return `${done}/${total} ${String(Math.floor((Math.min(done, total) / total) * 100)).padStart(3)}%`;
}

export class ProgressBar {
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;
  private readonly plainIntervalMs: number;
  private lastPlain = -Infinity;
  private lastLine = "";
  private ticks = 0;
  private finished = false;

  constructor(private readonly options: ProgressBarOptions = {}) {
    this.stream = options.stream ?? process.stderr;
    this.tty = options.tty ?? Boolean(this.stream.isTTY);
    this.plainIntervalMs = options.plainIntervalMs ?? 1000;
  }

  private width(): number {
    if (this.options.width) return this.options.width;
    const columns = this.stream.columns ?? 80;
    return Math.max(10, Math.min(40, columns - 50));
  }

  private line(done: number, total: number | null, detail: string): string {
    const label = this.options.label ? `${this.options.label} ` : "";
    const text = `${label}${renderBar(done, total, this.width(), this.ticks++)} ${renderCount(done, total)}${detail ? `  ${detail}` : ""}`;
    const columns = this.stream.columns ?? 120;
    return this.tty && text.length > columns - 1 ? text.slice(0, columns - 1) : text;
  }

  update(done: number, total: number | null, detail = ""): void {
    if (this.finished) return;
    const text = this.line(done, total, detail);
    if (this.tty) {
      this.stream.write(`\r${text}\x1b[K`);
    } else {
      const now = performance.now();
      if (now - this.lastPlain < this.plainIntervalMs) {
        this.lastLine = text;
        return;
      }
      this.lastPlain = now;
      this.stream.write(`${text}\n`);
    }
    this.lastLine = "";
  }

  /** The final state, always written; ends the bar's line. */
  finish(done: number, total: number | null, detail = ""): void {
    if (this.finished) return;
    const text = this.line(done, total, detail);
    this.stream.write(this.tty ? `\r${text}\x1b[K\n` : `${text}\n`);
    this.finished = true;
  }

  /** Ends the line without a final state (a failure message follows). */
  abandon(): void {
    if (this.finished) return;
    if (this.tty) this.stream.write("\n");
    else if (this.lastLine) this.stream.write(`${this.lastLine}\n`);
    this.finished = true;
  }
}
