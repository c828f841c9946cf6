"""Seed "Python DSPy Adapter" (LLM.4) and the architecture seed's DSPy adapter: their commands
run in this process through `DSPyAdapter` (the host runs the same commands in its workers:
`bridge.execute("execute_module", {...})`, docs/dspy-adapter.md). Offline: the scripted LM.
"""

import asyncio

from dspy_bridge.dspy.adapter import DSPyAdapter


async def main() -> None:
    adapter = DSPyAdapter()
    print("commands:", ", ".join(adapter.get_supported_commands()))
    print(await adapter.handle_command("check_dspy"))
    print(await adapter.handle_command("configure_lm", {"provider": "scripted"}))

    # Simple prediction (the seed's generate(adapter, "What is machine learning?", module: ..., signature: ...))
    result = await adapter.handle_command(
        "generate", {"prompt": "What is machine learning?", "module": "dspy.Predict", "signature": "question -> answer"}
    )
    print("answer:", result["text"])

    # Chain of Thought (max_hops is the seed's; ChainOfThought has no use for it and says so)
    result = await adapter.handle_command(
        "generate",
        {
            "prompt": "Explain how photosynthesis works",
            "module": "dspy.ChainOfThought",
            "signature": "question -> explanation",
            "max_hops": 3,
        },
    )
    print("explanation:", result["text"], "| ignored:", result["ignored_options"])

    # Stateful program (programs live in a session)
    program = await adapter.handle_command(
        "create_program",
        {
            "signature": "context, question -> answer",
            "modules": ["dspy.ChainOfThought", "dspy.Predict"],
            "session_id": "adapter-demo",
        },
    )
    result = await adapter.handle_command(
        "execute_program",
        {
            "program_id": program["id"],
            "inputs": {"context": "Previous conversation...", "question": "What did we discuss?"},
            "session_id": "adapter-demo",
        },
    )
    print("program stages:", [s["module"] for s in result["stages"]], "->", result["fields"]["answer"])

    # execute_module (handle_execute_module) and the other modules the seed supports
    for module in (
        "dspy.Predict",
        "dspy.ChainOfThought",
        "dspy.ReAct",
        "dspy.ProgramOfThought",
        "dspy.MultiChainComparison",
    ):
        out = await adapter.handle_command(
            "execute_module",
            {"module": module, "signature": "question -> answer", "inputs": {"question": "What is 2+2?"}},
        )
        assert out["fields"]["answer"], module

    # Errors are typed, and a malformed signature or a missing input is caught before DSPy
    for bad in (
        {"module": "dspy.Nope", "signature": "q -> a", "inputs": {"q": "x"}},
        {"module": "dspy.Predict", "signature": "q ->", "inputs": {"q": "x"}},
        {"module": "dspy.Predict", "signature": "context, question -> answer", "inputs": {"question": "x"}},
    ):
        try:
            await adapter.handle_command("execute_module", bad)
        except ValueError as err:
            print("refused:", err)
        else:
            raise AssertionError(f"{bad} was accepted")

    # The architecture seed's discovery and universal caller
    schema = await adapter.handle_command("discover_dspy_schema", {"module_path": "dspy"})
    print(len(schema["classes"]), "DSPy classes, e.g.", ", ".join(sorted(schema["classes"])[:5]))
    print(
        await adapter.handle_command(
            "call_dspy", {"module_path": "dspy", "function_name": "Example", "kwargs": {"question": "q"}}
        )
    )
    print([m["name"] for m in await adapter.handle_command("list_dspy_modules")])
    print("OK")


asyncio.run(main())
