"""The host-side DSPy API: commands that TypeScript's `bridge.dspy` calls in the workers.

Runs real DSPy modules through DSPy's async path (many calls per worker at once), each under
`dspy.context(lm=..., track_usage=True)` so concurrent calls with different LMs never share
global settings. Session programs live in the worker that created them (session affinity
sends every call of a session to it), keyed by session and program id; their state is saved
and loaded as JSON, never pickle.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

from ..core.registry import CommandContext, command
from ..errors import AlreadyExistsError, InvalidArgumentError, LMError, NotFoundError
from ..core._lm_errors import lm_errors
from ._lm_specs import lm_from_spec
from ._public_api import resolve_public
from ._removed import DEPRECATED_MODULES
from ._serialize import plain, serialize_prediction
from ._signatures import check_inputs, check_signature

__all__ = ["MODULE_TYPES", "build_module", "lm_errors"]

# Module names the host may ask for, with their DSPy class names.
MODULE_TYPES = ("Predict", "ChainOfThought", "ReAct", "ProgramOfThought", "MultiChainComparison", "BestOfN", "Refine")


def _complete(signature: str | dict, outputs: dict[str, Any]) -> float:
    """Default reward for BestOfN/Refine: 1.0 when every output field is non-empty."""
    return 1.0 if all(v not in (None, "", [], {}) for v in outputs.values()) else 0.0


def build_module(module: str, signature: str | dict, config: dict[str, Any] | None = None) -> Any:
    """A DSPy module by name. `config` holds constructor options (n, temperature, M, N, …);
    ReAct and ProgramOfThought get a safe default (no tools / the subprocess interpreter)."""
    import dspy

    config = dict(config or {})
    name = module.split(".")[-1]
    if name in DEPRECATED_MODULES:  # removed from DSPy: say what to use instead
        raise InvalidArgumentError(DEPRECATED_MODULES[name][1].replace(" is used instead", " is its replacement"), parameter="module")
    if name not in MODULE_TYPES:
        raise InvalidArgumentError(f"unknown module {module!r}; available: {', '.join(MODULE_TYPES)}", parameter="module")
    sig = check_signature(signature)  # an input and an output field ("q ->" is refused here)
    if name == "ReAct":
        return dspy.ReAct(sig, tools=config.pop("tools", []), **config)
    if name == "ProgramOfThought":
        from .interpreter import SubprocessInterpreter

        return dspy.ProgramOfThought(sig, interpreter_factory=SubprocessInterpreter, **config)
    if name in ("BestOfN", "Refine"):
        inner = dspy.ChainOfThought(sig) if config.pop("chain_of_thought", False) else dspy.Predict(sig)
        n = int(config.pop("N", 3))
        threshold = float(config.pop("threshold", 1.0))
        cls = dspy.BestOfN if name == "BestOfN" else dspy.Refine
        return cls(module=inner, N=n, reward_fn=lambda args, pred: _complete(signature, dict(pred.items())), threshold=threshold, **config)
    built = getattr(dspy, name)(sig, **config)
    if name == "MultiChainComparison":
        # MCC keeps only a derived signature; its attempts need the original one.
        built.attempt_signature = sig
    return built


_REPORTED_KWARGS = ("model", "temperature", "max_tokens", "n", "top_p", "stop", "seed")


_recorder_class: Any = None


def _lm_call_recorder() -> Any:
    """A DSPy callback recording what each LM call of one run actually received — the
    proof that a variable binding reached the LM. Scoped to one run by dspy.context, so
    concurrent runs never mix their records."""
    global _recorder_class
    if _recorder_class is not None:
        return _recorder_class()
    from dspy.utils.callback import BaseCallback

    class Recorder(BaseCallback):
        def __init__(self) -> None:
            self.calls: list[dict[str, Any]] = []

        def on_lm_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
            kwargs = {**getattr(instance, "kwargs", {}), **(inputs.get("kwargs") or {})}
            record = {k: plain(kwargs[k]) for k in _REPORTED_KWARGS if k in kwargs and kwargs[k] is not None}
            record.setdefault("model", getattr(instance, "model", None))
            self.calls.append(record)

    _recorder_class = Recorder
    return Recorder()


async def _run(
    program: Any, module_name: str, inputs: dict[str, Any], lm_spec: dict[str, Any] | None, *, usage: bool = True, lm_calls: bool = False
) -> dict[str, Any]:
    """Runs under a per-call dspy.context. Token usage (on by default) and the per-LM-call
    record (on for bound programs) each cost DSPy noticeable time per call, so both can be
    turned off."""
    import dspy

    lm = lm_from_spec(lm_spec)
    recorder = _lm_call_recorder() if lm_calls else None
    started = time.perf_counter()
    overrides: dict[str, Any] = {"track_usage": usage}
    if lm is not None:
        overrides["lm"] = lm
    if recorder is not None:
        overrides["callbacks"] = [*dspy.settings.callbacks, recorder]
    with lm_errors(), dspy.context(**overrides):
        if dspy.settings.lm is None:
            raise LMError("no LM configured: pass `lm` (e.g. {model: 'openai/gpt-4o-mini', api_key_env: 'OPENAI_API_KEY'})")
        if module_name == "MultiChainComparison":
            # MCC compares M attempts: make them with ChainOfThought first.
            attempt = dspy.ChainOfThought(program.attempt_signature)
            attempts = [await attempt.acall(**inputs) for _ in range(program.M)]
            # MCC has no async path in DSPy: compare in a thread (it carries the context).
            prediction = await asyncio.to_thread(program, completions=attempts, **inputs)
        elif callable(getattr(program, "aforward", None)) and "forward" not in vars(program):
            prediction = await program.acall(**inputs)
        else:
            # No async path in DSPy for this module (ProgramOfThought), or a forward set on the
            # instance that its class's aforward would bypass (KNNFewShot's compiled program):
            # run it in a thread, which carries this call's dspy.context along (to_thread
            # copies the context).
            prediction = await asyncio.to_thread(program, **inputs)
    result = serialize_prediction(prediction)
    result["latency_ms"] = (time.perf_counter() - started) * 1000
    result["lm"] = getattr(dspy.settings.lm, "model", None) if lm is None else getattr(lm, "model", None)
    result["lm_calls"] = recorder.calls if recorder is not None else []
    return result


# Built modules by definition: parsing a signature and building a module costs more than a
# scripted LM call, and a module's forward does not change it, so calls share one instance.
_built: dict[Any, Any] = {}
_BUILT_LIMIT = 256


def _cached_module(module: str, signature: str | dict, config: dict[str, Any] | None) -> Any:
    try:
        # Without a config (the usual call) the key needs no JSON rendering.
        key = (module, signature) if not config and isinstance(signature, str) else json.dumps([module, signature, config], sort_keys=True)
    except (TypeError, ValueError):
        return build_module(module, signature, config)
    program = _built.get(key)
    if program is None:
        program = build_module(module, signature, config)
        if len(_built) >= _BUILT_LIMIT:
            _built.pop(next(iter(_built)))
        _built[key] = program
    return program


async def _resolve_tools(names: list[Any], session_id: str) -> list[Any]:
    """Tool names -> dspy.Tool objects: this worker's Python `@tool`s first, then the
    TypeScript tools the session may call (through the bridge service)."""
    from ..tools import default_tool_registry, python_tools_as_dspy, typescript_tools

    if not all(isinstance(n, str) for n in names):
        raise InvalidArgumentError("config.tools must be a list of tool names", parameter="config.tools")
    local = [n for n in names if n in default_tool_registry.names()]
    remote = [n for n in names if n not in local]
    tools = python_tools_as_dspy(names=local) if local else []
    if remote:
        tools += await typescript_tools(session_id or None, names=remote)
    return tools


@command(name="dspy.run")
async def dspy_run(
    module: str,
    signature: str | dict,
    inputs: dict,
    ctx: CommandContext,
    lm: dict | None = None,
    config: dict | None = None,
    usage: bool = True,
    lm_calls: bool = False,
) -> dict[str, Any]:
    """Builds `module` over `signature`, runs it once on `inputs`; returns fields, completions,
    latency, token usage (unless `usage` is false) and, with `lm_calls`, what each LM call received.
    A ReAct's `config.tools` names Python `@tool`s and TypeScript tools. A missing input field
    is an InvalidArgumentError (DSPy itself only warns)."""
    if config and config.get("tools"):
        config = {**config, "tools": await _resolve_tools(list(config["tools"]), ctx.session_id)}
        program = build_module(module, signature, config)
    else:
        program = _cached_module(module, signature, config)
    check_inputs(signature, inputs)  # after the module and signature were checked
    return await _run(program, module.split(".")[-1], inputs, lm, usage=usage, lm_calls=lm_calls)


def _stream_listeners(program: Any, module_name: str) -> list[Any]:
    """One DSPy StreamListener per output field of every predictor in the program (for
    ChainOfThought: its inner predict's `reasoning` and the signature's outputs), each tied
    to its predictor explicitly, so a field name two predictors share (ReAct, MCC) is no
    error. Modules that call a predictor more than once (ReAct's loop, BestOfN and Refine's
    attempts) get reusable listeners: each call streams its fields again."""
    import dspy

    reuse = module_name not in ("Predict", "ChainOfThought")
    return [
        dspy.streaming.StreamListener(signature_field_name=name, predict=predictor, predict_name=predictor_name, allow_reuse=reuse)
        for predictor_name, predictor in program.named_predictors()
        for name in predictor.signature.output_fields
    ]


def _streamable(program: Any, module_name: str) -> Any:
    """What `dspy.streamify` runs: the call `_run` would make, as a coroutine function that
    also answers `named_predictors` (streamify finds the listened predictors through it).
    Modules without an async path run in an AnyIO worker thread (`dspy.asyncify`), from
    which DSPy's synchronous LM path can still send its chunks."""
    import dspy

    if module_name == "MultiChainComparison":
        compare = dspy.asyncify(program)

        async def run(**inputs: Any) -> Any:
            attempt = dspy.ChainOfThought(program.attempt_signature)
            attempts = [await attempt.acall(**inputs) for _ in range(program.M)]
            return await compare(completions=attempts, **inputs)

    elif callable(getattr(program, "aforward", None)) and "forward" not in vars(program):

        async def run(**inputs: Any) -> Any:
            return await program.acall(**inputs)

    else:
        run = dspy.asyncify(program)
    run.named_predictors = program.named_predictors  # type: ignore[attr-defined]
    return run


async def _stream(
    program: Any, module_name: str, inputs: dict[str, Any], lm_spec: dict[str, Any] | None, *, usage: bool = True, lm_calls: bool = False
) -> AsyncIterator[dict[str, Any]]:
    """Runs like `_run` under `dspy.streamify` with a listener on every output field, and
    yields plain items: `{"type": "status", "message"}`, `{"type": "chunk", "field", "text",
    "predictor", "last"}` (the field's own text, markers excluded, as the LM streams it) and
    `{"type": "prediction", **_run's result}` last. Whatever else DSPy yields (a raw
    provider chunk no listener claims, a custom LM's own objects) is dropped, never sent
    as a repr."""
    import dspy
    from dspy.streaming import StatusMessage, StreamResponse

    lm = lm_from_spec(lm_spec)
    recorder = _lm_call_recorder() if lm_calls else None
    started = time.perf_counter()
    overrides: dict[str, Any] = {"track_usage": usage}
    if lm is not None:
        overrides["lm"] = lm
    if recorder is not None:
        overrides["callbacks"] = [*dspy.settings.callbacks, recorder]
    yield {"type": "status", "message": f"running {module_name}"}
    with lm_errors(), dspy.context(**overrides):
        if dspy.settings.lm is None:
            raise LMError("no LM configured: pass `lm` (e.g. {model: 'openai/gpt-4o-mini', api_key_env: 'OPENAI_API_KEY'})")
        # Built inside the context: streamify keeps the callbacks it sees (the recorder).
        streaming = dspy.streamify(
            _streamable(program, module_name), stream_listeners=_stream_listeners(program, module_name), is_async_program=False
        )
        # DSPy's generator runs in a task of its own (made here, so it carries this context)
        # and is only ever stopped by cancelling that task. Closing it at a yield instead
        # (aclose, when the consumer leaves early) would leave the generator it wraps open
        # with its AnyIO task group inside, for the loop to close later in another task,
        # where that group cannot exit and cancels the wrong task. The queue is unbounded so
        # the pump never waits outside DSPy's generator; one completion's chunks are few.
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        pump = asyncio.create_task(_pump(streaming(**inputs), queue))
        try:
            while True:
                kind, item = await queue.get()
                if kind == "end":
                    break
                if kind == "error":
                    raise item
                if isinstance(item, StreamResponse):
                    if item.chunk or item.is_last_chunk:
                        yield {
                            "type": "chunk",
                            "field": item.signature_field_name,
                            "text": item.chunk if isinstance(item.chunk, str) else json.dumps(plain(item.chunk), default=str),
                            "predictor": item.predict_name or "",
                            "last": bool(item.is_last_chunk),
                        }
                elif isinstance(item, dspy.Prediction):
                    result = serialize_prediction(item)
                    result["latency_ms"] = (time.perf_counter() - started) * 1000
                    result["lm"] = getattr(dspy.settings.lm, "model", None)
                    result["lm_calls"] = recorder.calls if recorder is not None else []
                    yield {"type": "prediction", **result}
                elif isinstance(item, StatusMessage):
                    yield {"type": "status", "message": str(item.message)}
                # anything else: dropped (see the docstring)
        finally:
            if not pump.done():
                pump.cancel()  # lands inside DSPy's generator: its task group cancels the LM call
                await asyncio.wait([pump])


async def _pump(items: Any, queue: asyncio.Queue[tuple[str, Any]]) -> None:
    try:
        async for item in items:
            queue.put_nowait(("item", item))
    except asyncio.CancelledError:
        raise
    except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
        queue.put_nowait(("error", exc))
        return
    queue.put_nowait(("end", None))


@command(name="dspy.stream")
async def dspy_stream(
    module: str,
    signature: str | dict,
    inputs: dict,
    ctx: CommandContext,
    lm: dict | None = None,
    config: dict | None = None,
    usage: bool = True,
    lm_calls: bool = False,
) -> AsyncIterator[dict[str, Any]]:
    """Like dspy.run, streaming as it runs: status messages, each output field's tokens as
    the LM streams them (`field` names the signature field), and the prediction last."""
    if config and config.get("tools"):
        config = {**config, "tools": await _resolve_tools(list(config["tools"]), ctx.session_id)}
        program = build_module(module, signature, config)
    else:
        program = _cached_module(module, signature, config)
    check_inputs(signature, inputs)  # after the module and signature were checked
    from contextlib import aclosing  # closed in this task when the call ends early (see _stream)

    async with aclosing(_stream(program, module.split(".")[-1], inputs, lm, usage=usage, lm_calls=lm_calls)) as items:
        async for item in items:
            yield item


# -- session programs ----------------------------------------------------------------------


@dataclass
class _Program:
    module: str
    signature: str | dict
    config: dict[str, Any]
    instance: Any
    bindings: dict[str, str] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    runs: int = 0


_programs: dict[str, dict[str, _Program]] = {}


def _release_session(session_id: str) -> None:
    _programs.pop(session_id, None)


try:  # when session support is importable, a released session's programs go with it
    from ..session.commands import on_session_release

    on_session_release(_release_session)
except ImportError:  # pragma: no cover - dspy without the session package
    pass


def _session_programs(ctx: CommandContext) -> dict[str, _Program]:
    if not ctx.session_id:
        raise InvalidArgumentError("session programs need a session: call with { session }", parameter="session")
    return _programs.setdefault(ctx.session_id, {})


def _program(ctx: CommandContext, program_id: str) -> _Program:
    try:
        return _session_programs(ctx)[program_id]
    except KeyError:
        raise NotFoundError(
            f"program {program_id!r} not found in session {ctx.session_id!r} (this worker holds: "
            f"{', '.join(_session_programs(ctx)) or 'none'}; programs are lost when their worker restarts — save their state)",
            details={"program_id": program_id},
        ) from None


def _describe_program(program_id: str, p: _Program) -> dict[str, Any]:
    return {
        "program_id": program_id,
        "module": p.module,
        "signature": p.signature,
        "config": plain(p.config),
        "bindings": dict(p.bindings),
        "runs": p.runs,
        "created_at": p.created_at,
    }


@command(name="dspy.create_program")
async def dspy_create_program(
    program_id: str,
    module: str,
    signature: str | dict,
    ctx: CommandContext,
    config: dict | None = None,
    bindings: dict | None = None,
    replace: bool = False,
    modules: list | None = None,
) -> dict[str, Any]:
    """Creates a program in this session's worker. `bindings` ({attribute: variable}) make it
    variable-aware: before each run it syncs those session variables into every predictor's
    LM settings (temperature, max_tokens, model, …) — with no round trip when nothing changed.
    `modules` (the adapter seed's multi-module program, module "Pipeline"): those modules run
    in order over the signature, each later one also given the previous one's outputs."""
    programs = _session_programs(ctx)
    if program_id in programs and not replace:
        raise AlreadyExistsError(f"program {program_id!r} already exists in session {ctx.session_id!r}")
    if modules or module == "Pipeline":
        from .adapter import Pipeline

        config = dict(config or {})
        stages = list(modules or config.pop("modules", None) or [])
        config.pop("modules", None)
        if not stages or not all(isinstance(m, str) and m for m in stages):
            raise InvalidArgumentError("modules must be a non-empty list of module names, e.g. ['ChainOfThought', 'Predict']", parameter="modules")
        if module not in ("Pipeline", *stages[:1]):
            raise InvalidArgumentError(f"give module 'Pipeline' (or none) with modules, not {module!r}", parameter="module")
        instance = Pipeline(signature, stages, config)
        module, config = "Pipeline", {**config, "modules": stages}
    else:
        instance = build_module(module, signature, config)
    if bindings:
        from ..session.commands import session_context
        from .variable_aware import make_variable_aware

        session = await session_context(ctx.session_id)
        instance = make_variable_aware(instance, session)
        await instance.bind_to_variables({str(k): str(v) for k, v in bindings.items()})
    programs[program_id] = _Program(module, signature, dict(config or {}), instance, dict(bindings or {}))
    return _describe_program(program_id, programs[program_id])


# How long a run waits for the session's latest change to reach this worker.
_FRESHNESS_WAIT_S = 2.0


@command(name="dspy.execute_program")
async def dspy_execute_program(
    program_id: str, inputs: dict, ctx: CommandContext, lm: dict | None = None, min_revision: int = 0, lm_calls: bool = False
) -> dict[str, Any]:
    """Runs a session program. `min_revision` (sent by the host: the session's latest commit)
    makes a bound program wait until this worker's watch has delivered that change, so a
    variable set just before the call is the one the LM sees."""
    p = _program(ctx, program_id)
    check_inputs(p.signature, inputs)
    await _await_fresh(ctx, p, min_revision)
    p.runs += 1
    # Bound programs report what each LM call received: the visible proof of the binding.
    return await _run(p.instance, p.module.split(".")[-1], inputs, lm, lm_calls=bool(p.bindings) or lm_calls)


async def _await_fresh(ctx: CommandContext, p: _Program, min_revision: int) -> None:
    """A bound program waits (up to _FRESHNESS_WAIT_S) until this worker's watch has
    delivered the session's revision `min_revision`."""
    if p.bindings and min_revision:
        from ..session.commands import session_context

        session = await session_context(ctx.session_id)
        try:
            await session.wait_for_revision(min_revision, timeout=_FRESHNESS_WAIT_S)
        except asyncio.TimeoutError:
            pass  # a change this session may not observe never arrives: run with what we have


@command(name="dspy.stream_program")
async def dspy_stream_program(
    program_id: str, inputs: dict, ctx: CommandContext, lm: dict | None = None, min_revision: int = 0, lm_calls: bool = False
) -> AsyncIterator[dict[str, Any]]:
    """Streams a session program like dspy.stream (status, each output field's tokens, the
    prediction last), its bound variables synced exactly as for dspy.execute_program."""
    p = _program(ctx, program_id)
    check_inputs(p.signature, inputs)
    await _await_fresh(ctx, p, min_revision)
    p.runs += 1
    from contextlib import aclosing  # closed in this task when the call ends early (see _stream)

    async with aclosing(_stream(p.instance, p.module.split(".")[-1], inputs, lm, lm_calls=bool(p.bindings) or lm_calls)) as items:
        async for item in items:
            yield item


@command(name="dspy.list_programs")
def dspy_list_programs(ctx: CommandContext) -> list[dict[str, Any]]:
    return [_describe_program(pid, p) for pid, p in _session_programs(ctx).items()]


@command(name="dspy.delete_program")
def dspy_delete_program(program_id: str, ctx: CommandContext) -> bool:
    return _session_programs(ctx).pop(program_id, None) is not None


@command(name="dspy.save_program")
def dspy_save_program(program_id: str, ctx: CommandContext) -> dict[str, Any]:
    """The program's definition and learned state (demos, instructions) as JSON-able data."""
    p = _program(ctx, program_id)
    saved = {"module": p.module, "signature": p.signature, "config": plain(p.config), "bindings": dict(p.bindings), "state": plain(p.instance.dump_state())}
    optimization = getattr(p, "optimization", None)  # set by an optimizer job (teleprompt/)
    if optimization:
        saved["optimization"] = plain(optimization)
    return saved


@command(name="dspy.load_program")
async def dspy_load_program(program_id: str, saved: dict, ctx: CommandContext, replace: bool = True) -> dict[str, Any]:
    """Recreates a program from `dspy.save_program` output (JSON state only, never pickle)."""
    for key in ("module", "signature", "state"):
        if key not in saved:
            raise InvalidArgumentError(f"saved program lacks {key!r}", parameter=f"saved.{key}")
    await dspy_create_program(
        program_id, saved["module"], saved["signature"], ctx, saved.get("config"), saved.get("bindings"), replace=replace
    )
    p = _program(ctx, program_id)
    try:
        p.instance.load_state(saved["state"])
    except Exception as exc:  # noqa: BLE001 - state from elsewhere
        raise InvalidArgumentError(f"saved state does not fit {saved['module']}({saved['signature']!r}): {exc}", parameter="saved.state") from None
    if isinstance(saved.get("optimization"), dict):
        from .teleprompt import knn_restore

        if saved["optimization"].get("optimizer") == "KNNFewShot":  # neighbours are picked per call: rebuild
            p.instance = knn_restore(p.instance, saved["optimization"])
        p.optimization = dict(saved["optimization"])  # type: ignore[attr-defined]
    return _describe_program(program_id, p)


# -- discovery and the generic call surface ---------------------------------------------------


def _parameters(fn: Any) -> list[dict[str, Any]]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    out = []
    for p in sig.parameters.values():
        if p.name == "self":
            continue
        out.append({
            "name": p.name,
            "kind": p.kind.name.lower(),
            "required": p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD),
            "default": None if p.default is inspect.Parameter.empty else plain(p.default),
            "annotation": None if p.annotation is inspect.Parameter.empty else getattr(p.annotation, "__name__", str(p.annotation)),
        })
    return out


@command(name="dspy.describe")
def dspy_describe(target: str = "", signature: str = "") -> dict[str, Any]:
    """Schema discovery: the modules on offer (no arguments), a dspy class or function
    (`target`), or a signature's fields (`signature`)."""
    import dspy

    if signature:
        try:
            sig = dspy.Signature(signature)
        except Exception as exc:  # noqa: BLE001
            raise InvalidArgumentError(f"invalid signature {signature!r}: {exc}", parameter="signature") from None
        fields = lambda d: [  # noqa: E731
            {"name": n, "type": getattr(f.annotation, "__name__", str(f.annotation)), "description": (f.json_schema_extra or {}).get("desc", "")}
            for n, f in d.items()
        ]
        return {"signature": signature, "instructions": sig.instructions, "inputs": fields(sig.input_fields), "outputs": fields(sig.output_fields)}
    if not target:
        return {"modules": [{"name": m, "doc": (inspect.getdoc(getattr(dspy, m)) or "").split("\n")[0]} for m in MODULE_TYPES]}
    obj = resolve_public(target)
    kind = "class" if inspect.isclass(obj) else "function" if callable(obj) else "value"
    described: dict[str, Any] = {"target": target, "kind": kind, "doc": inspect.getdoc(obj) or ""}
    if kind == "class":
        described["parameters"] = _parameters(obj.__init__)
        described["methods"] = sorted(n for n, v in inspect.getmembers(obj) if callable(v) and not n.startswith("_"))
    elif kind == "function":
        described["parameters"] = _parameters(obj)
    return described


@command(name="dspy.call")
async def dspy_call(target: str, args: list | None = None, kwargs: dict | None = None, lm: dict | None = None) -> Any:
    """Calls any dspy function or class by its dotted name with plain arguments; the result
    comes back serialized (a Prediction as its fields, objects as their fields or text)."""
    import dspy

    obj = resolve_public(target)
    if not callable(obj):
        return plain(obj)
    lm_obj = lm_from_spec(lm)
    with lm_errors(), dspy.context(**({"lm": lm_obj} if lm_obj is not None else {})):
        result = obj(*(args or []), **(kwargs or {}))
        if inspect.isawaitable(result):
            result = await result
    if isinstance(result, dspy.Prediction):
        return serialize_prediction(result)
    return plain(result)


from .teleprompt import commands as _teleprompt_commands  # noqa: E402,F401 - registers dspy.optimize, dspy.optimizers
from . import adapter as _adapter  # noqa: E402,F401 - registers the seeds' adapter commands (check_dspy, execute_module, ...)
