// The shared store (Redis) could not be reached, or did not answer in time: the request
// was not applied, or — when the connection broke mid-commit — its outcome could not be
// confirmed within the deadline. Retryable: gRPC UNAVAILABLE.
import { BridgeError, type FixedErrorOptions } from "../errors/index.js";
import { Code } from "../errors/code.js";

export class StoreUnavailableError extends BridgeError {
  static override readonly code: number = Code.UNAVAILABLE;
  static override readonly reason: string = "store_unavailable";
  constructor(message: string, options: FixedErrorOptions = {}) {
    super(message, options);
  }
}
