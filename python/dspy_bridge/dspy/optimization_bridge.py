"""DSPex's ``DSPyOptimizationBridge``: DSPy optimizers whose settings live in session
variables, and DSPy module parameters turned into session variables.

    bridge = DSPyOptimizationBridge(ctx)
    optimizer = await bridge.create_variable_aware_optimizer(
        BootstrapFewShot,
        variable_mappings={"teacher_temperature": "temperature", "max_bootstrapped_demos": "max_demos"},
        metric=accuracy_metric,
    )
    optimized = await optimizer.compile(student, trainset=train_data)

    mappings = await bridge.sync_dspy_parameters(dspy.ChainOfThought("question -> answer"), variable_prefix="cot_")
    # {"temperature": "cot_temperature", "max_tokens": "cot_max_tokens"}

A variable-aware optimizer (1) reads its mapped variables when ``compile`` starts, (2) writes
what the optimizer produced into variables mapped to ``score``, ``instructions`` or
``num_demos``, and (3) appends
a record of the run to a ``map`` variable (``history_variable``, default
``"dspy_optimization_history"``: ``{"runs": [...]}``, the last 50 runs).
"""

from __future__ import annotations

import asyncio
import inspect
import time
import weakref
from collections.abc import Mapping
from typing import Any

import dspy

from ..errors import AlreadyExistsError, InvalidArgumentError, NotFoundError
from ._serialize import plain
from .variable_aware import LM_PARAMETERS, make_variable_aware
from .optimizer_jobs._optimizers import optimizer_spec
from .optimizer_jobs._cancel import StopFlag
from .optimizer_jobs._progress import JobProgress, job_callback

__all__ = ["DSPyOptimizationBridge", "VariableAwareOptimizer"]

HISTORY_LIMIT = 50
OUTPUT_KEYS = frozenset({"score", "instructions", "num_demos"})
"""Mapping keys that name what the optimizer produced: written to their variables after compile."""
_TEACHER_PREFIX = "teacher_"
# Module-level parameters sync_dspy_parameters turns into variables, with their types.
_MODULE_PARAMETERS = {"max_iters": "integer", "N": "integer", "M": "integer", "threshold": "float"}
# Fallbacks when neither the module nor an LM says (DSPy 2.x's LM defaults).
_LM_DEFAULTS: dict[str, Any] = {"temperature": 0.0, "max_tokens": 1000}
_LM_TYPES = {"temperature": ("float", {"min": 0.0, "max": 2.0}), "max_tokens": ("integer", {"min": 1})}


def _parameters(fn: Any) -> set[str]:
    try:
        return {
            p.name for p in inspect.signature(fn).parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        } - {"self"}
    except (TypeError, ValueError):
        return set()


def _resolve_class(optimizer_class: Any, registered: Mapping[str, type]) -> type:
    if inspect.isclass(optimizer_class):
        return optimizer_class
    if isinstance(optimizer_class, str):
        if optimizer_class in registered:
            return registered[optimizer_class]

        return optimizer_spec(optimizer_class).cls()
    raise InvalidArgumentError(
        f"optimizer_class must be a DSPy optimizer class or its name, got {type(optimizer_class).__name__}",
        parameter="optimizer_class",
    )


class VariableAwareOptimizer:
    """A DSPy optimizer (``optimizer_class``) whose parameters come from session variables
    each time ``compile`` runs. Made by ``DSPyOptimizationBridge.create_variable_aware_optimizer``."""

    def __init__(
        self,
        session_context: Any,
        optimizer_class: type,
        variable_mappings: Mapping[str, str],
        optimizer_kwargs: Mapping[str, Any],
        history_variable: str | None,
    ) -> None:
        self.session_context = session_context
        self.optimizer_class = optimizer_class
        self.variable_mappings = dict(variable_mappings)
        self.optimizer_kwargs = dict(optimizer_kwargs)
        self.history_variable = history_variable
        self.last_parameters: dict[str, Any] = {}
        self.last_optimizer: Any = None
        self.history: list[dict[str, Any]] = []
        init = _parameters(optimizer_class.__init__)
        comp = _parameters(getattr(optimizer_class, "compile", lambda self: None))
        self._init_params = init
        self._compile_params = comp - {"student", "trainset"}
        for param in self.variable_mappings:
            if param in OUTPUT_KEYS:
                continue
            if param.startswith(_TEACHER_PREFIX) and param[len(_TEACHER_PREFIX) :] in LM_PARAMETERS:
                if "teacher_settings" not in init:
                    raise InvalidArgumentError(
                        f"{optimizer_class.__name__} has no teacher_settings, so {param!r} cannot be mapped",
                        parameter=param,
                    )
            elif param not in init and param not in self._compile_params:
                raise InvalidArgumentError(
                    f"{optimizer_class.__name__} has no parameter {param!r} (constructor: {', '.join(sorted(init))}; compile: {', '.join(sorted(self._compile_params))})",
                    parameter=param,
                )

    async def read_parameters(self) -> dict[str, Any]:
        """The mapped variables' current values, by optimizer parameter (one read)."""
        inputs = {param: var for param, var in self.variable_mappings.items() if param not in OUTPUT_KEYS}
        if not inputs:
            return {}
        values = await self.session_context.get_variables(sorted(set(inputs.values())))
        return {param: values[var] for param, var in inputs.items()}

    def _split(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        init: dict[str, Any] = {}
        comp: dict[str, Any] = {}
        teacher: dict[str, Any] = {}
        for param, value in values.items():
            if param.startswith(_TEACHER_PREFIX) and param[len(_TEACHER_PREFIX) :] in LM_PARAMETERS:
                teacher[param[len(_TEACHER_PREFIX) :]] = value
            elif param in self._init_params:
                init[param] = value
            else:
                comp[param] = value
        return init, comp, teacher

    def build(self, values: Mapping[str, Any]) -> Any:
        """The optimizer with ``values`` (by parameter) over the fixed keyword arguments."""
        init, _comp, teacher = self._split(values)
        kwargs = {**self.optimizer_kwargs, **init}
        if teacher:
            # DSPy reads no settings-level temperature: a teacher LM copy carries the values.
            settings = dict(kwargs.get("teacher_settings") or {})
            base = settings.get("lm") or dspy.settings.lm
            if base is None:
                raise InvalidArgumentError(
                    "teacher_* mappings need an LM: configure one or pass teacher_settings={'lm': ...}",
                    parameter="teacher_settings",
                )
            settings["lm"] = base.copy(**teacher)
            kwargs["teacher_settings"] = settings
        return self.optimizer_class(**kwargs)

    async def compile(self, student: Any, *, trainset: list[Any], **compile_kwargs: Any) -> Any:
        """Reads the mapped variables, compiles (in a thread: DSPy's optimizers are
        synchronous), writes back mapped LM parameters the result changed, records the run."""
        values = await self.read_parameters()
        started = time.time()
        optimizer = self.build(values)
        _init, comp, _teacher = self._split(values)
        self.last_parameters = dict(values)
        self.last_optimizer = optimizer
        compiled = await _compile_in_thread(optimizer, student, trainset, {**comp, **compile_kwargs})
        written = await self._write_back(compiled)
        record = {
            "optimizer": self.optimizer_class.__name__,
            "parameters": plain(values),
            "written": plain(written),
            "score": float(compiled.score) if isinstance(getattr(compiled, "score", None), (int, float)) else None,
            "demos": {name: len(p.demos) for name, p in compiled.named_predictors()},
            "trainset_size": len(trainset),
            "started_at": started,
            "finished_at": time.time(),
        }
        self.history.append(record)
        await self._record(record)
        return compiled

    async def _write_back(self, compiled: Any) -> dict[str, Any]:
        """The optimizer's answer into the variables mapped to its outputs: ``score`` (what
        the optimizer reported), ``instructions`` (the first predictor's), ``num_demos``
        (demos over all predictors). One atomic update."""
        outputs = _outputs(compiled)
        updates = {
            var: outputs[key]
            for key, var in self.variable_mappings.items()
            if key in OUTPUT_KEYS and outputs.get(key) is not None
        }
        if updates:
            await self.session_context.update_variables(
                updates, metadata={"source": "dspy_optimization", "optimizer": self.optimizer_class.__name__}
            )
        return updates

    async def _record(self, record: dict[str, Any]) -> None:
        if not self.history_variable:
            return
        ctx = self.session_context
        # A read-modify-write: compiles finishing together on this context take turns, or one
        # would overwrite another's record (or fail creating the variable it just created).
        async with _history_lock(ctx, self.history_variable):
            try:
                current = await ctx.get_variable(self.history_variable, bypass_cache=True)
            except NotFoundError:
                try:
                    await ctx.register_variable(self.history_variable, "map", {"runs": [record]})
                    return
                except AlreadyExistsError:  # another process created it first: append to it
                    current = await ctx.get_variable(self.history_variable, bypass_cache=True)
            runs = list((current or {}).get("runs") or []) if isinstance(current, dict) else []
            runs = [*runs, record][-HISTORY_LIMIT:]
            await ctx.set_variable(self.history_variable, {"runs": runs})

    def __repr__(self) -> str:
        return f"VariableAwareOptimizer({self.optimizer_class.__name__}, mappings={self.variable_mappings!r})"


_history_locks: weakref.WeakKeyDictionary[Any, dict[str, asyncio.Lock]] = weakref.WeakKeyDictionary()


def _history_lock(ctx: Any, variable: str) -> asyncio.Lock:
    locks = _history_locks.setdefault(ctx, {})
    return locks.setdefault(variable, asyncio.Lock())


async def _compile_in_thread(optimizer: Any, student: Any, trainset: list[Any], kwargs: dict[str, Any]) -> Any:
    """DSPy's synchronous compile on a thread (with the caller's DSPy context). Cancelling the
    awaiting task stops the compile at its next LM or module call, so nothing runs on unseen."""
    stop = StopFlag()
    watcher = job_callback(JobProgress(None, lambda _event: None, float("inf")), stop)

    def work() -> Any:
        with dspy.context(callbacks=[*dspy.settings.callbacks, watcher]):
            return optimizer.compile(student, trainset=trainset, **kwargs)

    try:
        return await asyncio.to_thread(work)
    except asyncio.CancelledError:
        stop.set()
        raise


class DSPyOptimizationBridge:
    """Enhanced bridge between session variables and DSPy optimization (DSPex's class)."""

    def __init__(self, session_context: Any) -> None:
        self.session_context = session_context
        self._registered_optimizers: dict[str, type] = {}

    def register_optimizer(self, name: str, optimizer_class: type) -> None:
        """Makes ``optimizer_class`` available by ``name`` to ``create_variable_aware_optimizer``."""
        if (
            not isinstance(name, str)
            or not name
            or not inspect.isclass(optimizer_class)
            or not callable(getattr(optimizer_class, "compile", None))
        ):
            raise InvalidArgumentError(
                "register_optimizer needs a name and a class with a compile method", parameter="optimizer_class"
            )
        self._registered_optimizers[name] = optimizer_class

    async def create_variable_aware_optimizer(
        self,
        optimizer_class: Any,
        variable_mappings: Mapping[str, str],
        *,
        history_variable: str | None = "dspy_optimization_history",
        **kwargs: Any,
    ) -> VariableAwareOptimizer:
        """A DSPy optimizer that syncs with session variables. ``variable_mappings`` maps an
        optimizer parameter (constructor or compile; ``teacher_<lm parameter>`` for the
        teacher's LM) to a variable. The variables are checked now (``NotFoundError`` naming the
        missing ones) and read again at each ``compile``. ``kwargs`` (``metric=...``) go to the
        optimizer's constructor."""
        if not isinstance(variable_mappings, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) and k and v for k, v in variable_mappings.items()
        ):
            raise InvalidArgumentError(
                "variable_mappings must map optimizer parameter names to variable names", parameter="variable_mappings"
            )
        cls = _resolve_class(optimizer_class, self._registered_optimizers)
        optimizer = VariableAwareOptimizer(self.session_context, cls, variable_mappings, kwargs, history_variable)
        await optimizer.read_parameters()  # every mapped variable exists (NotFoundError otherwise)
        return optimizer

    async def sync_dspy_parameters(self, dspy_module: Any, variable_prefix: str = "") -> dict[str, str]:
        """Creates a variable for each tunable parameter of ``dspy_module`` (temperature and
        max_tokens of its predictors' LM calls; max_iters, N, M, threshold where the module has
        them), binds the module to them (it is made variable-aware in place), and returns
        ``{attribute: variable_name}``. Existing variables are reused with their values."""
        if not isinstance(dspy_module, dspy.Module):
            raise InvalidArgumentError(
                f"sync_dspy_parameters needs a dspy.Module, got {type(dspy_module).__name__}", parameter="dspy_module"
            )
        if not isinstance(variable_prefix, str):
            raise InvalidArgumentError("variable_prefix must be a string", parameter="variable_prefix")
        current = _current_parameters(dspy_module)
        mappings = {attribute: f"{variable_prefix}{attribute}" for attribute in current}
        ctx = self.session_context
        existing = await ctx.get_variables(
            sorted(mappings.values()), defaults={name: _ABSENT for name in mappings.values()}
        )
        specs = []
        for attribute, name in mappings.items():
            if existing.get(name) is not _ABSENT:
                continue
            var_type, constraints = _LM_TYPES.get(attribute) or (_MODULE_PARAMETERS[attribute], {})
            value = current[attribute]
            specs.append(
                {
                    "name": name,
                    "type": var_type,
                    "initial_value": float(value) if var_type == "float" else int(value),
                    "constraints": constraints,
                }
            )
        if specs:
            await ctx.register_variables(specs)
        if not hasattr(dspy_module, "bind_to_variables"):
            make_variable_aware(dspy_module, ctx)
        elif getattr(dspy_module, "session_context", None) is None:
            dspy_module.session_context = ctx
        await dspy_module.bind_to_variables(mappings)
        return mappings


def _outputs(compiled: Any) -> dict[str, Any]:
    predictors = [p for _, p in compiled.named_predictors()]
    score = getattr(compiled, "score", None)
    return {
        "score": float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None,
        "instructions": predictors[0].signature.instructions if predictors else None,
        "num_demos": sum(len(p.demos) for p in predictors),
    }


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


_ABSENT: Any = _Absent()


def _current_parameters(module: Any) -> dict[str, Any]:
    """The module's tunable parameters and their values now: LM parameters from the first
    predictor that sets them (its config, its LM, else the configured LM), module parameters
    from the module itself."""
    out: dict[str, Any] = {}
    predictors = [p for _, p in module.named_predictors()]
    for param in ("temperature", "max_tokens"):
        value = None
        for p in predictors:
            value = (getattr(p, "config", {}) or {}).get(param)
            if value is None and getattr(p, "lm", None) is not None:
                value = p.lm.kwargs.get(param)
            if value is not None:
                break
        if value is None and dspy.settings.lm is not None:
            value = getattr(dspy.settings.lm, "kwargs", {}).get(param)
        out[param] = _LM_DEFAULTS[param] if value is None else value
    for attribute in _MODULE_PARAMETERS:
        value = getattr(module, attribute, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[attribute] = value
    return out
