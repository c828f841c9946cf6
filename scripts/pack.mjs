#!/usr/bin/env node
// What the npm package carries besides the compiled TypeScript, put into ts/ by its
// `prepack` script (npm pack, npm publish) and removed again by `postpack`:
//
//   ts/python/dspy_bridge-<version>-py3-none-any.whl   the Python package, built here
//   ts/python/requirements.lock                       the pinned Python dependencies
//   ts/python/manifest.json                           versions and hashes (the managed
//                                                     environment's key, ts/src/pool/python-env.ts)
//   ts/README.md, ts/LICENSE                          copies of the repository's
//
// The wheel is written directly (a wheel is a zip file with a dist-info folder): no build
// backend, no network, byte-for-byte the same for the same sources. Only Node built-ins.
//
//   node scripts/pack.mjs               prepare (also builds the TypeScript if it is stale)
//   node scripts/pack.mjs --clean       remove what `prepare` added
//   node scripts/pack.mjs --wheel DIR   only write the wheel into DIR (prints its path)
//   node scripts/pack.mjs --stage DIR   a copy of the whole package folder in DIR, ts/ left
//                                       alone (then `npm pack DIR --ignore-scripts`); the
//                                       TypeScript must be built (ts/test/install.test.ts)
import { createHash } from "node:crypto";
import { vendorDashboard } from "./vendor-dashboard.mjs";
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { deflateRawSync } from "node:zlib";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const tsDir = join(root, "ts");
const outPython = join(tsDir, "python");
const COPIED = [join(tsDir, "README.md"), join(tsDir, "LICENSE"), outPython];

// ---------------------------------------------------------------------------------------
// pyproject.toml: the few [project] keys a wheel's METADATA needs. A small reader for the
// TOML this file uses (strings, arrays of strings, inline tables of strings, comments).

function parseValue(src, i) {
  const skip = () => {
    for (;;) {
      while (i < src.length && /\s/.test(src[i])) i++;
      if (src[i] === "#") while (i < src.length && src[i] !== "\n") i++;
      else return;
    }
  };
  skip();
  const c = src[i];
  if (c === '"' || c === "'") {
    let j = i + 1;
    let s = "";
    while (src[j] !== c) {
      if (j >= src.length) throw new Error("unterminated string in pyproject.toml");
      if (c === '"' && src[j] === "\\") {
        const e = src[++j];
        s += e === "n" ? "\n" : e === "t" ? "\t" : e;
      } else s += src[j];
      j++;
    }
    return [s, j + 1];
  }
  if (c === "[") {
    const out = [];
    i++;
    for (;;) {
      skip();
      if (src[i] === "]") return [out, i + 1];
      const [v, j] = parseValue(src, i);
      out.push(v);
      i = j;
      skip();
      if (src[i] === ",") i++;
    }
  }
  if (c === "{") {
    const out = {};
    i++;
    for (;;) {
      skip();
      if (src[i] === "}") return [out, i + 1];
      const m = /^([A-Za-z0-9_-]+)\s*=\s*/.exec(src.slice(i));
      if (!m) throw new Error(`cannot read pyproject.toml near: ${src.slice(i, i + 40)}`);
      const [v, j] = parseValue(src, i + m[0].length);
      out[m[1]] = v;
      i = j;
      skip();
      if (src[i] === ",") i++;
    }
  }
  const m = /^[^\s,\]}#]+/.exec(src.slice(i));
  if (!m) throw new Error(`cannot read pyproject.toml near: ${src.slice(i, i + 40)}`);
  return [m[0], i + m[0].length];
}

/** { table name: { key: value } } for every table of a simple TOML file. */
export function readToml(text) {
  const tables = { "": {} };
  let table = tables[""];
  let i = 0;
  while (i < text.length) {
    const rest = text.slice(i);
    const blank = /^(\s+|#[^\n]*)/.exec(rest);
    if (blank) {
      i += blank[0].length;
      continue;
    }
    const header = /^\[([^\]\n]+)\][^\n]*/.exec(rest);
    if (header) {
      table = tables[header[1].trim()] ??= {};
      i += header[0].length;
      continue;
    }
    const key = /^("[^"]+"|[A-Za-z0-9_.-]+)\s*=\s*/.exec(rest);
    if (!key) throw new Error(`cannot read pyproject.toml near: ${rest.slice(0, 40)}`);
    const [value, j] = parseValue(text, i + key[0].length);
    table[key[1].replace(/^"|"$/g, "")] = value;
    i = j;
  }
  return tables;
}

// ---------------------------------------------------------------------------------------
// A zip file (the subset wheels use: deflated files, no directories entries needed).

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf) {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A zip archive of `entries` ([name, Buffer]), in that order, every date 1980-01-01. */
function zip(entries) {
  const locals = [];
  const central = [];
  let offset = 0;
  for (const [name, data] of entries) {
    const nameBuf = Buffer.from(name, "utf8");
    const packed = deflateRawSync(data, { level: 9 });
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt16LE(0, 10); // time
    local.writeUInt16LE(0x21, 12); // date: 1980-01-01
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBuf.length, 26);
    local.writeUInt16LE(0, 28);
    locals.push(local, nameBuf, packed);
    const cen = Buffer.alloc(46);
    cen.writeUInt32LE(0x02014b50, 0);
    cen.writeUInt16LE((3 << 8) | 20, 4); // made by: Unix
    cen.writeUInt16LE(20, 6);
    cen.writeUInt16LE(0x0800, 8);
    cen.writeUInt16LE(8, 10);
    cen.writeUInt16LE(0, 12);
    cen.writeUInt16LE(0x21, 14);
    cen.writeUInt32LE(crc, 16);
    cen.writeUInt32LE(packed.length, 20);
    cen.writeUInt32LE(data.length, 24);
    cen.writeUInt16LE(nameBuf.length, 28);
    cen.writeUInt32LE((0o100644 << 16) >>> 0, 38); // -rw-r--r--
    cen.writeUInt32LE(offset, 42);
    central.push(cen, nameBuf);
    offset += 30 + nameBuf.length + packed.length;
  }
  const cenSize = central.reduce((n, b) => n + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cenSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, ...central, end]);
}

// ---------------------------------------------------------------------------------------
// The wheel.

function packageFiles(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (entry.name === "__pycache__" || entry.name === "tests" || entry.name.startsWith(".")) continue;
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...packageFiles(p));
    else if (!/\.py[co]$/.test(entry.name)) out.push(p);
  }
  return out;
}

const recordHash = (data) => `sha256=${createHash("sha256").update(data).digest("base64url")}`;

/** Builds the Python package's wheel into `outDir`; returns { path, name, version, sha256 }. */
export function buildWheel(outDir) {
  const project = readToml(readFileSync(join(root, "python/pyproject.toml"), "utf8"));
  const p = project.project;
  if (!p?.name || !p?.version) throw new Error("python/pyproject.toml has no [project] name and version");
  const dist = p.name.replace(/[-_.]+/g, "_");
  const version = p.version;
  const pkgDir = join(root, "python", "dspy_bridge");
  // dspy_bridge.__version__ is the generated VERSION (proto/constants.json, npm run codegen).
  const constants = readFileSync(join(pkgDir, "_gen", "constants.py"), "utf8");
  const declared = /^VERSION: Final = "([^"]+)"/m.exec(constants)?.[1];
  if (declared !== version)
    throw new Error(
      `python/dspy_bridge/_gen/constants.py says VERSION ${declared}, python/pyproject.toml ${version}: run \`npm run codegen\``,
    );

  const meta = ["Metadata-Version: 2.1", `Name: ${p.name}`, `Version: ${version}`];
  if (p.description) meta.push(`Summary: ${p.description}`);
  const license = typeof p.license === "string" ? p.license : p.license?.text;
  if (license) meta.push(`License: ${license}`);
  for (const c of p.classifiers ?? []) meta.push(`Classifier: ${c}`);
  if (p["requires-python"]) meta.push(`Requires-Python: ${p["requires-python"]}`);
  for (const d of p.dependencies ?? []) meta.push(`Requires-Dist: ${d}`);
  for (const [extra, deps] of Object.entries(project["project.optional-dependencies"] ?? {})) {
    meta.push(`Provides-Extra: ${extra}`);
    for (const d of deps) {
      const [req, marker] = d.split(";").map((x) => x.trim());
      meta.push(`Requires-Dist: ${req}; ${marker ? `(${marker}) and ` : ""}extra == "${extra}"`);
    }
  }
  const distInfo = `${dist}-${version}.dist-info`;
  const entries = packageFiles(pkgDir).map((f) => [
    relative(join(root, "python"), f).split(sep).join("/"),
    readFileSync(f),
  ]);
  entries.push([`${distInfo}/METADATA`, Buffer.from(meta.join("\n") + "\n")]);
  entries.push([
    `${distInfo}/WHEEL`,
    Buffer.from(
      "Wheel-Version: 1.0\nGenerator: dspy-bridge (scripts/pack.mjs)\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    ),
  ]);
  entries.push([`${distInfo}/top_level.txt`, Buffer.from("dspy_bridge\n")]);
  const record = entries.map(([name, data]) => `${name},${recordHash(data)},${data.length}`);
  record.push(`${distInfo}/RECORD,,`);
  entries.push([`${distInfo}/RECORD`, Buffer.from(record.join("\n") + "\n")]);

  const name = `${dist}-${version}-py3-none-any.whl`;
  const bytes = zip(entries);
  mkdirSync(outDir, { recursive: true });
  const path = join(outDir, name);
  writeFileSync(path, bytes);
  return { path, name, version, sha256: createHash("sha256").update(bytes).digest("hex") };
}

// ---------------------------------------------------------------------------------------

function buildTypeScript() {
  const tsc = join(root, "node_modules/.bin/tsc");
  if (!existsSync(tsc)) throw new Error("TypeScript is not installed: run `npm run setup` in the repository first");
  const r = spawnSync(tsc, ["-b", "ts"], { cwd: root, stdio: "inherit" });
  if (r.status !== 0) throw new Error("tsc -b ts failed");
}

/** Puts the Python files, README and LICENSE into `pkgDir` (ts/, or a staging copy). */
function addFiles(pkgDir) {
  const pythonDir = join(pkgDir, "python");
  const pkg = JSON.parse(readFileSync(join(tsDir, "package.json"), "utf8"));
  const wheel = buildWheel(pythonDir);
  if (wheel.version !== pkg.version)
    throw new Error(
      `ts/package.json is version ${pkg.version}, python/pyproject.toml ${wheel.version}: release them together`,
    );
  const lock = readFileSync(join(root, "python/requirements.lock"));
  writeFileSync(join(pythonDir, "requirements.lock"), lock);
  const manifest = {
    package: pkg.name,
    version: pkg.version,
    wheel: wheel.name,
    wheelSha256: wheel.sha256,
    lock: "requirements.lock",
    lockSha256: createHash("sha256").update(lock).digest("hex"),
  };
  writeFileSync(join(pythonDir, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  for (const f of ["README.md", "LICENSE"]) copyFileSync(join(root, f), join(pkgDir, f));
  const size = statSync(wheel.path).size;
  console.error(`[pack] ${wheel.name} (${(size / 1024).toFixed(0)} KiB), requirements.lock, README.md, LICENSE`);
}

function prepare() {
  clean();
  buildTypeScript();
  vendorDashboard();
  addFiles(tsDir);
}

function stage(dir) {
  if (!existsSync(join(tsDir, "dist/src/index.js"))) throw new Error("ts/dist is not built: run `npm run build`");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(tsDir, "package.json"), join(dir, "package.json"));
  cpSync(join(tsDir, "bin"), join(dir, "bin"), { recursive: true });
  cpSync(join(tsDir, "dist/src"), join(dir, "dist/src"), { recursive: true });
  vendorDashboard();
  cpSync(join(tsDir, "dashboard"), join(dir, "dashboard"), { recursive: true });
  addFiles(dir);
}

function clean() {
  for (const p of COPIED) rmSync(p, { recursive: true, force: true });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    const wheelIdx = process.argv.indexOf("--wheel");
    const stageIdx = process.argv.indexOf("--stage");
    if (wheelIdx >= 0) console.log(buildWheel(process.argv[wheelIdx + 1] ?? ".").path);
    else if (stageIdx >= 0 && process.argv[stageIdx + 1]) stage(process.argv[stageIdx + 1]);
    else if (process.argv.includes("--clean")) clean();
    else prepare();
  } catch (err) {
    console.error(`[pack] failed: ${err.message}`);
    process.exit(1);
  }
}
