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
            code === 0
              ? resolve()
              : reject(new Error(`${cmd} ${args.join(" ")} exited with ${signal ?? code}: ${err.trim()}`)),
          );
        }),
    ),
  );
}

/**
 * A CPU-bound neighbour: a child process spinning in a tight loop (one core's worth, as
 * long as it can get one) until stop() kills it. It is also killed if this process exits.
 */
export async function startSpinner() {
  const child = spawn(process.execPath, ["-e", "process.send('spinning'); for (;;) {}"], {
    stdio: ["ignore", "ignore", "inherit", "ipc"],
  });
  const kill = () => child.kill("SIGKILL");
  process.on("exit", kill);
  await new Promise((resolve, reject) => {
    child.once("message", resolve);
    child.once("error", reject);
    child.once("exit", (code, signal) =>
      reject(new Error(`the spinner exited with ${signal ?? code} before it started`)),
    );
  });
  return {
    pid: child.pid,
    async stop() {
      process.off("exit", kill);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((resolve) => child.once("exit", resolve));
      kill();
      await gone;
    },
  };
}
