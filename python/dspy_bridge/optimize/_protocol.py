"""The protocol of optimizers that run in a worker: the built-in bayesian (TPE) optimizer and
the ones users register (``SessionContext.register_python_optimizer``).

The host drives every run: it asks the optimizer for a candidate, checks it against the
space's constraints, applies it to the session, scores it with the objective and tells the
optimizer the score. So an optimizer only proposes and learns; it never touches the store.
"""

from __future__ import annotations

import inspect
from typing import Any

from ..spaces import Space
from ..errors import InvalidArgumentError

__all__ = ["BaseOptimizer", "check_optimizer_class", "construct_optimizer"]


class BaseOptimizer:
    """Subclass this (or write any class with the same ``ask``/``tell``) and register it.

    A run constructs one instance in the session's worker::

        optimizer = cls(space, direction="maximize", seed=7, **optimizer_config)

    ``space`` is the compiled :class:`dspy_bridge.config.Space` being searched (one variable
    when a single variable is optimized); ``direction`` and ``seed`` are passed only if the
    constructor accepts them (or ``**kwargs``); every other key of ``optimizer_config`` is
    passed as a keyword argument.

    Then, once per iteration, strictly in turn:

    - ``ask() -> dict | None``: the next candidate, variable name -> value (inactive
      conditional variables left out), or ``None`` when the optimizer has nothing more to
      propose (the run ends "exhausted").
    - ``tell(values, score)``: the objective's score of that candidate, in the user's
      direction (higher is better when maximizing). ``score is None`` means the host
      rejected the candidate without evaluating it: it breaks the space's constraints or
      domains. Propose something else next time.
    - ``close()`` (optional): the run ended (finished, stopped or failed).
    - ``replay(history)`` (optional): a list of ``(values, score)`` already told. When the
      worker holding a run is replaced (crash, recycling), the host constructs the optimizer
      again in the new worker and calls this, so it resumes with what it had learned;
      without it, the optimizer starts afresh.

    Any of the three may be ``async def``; plain methods run in a thread, so a slow
    ``ask`` does not hold up the worker's other calls. An exception fails the run; the host
    reports it typed, with its traceback.
    """

    def __init__(self, space: Space, *, direction: str = "maximize", seed: int = 1) -> None:
        self.space = space
        self.direction = direction
        self.seed = seed

    def ask(self) -> dict[str, Any] | None:
        raise NotImplementedError(f"{type(self).__name__}.ask() is not implemented")

    def tell(self, values: dict[str, Any], score: float | None) -> None:
        raise NotImplementedError(f"{type(self).__name__}.tell() is not implemented")

    def close(self) -> None:
        """Nothing to release by default."""


def check_optimizer_class(cls: Any, what: str = "optimizer_class") -> None:
    """InvalidArgumentError unless ``cls`` is a class with callable ``ask`` and ``tell``."""
    if not inspect.isclass(cls):
        raise InvalidArgumentError(f"{what} must be a class with ask() and tell() methods, got {cls!r}", parameter=what)
    missing = [m for m in ("ask", "tell") if not callable(getattr(cls, m, None))]
    if missing:
        raise InvalidArgumentError(
            f"{what} {cls.__qualname__} has no {' or '.join(m + '()' for m in missing)}: an optimizer proposes with "
            "ask() and learns with tell(values, score) (see dspy_bridge.optimize.BaseOptimizer)",
            parameter=what,
        )


def construct_optimizer(cls: Any, space: Space, direction: str, seed: int, config: dict[str, Any]) -> Any:
    """``cls(space, direction=..., seed=..., **config)``, passing direction and seed only
    when the constructor takes them, so a minimal ``__init__(self, space)`` works."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        params = {}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs = dict(config)
    for key, value in (("direction", direction), ("seed", seed)):
        if key not in kwargs and (takes_any or key in params):
            kwargs[key] = value
    return cls(space, **kwargs)
