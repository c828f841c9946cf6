// Child-process helpers.
import { spawn } from "node:child_process";

/** Spawn `count` copies of `cmd args` at once; resolves when all have exited with status 0. */
export function runConcurrently(count, cmd, args) {
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise((resolve, reject) => {
          const p = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
          let err = "";
          p.stderr.on("data", (b) => (err += b));
          p.on("error", reject);
          p.on("exit", (code, signal) =>
            code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(" ")} exited with ${signal ?? code}: ${err.trim()}`)),
          );
        }),
    ),
  );
}
