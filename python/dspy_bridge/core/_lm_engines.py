"""Warm DSPy's two LM engines in the fork server, before any worker is forked.

DSPy 3.4 reaches a provider through one of two engines: its own client (the vendored lm15,
chosen by `engine="auto"` for openai/, anthropic/, gemini/, ollama_chat/, groq/, ...) and
LiteLLM (`engine="litellm"`, and what "auto" falls back to for the rest: azure/, bedrock/,
together_ai/, ...). Both import a good part of themselves lazily, on the first real call.
In a worker that costs that worker the time on its first call (LiteLLM: about 3-4 s of
imports, 0.7 s of them on its first call) and its own unshared copy of every module
(about 120 MB for LiteLLM). Imported here instead, in the fork server, the modules are
shared copy-on-write by every worker and frozen out of the collector (`gc.freeze()`).

What the first call imports was found by comparing `sys.modules` before and after a first
`Predict.acall` against a local OpenAI-compatible server, in a fresh process, with each
engine (python/tests/dspy/test_engines_warm.py checks that nothing is left). The names are
private modules of DSPy, LiteLLM and the OpenAI SDK: each is imported if it exists, so a
newer version that moved one only makes its first call slower, never fails to start.

Then `warm_up_calls()` makes one real Predict call per engine against a stub server on
127.0.0.1 (in this process, on a throwaway event loop), so that what a first call builds
lazily (pydantic validators and serializers, clients' caches, compiled patterns) is built
once here and shared too: measured in a forked worker, the first LiteLLM call then dirties
about 14 MB of the shared pages instead of 21 MB and takes half the time. Nothing of it
outlives the warm-up: its LMs, connections, LiteLLM's cached clients and DSPy's global
history are closed and cleared, and no thread is left running (a fork must not copy one).

No network: LiteLLM fetches its model cost map from the internet when imported, and DSPy's
native engine does the same on its first call (both fall back to their bundled copy),
unless LITELLM_LOCAL_MODEL_COST_MAP=True. The host sets it unless the user's environment
sets it (docs/dspy.md); `local_cost_map_default()` applies the same rule in Python.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import importlib.util
import asyncio

__all__ = ["local_cost_map_default", "warm_litellm", "warm_native", "warm_up_calls"]

# Imported by the native (lm15) engine's first call, beyond `import dspy`.
_NATIVE_MODULES = (
    "dspy.clients.execution",
    "dspy.clients.call_result",
    "dspy.clients.costs",
    "dspy.clients.engines.lm15_engine",
    "dspy.clients.engines.streaming",
    "dspy.clients.model_metadata",
    "dspy._vendor.lm15.cloud",
    "dspy._vendor.lm15.cloud.hosts",
    "dspy._vendor.lm15.cloud.sigv4",
    "dspy._vendor.lm15.sse",
    "difflib",
)

# Imported by LiteLLM's first OpenAI-compatible call, beyond `import litellm` (the roots of
# about 470 modules: the OpenAI SDK's client resources, LiteLLM's proxy types, ...).
_LITELLM_MODULES = (
    "dspy.clients.engines.litellm_engine",
    "dspy.clients.engines.litellm_errors",
    "jiter",
    "openai.resources",
    "openai._resource",
    "openai._extras",
    "openai._event_handler",
    "openai._send_queue",
    "openai.lib.streaming._deltas",
    "openai.lib.streaming.chat",
    "litellm._service_logger",
    "litellm.integrations.prometheus_services",
    "litellm.llms.litellm_proxy.chat.transformation",
    "litellm.llms.openai.openai",
    "litellm.llms.openai.chat.gpt_audio_transformation",
    "litellm.llms.openai_like.dynamic_config",
    "litellm.llms.vertex_ai.vertex_ai_partner_models.anthropic.transformation",
    "litellm.proxy._experimental",
    "litellm.proxy._types",
    "litellm.proxy.openai_files_endpoints.common_utils",
    "litellm.proxy.types_utils",
    "litellm.types.integrations.compression_interception",
    "litellm.types.integrations.prometheus",
    "litellm.types.object_permission",
    "litellm.types.proxy.carried_budget_state",
    "litellm.types.proxy.control_plane_endpoints",
    "litellm.types.proxy.spend_capture_rate",
)

# Pydantic models whose schema is built on first use (deferred): the first call would build
# them (about 30 ms); built here, the workers share them.
_LITELLM_MODELS = (
    ("openai.types.chat.chat_completion_message", "ChatCompletionMessage"),
    ("openai.types.chat.chat_completion", "Choice"),
    ("openai.types.chat.chat_completion", "ChatCompletion"),
    ("litellm.types.utils", "Message"),
    ("litellm.types.utils", "Choices"),
    ("litellm.types.utils", "Usage"),
    ("litellm.types.utils", "ModelResponse"),
    ("litellm.types.router", "LiteLLM_Params"),
    ("litellm.types.services", "ServiceLoggerPayload"),
)

_COST_MAP_ENV = "LITELLM_LOCAL_MODEL_COST_MAP"


def local_cost_map_default() -> None:
    """Use the bundled model cost map unless the environment says otherwise (set explicitly,
    whatever its value, it is the user's choice: `LITELLM_LOCAL_MODEL_COST_MAP=False` allows
    the remote fetch). Must run before LiteLLM or DSPy's model metadata is loaded."""
    os.environ.setdefault(_COST_MAP_ENV, "True")


def _import_all(names: tuple[str, ...]) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a module another version moved or dropped: a slower first call, nothing worse
            pass


def warm_native() -> None:
    """DSPy's native engine: its first-call modules and the model metadata it prices calls
    with (a bundled JSON snapshot, about 40 ms to parse; fetched from the internet instead
    only when the user allowed it)."""
    _import_all(_NATIVE_MODULES)
    try:
        from dspy.clients import model_metadata  # here: only when the fork server preloads the engine

        model_metadata.source_info()  # loads the metadata once
    except Exception:  # noqa: BLE001 - advisory metadata; the first call loads it if this could not
        pass


def warm_litellm() -> None:
    """LiteLLM, imported through DSPy (which applies its defaults: no LiteLLM cache, no
    telemetry), with the modules and pydantic models its first call would build. Nothing
    when LiteLLM is not installed (DSPy has it as an optional dependency on some Pythons):
    DSPy cannot use it then either."""
    if importlib.util.find_spec("litellm") is None:
        return
    from dspy.clients._litellm import get_litellm  # here: only when the fork server preloads the engine

    get_litellm(feature="dspy.LM")
    _import_all(_LITELLM_MODULES)
    for module, name in _LITELLM_MODELS:
        try:
            getattr(sys.modules[module], name).model_rebuild()
        except Exception:  # noqa: BLE001 - see _import_all
            pass
    _join_cost_map_retry()


def _join_cost_map_retry(timeout: float = 30.0) -> None:
    """When the user allowed the remote cost map and LiteLLM's first fetch failed, LiteLLM
    retries in a background thread. Forking while a thread may hold a lock (logging's, the
    import lock) can leave a worker deadlocked: let it finish first (bounded)."""
    for thread in threading.enumerate():
        if thread.name == "litellm-model-cost-map-retry":
            thread.join(timeout)
            if thread.is_alive():
                print(
                    "[dspy-bridge fork server] LiteLLM is still fetching its model cost map; forking anyway "
                    f"(set {_COST_MAP_ENV}=True to use the bundled copy)",
                    file=sys.stderr,
                    flush=True,
                )


# The stub's answer to a `question -> answer` Predict in DSPy's ChatAdapter format.
_ANSWER = (
    b'{"id": "warm-up", "object": "chat.completion", "created": 0, "model": "warm-up", "choices": [{"index": 0, '
    b'"finish_reason": "stop", "message": {"role": "assistant", "content": "[[ ## answer ## ]]\\nwarm\\n\\n'
    b'[[ ## completed ## ]]"}}], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}'
)
_RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
    len(_ANSWER),
    _ANSWER,
)


def warm_up_calls(engines: tuple[str, ...] = ("lm15", "litellm")) -> None:
    """One Predict call per DSPy engine (dspy.LM's names) against a stub OpenAI-compatible
    server on 127.0.0.1, on a throwaway event loop. A failure only costs the warm-up: it is
    reported on stderr and start-up goes on."""
    names = ("no_proxy", "NO_PROXY")
    saved = {name: os.environ.get(name) for name in names}
    bypass = ",".join(filter(None, [saved["no_proxy"] or saved["NO_PROXY"], "127.0.0.1"]))
    for name in names:
        os.environ[name] = bypass  # a proxy from the environment must not see the stub's address
    try:
        asyncio.run(_warm_up(engines))
    except Exception as exc:  # noqa: BLE001 - see the docstring
        print(
            f"[dspy-bridge fork server] LM engine warm-up skipped: {type(exc).__name__}: {exc}",
            file=sys.stderr,
            flush=True,
        )
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _forget_warm_up()


async def _warm_up(engines: tuple[str, ...]) -> None:
    import dspy  # here: only when the fork server preloads the engine

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                writer.write(_RESPONSE)
                await writer.drain()
        except (
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ConnectionError,
            ValueError,
            asyncio.CancelledError,
        ):
            pass  # the client went away, or the warm-up is over (a cancelled handler would be logged)
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    try:
        for engine in engines:
            lm = dspy.LM(
                "openai/warm-up", api_base=url, api_key="sk-warm-up", engine=engine, cache=False, num_retries=0
            )
            try:
                with dspy.context(lm=lm):
                    await asyncio.wait_for(dspy.Predict("question -> answer").acall(question="warm-up"), 10)
            finally:
                await lm.aclose()
        if "litellm" in engines:
            from litellm.llms.custom_httpx.async_client_cleanup import (
                close_litellm_async_clients,
            )  # here: only when the fork server preloads the engine

            await close_litellm_async_clients()
    finally:
        server.close()
        await server.wait_closed()


def _forget_warm_up() -> None:
    """What the warm-up calls left behind that a worker must not inherit."""
    litellm = sys.modules.get("litellm")
    if litellm is not None:
        try:
            litellm.in_memory_llm_clients_cache.flush_cache()  # clients bound to the closed loop
        except Exception:  # noqa: BLE001
            pass
    try:
        from dspy.clients import base_lm  # here: only when the fork server preloads the engine

        base_lm.GLOBAL_HISTORY.clear()
    except Exception:  # noqa: BLE001
        pass
