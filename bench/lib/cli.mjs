// Option parsing shared by the benchmarks: `--name value`, `--name=value`, or the
// environment variable BENCH_NAME (upper-cased, dashes as underscores). Flags win.

/**
 * @param {Record<string, {type: "int"|"number"|"string"|"flag", default: any, choices?: string[], min?: number, help: string}>} spec
 *   numbers must be positive unless `min` says otherwise; a flag takes no value
 *   (`--name`; `--name=false` or BENCH_NAME=0 turn it off)
 * @param {string} usage one line naming the script
 */
export function parseOptions(spec, usage, argv = process.argv.slice(2), env = process.env) {
  const opts = {};
  for (const [name, s] of Object.entries(spec)) {
    const envName = "BENCH_" + name.toUpperCase().replace(/-/g, "_");
    opts[name] = env[envName] !== undefined && env[envName] !== "" ? convert(name, env[envName], s) : s.default;
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--help" || arg === "-h") {
      console.log(helpText(spec, usage));
      process.exit(0);
    }
    if (!arg.startsWith("--")) fail(`unexpected argument '${arg}'`, spec, usage);
    let [name, value] = arg.slice(2).split(/=(.*)/s, 2);
    if (!(name in spec)) fail(`unknown option '--${name}'`, spec, usage);
    if (value === undefined && spec[name].type === "flag") value = "true";
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) fail(`option '--${name}' needs a value`, spec, usage);
    }
    opts[name] = convert(name, value, spec[name], spec, usage);
  }
  return opts;
}

function convert(name, raw, s, spec, usage) {
  if (s.type === "flag") {
    if (/^(1|true|yes)$/i.test(raw)) return true;
    if (/^(0|false|no)$/i.test(raw)) return false;
    fail(`--${name} is a flag: --${name}, or --${name}=true|false, got '${raw}'`, spec, usage);
  }
  if (s.type === "string") {
    if (s.choices && !s.choices.includes(raw))
      fail(`--${name} must be one of ${s.choices.join("|")}, got '${raw}'`, spec, usage);
    return raw;
  }
  const n = Number(raw);
  const kind = s.type === "int" ? "integer" : "number";
  if (!Number.isFinite(n) || (s.min === undefined ? n <= 0 : n < s.min) || (s.type === "int" && !Number.isInteger(n))) {
    const what =
      s.min === undefined ? `a positive ${kind}` : `${s.type === "int" ? "an" : "a"} ${kind} of at least ${s.min}`;
    fail(`--${name} must be ${what}, got '${raw}'`, spec, usage);
  }
  return n;
}

function helpText(spec, usage) {
  const lines = [`usage: ${usage}`, "", "options (or environment BENCH_<NAME>):"];
  for (const [name, s] of Object.entries(spec)) {
    const choices = s.choices ? ` (${s.choices.join("|")})` : "";
    const def = s.default === undefined || s.type === "flag" ? "" : ` [default ${s.default}]`;
    lines.push(`  --${name.padEnd(14)} ${s.help}${choices}${def}`);
  }
  return lines.join("\n");
}

function fail(msg, spec, usage) {
  console.error(`error: ${msg}`);
  if (spec) console.error(helpText(spec, usage));
  process.exit(2);
}
