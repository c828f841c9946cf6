// Python optimizer classes registered by name (Python's register_python_optimizer, or the
// bridge service's RegisterPythonOptimizer), for the whole host: a name registered from one session can be used by any session's runs. The
// class travels by import path and is checked by a worker when it is registered.
import { AlreadyExistsError, InvalidArgumentError } from "../errors/index.js";
import type { CommandRunner } from "../command-runner.js";

export const BUILT_IN_OPTIMIZERS = [
  "random",
  "random_search",
  "grid",
  "grid_search",
  "bayesian",
  "tpe",
  "gradient",
] as const;

export interface PythonOptimizerInfo {
  name: string;
  /** "package.module:ClassName", imported by the workers. */
  classPath: string;
  description: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/;
const CLASS_PATH = /^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_.]*$/;

export class PythonOptimizers {
  private readonly byName = new Map<string, PythonOptimizerInfo>();

  constructor(private readonly runner: CommandRunner) {}

  /**
   * Registers `classPath` under `name` once a worker has imported it and found ask() and
   * tell(). Registering the same class again is a no-op.
   */
  async register(name: string, classPath: string): Promise<PythonOptimizerInfo> {
    if (typeof name !== "string" || !NAME.test(name))
      throw new InvalidArgumentError(`invalid optimizer name ${JSON.stringify(name)}`, { parameter: "name" });
    if ((BUILT_IN_OPTIMIZERS as readonly string[]).includes(name)) {
      throw new InvalidArgumentError(`'${name}' is a built-in optimizer name; register the class under another name`, {
        parameter: "name",
      });
    }
    if (typeof classPath !== "string" || !CLASS_PATH.test(classPath)) {
      throw new InvalidArgumentError(
        `optimizer class ${JSON.stringify(classPath)} must be 'package.module:ClassName'`,
        { parameter: "optimizer_class" },
      );
    }
    const refuseConflict = () => {
      const existing = this.byName.get(name);
      if (existing && existing.classPath !== classPath) {
        throw new AlreadyExistsError(`optimizer '${name}' is already registered as ${existing.classPath}`, {
          details: { name, class_path: existing.classPath },
        });
      }
    };
    refuseConflict();
    const checked = await this.runner.execute<{ description: string }>("optimize.check", { class_path: classPath });
    refuseConflict(); // another registration may have won while the worker checked
    const info = { name, classPath, description: checked.description };
    this.byName.set(name, info);
    return { ...info };
  }

  get(name: string): PythonOptimizerInfo | undefined {
    const info = this.byName.get(name);
    return info && { ...info };
  }

  list(): PythonOptimizerInfo[] {
    return [...this.byName.values()].map((i) => ({ ...i }));
  }
}
