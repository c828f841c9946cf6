// Output for CLI commands: a line per step for people, a JSON object per line with --json.

export class Reporter {
  constructor(private readonly json: boolean) {}

  section(title: string): void {
    if (!this.json) console.log(`\n== ${title}`);
  }

  /** One fact: `text` for people, `data` (with `step`) for machines. */
  step(step: string, text: string, data: Record<string, unknown> = {}): void {
    if (this.json)
      console.log(JSON.stringify({ step, ...data }, (_k, v) => (typeof v === "bigint" ? v.toString() : v)));
    else console.log(`  ${text}`);
  }

  fail(step: string, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    if (this.json) console.log(JSON.stringify({ step, ok: false, error: message }));
    else console.error(`  FAILED ${step}: ${message}`);
  }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
