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
from ..errors import InvalidArgumentError
from ..core._lm_errors import lm_errors
from ..session.worker_state import worker_sessions
from ..tools import default_tool_registry, python_tools_as_dspy, typescript_tools
from . import adapter as _adapter  # noqa: F401 - registers DSPex's adapter commands (check_dspy, execute_module, ...)
from ._program_build import create_program, ensure_program, load_program
from ._programs import Program, describe_program, find_program, save_program, session_programs
from ._running import MODULE_TYPES, build_module, cached_module, call_public, describe, run_module, stream_module
from ._signatures import check_inputs
from .optimizer_jobs import commands as _optimizer_job_commands  # noqa: F401 - registers dspy.optimize, dspy.optimizers

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
    etag: str | None = None,
) -> dict[str, Any]:
    """Creates a program in this session's worker. `bindings` ({attribute: variable}) make it
    variable-aware: before each run it syncs those session variables into every predictor's
    LM settings (temperature, max_tokens, model, …) — with no round trip when nothing changed.
    `modules` (DSPex's multi-module program, module "Pipeline"): those modules run
    in order over the signature, each later one also given the previous one's outputs.
    `etag`: the tag of the stored revision it becomes (the host stores `saved`, returned too)."""
    p = await create_program(
        ctx, program_id, module, signature, config, bindings, replace=replace, modules=modules, etag=etag
    )
    return {**describe_program(program_id, p), "saved": save_program(p)}


# How long a run waits for the session's latest change to reach this worker.
_FRESHNESS_WAIT_S = 2.0


async def _runnable(
    ctx: CommandContext,
    program_id: str,
    inputs: dict,
    min_revision: int,
    etag: str | None,
    program: dict | None,
) -> Program:
    """The program a run uses, built from its stored revision if this worker does not hold it,
    its inputs checked, its bound variables fresh; counted as a run."""
    p = await ensure_program(ctx, program_id, etag, program)
    check_inputs(p.signature, inputs)
    await _await_fresh(ctx, p, min_revision)
    p.runs += 1
    return p


@command(name="dspy.execute_program")
async def dspy_execute_program(
    program_id: str,
    inputs: dict,
    ctx: CommandContext,
    lm: dict | None = None,
    min_revision: int = 0,
    lm_calls: bool = False,
    etag: str | None = None,
    program: dict | None = None,
) -> dict[str, Any]:
    """Runs a session program. `min_revision` (sent by the host: the session's latest commit)
    makes a bound program wait until this worker's watch has delivered that change, so a
    variable set just before the call is the one the LM sees. `etag` names the stored revision
    to run; `program` is its stored form, sent when this worker said it does not hold it."""
    p = await _runnable(ctx, program_id, inputs, min_revision, etag, program)
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
    etag: str | None = None,
    program: dict | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Streams a session program like dspy.stream (status, each output field's tokens, the
    prediction last), its bound variables synced exactly as for dspy.execute_program."""
    p = await _runnable(ctx, program_id, inputs, min_revision, etag, program)
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
async def dspy_load_program(
    program_id: str, saved: dict, ctx: CommandContext, replace: bool = True, etag: str | None = None
) -> dict[str, Any]:
    """Recreates a program from `dspy.save_program` output (JSON state only, never pickle).
    Returns its description and its saved form as built here (what the host stores)."""
    p = await load_program(ctx, program_id, saved, replace=replace, etag=etag)
    return {**describe_program(program_id, p), "saved": save_program(p)}


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
