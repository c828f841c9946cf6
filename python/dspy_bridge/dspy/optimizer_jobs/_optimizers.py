"""The eight DSPy optimizers a job can run, what each needs, and how many metric calls to
expect (an estimate where DSPy decides as it goes; the final progress event gives the count).

Parameters from the host pass through to DSPy by name: those of the optimizer's constructor
go there, those of its ``compile`` go there, anything else is refused naming the parameter.
The job supplies the metric, the data, the student and the LMs itself.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dspy.teleprompt import BootstrapFewShot
from dspy.teleprompt.gepa.gepa import AUTO_RUN_SETTINGS as GEPA_AUTO_RUN_SETTINGS
from dspy.teleprompt.mipro_optimizer_v2 import AUTO_RUN_SETTINGS as MIPRO_AUTO_RUN_SETTINGS

from ...errors import FailedPreconditionError, InvalidArgumentError

__all__ = ["OPTIMIZERS", "OptimizerSpec", "optimizer_spec", "split_params"]

# Supplied by the job; refusing them from the host keeps a caller from smuggling objects in.
_SUPPLIED = {
    "metric",
    "student",
    "teacher",
    "trainset",
    "valset",
    "prompt_model",
    "task_model",
    "reflection_lm",
    "vectorizer",
    "self",
}
# Things a worker must not do on a caller's say-so (write files, reach a tracking service).
_REFUSED = {
    "log_dir",
    "use_wandb",
    "wandb_api_key",
    "wandb_init_kwargs",
    "use_mlflow",
    "requires_permission_to_run",
    "instruction_proposer",
    "code_proposer",
    "component_selector_fn",
    "restrict",
}


@dataclass(frozen=True)
class OptimizerSpec:
    name: str
    class_path: str
    metric: str  # "required", "optional", "none"
    uses_prompt_lm: bool = False
    uses_reflection_lm: bool = False
    needs_package: str | None = None
    extra_params: tuple[str, ...] = ()
    note: str = ""

    def cls(self) -> Any:
        module, _, attr = self.class_path.rpartition(".")
        return getattr(importlib.import_module(module), attr)

    def accepted(self) -> tuple[list[str], list[str]]:
        """(constructor params, compile params) the host may give."""
        cls = self.cls()
        init = [p for p in _named(cls.__init__) if p not in _SUPPLIED | _REFUSED]
        if self.name == "KNNFewShot":  # its **kwargs go to BootstrapFewShot
            init += [p for p in _named(BootstrapFewShot.__init__) if p not in _SUPPLIED | _REFUSED | set(init)]
        init += list(self.extra_params)
        comp = [p for p in _named(cls.compile) if p not in _SUPPLIED | _REFUSED]
        return init, comp


def _named(fn: Any) -> list[str]:
    sig = inspect.signature(fn)
    return [
        p.name for p in sig.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != "self"
    ]


OPTIMIZERS: dict[str, OptimizerSpec] = {
    s.name: s
    for s in (
        OptimizerSpec(
            "LabeledFewShot",
            "dspy.teleprompt.LabeledFewShot",
            "none",
            note="k labeled demos from the trainset; no metric, no LM calls",
        ),
        OptimizerSpec("BootstrapFewShot", "dspy.teleprompt.BootstrapFewShot", "optional"),
        OptimizerSpec(
            "BootstrapFewShotWithRandomSearch", "dspy.teleprompt.BootstrapFewShotWithRandomSearch", "required"
        ),
        OptimizerSpec("MIPROv2", "dspy.teleprompt.MIPROv2", "required", uses_prompt_lm=True, needs_package="optuna"),
        OptimizerSpec("COPRO", "dspy.teleprompt.COPRO", "required", uses_prompt_lm=True),
        OptimizerSpec("GEPA", "dspy.teleprompt.GEPA", "required", uses_reflection_lm=True),
        OptimizerSpec("SIMBA", "dspy.teleprompt.SIMBA", "required", uses_prompt_lm=True),
        OptimizerSpec(
            "KNNFewShot",
            "dspy.teleprompt.KNNFewShot",
            "optional",
            extra_params=("embedder",),
            note="demos picked per call from the k nearest trainset examples; embedder 'hashing' (default, local) or 'pkg.module:function'",
        ),
    )
}

_ALIASES = {name.lower(): name for name in OPTIMIZERS} | {
    "random_search": "BootstrapFewShotWithRandomSearch",
    "mipro": "MIPROv2",
    "miprov2": "MIPROv2",
}


def optimizer_spec(name: Any) -> OptimizerSpec:
    if not isinstance(name, str):
        raise InvalidArgumentError("optimizer must be a name", parameter="optimizer")
    key = name.split(".")[-1]
    spec = OPTIMIZERS.get(key) or OPTIMIZERS.get(_ALIASES.get(key.lower(), ""))
    if spec is None:
        raise InvalidArgumentError(
            f"unknown optimizer {name!r}; available: {', '.join(OPTIMIZERS)}",
            parameter="optimizer",
            details={"available": list(OPTIMIZERS)},
        )
    if spec.needs_package and importlib.util.find_spec(spec.needs_package) is None:
        raise FailedPreconditionError(
            f"{spec.name} needs the Python package {spec.needs_package!r}, which is not installed in the workers "
            f"(DSPy imports it for its Bayesian search); add it to the worker environment",
            details={"optimizer": spec.name, "missing_package": spec.needs_package},
        )
    return spec


def split_params(spec: OptimizerSpec, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    init_names, compile_names = spec.accepted()
    init: dict[str, Any] = {}
    comp: dict[str, Any] = {}
    for key, value in params.items():
        if key in _SUPPLIED:
            raise InvalidArgumentError(
                f"params.{key}: {spec.name}'s {key} is supplied by the job (give metric, trainset, valset, lm, promptLm or reflectionLm instead)",
                parameter=f"params.{key}",
            )
        if key in _REFUSED:
            raise InvalidArgumentError(f"params.{key} is not accepted by optimizer jobs", parameter=f"params.{key}")
        if key in init_names:
            init[key] = value
        elif key in compile_names:
            comp[key] = value
        else:
            raise InvalidArgumentError(
                f"{spec.name} has no parameter {key!r} (constructor: {', '.join(init_names)}; compile: {', '.join(compile_names) or 'none'})",
                parameter=f"params.{key}",
            )
    return init, comp


# -- expected metric calls ------------------------------------------------------------------


def expected_calls(
    spec: OptimizerSpec,
    optimizer: Any,
    init: dict[str, Any],
    comp: dict[str, Any],
    n_train: int,
    n_val: int | None,
    n_predictors: int,
) -> int | None:
    """How many metric calls the compile will make (an upper estimate; None if unknowable)."""
    estimate: Callable[..., int | None] = _ESTIMATES.get(spec.name, lambda *a: None)
    try:
        return estimate(optimizer, init, comp, n_train, n_val, n_predictors)
    except Exception:  # noqa: BLE001 - an estimate must never fail a job
        return None


def _bootstrap(o: Any, init: dict[str, Any], comp: dict[str, Any], n_train: int, n_val: int | None, n_pred: int) -> int:
    return n_train * int(getattr(o, "max_rounds", 1)) if getattr(o, "metric", None) is not None else 0


def _random_search(
    o: Any, init: dict[str, Any], comp: dict[str, Any], n_train: int, n_val: int | None, n_pred: int
) -> int:
    candidates = int(o.num_candidate_sets)
    val = n_val if n_val is not None else n_train
    return (candidates + 3) * val + (candidates + 1) * n_train * int(o.max_rounds)


def _copro(o: Any, init: dict[str, Any], comp: dict[str, Any], n_train: int, n_val: int | None, n_pred: int) -> int:
    return n_pred * int(o.depth) * int(o.breadth) * n_train


def _simba(o: Any, init: dict[str, Any], comp: dict[str, Any], n_train: int, n_val: int | None, n_pred: int) -> int:
    steps, bsize, cands = int(o.max_steps), int(o.bsize), int(o.num_candidates)
    return steps * bsize * cands + steps * bsize * (cands + 1) + min(cands + 1, steps + 1) * n_train


def _gepa(
    o: Any, init: dict[str, Any], comp: dict[str, Any], n_train: int, n_val: int | None, n_pred: int
) -> int | None:
    if o.max_metric_calls is not None:
        return int(o.max_metric_calls)
    if o.max_full_evals is not None:
        return int(o.max_full_evals) * (n_train + (n_val or 0))
    if o.auto is not None:
        return int(
            o.auto_budget(
                num_preds=n_pred, num_candidates=GEPA_AUTO_RUN_SETTINGS[o.auto]["n"], valset_size=n_val or n_train
            )
        )
    return None


def _mipro(
    o: Any, init: dict[str, Any], comp: dict[str, Any], n_train: int, n_val: int | None, n_pred: int
) -> int | None:
    if n_val is None:
        n_val = min(1000, max(1, int(n_train * 0.8)))
        n_train -= n_val
    zeroshot = (
        int(comp.get("max_bootstrapped_demos", o.max_bootstrapped_demos)) == 0
        and int(comp.get("max_labeled_demos", o.max_labeled_demos)) == 0
    )
    if o.auto is not None:
        n = MIPRO_AUTO_RUN_SETTINGS[o.auto]["n"]
        n_val = min(n_val, MIPRO_AUTO_RUN_SETTINGS[o.auto]["val_size"])
        trials = int(max(2 * (n_pred * (1 if zeroshot else 2)) * math.log2(n), 1.5 * n))
        minibatch = n_val > 50
    else:
        n = int(o.num_candidates)
        trials = int(comp["num_trials"])
        minibatch = bool(comp.get("minibatch", True))
    bootstrap = 0 if zeroshot else n * n_train
    batch = min(int(comp.get("minibatch_size", 35)), n_val) if minibatch else n_val
    steps = int(comp.get("minibatch_full_eval_steps", 5))
    fulls = (trials // steps + 1) if minibatch else 0
    return bootstrap + n_val + trials * batch + fulls * n_val


_ESTIMATES: dict[str, Callable[..., int | None]] = {
    "LabeledFewShot": lambda *a: 0,
    "KNNFewShot": lambda *a: 0,
    "BootstrapFewShot": _bootstrap,
    "BootstrapFewShotWithRandomSearch": _random_search,
    "COPRO": _copro,
    "SIMBA": _simba,
    "GEPA": _gepa,
    "MIPROv2": _mipro,
}


def describe_optimizers() -> list[dict[str, Any]]:
    out = []
    for spec in OPTIMIZERS.values():
        init, comp = spec.accepted()
        available = spec.needs_package is None or importlib.util.find_spec(spec.needs_package) is not None
        out.append(
            {
                "name": spec.name,
                "metric": spec.metric,
                "constructor_params": init,
                "compile_params": comp,
                "uses_prompt_lm": spec.uses_prompt_lm,
                "uses_reflection_lm": spec.uses_reflection_lm,
                "available": available,
                **({"missing_package": spec.needs_package} if not available else {}),
                "note": spec.note,
            }
        )
    return out
