"""The host-side DSPy API: commands that TypeScript's `bridge.dspy` calls in the workers.

One-off runs and streams of a DSPy module (``_running``), session programs (``_programs``),
discovery and calls into DSPy's public API. Importing this module also registers the
optimizer jobs' commands (``optimizer_jobs.commands``) and DSPex's adapter commands
(``adapter``): the fork server imports this one module for all of them.
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from typing import Any
from collections.abc import AsyncIterator

from ..core.registry import CommandContext, command
from ..errors import AlreadyExistsError, InvalidArgumentError
from ..core._lm_errors import lm_errors
from ..session.worker_state import worker_sessions
from ..tools import default_tool_registry, python_tools_as_dspy, typescript_tools
from . import adapter as _adapter  # noqa: F401 - registers DSPex's adapter commands (check_dspy, execute_module, ...)
from ._programs import Program, describe_program, find_program, save_program, session_programs
from ._running import MODULE_TYPES, build_module, cached_module, call_public, describe, run_module, stream_module
from ._signatures import check_inputs
from .adapter import Pipeline
from .optimizer_jobs import commands as _optimizer_job_commands  # noqa: F401 - registers dspy.optimize, dspy.optimizers
from .optimizer_jobs import knn_restore
from .variable_aware import make_variable_aware

__all__ = ["MODULE_TYPES", "build_module", "lm_errors"]


async def _resolve_tools(names: list[Any], session_id: str) -> list[Any]:
    """Tool names -> dspy.Tool objects: this worker's Python `@tool`s first, then the
    TypeScript tools the session may call (through the bridge service)."""
    if not all(isinstance(n, str) for n in names):
        raise InvalidArgumentError("config.tools must be a list of tool names", parameter="config.tools")
    local = [n for n in names if n in default_tool_registry.names()]
    remote = [n for n in names if n not in local]
    tools = python_tools_as_dspy(names=local) if local else []
    if remote:
        tools += await typescript_tools(session_id or None, names=remote)
    return tools


@command(name="dspy.run")
async def dspy_run(
    module: str,
    signature: str | dict,
    inputs: dict,
    ctx: CommandContext,
    lm: dict | None = None,
    config: dict | None = None,
    usage: bool = True,
    lm_calls: bool = False,
) -> dict[str, Any]:
    """Builds `module` over `signature`, runs it once on `inputs`; returns fields, completions,
    latency, token usage (unless `usage` is false) and, with `lm_calls`, what each LM call received.
    A ReAct's `config.tools` names Python `@tool`s and TypeScript tools. A missing input field
    is an InvalidArgumentError (DSPy itself only warns)."""
    if config and config.get("tools"):
        config = {**config, "tools": await _resolve_tools(list(config["tools"]), ctx.session_id)}
        program = build_module(module, signature, config)
    else:
        program = cached_module(module, signature, config)
    check_inputs(signature, inputs)  # after the module and signature were checked
    return await run_module(program, module.split(".")[-1], inputs, lm, usage=usage, lm_calls=lm_calls)


@command(name="dspy.stream")
async def dspy_stream(
    module: str,
    signature: str | dict,
    inputs: dict,
    ctx: CommandContext,
    lm: dict | None = None,
    config: dict | None = None,
    usage: bool = True,
    lm_calls: bool = False,
) -> AsyncIterator[dict[str, Any]]:
    """Like dspy.run, streaming as it runs: status messages, each output field's tokens as
    the LM streams them (`field` names the signature field), and the prediction last."""
    if config and config.get("tools"):
        config = {**config, "tools": await _resolve_tools(list(config["tools"]), ctx.session_id)}
        program = build_module(module, signature, config)
    else:
        program = cached_module(module, signature, config)
    check_inputs(signature, inputs)  # after the module and signature were checked
    async with aclosing(
        stream_module(program, module.split(".")[-1], inputs, lm, usage=usage, lm_calls=lm_calls)
    ) as items:
        async for item in items:
            yield item


@command(name="dspy.create_program")
async def dspy_create_program(
    program_id: str,
    module: str,
    signature: str | dict,
    ctx: CommandContext,
    config: dict | None = None,
    bindings: dict | None = None,
    replace: bool = False,
    modules: list | None = None,
) -> dict[str, Any]:
    """Creates a program in this session's worker. `bindings` ({attribute: variable}) make it
    variable-aware: before each run it syncs those session variables into every predictor's
    LM settings (temperature, max_tokens, model, …) — with no round trip when nothing changed.
    `modules` (DSPex's multi-module program, module "Pipeline"): those modules run
    in order over the signature, each later one also given the previous one's outputs."""
    programs = session_programs(ctx).programs
    if program_id in programs and not replace:
        raise AlreadyExistsError(f"program {program_id!r} already exists in session {ctx.session_id!r}")
    if modules or module == "Pipeline":
        config = dict(config or {})
        stages = list(modules or config.pop("modules", None) or [])
        config.pop("modules", None)
        if not stages or not all(isinstance(m, str) and m for m in stages):
            raise InvalidArgumentError(
                "modules must be a non-empty list of module names, e.g. ['ChainOfThought', 'Predict']",
                parameter="modules",
            )
        if module not in ("Pipeline", *stages[:1]):
            raise InvalidArgumentError(
                f"give module 'Pipeline' (or none) with modules, not {module!r}", parameter="module"
            )
        instance = Pipeline(signature, stages, config)
        module, config = "Pipeline", {**config, "modules": stages}
    else:
        instance = build_module(module, signature, config)
    if bindings:
        session = await worker_sessions.context(ctx.session_id)
        instance = make_variable_aware(instance, session)
        await instance.bind_to_variables({str(k): str(v) for k, v in bindings.items()})
    programs[program_id] = Program(module, signature, dict(config or {}), instance, dict(bindings or {}))
    return describe_program(program_id, programs[program_id])


# How long a run waits for the session's latest change to reach this worker.
_FRESHNESS_WAIT_S = 2.0


@command(name="dspy.execute_program")
async def dspy_execute_program(
    program_id: str,
    inputs: dict,
    ctx: CommandContext,
    lm: dict | None = None,
    min_revision: int = 0,
    lm_calls: bool = False,
) -> dict[str, Any]:
    """Runs a session program. `min_revision` (sent by the host: the session's latest commit)
    makes a bound program wait until this worker's watch has delivered that change, so a
    variable set just before the call is the one the LM sees."""
    p = find_program(ctx, program_id)
    check_inputs(p.signature, inputs)
    await _await_fresh(ctx, p, min_revision)
    p.runs += 1
    # Bound programs report what each LM call received: the visible proof of the binding.
    return await run_module(p.instance, p.module.split(".")[-1], inputs, lm, lm_calls=bool(p.bindings) or lm_calls)


async def _await_fresh(ctx: CommandContext, p: Program, min_revision: int) -> None:
    """A bound program waits (up to _FRESHNESS_WAIT_S) until this worker's watch has
    delivered the session's revision `min_revision`."""
    if p.bindings and min_revision:
        session = await worker_sessions.context(ctx.session_id)
        try:
            await session.wait_for_revision(min_revision, timeout=_FRESHNESS_WAIT_S)
        except asyncio.TimeoutError:
            pass  # a change this session may not observe never arrives: run with what we have


@command(name="dspy.stream_program")
async def dspy_stream_program(
    program_id: str,
    inputs: dict,
    ctx: CommandContext,
    lm: dict | None = None,
    min_revision: int = 0,
    lm_calls: bool = False,
) -> AsyncIterator[dict[str, Any]]:
    """Streams a session program like dspy.stream (status, each output field's tokens, the
    prediction last), its bound variables synced exactly as for dspy.execute_program."""
    p = find_program(ctx, program_id)
    check_inputs(p.signature, inputs)
    await _await_fresh(ctx, p, min_revision)
    p.runs += 1
    async with aclosing(
        stream_module(p.instance, p.module.split(".")[-1], inputs, lm, lm_calls=bool(p.bindings) or lm_calls)
    ) as items:
        async for item in items:
            yield item


@command(name="dspy.list_programs")
def dspy_list_programs(ctx: CommandContext) -> list[dict[str, Any]]:
    return [describe_program(pid, p) for pid, p in session_programs(ctx).programs.items()]


@command(name="dspy.delete_program")
def dspy_delete_program(program_id: str, ctx: CommandContext) -> bool:
    return session_programs(ctx).programs.pop(program_id, None) is not None


@command(name="dspy.save_program")
def dspy_save_program(program_id: str, ctx: CommandContext) -> dict[str, Any]:
    """The program's definition and learned state (demos, instructions) as JSON-able data."""
    return save_program(find_program(ctx, program_id))


@command(name="dspy.load_program")
async def dspy_load_program(program_id: str, saved: dict, ctx: CommandContext, replace: bool = True) -> dict[str, Any]:
    """Recreates a program from `dspy.save_program` output (JSON state only, never pickle)."""
    for key in ("module", "signature", "state"):
        if key not in saved:
            raise InvalidArgumentError(f"saved program lacks {key!r}", parameter=f"saved.{key}")
    await dspy_create_program(
        program_id,
        saved["module"],
        saved["signature"],
        ctx,
        saved.get("config"),
        saved.get("bindings"),
        replace=replace,
    )
    p = find_program(ctx, program_id)
    try:
        p.instance.load_state(saved["state"])
    except Exception as exc:  # noqa: BLE001 - state from elsewhere
        raise InvalidArgumentError(
            f"saved state does not fit {saved['module']}({saved['signature']!r}): {exc}", parameter="saved.state"
        ) from None
    if isinstance(saved.get("optimization"), dict):
        if saved["optimization"].get("optimizer") == "KNNFewShot":  # neighbours are picked per call: rebuild
            p.instance = knn_restore(p.instance, saved["optimization"])
        p.optimization = dict(saved["optimization"])
    return describe_program(program_id, p)


# -- discovery and the generic call surface ---------------------------------------------------


@command(name="dspy.describe")
def dspy_describe(target: str = "", signature: str = "") -> dict[str, Any]:
    """Schema discovery: the modules on offer (no arguments), a dspy class or function
    (`target`), or a signature's fields (`signature`)."""
    return describe(target, signature)


@command(name="dspy.call")
async def dspy_call(target: str, args: list | None = None, kwargs: dict | None = None, lm: dict | None = None) -> Any:
    """Calls any dspy function or class by its dotted name with plain arguments; the result
    comes back serialized (a Prediction as its fields, objects as their fields or text)."""
    return await call_public(target, args, kwargs, lm)
