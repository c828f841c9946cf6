"""Seed ``python-dspy-adapter.txt`` (LLM.4, the Python DSPy adapter): its bridge script's
commands and its host-side calls, run for real. The seed's Elixir calls are TypeScript
``bridge.execute`` calls here (the host's side of Snakepit.execute); its test scenarios are
the tests below: basic and complex modules, session persistence, error conditions, timeouts,
large inputs and outputs, metrics."""

from __future__ import annotations

import pytest
from seed_support import HostError, SeedHost

SCRIPTED = {"provider": "scripted"}


async def _scripted(host: SeedHost, session_id: str, **config: object) -> dict:
    return await host.execute("configure_lm", {"provider": "scripted", "config": config}, session_id)


# -- configure_lm (handle_configure_lm) -----------------------------------------------------------


async def test_configure_lm_for_providers(host: SeedHost, session_id: str) -> None:
    reply = await _scripted(host, session_id)
    assert reply["status"] == "configured" and reply["provider"] == "scripted" and reply["scope"] == "session"
    # dspy.OpenAI / dspy.Claude are gone from DSPy: the provider names map to dspy.LM models.
    openai = await host.execute(
        "configure_lm",
        {"provider": "openai", "config": {"model": "gpt-4o-mini", "api_key_env": "DSPY_BRIDGE_SEED_TEST_KEY"}},
        "other-" + session_id,
    )
    assert openai["model"] == "openai/gpt-4o-mini" and "dspy.OpenAI was removed" in openai["note"]
    claude = await host.execute(
        "configure_lm",
        {"provider": "anthropic", "config": {"api_key_env": "DSPY_BRIDGE_SEED_TEST_KEY"}},
        "other-" + session_id,
    )
    assert claude["model"].startswith("anthropic/") and "dspy.Claude" in claude["note"]
    # The seed's unknown provider answers {"error": ...}; here it is a typed error naming the known ones.
    with pytest.raises(HostError) as err:
        await host.execute("configure_lm", {"provider": "nope"}, session_id)
    assert (
        err.value.name == "InvalidArgumentError"
        and "Unknown provider" in err.value.message
        and "openai" in err.value.message
    )
    # Without the key in the workers' environment: a clear error naming the variable.
    with pytest.raises(HostError, match="OPENAI_API_KEY"):
        await host.execute("configure_lm", {"provider": "openai"}, "other-" + session_id)
    # API keys never travel: the environment variable's name does.
    with pytest.raises(HostError, match="api_key_env"):
        await host.execute("configure_lm", {"provider": "openai", "config": {"api_key": "sk-secret"}}, session_id)


# -- execute_module: basic and complex modules -----------------------------------------------------


@pytest.mark.parametrize(
    "module",
    ["dspy.Predict", "dspy.ChainOfThought", "dspy.ReAct", "dspy.ProgramOfThought", "dspy.MultiChainComparison"],
)
async def test_execute_module_supports_the_seeds_modules(host: SeedHost, session_id: str, module: str) -> None:
    await _scripted(host, session_id)
    result = await host.execute(
        "execute_module",
        {"module": module, "signature": "question -> answer", "inputs": {"question": "What is 2+2?"}},
        session_id,
    )
    assert result["fields"]["answer"]
    assert result["latency_ms"] > 0 and result["lm"] == "scripted"  # performance metrics
    if module == "dspy.ChainOfThought":
        assert result["fields"]["reasoning"]


async def test_generate_is_prompt_only(host: SeedHost, session_id: str) -> None:
    """DSPex.LLM.Adapter.generate(adapter, "What is machine learning?", module: "dspy.Predict", signature: ...)."""
    await _scripted(host, session_id)
    simple = await host.execute(
        "generate",
        {"prompt": "What is machine learning?", "module": "dspy.Predict", "signature": "question -> answer"},
        session_id,
    )
    assert simple["text"] == simple["fields"]["answer"] and "machine learning" in simple["text"]
    # The seed's Chain of Thought example passes max_hops: 3, which ChainOfThought has no use for: reported, not dropped silently.
    cot = await host.execute(
        "generate",
        {
            "prompt": "Explain how photosynthesis works",
            "module": "dspy.ChainOfThought",
            "signature": "question -> explanation",
            "max_hops": 3,
        },
        session_id,
    )
    assert (
        cot["text"] == cot["fields"]["explanation"]
        and cot["fields"]["reasoning"]
        and cot["ignored_options"] == ["max_hops"]
    )
    default = await host.execute("generate", {"prompt": "hello"}, session_id)  # build_signature: "input -> output"
    assert default["text"] == default["fields"]["output"]
    with pytest.raises(HostError, match="one input field"):
        await host.execute("generate", {"prompt": "x", "signature": "context, question -> answer"}, session_id)


# -- session support: create_program / execute_program ----------------------------------------------


async def test_stateful_multi_module_program(host: SeedHost, session_id: str) -> None:
    """create_program(adapter, "context, question -> answer", modules: ["dspy.ChainOfThought", "dspy.Predict"])."""
    await _scripted(host, session_id)
    program = await host.execute(
        "create_program",
        {"signature": "context, question -> answer", "modules": ["dspy.ChainOfThought", "dspy.Predict"]},
        session_id,
    )
    assert program["id"] and program["stages"] == ["ChainOfThought", "Predict"]  # both modules, none ignored
    for _ in range(2):  # persists in the session's worker between calls
        result = await host.execute(
            "execute_program",
            {
                "program_id": program["id"],
                "inputs": {"context": "Previous conversation...", "question": "What did we discuss?"},
            },
            session_id,
        )
        assert [s["module"] for s in result["stages"]] == ["ChainOfThought", "Predict"]
        assert (
            result["stages"][0]["fields"]["reasoning"]
            and result["fields"]["answer"] == result["stages"][1]["fields"]["answer"]
        )
    with pytest.raises(HostError) as err:  # another session does not see it
        await host.execute(
            "execute_program",
            {"program_id": program["id"], "inputs": {"context": "c", "question": "q"}},
            "elsewhere-" + session_id,
        )
    assert err.value.name == "NotFoundError"


async def test_multi_module_program_through_the_host_api(host: SeedHost, session_id: str) -> None:
    """The same program through the host's session.programs (dspy.create_program with modules)."""
    await host.acall("open", session_id)
    created = await host.execute(
        "dspy.create_program",
        {
            "program_id": "qa",
            "module": "Pipeline",
            "signature": "context, question -> answer",
            "modules": ["ChainOfThought", "Predict"],
        },
        session_id,
    )
    assert created["module"] == "Pipeline" and created["config"]["modules"] == ["ChainOfThought", "Predict"]
    result = await host.execute(
        "dspy.execute_program",
        {"program_id": "qa", "inputs": {"context": "c", "question": "q"}, "lm": {"model": "scripted"}},
        session_id,
    )
    assert result["fields"]["answer"]
    saved = await host.execute("dspy.save_program", {"program_id": "qa"}, session_id)
    await host.execute("dspy.load_program", {"program_id": "qa2", "saved": saved}, session_id)
    again = await host.execute(
        "dspy.execute_program",
        {"program_id": "qa2", "inputs": {"context": "c", "question": "q"}, "lm": {"model": "scripted"}},
        session_id,
    )
    assert again["fields"] == result["fields"]


# -- error conditions, timeouts, large data ---------------------------------------------------------


async def test_error_conditions_are_typed(host: SeedHost, session_id: str) -> None:
    await _scripted(host, session_id)
    cases = [
        # module validation before execution (the seed's ModuleNotFoundError -> :module_not_found)
        ({"module": "dspy.Nope", "signature": "q -> a", "inputs": {"q": "x"}}, "unknown module"),
        # a malformed signature: not "RuntimeError: coroutine raised StopIteration"
        ({"module": "dspy.Predict", "signature": "q ->", "inputs": {"q": "x"}}, "needs at least one output field"),
        ({"module": "dspy.Predict", "signature": "-> a", "inputs": {}}, "needs at least one input field"),
        # a missing input field: DSPy only warns; here it is refused before the LM is called
        (
            {"module": "dspy.Predict", "signature": "context, question -> answer", "inputs": {"question": "x"}},
            "missing input field.*'context'",
        ),
    ]
    for args, message in cases:
        with pytest.raises(HostError, match=message) as err:
            await host.execute("execute_module", args, session_id)
        assert err.value.name == "InvalidArgumentError"  # the seed's {:invalid_input, msg}
    # The same checks guard the host's own API (bridge.dspy.run).
    with pytest.raises(HostError, match="needs at least one output field"):
        await host.execute(
            "dspy.run", {"module": "Predict", "signature": "q ->", "inputs": {"q": "x"}, "lm": {"model": "scripted"}}
        )
    with pytest.raises(HostError, match="missing input field"):
        await host.execute(
            "dspy.run", {"module": "Predict", "signature": "q -> a", "inputs": {}, "lm": {"model": "scripted"}}
        )


async def test_timeouts_are_graceful(host: SeedHost, session_id: str) -> None:
    await _scripted(host, session_id, latency_ms=3000)
    with pytest.raises(HostError) as err:
        await host.acall(
            "execute",
            session_id,
            command="execute_module",
            args={"module": "dspy.Predict", "signature": "q -> a", "inputs": {"q": "x"}},
            timeoutMs=300,
        )
    assert err.value.name == "TimeoutError"  # the seed's :python_timeout
    await _scripted(host, session_id)
    assert (
        await host.execute(
            "execute_module", {"module": "dspy.Predict", "signature": "q -> a", "inputs": {"q": "x"}}, session_id
        )
    )["fields"]["a"]


async def test_large_inputs_and_outputs(host: SeedHost, session_id: str) -> None:
    await _scripted(host, session_id)
    text = "word " * 200_000  # 1 MB
    result = await host.execute(
        "execute_module",
        {"module": "dspy.Predict", "signature": "document -> summary", "inputs": {"document": text}},
        session_id,
    )
    assert result["fields"]["summary"]
