// Human-readable output and the final machine-readable line.

/** Progress messages go to stderr so stdout holds only the table and the JSON line. */
export const progress = (label) => (msg) => console.error(`[${label}] ${msg}`);

/** Print an aligned text table. Numbers are right-aligned; null prints as "-". */
export function printTable(headers, rows, { title } = {}) {
  const cells = rows.map((r) => r.map((c) => (c === null || c === undefined ? "-" : String(c))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  const numeric = headers.map((_, i) =>
    rows.every(
      (r) => r[i] === null || r[i] === undefined || typeof r[i] === "number" || /^-?[\d,]+(\.\d+)?$/.test(String(r[i])),
    ),
  );
  const fmt = (r) =>
    r
      .map((c, i) => (numeric[i] && i > 0 ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  if (title) console.log(`\n${title}`);
  console.log(fmt(headers));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of cells) console.log(fmt(r));
}

/**
 * One line per target: "value op target  PASS|FAIL" ("n/a" when the value is missing).
 * targets: [{ name, value, op: "<=" | ">=", target }]
 */
export function printTargets(targets) {
  console.log("\nTargets");
  for (const { name, value, op, target } of targets) {
    let verdict = "n/a (not measured)";
    if (value !== null && value !== undefined) {
      const ok = op === "<=" ? value <= target : value >= target;
      verdict = ok ? "PASS" : "FAIL";
    }
    console.log(`  ${name} = ${value ?? "-"}  (target ${op} ${target})  ${verdict}`);
  }
}

/** The final single JSON line; must be the last thing written to stdout. */
export function printFinal(obj) {
  console.log(JSON.stringify(obj));
}

/** Format a number with thousands separators (for the table only). */
export function fmtInt(x) {
  return x === null || x === undefined ? null : Math.round(x).toLocaleString("en-US");
}

/** Fixed decimals (for the table only). */
export function fmtFixed(x, digits = 1) {
  return x === null || x === undefined ? null : x.toFixed(digits);
}
