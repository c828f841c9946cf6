"""Worker commands for optimizer jobs: ``dspy.optimize`` (a stream: a "started" event,
progress events, and the result last) and ``dspy.optimizers`` (what can be run).

A job is one streaming call on the session's worker, where the program lives. Cancelling the
stream (the host's AbortSignal or ``job.cancel()``) stops the compile at its next LM, module
or metric call; the answer waits up to ``_CANCEL_WAIT_S`` for the thread to stop, well inside
the host's cancel grace, so the worker is never killed for it. The program is replaced (or
saved beside, ``save_as``) only when the compile finished.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any
from collections.abc import AsyncIterator

from ...core.registry import CommandContext, command
from ...errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from .._program_build import ensure_program
from .._programs import Program, SessionPrograms, save_program, session_programs
from .._serialize import plain
from ._job import JobOutcome, JobPlan, plan_job, run_job, started_event
from ._optimizers import describe_optimizers
from ._progress import JobProgress

__all__ = ["dspy_optimize", "dspy_optimizers"]

_CANCEL_WAIT_S = 1.0


def _release(jobs: SessionPrograms, program_id: str, plan: JobPlan) -> None:
    if jobs.jobs.get(program_id) is plan:  # a cancelled job winding down must not free its successor's slot
        del jobs.jobs[program_id]
        jobs.job_tasks.pop(program_id, None)


def _cancel_requested(task: asyncio.Task[Any]) -> bool:
    if task.done():
        return True
    cancelling = getattr(task, "cancelling", None)  # 3.11+
    if cancelling is not None:
        return bool(cancelling())
    return bool(getattr(task, "_must_cancel", False))  # 3.10: set by cancel() until the task runs


@command(name="dspy.optimizers")
def dspy_optimizers() -> list[dict[str, Any]]:
    """The optimizers a job can run, with the parameters each accepts."""
    return describe_optimizers()


@command(name="dspy.optimize")
async def dspy_optimize(
    program_id: str,
    optimizer: str,
    trainset: list,
    ctx: CommandContext,
    metric: Any = None,
    input_keys: list | None = None,
    valset: list | None = None,
    params: dict | None = None,
    lm: dict | None = None,
    prompt_lm: dict | None = None,
    reflection_lm: dict | None = None,
    save_as: str | None = None,
    progress_interval_ms: float = 100.0,
    etag: str | None = None,
    program: dict | None = None,
    install_etag: str | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Compiles a session program with a DSPy optimizer; streams progress; installs the result.
    `etag` and `program`: the stored revision to compile (built here if this worker does not
    hold it); `install_etag`: the tag of the revision the compiled program becomes (the host
    stores the result's `saved` under it)."""
    p = await ensure_program(ctx, program_id, etag, program)
    jobs = session_programs(ctx)  # one job per program at a time, as for variables
    programs = jobs.programs
    if save_as is not None and (not isinstance(save_as, str) or not save_as):
        raise InvalidArgumentError("save_as must be a program id", parameter="save_as")
    if not isinstance(progress_interval_ms, (int, float)) or progress_interval_ms < 0:
        raise InvalidArgumentError(
            "progress_interval_ms must be a non-negative number", parameter="progress_interval_ms"
        )
    holder_task = jobs.job_tasks.get(program_id)
    if program_id in jobs.jobs and holder_task is not None and _cancel_requested(holder_task):
        # The host cancelled the job holding the slot and has told its caller so; that task
        # just has not run since (the cancel and this call can arrive in one read). Its
        # cleanup only discards the old compile, so the slot is free now.
        jobs.jobs[program_id].stop.set()
        _release(jobs, program_id, jobs.jobs[program_id])
    if program_id in jobs.jobs:
        busy = jobs.jobs[program_id].job_id
        raise InvalidArgumentError(
            f"program {program_id!r} is already being optimized ({busy})",
            parameter="program_id",
            details={"job_id": busy},
        )
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    holder: dict[str, JobProgress] = {}
    plan = plan_job(
        program=p.instance,
        signature=p.signature,
        optimizer=optimizer,
        trainset=trainset,
        metric=metric,
        input_keys=input_keys,
        valset=valset,
        params=params,
        lm=lm,
        prompt_lm=prompt_lm,
        reflection_lm=reflection_lm,
        session_id=ctx.session_id,
        loop=loop,
        on_score=lambda score: holder["progress"].metric_called(score),
    )
    progress = JobProgress(
        plan.expected, lambda event: loop.call_soon_threadsafe(events.put_nowait, event), progress_interval_ms / 1000.0
    )
    holder["progress"] = progress
    finished = asyncio.Event()
    outcome_box: list[JobOutcome] = []

    def work() -> None:
        outcome_box.append(run_job(plan, progress))
        loop.call_soon_threadsafe(finished.set)

    jobs.jobs[program_id] = plan
    task = asyncio.current_task()
    if task is not None:
        jobs.job_tasks[program_id] = task
    try:
        yield started_event(plan)
        threading.Thread(target=work, name=f"dspy-optimize-{plan.job_id}", daemon=True).start()
        try:
            while not finished.is_set():
                getter = asyncio.ensure_future(events.get())
                done_waiter = asyncio.ensure_future(finished.wait())
                try:
                    await asyncio.wait({getter, done_waiter}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    done_waiter.cancel()
                    if not getter.done():
                        getter.cancel()
                if getter.done() and not getter.cancelled():
                    yield getter.result()
        except GeneratorExit:
            plan.stop.set()  # closed without cancellation: nothing may be awaited here
            raise
        except BaseException:
            # Cancelled (or the consumer went away): stop the compile; the program was never touched.
            # The host has already answered its caller, who may start the next job at once.
            plan.stop.set()
            _release(jobs, program_id, plan)
            try:
                await asyncio.wait_for(finished.wait(), _CANCEL_WAIT_S)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                pass  # it stops at its next checkpoint; its result is discarded
            raise
        while not events.empty():
            yield events.get_nowait()
        outcome = outcome_box[0]
        if plan.job_id in jobs.orphaned:
            raise NotFoundError(
                f"session {ctx.session_id!r} was deleted while {plan.spec.name} compiled program {program_id!r}; the job was stopped",
                details={"session_id": ctx.session_id, "program_id": program_id, "job_id": plan.job_id},
            )
        if outcome.cancelled:
            raise asyncio.CancelledError("optimization job cancelled")
        if outcome.error is not None:
            raise outcome.error
        final, result = _install(plan, outcome, p, programs, program_id, save_as, progress, install_etag)
        yield final
        yield result
    finally:
        _release(jobs, program_id, plan)
        jobs.orphaned.discard(plan.job_id)


def _install(
    plan: Any,
    outcome: JobOutcome,
    p: Any,
    programs: dict[str, Any],
    program_id: str,
    save_as: str | None,
    progress: JobProgress,
    install_etag: str | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Puts the compiled program in place (on the event loop, so no call sees half of it) and
    describes the result: (the final progress event, the result event)."""
    if programs.get(program_id) is not p:
        raise FailedPreconditionError(
            f"program {program_id!r} was deleted or replaced while {plan.spec.name} ran; the compiled program was discarded",
            details={"program_id": program_id},
        )
    summary = {"optimizer": plan.spec.name, "job_id": plan.job_id, "finished_at": time.time(), **outcome.summary}
    if save_as:
        installed = Program(p.module, p.signature, dict(p.config), outcome.program, dict(p.bindings))
        programs[save_as] = installed
    else:
        p.instance = outcome.program
        installed = p
    installed.optimization = {**summary, **plan.recipe}
    installed.etag = install_etag
    final = progress.snapshot(final=True)
    return final, {
        "type": "result",
        "job_id": plan.job_id,
        "optimizer": plan.spec.name,
        "program_id": save_as or program_id,
        "replaced": not save_as,
        "evaluations": final["evaluations"],
        "best_score": final["best_score"],
        "mean_score": final["mean_score"],
        "lm_calls": final["lm_calls"],
        "elapsed_ms": final["elapsed_ms"],
        "summary": plain(outcome.summary),
        "saved": save_program(installed),
    }
