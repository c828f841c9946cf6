// How the host starts Python: never with its own working directory on the import path.
// `python -m mod` and `python -c code` put the working directory first on sys.path, ahead of
// the standard library and site-packages, so a dspy.py (or json.py, or a module named like an
// optimizer a client registers) planted in a writable working directory would run in every
// worker. `-P` (3.11+) is not on 3.10 and `-I` would also drop the PYTHONPATH users rely on,
// so the code given to `-c` removes that one entry before anything else is imported. Entries
// the user asked for stay: a relative or empty PYTHONPATH / pythonPath entry (".") reaches
// sys.path as an absolute path, never as the '' that `-c` adds.

/** Python source that drops the working directory `-c` put first on sys.path. */
export const DROP_CWD_FROM_PATH = "import sys\nif sys.path and sys.path[0] == '':\n    del sys.path[0]\n";

/** Arguments that run `module` as `python -m module` does (as __main__, argv[0] its file), without the working directory on sys.path. */
export function runModuleArgs(module: string): string[] {
  return [
    "-c",
    `${DROP_CWD_FROM_PATH}import runpy\nrunpy.run_module(${JSON.stringify(module)}, run_name="__main__", alter_sys=True)\n`,
  ];
}

/** Arguments that run `code` as `python -c code` does, without the working directory on sys.path. */
export function runCodeArgs(code: string): string[] {
  return ["-c", `${DROP_CWD_FROM_PATH}${code}`];
}
