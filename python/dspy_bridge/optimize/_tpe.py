"""The built-in "bayesian" optimizer: Optuna's TPE sampler through its ask/tell interface.

Each variable of the space becomes an Optuna distribution (float and integer with their
bounds and log scale, choice and boolean as categorical, constants fixed), suggested
define-by-run so a conditional variable is only suggested when its ``active_when`` holds for
the values suggested before it. Candidates the host rejects as infeasible are told as pruned
trials with a positive constraint value, which the constrained TPE (c-TPE) ranks below every
feasible trial, so the sampler learns to stay out of the infeasible region.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any

from ..spaces import Space, is_active
from ..errors import InvalidArgumentError
from ._protocol import BaseOptimizer

__all__ = ["TPEOptimizer", "TPE_OPTIONS"]

_VIOLATION = "dspy_bridge.violation"

TPE_OPTIONS = (
    "n_startup_trials",
    "n_initial_points",
    "n_ei_candidates",
    "multivariate",
    "consider_endpoints",
    "acquisition_function",
    "xi",
)
"""Keys of ``optimizer_config`` the bayesian optimizer takes. DSPex's Gaussian-process
options map onto TPE's equivalents:

* ``n_initial_points`` is ``n_startup_trials`` (random candidates before the model is used);
* ``acquisition_function``: ``"ei"`` (expected improvement) or ``"pi"`` (probability of
  improvement). TPE proposes the candidate with the highest ratio ``l(x)/g(x)`` of its "good"
  and "bad" densities, and under TPE's model both EI and PI grow with that ratio (Bergstra et
  al., 2011), so both are what TPE does. Confidence-bound criteria (``"ucb"``, ``"lcb"``,
  ``"gp_hedge"``) have no TPE form and are refused;
* ``xi`` (≥ 0): EI's exploration margin, "count only improvements by more than xi". TPE's
  counterpart is the share of trials it models as good, ``gamma`` (10% by default): the
  larger it is, the less greedily the next candidate hugs the best ones. ``xi`` widens it to
  ``10% + xi`` of the trials (at most 50%, at most 25 trials, Optuna's cap). (Optuna 4.9
  deprecates setting ``gamma``, for removal in 6.0; the pinned 4.9 honours it.)"""

_ACQUISITIONS = ("ei", "pi")


def _gamma(xi: float, n: int) -> int:
    """TPE's number of "good" trials among ``n``, widened by ``xi`` (see TPE_OPTIONS)."""
    return min(int(math.ceil(round(min(0.1 + xi, 0.5) * n, 9))), 25)


def _constraint_values(trial: Any) -> list[float]:
    return [float(trial.user_attrs.get(_VIOLATION, 0.0))]


def _sampler_options(config: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(config) - set(TPE_OPTIONS))
    if unknown:
        raise InvalidArgumentError(
            f"the bayesian optimizer has no option {', '.join(repr(k) for k in unknown)} (options: {', '.join(TPE_OPTIONS)})",
            parameter=f"optimizer_config.{unknown[0]}",
        )
    acquisition = config.get("acquisition_function", "ei")
    if not isinstance(acquisition, str) or acquisition.lower() not in _ACQUISITIONS:
        raise InvalidArgumentError(
            "the bayesian optimizer (TPE) ranks candidates by its density ratio l(x)/g(x), which maximizes expected "
            f"improvement and probability of improvement alike: acquisition_function must be 'ei' or 'pi', got {acquisition!r} "
            "(confidence bounds have no TPE form)",
            parameter="optimizer_config.acquisition_function",
        )
    if "n_startup_trials" in config and "n_initial_points" in config:
        raise InvalidArgumentError(
            "give n_startup_trials or n_initial_points, not both", parameter="optimizer_config.n_initial_points"
        )
    options: dict[str, Any] = {"multivariate": True}
    startup = config.get("n_startup_trials", config.get("n_initial_points"))
    if startup is not None:
        if not isinstance(startup, int) or isinstance(startup, bool) or startup < 1:
            raise InvalidArgumentError(
                f"n_startup_trials must be a positive integer, got {startup!r}",
                parameter="optimizer_config.n_startup_trials",
            )
        options["n_startup_trials"] = startup
    if "n_ei_candidates" in config:
        n = config["n_ei_candidates"]
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise InvalidArgumentError(
                f"n_ei_candidates must be a positive integer, got {n!r}", parameter="optimizer_config.n_ei_candidates"
            )
        options["n_ei_candidates"] = n
    if "xi" in config:
        xi = config["xi"]
        if isinstance(xi, bool) or not isinstance(xi, (int, float)) or not 0 <= xi < float("inf"):
            raise InvalidArgumentError(f"xi must be a finite number >= 0, got {xi!r}", parameter="optimizer_config.xi")
        options["gamma"] = functools.partial(_gamma, float(xi))
    for flag in ("multivariate", "consider_endpoints"):
        if flag in config:
            if not isinstance(config[flag], bool):
                raise InvalidArgumentError(
                    f"{flag} must be a boolean, got {config[flag]!r}", parameter=f"optimizer_config.{flag}"
                )
            options[flag] = config[flag]
    return options


class TPEOptimizer(BaseOptimizer):
    """Optuna TPE over a configuration space; seeded, so the same scores give the same candidates."""

    def __init__(self, space: Space, *, direction: str = "maximize", seed: int = 1, **config: Any) -> None:
        super().__init__(space, direction=direction, seed=seed)
        options = _sampler_options(config)
        import optuna  # imported on first use: most workers never run a bayesian optimization

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        conditional = any(v.active_when is not None for v in space.variables)
        with warnings.catch_warnings():
            # multivariate, group and constraints_func are flagged experimental by Optuna; gamma
            # (set by xi) is deprecated since Optuna 4.9 (removal planned for 6.0; 4.9 is pinned)
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            warnings.filterwarnings("ignore", message=".*`gamma` has been deprecated", category=FutureWarning)
            sampler = optuna.samplers.TPESampler(
                seed=seed,
                group=options["multivariate"] and conditional,
                constraints_func=_constraint_values if space.constraints else None,
                **options,
            )
        self._optuna = optuna
        self._study = optuna.create_study(direction=direction, sampler=sampler)
        self._pending: Any | None = None

    def _distribution(self, var: Any) -> Any:
        """The distribution _suggest draws ``var`` from (replayed trials must match it)."""
        d = self._optuna.distributions
        if var.type == "float":
            return d.FloatDistribution(var.min, var.max, log=var.log)
        if var.type == "integer":
            return d.IntDistribution(int(var.min), int(var.max), log=var.log)
        if var.type in ("choice", "boolean"):
            return d.CategoricalDistribution(list(var.values))
        return None  # a constant: not a parameter

    def _suggest(self, trial: Any) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for var in self.space.variables:
            if not is_active(var, values):
                continue
            if var.type == "float":
                values[var.name] = trial.suggest_float(var.name, var.min, var.max, log=var.log)
            elif var.type == "integer":
                values[var.name] = trial.suggest_int(var.name, int(var.min), int(var.max), log=var.log)
            elif var.type in ("choice", "boolean"):
                values[var.name] = trial.suggest_categorical(var.name, list(var.values))
            else:
                values[var.name] = var.value
        return values

    def replay(self, history: list[tuple[dict[str, Any], float | None]]) -> None:
        """Rebuilds the study from the candidates already told (a new worker took over the run)."""
        from optuna.samplers._base import _CONSTRAINTS_KEY  # here, as optuna itself (see ask)

        constrained = bool(self.space.constraints)
        for values, score in history:
            params, dists = {}, {}
            for var in self.space.variables:
                dist = self._distribution(var)
                if dist is not None and var.name in values:
                    params[var.name], dists[var.name] = values[var.name], dist
            feasible = score is not None
            trial = self._optuna.trial.create_trial(
                params=params,
                distributions=dists,
                value=float(score) if feasible else None,
                state=self._optuna.trial.TrialState.COMPLETE if feasible else self._optuna.trial.TrialState.PRUNED,
                user_attrs={} if feasible else {_VIOLATION: 1.0},
                system_attrs={_CONSTRAINTS_KEY: (0.0 if feasible else 1.0,)} if constrained else {},
            )
            self._study.add_trial(trial)

    def ask(self) -> dict[str, Any]:
        if self._pending is not None:  # never told: the host moved on, so it counts as failed
            self._study.tell(self._pending, state=self._optuna.trial.TrialState.FAIL)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", self._optuna.exceptions.ExperimentalWarning)
            trial = self._study.ask()
            values = self._suggest(trial)
        self._pending = trial
        return values

    def tell(self, values: dict[str, Any], score: float | None) -> None:
        trial, self._pending = self._pending, None
        if trial is None:
            raise InvalidArgumentError("tell() without a candidate from ask()", parameter="values")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", self._optuna.exceptions.ExperimentalWarning)
            if score is None:
                trial.set_user_attr(_VIOLATION, 1.0)
                self._study.tell(trial, state=self._optuna.trial.TrialState.PRUNED)
            else:
                self._study.tell(trial, float(score))

    @property
    def study(self) -> Any:
        """The Optuna study (inspection and tests)."""
        return self._study
