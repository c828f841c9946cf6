// The options shared by `demo`, `doctor` and `serve` (`optimize` and `setup` parse their own).

export interface CliFlags {
  json: boolean;
  workers: number;
  listen: string | undefined;
  tokenFile: string | undefined;
  preload: string[] | undefined;
  modules: string[];
  pythonPath: string[];
  store: string | undefined;
}

export function parseFlags(argv: string[]): CliFlags {
  const flags: CliFlags = { json: false, workers: 2, listen: undefined, tokenFile: undefined, preload: undefined, modules: [], pythonPath: [], store: undefined };
  const value = (i: number, name: string): string => {
    const v = argv[i];
    if (v === undefined) throw new Error(`${name} needs a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--json") flags.json = true;
    else if (a === "--workers") {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--workers needs a positive integer, got ${argv[i]}`);
      flags.workers = n;
    } else if (a === "--listen") flags.listen = value(++i, a);
    else if (a === "--token-file") flags.tokenFile = value(++i, a);
    else if (a === "--preload") flags.preload = value(++i, a).split(",").filter(Boolean);
    else if (a === "--modules") flags.modules = value(++i, a).split(",").filter(Boolean);
    else if (a === "--python-path") flags.pythonPath = value(++i, a).split(":").filter(Boolean);
    else if (a === "--store") flags.store = value(++i, a);
    else throw new Error(`unknown option ${a}`);
  }
  return flags;
}
