"""The fork server's LM engine warm-up (dspy_bridge.core._lm_engines): after it, the first
real call of either engine imports nothing, nothing reaches for the network, and the warm-up
calls leave no thread, cached client or history behind.

Each case runs in a fresh interpreter (a subprocess), as the fork server does: this test
process has imported who knows what already. The subprocess serves a minimal
OpenAI-compatible answer on 127.0.0.1 from its own event loop and records every socket
connection and name lookup with an audit hook.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PYTHON_ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    r"""
    import asyncio, json, sys, time

    network = []
    def audit(event, args):
        if event in ("socket.getaddrinfo", "socket.connect"):
            network.append(repr(args)[:200])
    sys.addaudithook(audit)

    from dspy_bridge.core import _lm_engines
    _lm_engines.local_cost_map_default()
    import dspy
    import dspy_bridge.dspy.commands
    _lm_engines.warm_native()
    if "litellm" in sys.argv:
        _lm_engines.warm_litellm()
    _lm_engines.warm_up_calls(("lm15", "litellm") if "litellm" in sys.argv else ("lm15",))
    import threading
    threads_after_warm = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    from dspy.clients import base_lm
    left = {"history": len(base_lm.GLOBAL_HISTORY)}
    if "litellm" in sys.modules:
        left["litellm_clients"] = len(sys.modules["litellm"].in_memory_llm_clients_cache.cache_dict)

    ANSWER = json.dumps({
        "id": "c1", "object": "chat.completion", "created": 0, "model": "fixture",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "[[ ## answer ## ]]\n42\n\n[[ ## completed ## ]]"}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }).encode()

    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")), 0)
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(ANSWER) + ANSWER)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        url = "http://127.0.0.1:%d/v1" % server.sockets[0].getsockname()[1]
        engines = ["lm15", "litellm"] if "litellm" in sys.argv else ["lm15"]
        before = set(sys.modules)
        network.clear()
        first = {}
        for engine in engines:
            lm = dspy.LM("openai/fixture", api_base=url, api_key="sk-test", engine=engine, cache=False)
            with dspy.context(lm=lm):
                t0 = time.perf_counter()
                answer = (await dspy.Predict("question -> answer").acall(question="q")).answer
                first[engine] = round((time.perf_counter() - t0) * 1000, 1)
            assert answer == "42", answer
        server.close()
        return sorted(set(sys.modules) - before), first

    new, first = asyncio.run(main())
    outside = [n for n in network if "127.0.0.1" not in n]
    print(json.dumps({"new_modules": new, "first_call_ms": first, "network": outside, "threads": threads_after_warm, "left": left}))
    """
)


_LM_STACK = {
    "dspy",
    "litellm",
    "openai",
    "httpx",
    "httpcore",
    "aiohttp",
    "pydantic",
    "pydantic_core",
    "tiktoken",
    "jiter",
    "anyio",
}


def _run(*args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(PYTHON_ROOT)}
    env.pop("LITELLM_LOCAL_MODEL_COST_MAP", None)  # the warm-up's own default must hold
    proc = subprocess.run(
        [sys.executable, "-X", "dev", "-c", SCRIPT, *args], capture_output=True, text=True, timeout=180, env=env
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Unclosed" not in proc.stderr and "warm-up skipped" not in proc.stderr, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# A fresh interpreter in dev mode imports DSPy and LiteLLM cold: on a loaded machine that took
# over the suite's 120 s; the child's own limit (180 s, in _run) is the one meant to apply.
@pytest.mark.timeout(240)
@pytest.mark.parametrize("engines", [("native",), ("native", "litellm")], ids=["native", "native+litellm"])
def test_after_the_warm_up_a_first_call_imports_nothing_and_stays_offline(engines: tuple[str, ...]) -> None:
    result = _run(*engines)
    assert result["network"] == [], "nothing but the local server is contacted (no model cost map download)"
    assert result["threads"] == [], "no thread may be running when the fork server forks"
    assert set(result["left"].values()) == {0}, f"the warm-up calls left state behind: {result['left']}"
    # None of the LM stack: what the warm-up exists for. (A stray standard-library module on
    # another Python version is tolerated; this interpreter's first calls import nothing.)
    heavy = [m for m in result["new_modules"] if m.split(".")[0] in _LM_STACK]
    assert heavy == [], f"the first calls imported {heavy} (first_call_ms {result['first_call_ms']})"
    assert len(result["new_modules"]) <= 5, result["new_modules"]


def test_without_litellm_installed_its_warm_up_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    from dspy_bridge.core import _lm_engines

    monkeypatch.setitem(sys.modules, "litellm", None)  # what find_spec reports for a missing package
    _lm_engines.warm_litellm()  # "litellm" is in the default preload: no LiteLLM must not fail start-up
