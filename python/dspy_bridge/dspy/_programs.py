"""A session's DSPy programs in this worker, and the optimizer jobs compiling them.

The host keeps every session program in its session store (definition, bindings, compiled
state: what ``save_program`` returns) with a revision; a worker holds built copies, keyed by
program id, as a part of the session's ``SessionState`` (``session.worker_state``): released
with the session, which also stops the jobs still compiling one of them. Each copy carries the
``etag`` of the stored revision it was built from, so a worker that does not hold the revision
a call names builds it from the stored definition (``_program_build.ensure_program``) — on any
host, after a recycle, after another host changed it. State is JSON, never pickle.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from ..core.registry import CommandContext
from ..errors import InvalidArgumentError, NotFoundError
from ..session.worker_state import worker_sessions
from ._serialize import plain

__all__ = ["Program", "SessionPrograms", "describe_program", "find_program", "save_program", "session_programs"]


@dataclass
class Program:
    module: str
    signature: str | dict
    config: dict[str, Any]
    instance: Any
    bindings: dict[str, str] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    runs: int = 0
    optimization: dict[str, Any] | None = None
    """What the optimizer job that compiled it did (optimizer_jobs), saved with its state."""
    etag: str | None = None
    """The stored revision this copy is (the host's tag, unique to its content); None: not stored."""


class SessionPrograms:
    """One session's programs (``programs``: id -> Program) and its optimizer jobs: one job
    per program at a time (``jobs``: program id -> the job's plan, ``job_tasks``: the task
    running it), and the jobs stopped because the session went away (``orphaned`` job ids)."""

    def __init__(self) -> None:
        self.programs: dict[str, Program] = {}
        self.jobs: dict[str, Any] = {}
        self.job_tasks: dict[str, asyncio.Task[Any]] = {}
        self.orphaned: set[str] = set()

    def release(self) -> None:
        """The session is gone, and its programs with it: a compile left running would spend LM
        calls until it ends, for a result nobody can install."""
        for plan in list(self.jobs.values()):
            self.orphaned.add(plan.job_id)
            plan.stop.set()


def session_programs(ctx: CommandContext) -> SessionPrograms:
    if not ctx.session_id:
        raise InvalidArgumentError("session programs need a session: call with { session }", parameter="session")
    return worker_sessions.state(ctx.session_id).part("dspy.programs", SessionPrograms)


def find_program(ctx: CommandContext, program_id: str) -> Program:
    programs = session_programs(ctx).programs
    try:
        return programs[program_id]
    except KeyError:
        raise NotFoundError(
            f"program {program_id!r} not found in session {ctx.session_id!r} (this worker holds: "
            f"{', '.join(programs) or 'none'})",
            details={"program_id": program_id},
        ) from None


def describe_program(program_id: str, p: Program) -> dict[str, Any]:
    return {
        "program_id": program_id,
        "module": p.module,
        "signature": p.signature,
        "config": plain(p.config),
        "bindings": dict(p.bindings),
        "runs": p.runs,
        "created_at": p.created_at,
        "etag": p.etag,
    }


def save_program(p: Program) -> dict[str, Any]:
    """The program's definition and learned state (demos, instructions) as JSON-able data."""
    saved = {
        "module": p.module,
        "signature": p.signature,
        "config": plain(p.config),
        "bindings": dict(p.bindings),
        "state": plain(p.instance.dump_state()),
    }
    if p.optimization:
        saved["optimization"] = plain(p.optimization)
    return saved
