"""DSPex's DSPy adapter commands, under DSPex's names (docs/dspy.md#the-seeds-adapter-commands).

DSPex has two sets of DSPy commands running in the workers, kept under their names:

* DSPex's DSPy adapter: ``configure_lm(provider, config)``,
  ``execute_module(module, signature, inputs, config)``, ``create_program(signature,
  modules, config)``, ``execute_program(program_id, inputs)`` and the host's prompt-only
  ``generate(prompt, module=..., signature=...)``;
* DSPex's Python architecture: ``check_dspy``, ``configure_lm(model_type,
  **kwargs)``, ``call_dspy``, ``discover_dspy_schema``, ``list_dspy_modules``,
  ``bind_dspy_variable``, ``enhanced_predict`` and ``enhanced_chain_of_thought``, and the
  ``DSPyAdapter`` class that routes them (``get_supported_commands``, ``handle_command``).

They are worker commands (``bridge.execute("execute_module", {...})``) built on the same
machinery as the host's ``dspy.*`` API: the same module builder, per-call ``dspy.context``
(concurrent calls never share settings), typed errors. What they add over DSPex's sketch:
a signature must have an input and an output field, a call must give every input field
(DSPy itself only warns), an option nothing uses is reported instead of dropped, LMs are
named by spec (``dspy.OpenAI``/``dspy.Claude`` are gone from DSPy; API keys travel as the name
of an environment variable, never the key), and a removed module name (DSPy 3 dropped
``ChainOfThoughtWithHint``) maps to its current equivalent with a deprecation notice.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import dspy

from ..core.registry import CommandContext, command, default_registry
from ..core.session_manager import BaseAdapter
from ..errors import InvalidArgumentError, NotFoundError
from ..session.worker_state import worker_sessions
from . import _programs as _hosted_programs
from . import _running
from ._lm_specs import lm_from_spec
from ._public_api import resolve_public
from ._removed import DEPRECATED_MODULES, current_module_name
from ._serialize import plain
from ._signatures import check_inputs, check_signature
from .resolver import ModuleVariableResolver
from .variable_aware import LM_PARAMETERS, make_variable_aware

__all__ = [
    "ADAPTER_COMMANDS",
    "DEPRECATED_MODULES",
    "DSPyAdapter",
    "Pipeline",
    "check_inputs",
    "check_signature",
    "current_module_name",
]

logger = logging.getLogger(__name__)

# -- LMs: DSPex's configure_lm ------------------------------------------------------------

_PROVIDERS: dict[str, tuple[str, str, str]] = {
    # provider -> (LiteLLM prefix, default model, environment variable of its key)
    "openai": ("openai", "gpt-4o-mini", "OPENAI_API_KEY"),
    "anthropic": ("anthropic", "claude-3-5-haiku-latest", "ANTHROPIC_API_KEY"),
    "claude": ("anthropic", "claude-3-5-haiku-latest", "ANTHROPIC_API_KEY"),
    "gemini": ("gemini", "gemini-1.5-flash", "GEMINI_API_KEY"),
    "google": ("gemini", "gemini-1.5-flash", "GEMINI_API_KEY"),
}
_REMOVED_CLASSES = {"openai": "dspy.OpenAI", "anthropic": "dspy.Claude", "claude": "dspy.Claude"}

# configure_lm called without a session: the LM of this worker's calls that name none.
_worker_lm: dict[str, Any] | None = None


class _AdapterSession:
    """What the adapter commands keep for one session (a part of its ``SessionState``): the
    LM ``configure_lm`` set for it, and the programs ``create_program`` made in it."""

    def __init__(self) -> None:
        self.lm: dict[str, Any] | None = None
        self.programs: dict[str, _AdapterProgram] = {}


def _adapter_session(session_id: str) -> _AdapterSession:
    return worker_sessions.state(session_id).part("dspy.adapter", _AdapterSession)


def _session_lm(session_id: str) -> dict[str, Any] | None:
    state = worker_sessions.find(session_id) if session_id else None
    part = state.find_part("dspy.adapter") if state is not None else None
    return part.lm if part is not None else None


def _lm_spec(provider: str | None, config: dict[str, Any]) -> dict[str, Any]:
    config = dict(config)
    if "api_key" in config:
        raise InvalidArgumentError(
            "config.api_key: the key itself never travels to a worker; set it in the environment and name the variable "
            "with api_key_env (e.g. {'api_key_env': 'OPENAI_API_KEY'})",
            parameter="config.api_key",
        )
    model = config.pop("model", None)
    name = (provider or "").strip()
    if name in ("scripted", "scripted_lm", "test"):
        return {"model": "scripted", **config}
    if not name and not model:
        raise InvalidArgumentError(
            "configure_lm needs a provider (openai, anthropic, gemini, scripted) or a model", parameter="provider"
        )
    if "/" in name or name.startswith("scripted"):  # a full model name given as the provider / model_type
        return {"model": name, **config}
    if name and name.lower() not in _PROVIDERS:
        if model and "/" in str(model):
            return {"model": model, **config}
        raise InvalidArgumentError(
            f"Unknown provider: {provider!r} (known: {', '.join(sorted(_PROVIDERS))}, scripted; or give a full model "
            "name such as 'openai/gpt-4o-mini', any provider LiteLLM serves)",
            parameter="provider",
        )
    if not name:
        return {"model": str(model), **config}
    prefix, default_model, key_env = _PROVIDERS[name.lower()]
    model = str(model or default_model)
    spec = {"model": model if "/" in model else f"{prefix}/{model}", **config}
    spec.setdefault("api_key_env", key_env)
    return spec


def _lm_for(ctx: CommandContext | None, lm: dict[str, Any] | None) -> dict[str, Any] | None:
    if lm is not None:
        return lm
    session_lm = _session_lm(ctx.session_id) if ctx is not None else None
    return session_lm if session_lm is not None else _worker_lm


@command(name="configure_lm", yields=True)
def configure_lm(
    provider: str | None = None,
    config: dict | None = None,
    model_type: str | None = None,
    ctx: CommandContext | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """DSPex's ``configure_lm``: ``(provider, config)`` (DSPex's adapter) or ``(model_type,
    **kwargs)`` (DSPex's architecture). The LM is built now (a bad option fails here) and used by
    this session's adapter commands (called with a session), or by this worker's calls
    without a session or LM of their own. Prefer ``bridge.dspy.configureLM`` on the host for
    a whole pool: a worker's setting is lost when the worker is replaced."""
    global _worker_lm
    merged = {**(config or {}), **kwargs}
    spec = _lm_spec(provider or model_type, merged)
    lm = lm_from_spec(spec)  # validates the spec (unknown options, engine) and caches the LM
    if ctx is not None and ctx.session_id:
        _adapter_session(ctx.session_id).lm = spec
        scope = "session"
    else:
        _worker_lm = spec
        scope = "worker"
    reply: dict[str, Any] = {
        "status": "configured",
        "provider": provider or model_type,
        "model": getattr(lm, "model", spec["model"]),
        "scope": scope,
    }
    removed = _REMOVED_CLASSES.get((provider or model_type or "").lower())
    if removed:
        reply["note"] = f"{removed} was removed from DSPy; this is dspy.LM({spec['model']!r})"
    return reply


# -- building and running ------------------------------------------------------------------------


def _build(module: str, signature: Any, config: dict[str, Any] | None) -> tuple[Any, str, list[str], list[str]]:
    """(module instance, its DSPy class name, options not used, deprecation notices)."""
    if not isinstance(module, str) or not module:
        raise InvalidArgumentError("module must name a DSPy module, e.g. 'dspy.ChainOfThought'", parameter="module")
    name, notice = current_module_name(module)
    short = name.split(".")[-1]
    sig = check_signature(signature)
    config = dict(config or {})
    ignored: list[str] = []
    if short in ("Predict", "ChainOfThought"):
        # Their **config is the LM call's kwargs: keep only LM parameters there, report the rest
        # (DSPex's generate passes max_hops=3 to ChainOfThought, which has no such thing).
        ignored = [k for k in config if k not in LM_PARAMETERS and k != "tools"]
        for k in ignored:
            config.pop(k)
    elif short in _running.MODULE_TYPES and short not in ("BestOfN", "Refine"):
        cls = getattr(dspy, short)
        try:
            params = inspect.signature(cls.__init__).parameters
        except (TypeError, ValueError):
            params = {}
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        if not takes_any:
            ignored = [k for k in config if k not in params and k != "tools"]
            for k in ignored:
                config.pop(k)
    if ignored:
        logger.warning("options not used by %s: %s", short, ", ".join(ignored))
    instance = _running.build_module(short, sig, config)
    return instance, short, ignored, [notice] if notice else []


async def _execute(
    program: Any, module_name: str, signature: Any, inputs: dict[str, Any], lm: dict[str, Any] | None
) -> dict[str, Any]:
    check_inputs(signature, inputs)
    return await _running.run_module(program, module_name, inputs, lm)


def _with_notes(result: dict[str, Any], ignored: list[str], notices: list[str]) -> dict[str, Any]:
    if ignored:
        result["ignored_options"] = ignored
    if notices:
        result["deprecations"] = notices
    return result


@command(name="execute_module", yields=True)
async def execute_module(
    module: str,
    signature: str,
    inputs: dict | None = None,
    config: dict | None = None,
    lm: dict | None = None,
    ctx: CommandContext | None = None,
) -> dict[str, Any]:
    """DSPex's ``execute_module``: builds ``module`` (``"dspy.Predict"``,
    ``"dspy.ChainOfThought"``, ``"dspy.ReAct"``, ``"dspy.ProgramOfThought"``,
    ``"dspy.MultiChainComparison"``, ...) over ``signature`` and runs it once on ``inputs``.
    Returns ``{fields, usage, latency_ms, lm, ...}``; options a module does not take come
    back under ``ignored_options``."""
    program, short, ignored, notices = _build(module, signature, config)
    result = await _execute(program, short, signature, dict(inputs or {}), _lm_for(ctx, lm))
    return _with_notes(result, ignored, notices)


@command(name="generate", yields=True)
async def generate(
    prompt: str,
    module: str = "dspy.Predict",
    signature: str | None = None,
    config: dict | None = None,
    lm: dict | None = None,
    ctx: CommandContext | None = None,
    **options: Any,
) -> dict[str, Any]:
    """DSPex's prompt-only ``generate(prompt, module: ..., signature: ...)``: the
    prompt fills the signature's one input field (default signature ``"input -> output"``);
    ``text`` is its first output field. Other options go to the module as its ``config``
    (those it does not use are listed in ``ignored_options``)."""
    if not isinstance(prompt, str):
        raise InvalidArgumentError("prompt must be a string", parameter="prompt")
    signature = signature or "input -> output"
    sig = check_signature(signature)
    if len(sig.input_fields) != 1:
        raise InvalidArgumentError(
            f"generate puts the prompt in the signature's one input field; {signature!r} has {len(sig.input_fields)} "
            "(use execute_module with inputs for several)",
            parameter="signature",
        )
    program, short, ignored, notices = _build(module, signature, {**(config or {}), **options})
    field_name = next(iter(sig.input_fields))
    result = await _execute(program, short, signature, {field_name: prompt}, _lm_for(ctx, lm))
    fields = result.get("fields") or {}
    result["text"] = fields.get(next(iter(sig.output_fields)))
    return _with_notes(result, ignored, notices)


_STAGES: contextvars.ContextVar[list[tuple[str, Any]] | None] = contextvars.ContextVar(
    "dspy_bridge_pipeline_stages", default=None
)


class Pipeline(dspy.Module):
    """DSPex's multi-module program (``modules: ["dspy.ChainOfThought",
    "dspy.Predict"]``): the modules run in order over the signature; each stage after the
    first also receives the previous stage's outputs as ``previous_<field>`` inputs, to improve
    on them. The prediction is the last stage's fields; each stage's prediction is collected
    for ``execute_program``'s ``stages``."""

    def __init__(self, signature: Any, modules: list[str], config: dict[str, Any] | None = None) -> None:
        super().__init__()
        base = check_signature(signature)
        self.signature = base
        self.module_names: list[str] = []
        self.ignored: list[str] = []
        self.notices: list[str] = []
        self.stages: list[Any] = []
        outputs = list(base.output_fields.items())
        for i, name in enumerate(modules):
            sig = base
            if i > 0:
                for out_name, out_field in outputs:
                    sig = sig.append(
                        f"previous_{out_name}",
                        dspy.InputField(desc=f"the previous stage's {out_name}, to improve on"),
                        type_=out_field.annotation,
                    )
            stage, short, ignored, notices = _build(name, sig, config)
            self.stages.append(stage)
            self.module_names.append(short)
            self.ignored += [k for k in ignored if k not in self.ignored]
            self.notices += notices

    def _stage_inputs(self, inputs: dict[str, Any], previous: Any) -> dict[str, Any]:
        if previous is None:
            return dict(inputs)
        return {**inputs, **{f"previous_{k}": previous[k] for k in self.signature.output_fields}}

    def forward(self, **inputs: Any) -> Any:
        previous, stages = None, []
        for stage, short in zip(self.stages, self.module_names):
            kw = self._stage_inputs(inputs, previous)
            if short == "MultiChainComparison":
                attempts = [dspy.ChainOfThought(stage.attempt_signature)(**kw) for _ in range(stage.M)]
                previous = stage(completions=attempts, **kw)
            else:
                previous = stage(**kw)
            stages.append(previous)
        return self._result(previous, stages)

    async def aforward(self, **inputs: Any) -> Any:
        previous, stages = None, []
        for stage, short in zip(self.stages, self.module_names):
            kw = self._stage_inputs(inputs, previous)
            if short == "MultiChainComparison":
                attempt = dspy.ChainOfThought(stage.attempt_signature)
                attempts = [await attempt.acall(**kw) for _ in range(stage.M)]
                previous = await asyncio.to_thread(stage, completions=attempts, **kw)
            elif short == "ProgramOfThought":  # no async path in DSPy
                previous = await asyncio.to_thread(stage, **kw)
            else:
                previous = await stage.acall(**kw)
            stages.append(previous)
        return self._result(previous, stages)

    def _result(self, last: Any, stages: list[Any]) -> Any:
        seen = _STAGES.get()
        if seen is not None:
            seen.extend(zip(self.module_names, stages))
        return dspy.Prediction(**dict(last.items()))


@dataclass
class _AdapterProgram:
    program_id: str
    signature: str
    modules: list[str]
    config: dict[str, Any]
    instance: Any
    created_at: float
    runs: int = 0
    bindings: dict[str, str] = field(default_factory=dict)


def _session_programs(ctx: CommandContext | None) -> dict[str, _AdapterProgram]:
    if ctx is None or not ctx.session_id:
        raise InvalidArgumentError("programs live in a session: call with { session }", parameter="session")
    return _adapter_session(ctx.session_id).programs


def _describe(p: _AdapterProgram) -> dict[str, Any]:
    described = {
        "id": p.program_id,
        "program_id": p.program_id,
        "signature": p.signature,
        "modules": list(p.modules),
        "stages": list(getattr(p.instance, "module_names", [])),
        "config": plain(p.config),
        "bindings": dict(p.bindings),
        "runs": p.runs,
    }
    return _with_notes(described, getattr(p.instance, "ignored", []), getattr(p.instance, "notices", []))


@command(name="create_program", yields=True)
async def create_program(
    signature: str,
    modules: list | None = None,
    config: dict | None = None,
    program_id: str | None = None,
    ctx: CommandContext | None = None,
) -> dict[str, Any]:
    """DSPex's stateful program: ``modules`` (default ``["dspy.Predict"]``) run as
    a pipeline over ``signature`` (see :class:`Pipeline`), kept in this session's worker
    under ``program_id`` (generated when not given). Returns ``{id, program_id, signature,
    modules, stages, ...}``."""
    programs = _session_programs(ctx)
    modules = list(modules) if modules else ["dspy.Predict"]
    if not all(isinstance(m, str) and m for m in modules):
        raise InvalidArgumentError(
            "modules must be a list of module names, e.g. ['dspy.ChainOfThought', 'dspy.Predict']", parameter="modules"
        )
    pid = program_id or f"prog_{uuid.uuid4().hex[:8]}"
    instance = Pipeline(signature, modules, config)

    programs[pid] = _AdapterProgram(pid, signature, modules, dict(config or {}), instance, time.time())
    return _describe(programs[pid])


def _adapter_program(ctx: CommandContext | None, program_id: str) -> _AdapterProgram:
    programs = _session_programs(ctx)
    try:
        return programs[program_id]
    except KeyError:
        raise NotFoundError(
            f"program {program_id!r} not found in session {ctx.session_id if ctx else ''!r} (this worker holds: "
            f"{', '.join(programs) or 'none'}; programs are lost when their worker restarts)",
            details={"program_id": program_id},
        ) from None


@command(name="execute_program", yields=True)
async def execute_program(
    program_id: str, inputs: dict | None = None, lm: dict | None = None, ctx: CommandContext | None = None
) -> dict[str, Any]:
    """DSPex's ``execute_program``: runs a program of ``create_program`` on
    ``inputs`` (every input field of its signature is required). Returns the last stage's
    ``fields`` and each stage's under ``stages``."""
    p = _adapter_program(ctx, program_id)
    inputs = dict(inputs or {})
    check_inputs(p.signature, inputs)
    p.runs += 1
    instance = p.instance
    if p.bindings and hasattr(instance, "_auto_sync_async"):
        await instance._auto_sync_async()
    stages: list[tuple[str, Any]] = []
    token = _STAGES.set(stages)
    try:
        result = await _running.run_module(instance, "Pipeline", inputs, _lm_for(ctx, lm))
    finally:
        _STAGES.reset(token)
    result["stages"] = [{"module": m, "fields": {k: plain(v) for k, v in pred.items()}} for m, pred in stages]
    return result


# -- DSPex's commands ------------------------------------------------------------


@command(name="check_dspy", yields=True)
def check_dspy() -> dict[str, Any]:
    """Whether DSPy is importable (it is: this module imports it), its version, and the
    modules the adapter builds."""
    return {"available": True, "version": getattr(dspy, "__version__", ""), "modules": list(_running.MODULE_TYPES)}


@command(name="call_dspy", yields=True)
async def call_dspy(
    module_path: str,
    function_name: str,
    args: list | None = None,
    kwargs: dict | None = None,
    lm: dict | None = None,
    ctx: CommandContext | None = None,
) -> dict[str, Any]:
    """DSPex's universal caller: ``module_path.function_name(*args,
    **kwargs)`` for DSPy's own public API (the rules of ``dspy.call``: no pickles, no code
    execution, no shared settings). Returns ``{"success": True, "result": ...}``; failures
    raise typed errors."""
    if not isinstance(module_path, str) or not isinstance(function_name, str) or not function_name:
        raise InvalidArgumentError(
            "module_path and function_name must be strings, e.g. 'dspy', 'Predict'", parameter="function_name"
        )
    target = f"{module_path}.{function_name}" if module_path else function_name
    result = await _running.call_public(target, args, kwargs, _lm_for(ctx, lm))
    return {"success": True, "result": result}


@command(name="discover_dspy_schema", yields=True)
def discover_dspy_schema(module_path: str = "dspy") -> dict[str, Any]:
    """The public classes and functions of a DSPy module (default ``dspy``): for each, its
    kind, first doc line and parameters; classes also list their public methods."""
    if module_path == "dspy":
        obj: Any = dspy
    else:
        obj = resolve_public(module_path)
    if not inspect.ismodule(obj):
        return _running.describe(target=module_path)
    classes: dict[str, Any] = {}
    functions: dict[str, Any] = {}
    for name in sorted(dir(obj)):
        if name.startswith("_"):
            continue
        path = f"{module_path}.{name}"
        try:
            member = resolve_public(path)
        except Exception:  # noqa: BLE001 - refused or not DSPy's own: not part of the schema
            continue
        doc = (inspect.getdoc(member) or "").split("\n")[0]
        if inspect.isclass(member):
            classes[name] = {
                "doc": doc,
                "parameters": _running.parameters(member.__init__),
                "methods": sorted(n for n, v in inspect.getmembers(member) if callable(v) and not n.startswith("_")),
            }
        elif inspect.isfunction(member):
            functions[name] = {"doc": doc, "parameters": _running.parameters(member)}
    return {
        "module": module_path,
        "version": getattr(dspy, "__version__", ""),
        "classes": classes,
        "functions": functions,
    }


@command(name="list_dspy_modules", yields=True)
def list_dspy_modules() -> list[dict[str, Any]]:
    """The modules the adapter builds and the variable-aware resolver knows, with aliases,
    and the removed names that map to a current one."""
    aliases = ModuleVariableResolver.get_aliases()
    out = []
    for name in _running.MODULE_TYPES:
        out.append(
            {
                "name": name,
                "path": f"dspy.{name}",
                "doc": (inspect.getdoc(getattr(dspy, name)) or "").split("\n")[0],
                "aliases": sorted(a for a, n in aliases.items() if n == name),
                "variable_aware": True,
            }
        )
    for old, (new, notice) in DEPRECATED_MODULES.items():
        out.append(
            {
                "name": old,
                "path": f"dspy.{old}",
                "doc": notice,
                "aliases": [],
                "variable_aware": True,
                "deprecated": True,
                "replaced_by": new,
            }
        )
    return out


@command(name="bind_dspy_variable", yields=True)
async def bind_dspy_variable(
    program_id: str, attribute: str, variable_name: str, ctx: CommandContext | None = None
) -> dict[str, Any]:
    """Binds ``attribute`` of a session program (one of ``create_program`` here, or of the
    host's ``session.programs``) to the session variable ``variable_name``: before each run
    the variable's current value is applied (LM parameters to every predictor)."""
    session = await worker_sessions.context(ctx.session_id if ctx else "")
    programs = _session_programs(ctx)
    if program_id in programs:
        p = programs[program_id]
        p.instance = make_variable_aware(p.instance, session)
        await p.instance.bind_to_variable(attribute, variable_name)
        p.bindings[attribute] = variable_name
        return {"program_id": program_id, "bindings": dict(p.bindings)}
    hosted = _hosted_programs.find_program(ctx, program_id)  # type: ignore[arg-type]  # NotFoundError if neither
    hosted.instance = make_variable_aware(hosted.instance, session)
    await hosted.instance.bind_to_variable(attribute, variable_name)
    hosted.bindings[attribute] = variable_name
    return {"program_id": program_id, "bindings": dict(hosted.bindings)}


async def _enhanced(
    module: str, signature: str, inputs: dict[str, Any], ctx: CommandContext | None, lm: dict | None
) -> dict[str, Any]:
    """DSPex's EnhancedWorkflows: the session's ``temperature`` variable
    (0.7 when it has none) for the call, and the first output stored in the session's
    ``last_prediction`` variable (created as a string)."""
    temperature = 0.7
    session = None
    if ctx is not None and ctx.session_id:
        session = await worker_sessions.context(ctx.session_id)
        temperature = await session.get_variable("temperature", default=0.7)
    program, short, ignored, notices = _build(module, signature, {"temperature": temperature})
    result = await _execute(program, short, signature, inputs, _lm_for(ctx, lm))
    first = next(iter(check_signature(signature).output_fields))
    if session is not None:
        value = (result.get("fields") or {}).get(first)
        await session.set_variable(
            "last_prediction", "" if value is None else str(value), create_if_missing=True, type_hint="string"
        )
    return {
        "success": True,
        "result": result["fields"],
        "temperature": temperature,
        **{k: v for k, v in result.items() if k != "fields"},
    }


@command(name="enhanced_predict", yields=True)
async def enhanced_predict(
    signature: str, lm: dict | None = None, ctx: CommandContext | None = None, **inputs: Any
) -> dict[str, Any]:
    """DSPex's ``enhanced_predict(signature, **inputs)``: ``dspy.Predict``
    with the session's ``temperature``, its answer kept in ``last_prediction``."""
    inputs.pop("session_id", None)  # DSPex code passes it among the inputs; the call's session is used
    return await _enhanced("Predict", signature, inputs, ctx, lm)


@command(name="enhanced_chain_of_thought", yields=True)
async def enhanced_chain_of_thought(
    signature: str, lm: dict | None = None, ctx: CommandContext | None = None, **inputs: Any
) -> dict[str, Any]:
    """``enhanced_predict`` with ``dspy.ChainOfThought``."""
    inputs.pop("session_id", None)
    return await _enhanced("ChainOfThought", signature, inputs, ctx, lm)


ADAPTER_COMMANDS = (
    "check_dspy",
    "configure_lm",
    "call_dspy",
    "discover_dspy_schema",
    "enhanced_predict",
    "enhanced_chain_of_thought",
    "bind_dspy_variable",
    "list_dspy_modules",
    "execute_module",
    "generate",
    "create_program",
    "execute_program",
)
"""Every command of this module: the eight of DSPex's architecture, then those of its DSPy adapter."""


class DSPyAdapter(BaseAdapter):
    """DSPex's ``DSPyAdapter``: one object that answers the DSPy commands
    (a ``BaseAdapter``, with its session manager, variable manager and tool registry).

    ``get_supported_commands()`` lists them; ``await handle_command(command, args)`` runs one
    in this process (``session_id`` in ``args`` gives it a session, as a host call's
    ``session`` option would); ``handle_command_sync`` is the blocking form. The same
    commands are what a worker serves to the host (``bridge.execute("check_dspy")``)."""

    def get_supported_commands(self) -> list[str]:
        return list(ADAPTER_COMMANDS)

    async def handle_command(self, command: str, args: dict[str, Any] | None = None) -> Any:
        if command not in ADAPTER_COMMANDS:
            raise InvalidArgumentError(
                f"Unknown command: {command!r} (supported: {', '.join(ADAPTER_COMMANDS)})", parameter="command"
            )
        args = dict(args or {})
        session_id = (
            str(args.pop("session_id", "") or "")
            if command not in ("enhanced_predict", "enhanced_chain_of_thought")
            else str(args.get("session_id", "") or "")
        )
        cmd = default_registry.get(command)
        bound = cmd.bind(args)
        if cmd.context_parameter:
            bound[cmd.context_parameter] = CommandContext(
                command=command, call_id=0, session_id=session_id, worker_id="local", timeout_ms=0
            )
        result = cmd.fn(**bound)
        if inspect.isawaitable(result):
            result = await result
        return result

    def handle_command_sync(self, command: str, args: dict[str, Any] | None = None) -> Any:
        return asyncio.run(self.handle_command(command, args))
