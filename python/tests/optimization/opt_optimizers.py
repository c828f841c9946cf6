"""Optimizer classes the Python optimization tests register; the host's workers import this
module too (serve --modules), which is what registration by import path needs."""

from __future__ import annotations

from typing import Any

from dspy_bridge.optimize import BaseOptimizer


class TernarySearch(BaseOptimizer):
    """Ternary search on one float variable: probes two points, keeps the better two thirds."""

    def __init__(self, space: Any, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        var = space.variables[0]
        self.name, self.lo, self.hi = var.name, var.min, var.max
        self.pending: list[float] = []
        self.scores: list[float] = []

    def ask(self) -> dict[str, Any] | None:
        if not self.pending:
            third = (self.hi - self.lo) / 3
            self.pending = [self.lo + third, self.hi - third]
            self.scores = []
        return {self.name: self.pending[len(self.scores)]}

    def tell(self, values: dict[str, Any], score: float | None) -> None:
        self.scores.append(score if score is not None else float("-inf"))
        if len(self.scores) == 2:
            left, right = self.pending
            if self.scores[0] >= self.scores[1]:
                self.hi = right
            else:
                self.lo = left
            self.pending = []


class FailsOnSecondAsk(BaseOptimizer):
    def __init__(self, space: Any, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        self.asked = 0

    def ask(self) -> dict[str, Any]:
        self.asked += 1
        if self.asked == 2:
            raise ZeroDivisionError("the user optimizer divided by zero")
        return {"temperature": 0.3}

    def tell(self, values: dict[str, Any], score: float | None) -> None:
        pass


class NeedsAnOption(BaseOptimizer):
    def __init__(self, space: Any, *, required_option: int, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)

    def ask(self) -> dict[str, Any]:
        return {"temperature": 1.0}

    def tell(self, values: dict[str, Any], score: float | None) -> None:
        pass
