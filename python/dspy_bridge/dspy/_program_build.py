"""Building a session program in this worker: from a definition (``dspy.create_program``),
from saved JSON (``dspy.load_program``), and from the host's stored revision when a call names
one this worker does not hold (``ensure_program``: a request that landed on another host's
worker, a recycled worker, a program another host changed since).

The saved form is what ``_programs.save_program`` returns: module, signature, config,
bindings, DSPy's ``dump_state()`` and, after an optimizer job, ``optimization``. JSON only,
never pickle: DSPy's ``load_state`` takes the plain state.
"""

from __future__ import annotations

from typing import Any

from ..core.registry import CommandContext
from ..errors import AlreadyExistsError, FailedPreconditionError, InvalidArgumentError
from ..session.worker_state import worker_sessions
from ._programs import Program, find_program, session_programs
from ._running import build_module
from .adapter import Pipeline
from .optimizer_jobs import knn_restore
from .variable_aware import make_variable_aware

__all__ = ["create_program", "ensure_program", "load_program"]


async def create_program(
    ctx: CommandContext,
    program_id: str,
    module: str,
    signature: str | dict,
    config: dict | None = None,
    bindings: dict | None = None,
    *,
    replace: bool = False,
    modules: list | None = None,
    etag: str | None = None,
) -> Program:
    """Builds a program and puts it in the session's programs (see ``dspy.create_program``)."""
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
    program = Program(module, signature, dict(config or {}), instance, dict(bindings or {}), etag=etag)
    programs[program_id] = program
    return program


async def load_program(
    ctx: CommandContext, program_id: str, saved: Any, *, replace: bool = True, etag: str | None = None
) -> Program:
    """Rebuilds a program from its saved form: the definition, then DSPy's state (demos,
    instructions), then what an optimizer job left that is no state (KNNFewShot's trainset)."""
    if not isinstance(saved, dict):
        raise InvalidArgumentError("a saved program must be an object", parameter="saved")
    for key in ("module", "signature", "state"):
        if key not in saved:
            raise InvalidArgumentError(f"saved program lacks {key!r}", parameter=f"saved.{key}")
    p = await create_program(
        ctx,
        program_id,
        saved["module"],
        saved["signature"],
        saved.get("config"),
        saved.get("bindings"),
        replace=replace,
        etag=etag,
    )
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
    return p


async def ensure_program(ctx: CommandContext, program_id: str, etag: str | None, definition: dict | None) -> Program:
    """The session's program at the stored revision tagged ``etag``: this worker's copy when it
    holds that revision, else built from ``definition`` (the stored form). Without the
    definition, a miss is a FailedPreconditionError whose details say
    ``program_definition_needed``: the host then sends the call again with it, so a call that
    hits (the usual case) carries only the tag. Without ``etag`` (a caller that keeps no
    store), the program this worker holds."""
    if etag is None:
        return find_program(ctx, program_id)
    held = session_programs(ctx).programs.get(program_id)
    if held is not None and held.etag == etag:
        return held
    if definition is None:
        raise FailedPreconditionError(
            f"program {program_id!r} of session {ctx.session_id!r} is not built in this worker at revision "
            f"{etag!r}: send its definition",
            details={"program_id": program_id, "etag": etag, "program_definition_needed": True},
        )
    return await load_program(ctx, program_id, definition, replace=True, etag=etag)
