"""The built-in "gradient" optimizer: gradient ascent (or descent) on a black-box objective.

The objective is a tool that returns a score, not a gradient, so the gradient is estimated
from scores, then a step is taken along it:

* ``method="spsa"`` (default): simultaneous perturbation stochastic approximation. Each step
  perturbs every numeric variable at once by ``±c_k`` (a random sign per variable) and
  evaluates the two candidates ``x + c_k·Δ`` and ``x - c_k·Δ``: two evaluations per step,
  whatever the number of variables.
* ``method="finite_difference"``: central differences, one variable at a time (``x ± c_k·e_i``):
  ``2·d`` evaluations per step for ``d`` variables, an exact-in-the-limit gradient.

Variables move in a normalized coordinate ``u ∈ [0, 1]`` (``min``→0, ``max``→1, on a log
scale for ``log`` variables), so one ``learning_rate`` suits variables of any range. The
gain sequences are Spall's: ``a_k = learning_rate / (k + 1)^0.602`` and ``c_k = perturbation
/ (k + 1)^0.101``. Objectives have no known scale, so each coordinate's gradient is divided
by its running root mean square (as RMSProp does): the first step moves every coordinate by
``a_k``, later ones by ``a_k`` times the gradient relative to its recent size. Steps are
clipped to the domain. Integer variables are rounded (their perturbation is at least one
unit, so the two sides differ). Choice, boolean and constant variables are not
differentiable: they keep their starting values.

The run starts from ``initial`` (the host passes the values set when the run starts), else a
variable's ``default``, else the middle of its range. Every evaluated candidate is a point
near the path, and the host keeps the best one, as for any optimizer. A rejected candidate
(``score is None``: it broke a constraint) makes the step be skipped; the next step uses
smaller perturbations.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any

from ..spaces import Space, is_active
from ..errors import InvalidArgumentError
from ._protocol import BaseOptimizer

__all__ = ["GRADIENT_OPTIONS", "GradientOptimizer"]

GRADIENT_OPTIONS = ("method", "learning_rate", "perturbation", "initial")
_METHODS = ("spsa", "finite_difference")
_ALPHA, _GAMMA, _DECAY = 0.602, 0.101, 0.9


def _positive(name: str, value: Any, upper: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= upper:
        raise InvalidArgumentError(
            f"{name} must be a number in (0, {upper:g}], got {value!r}", parameter=f"optimizer_config.{name}"
        )
    return float(value)


class GradientOptimizer(BaseOptimizer):
    """SPSA or finite-difference gradient steps over the numeric variables of a space."""

    def __init__(
        self,
        space: Space,
        *,
        direction: str = "maximize",
        seed: int = 1,
        method: str = "spsa",
        learning_rate: float = 0.1,
        perturbation: float = 0.05,
        initial: Any = None,
    ) -> None:
        super().__init__(space, direction=direction, seed=seed)
        if method not in _METHODS:
            raise InvalidArgumentError(
                f"method must be one of {', '.join(_METHODS)}, got {method!r}", parameter="optimizer_config.method"
            )
        self.method = method
        self.learning_rate = _positive("learning_rate", learning_rate, 1.0)
        self.perturbation = _positive("perturbation", perturbation, 0.5)
        self._numeric = [v for v in space.variables if v.type in ("float", "integer") and v.max > v.min]
        if not self._numeric:
            raise InvalidArgumentError(
                "the gradient optimizer needs a float or integer variable with a range (min < max) to move; "
                "use 'bayesian', 'random' or 'grid' for choices and booleans",
                parameter="optimizer",
            )
        if initial is not None and not isinstance(initial, Mapping):
            if len(space.variables) != 1:
                raise InvalidArgumentError(
                    "initial must be a dict of variable name -> value", parameter="optimizer_config.initial"
                )
            initial = {space.variables[0].name: initial}
        start = dict(initial or {})
        self._rng = random.Random(seed)
        self._x = [self._start_u(v, start) for v in self._numeric]
        self._fixed = {v.name: self._start_value(v, start) for v in space.variables if v not in self._numeric}
        self._v = [0.0] * len(self._x)  # running mean square of each coordinate's gradient
        self._k = 0  # steps taken (or skipped)
        self._queue: list[list[float]] = []  # candidates of the current step, in normalized coordinates
        self._told: list[tuple[list[float], float | None]] = []
        self._asked: list[float] | None = None

    # -- coordinates -----------------------------------------------------------------------

    @staticmethod
    def _bounds(var: Any) -> tuple[float, float]:
        if var.log:
            return math.log(var.min), math.log(var.max)
        return float(var.min), float(var.max)

    def _to_u(self, var: Any, value: float) -> float:
        lo, hi = self._bounds(var)
        x = math.log(value) if var.log else float(value)
        return min(1.0, max(0.0, (x - lo) / (hi - lo)))

    def _from_u(self, var: Any, u: float) -> Any:
        lo, hi = self._bounds(var)
        x = lo + min(1.0, max(0.0, u)) * (hi - lo)
        value = math.exp(x) if var.log else x
        if var.type == "integer":
            return int(min(var.max, max(var.min, round(value))))
        return min(float(var.max), max(float(var.min), value))

    def _start_u(self, var: Any, start: dict[str, Any]) -> float:
        for value in (start.get(var.name), var.default if var.has_default else None):
            if isinstance(value, (int, float)) and not isinstance(value, bool) and var.min <= value <= var.max:
                return self._to_u(var, value)
        return 0.5

    @staticmethod
    def _start_value(var: Any, start: dict[str, Any]) -> Any:
        if var.type == "constant":
            return var.value
        value = start.get(var.name)
        if var.values and value in var.values:
            return value
        if var.has_default:
            return var.default
        return var.values[0] if var.values else var.value

    def _c(self) -> float:
        return self.perturbation / (self._k + 1) ** _GAMMA

    def _unit(self, i: int) -> float:
        """The smallest perturbation that changes variable ``i`` (one unit of an integer)."""
        var = self._numeric[i]
        if var.type != "integer":
            return 0.0
        lo, hi = self._bounds(var)
        if var.log:
            return (math.log(var.min + 1) - lo) / (hi - lo)
        return 1.0 / (hi - lo)

    def _values(self, u: list[float]) -> dict[str, Any]:
        numeric = {v.name: self._from_u(v, x) for v, x in zip(self._numeric, u)}
        values: dict[str, Any] = {}
        for var in self.space.variables:
            if not is_active(var, values):
                continue
            values[var.name] = numeric[var.name] if var.name in numeric else self._fixed[var.name]
        return values

    # -- the step --------------------------------------------------------------------------

    def _plan(self) -> None:
        c = self._c()
        d = len(self._x)
        if self.method == "spsa":
            delta = [self._rng.choice((-1.0, 1.0)) for _ in range(d)]
            c_i = [max(c, self._unit(i)) for i in range(d)]
            plus = [min(1.0, max(0.0, x + ci * s)) for x, ci, s in zip(self._x, c_i, delta)]
            minus = [min(1.0, max(0.0, x - ci * s)) for x, ci, s in zip(self._x, c_i, delta)]
            self._queue = [plus, minus]
        else:
            self._queue = []
            for i in range(d):
                ci = max(c, self._unit(i))
                for sign in (1.0, -1.0):
                    u = list(self._x)
                    u[i] = min(1.0, max(0.0, u[i] + sign * ci))
                    self._queue.append(u)

    def _step(self) -> None:
        told, self._told = self._told, []
        self._k += 1
        if any(score is None for _, score in told):
            return  # a side was infeasible: no estimate this time
        sign = 1.0 if self.direction == "maximize" else -1.0
        d = len(self._x)
        grad = [0.0] * d
        pairs = [(told[0], told[1])] if self.method == "spsa" else [(told[2 * i], told[2 * i + 1]) for i in range(d)]
        for n, ((u_plus, y_plus), (u_minus, y_minus)) in enumerate(pairs):
            dy = sign * (float(y_plus) - float(y_minus))  # type: ignore[arg-type]
            coords = range(d) if self.method == "spsa" else (n,)
            for i in coords:
                du = u_plus[i] - u_minus[i]
                if du != 0:
                    grad[i] = dy / du
        a = self.learning_rate / self._k**_ALPHA
        for i, g in enumerate(grad):
            self._v[i] = _DECAY * self._v[i] + (1 - _DECAY) * g * g
            scale = math.sqrt(self._v[i] / (1 - _DECAY**self._k))
            if scale > 0:
                self._x[i] = min(1.0, max(0.0, self._x[i] + a * g / scale))

    # -- ask / tell ------------------------------------------------------------------------

    def ask(self) -> dict[str, Any]:
        if not self._queue:
            self._plan()
        self._asked = self._queue.pop(0)
        return self._values(self._asked)

    def tell(self, values: dict[str, Any], score: float | None) -> None:
        if self._asked is None:
            raise InvalidArgumentError("tell() without a candidate from ask()", parameter="values")
        self._told.append((self._asked, score))
        self._asked = None
        if not self._queue:
            self._step()

    def replay(self, history: list[tuple[dict[str, Any], float | None]]) -> None:
        """Rebuilds the state from the candidates already told (same seed: same candidates)."""
        for values, score in history:
            self.ask()
            self.tell(values, score)

    @property
    def position(self) -> dict[str, Any]:
        """Where the steps have led (the center of the next perturbations)."""
        return self._values(self._x)
