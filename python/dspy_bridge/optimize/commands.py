"""Worker commands behind the optimizers that live in Python (imported by the fork server
before workers fork): ``optimize.open`` / ``ask`` / ``tell`` / ``close`` for a run, and
``optimize.check`` for a class being registered. The host is the only caller."""

from __future__ import annotations


from ..core.registry import CommandContext, command
from ..session.worker_state import worker_sessions
from ._loading import load_class
from ._protocol import check_optimizer_class
from ._runs import open_runs

__all__ = ["ask_command", "check_command", "close_command", "open_command", "tell_command"]


@command(name="optimize.open")
async def open_command(
    run_id: str,
    optimizer: str,
    space: dict,
    direction: str = "maximize",
    seed: int = 1,
    config: dict | None = None,
    class_path: str = "",
    history: list | None = None,
    ctx: CommandContext | None = None,
) -> dict:
    """Constructs the run's optimizer: built in ("bayesian"/"tpe") or the class at ``class_path``;
    ``history`` ({values, score} already told) is replayed when a new worker takes over a run."""
    session_id = ctx.session_id if ctx else ""
    opened = await open_runs.open(
        run_id, optimizer, space, direction, seed, dict(config or {}), class_path, session_id, history
    )
    if session_id:
        # A deleted or expired session's runs end on the host; its optimizers go here.
        worker_sessions.state(session_id).part("optimize.runs", lambda: _SessionRuns(session_id))
    return opened


@command(name="optimize.ask")
async def ask_command(run_id: str) -> dict | None:
    """The next candidate (variable name -> value), or None when the optimizer is done."""
    return await open_runs.ask(run_id)


@command(name="optimize.tell")
async def tell_command(run_id: str, values: dict, score: float | None = None) -> None:
    """The score of the candidate last asked; None: rejected as infeasible, not evaluated."""
    await open_runs.tell(run_id, values, score)


@command(name="optimize.close")
async def close_command(run_id: str) -> bool:
    """Releases the run's optimizer; False if it was not open here."""
    return await open_runs.close(run_id)


@command(name="optimize.check", blocking=True)
def check_command(class_path: str) -> dict:
    """Imports ``class_path`` and checks it has ask() and tell() (for registration)."""
    cls = load_class(class_path)
    check_optimizer_class(cls)
    doc = (cls.__doc__ or "").strip().splitlines()
    return {"class_path": class_path, "description": doc[0] if doc else ""}


class _SessionRuns:
    """The part of a session's state that closes its runs' optimizers when it is released."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id

    def release(self) -> None:
        open_runs.close_session(self.session_id)
