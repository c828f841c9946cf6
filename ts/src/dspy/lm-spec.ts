// An LM as the host describes it to the workers: a LiteLLM model string and its options, checked
// on the host and sent with every call under the names the worker reads.
import { InvalidArgumentError } from "../errors/index.js";

/** DSPy's LM engines, as an LM spec names them (`LMSpec.engine`). */
export type LMEngine = "auto" | "native" | "litellm";
const ENGINES: readonly string[] = ["auto", "native", "litellm"];

/** The options an LM spec may hold (a closed set: an unknown one is refused when the spec is used). */
export type LMOptionName = keyof LMSpec;

/** A LiteLLM model string and its options, or the scripted LM ("scripted"). */
export interface LMSpec {
  /** "openai/gpt-4o-mini", "anthropic/claude-3-5-haiku-latest", "gemini/gemini-2.0-flash",
   * "ollama_chat/llama3.1", "openai/<model>" with `apiBase` for any OpenAI-compatible server,
   * or "scripted" for the deterministic offline LM. */
  model: string;
  /** Name of the environment variable (in the workers) that holds the API key. */
  apiKeyEnv?: string;
  apiBase?: string;
  temperature?: number;
  maxTokens?: number;
  /**
   * Which of DSPy's engines calls the provider: "auto" (DSPy's default: its own client where
   * it can serve the model and options, LiteLLM otherwise), "native" (DSPy's own client;
   * refused for a model or option it cannot serve) or "litellm".
   */
  engine?: LMEngine;
  /**
   * Retries of a transient failure (rate limit, timeout, 5xx, connection error), made by DSPy
   * with exponential backoff (1 s, 2 s, 4 s, …) or the provider's Retry-After. Default 3 (DSPy's).
   */
  numRetries?: number;
  /**
   * The provider request timeout, per attempt (DSPy's `timeout`, in seconds on the wire). Default:
   * the engine's own (native: 600 s per wait for the next byte, 10 s to connect; LiteLLM: 6,000 s).
   * The call's own `timeoutMs` (RunOptions) bounds the whole call, retries included.
   */
  timeoutMs?: number;
  cache?: boolean;
  /** Scripted LM only: simulated latency per call. */
  latencyMs?: number;
  /** Scripted LM only: answers to give, in order: output field name -> value, a raw completion
   * text returned verbatim, or null for the default answer. */
  responses?: (Record<string, unknown> | string | null)[];
  /** More LiteLLM keyword arguments. */
  extra?: Record<string, unknown>;
}

const SECRET_LOOKING = /^(sk-|sk_|AIza|xai-|gsk_)|^[A-Za-z0-9_-]{40,}$/;

/** The spec as the worker reads it, checked: a bad spec is an InvalidArgumentError naming the option. */
export function toWire(spec: LMSpec): Record<string, unknown> {
  if (!spec || typeof spec.model !== "string" || spec.model.length === 0) {
    throw new InvalidArgumentError("an LM spec needs a non-empty model string", { parameter: "lm.model" });
  }
  if (
    spec.apiKeyEnv !== undefined &&
    (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(spec.apiKeyEnv) || SECRET_LOOKING.test(spec.apiKeyEnv))
  ) {
    throw new InvalidArgumentError(
      "apiKeyEnv must be the NAME of an environment variable holding the key, not the key",
      {
        parameter: "lm.apiKeyEnv",
      },
    );
  }
  const unknown = Object.keys(spec).filter((k) => k !== "model" && !WIRE_NAMES.has(k as keyof LMSpec));
  if (unknown.length > 0) {
    throw new InvalidArgumentError(
      `unknown LM option(s): ${unknown.join(", ")}; known: model, ${[...WIRE_NAMES.keys()].join(", ")}`,
      {
        parameter: "lm",
      },
    );
  }
  if (spec.engine !== undefined && !ENGINES.includes(spec.engine)) {
    throw new InvalidArgumentError(
      `unknown lm.engine ${JSON.stringify(spec.engine)}; choose one of "auto", "native", "litellm"`,
      {
        parameter: "lm.engine",
      },
    );
  }
  if (spec.numRetries !== undefined && !(Number.isInteger(spec.numRetries) && spec.numRetries >= 0)) {
    throw new InvalidArgumentError(`lm.numRetries must be a non-negative integer, got ${String(spec.numRetries)}`, {
      parameter: "lm.numRetries",
    });
  }
  if (
    spec.timeoutMs !== undefined &&
    !(typeof spec.timeoutMs === "number" && Number.isFinite(spec.timeoutMs) && spec.timeoutMs > 0)
  ) {
    throw new InvalidArgumentError(
      `lm.timeoutMs must be a positive number of milliseconds, got ${String(spec.timeoutMs)}`,
      {
        parameter: "lm.timeoutMs",
      },
    );
  }
  const wire: Record<string, unknown> = { model: spec.model };
  for (const [from, to] of WIRE_NAMES) if (spec[from] !== undefined) wire[to] = spec[from];
  return wire;
}

/** LMSpec option -> its name on the wire (python/dspy_bridge/dspy/_lm_specs.py). */
const WIRE_NAMES = new Map<keyof LMSpec, string>([
  ["apiKeyEnv", "api_key_env"],
  ["apiBase", "api_base"],
  ["temperature", "temperature"],
  ["maxTokens", "max_tokens"],
  ["engine", "engine"],
  ["numRetries", "num_retries"],
  ["timeoutMs", "timeout_ms"],
  ["cache", "cache"],
  ["latencyMs", "latency_ms"],
  ["responses", "responses"],
  ["extra", "extra"],
]);
