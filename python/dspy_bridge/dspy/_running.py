"""Building and running DSPy modules for the worker's commands: modules by name, one run or
one stream under a per-call ``dspy.context``, discovery of DSPy's public API and calls into it.

Runs real DSPy modules through DSPy's async path (many calls per worker at once), each under
`dspy.context(lm=..., track_usage=True)` so concurrent calls with different LMs never share
global settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import dspy
from dspy.streaming import StatusMessage, StreamResponse
from dspy.utils.callback import BaseCallback

from ..core._lm_errors import lm_errors
from ..errors import InvalidArgumentError, LMError
from ._lm_specs import lm_from_spec
from ._public_api import resolve_public
from ._removed import DEPRECATED_MODULES
from ._serialize import plain, serialize_prediction
from ._signatures import check_signature
from .interpreter import SubprocessInterpreter

__all__ = [
    "MODULE_TYPES",
    "build_module",
    "cached_module",
    "call_public",
    "describe",
    "parameters",
    "run_module",
    "stream_module",
]

# Module names the host may ask for, with their DSPy class names.
MODULE_TYPES = ("Predict", "ChainOfThought", "ReAct", "ProgramOfThought", "MultiChainComparison", "BestOfN", "Refine")


def _complete(signature: str | dict, outputs: dict[str, Any]) -> float:
    """Default reward for BestOfN/Refine: 1.0 when every output field is non-empty."""
    return 1.0 if all(v not in (None, "", [], {}) for v in outputs.values()) else 0.0


def build_module(module: str, signature: str | dict, config: dict[str, Any] | None = None) -> Any:
    """A DSPy module by name. `config` holds constructor options (n, temperature, M, N, …);
    ReAct and ProgramOfThought get a safe default (no tools / the subprocess interpreter)."""
    config = dict(config or {})
    name = module.split(".")[-1]
    if name in DEPRECATED_MODULES:  # removed from DSPy: say what to use instead
        raise InvalidArgumentError(
            DEPRECATED_MODULES[name][1].replace(" is used instead", " is its replacement"), parameter="module"
        )
    if name not in MODULE_TYPES:
        raise InvalidArgumentError(
            f"unknown module {module!r}; available: {', '.join(MODULE_TYPES)}", parameter="module"
        )
    sig = check_signature(signature)  # an input and an output field ("q ->" is refused here)
    if name == "ReAct":
        return dspy.ReAct(sig, tools=config.pop("tools", []), **config)
    if name == "ProgramOfThought":
        return dspy.ProgramOfThought(sig, interpreter_factory=SubprocessInterpreter, **config)
    if name in ("BestOfN", "Refine"):
        inner = dspy.ChainOfThought(sig) if config.pop("chain_of_thought", False) else dspy.Predict(sig)
        n = int(config.pop("N", 3))
        threshold = float(config.pop("threshold", 1.0))
        cls = dspy.BestOfN if name == "BestOfN" else dspy.Refine
        return cls(
            module=inner,
            N=n,
            reward_fn=lambda args, pred: _complete(signature, dict(pred.items())),
            threshold=threshold,
            **config,
        )
    built = getattr(dspy, name)(sig, **config)
    if name == "MultiChainComparison":
        # MCC keeps only a derived signature; its attempts need the original one.
        built.attempt_signature = sig
    return built


_REPORTED_KWARGS = ("model", "temperature", "max_tokens", "n", "top_p", "stop", "seed")


class _LMCallRecorder(BaseCallback):
    """A DSPy callback recording what each LM call of one run actually received — the
    proof that a variable binding reached the LM. Scoped to one run by dspy.context, so
    concurrent runs never mix their records."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def on_lm_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        kwargs = {**getattr(instance, "kwargs", {}), **(inputs.get("kwargs") or {})}
        record = {k: plain(kwargs[k]) for k in _REPORTED_KWARGS if k in kwargs and kwargs[k] is not None}
        record.setdefault("model", getattr(instance, "model", None))
        self.calls.append(record)


class _Run:
    """What one run of a module needs around it, for `run_module` and `stream_module` alike:
    the call's LM, DSPy's usage tracking, the per-LM-call record, the clock, and the
    `dspy.context` they go into (never a global setting), with DSPy's LM errors translated."""

    def __init__(self, lm_spec: dict[str, Any] | None, usage: bool, lm_calls: bool) -> None:
        self.lm = lm_from_spec(lm_spec)
        self.usage = usage
        self.recorder = _LMCallRecorder() if lm_calls else None
        self.started = time.perf_counter()

    @contextlib.contextmanager
    def context(self) -> Iterator[None]:
        overrides: dict[str, Any] = {"track_usage": self.usage}
        if self.lm is not None:
            overrides["lm"] = self.lm
        if self.recorder is not None:
            overrides["callbacks"] = [*dspy.settings.callbacks, self.recorder]
        with lm_errors(), dspy.context(**overrides):
            if dspy.settings.lm is None:
                raise LMError(
                    "no LM configured: pass `lm` (e.g. {model: 'openai/gpt-4o-mini', api_key_env: 'OPENAI_API_KEY'})"
                )
            yield

    def result(self, prediction: Any) -> dict[str, Any]:
        """The prediction as the host gets it: fields, usage, latency, the LM, the LM calls."""
        result = serialize_prediction(prediction)
        result["latency_ms"] = (time.perf_counter() - self.started) * 1000
        result["lm"] = getattr(dspy.settings.lm if self.lm is None else self.lm, "model", None)
        result["lm_calls"] = self.recorder.calls if self.recorder is not None else []
        return result


def _caller(program: Any, module_name: str, in_thread: Callable[[Any], Any]) -> Callable[..., Awaitable[Any]]:
    """The coroutine function that runs `program` once on its inputs, the same for a run and
    a stream. DSPy's async path where the module has one; otherwise `in_thread(program)` (for
    ProgramOfThought, and for a forward set on the instance that its class's aforward would
    bypass: KNNFewShot's compiled program), which carries the call's dspy.context along.
    MultiChainComparison compares M attempts: made with ChainOfThought first."""
    if module_name == "MultiChainComparison":
        compare = in_thread(program)  # MCC has no async path in DSPy

        async def attempt_then_compare(**inputs: Any) -> Any:
            attempt = dspy.ChainOfThought(program.attempt_signature)
            attempts = [await attempt.acall(**inputs) for _ in range(program.M)]
            return await compare(completions=attempts, **inputs)

        return attempt_then_compare
    if callable(getattr(program, "aforward", None)) and "forward" not in vars(program):
        # A function of its own (not the bound method): a stream hangs `named_predictors` on it.
        async def acall(**inputs: Any) -> Any:
            return await program.acall(**inputs)

        return acall
    return in_thread(program)


def _to_thread(program: Any) -> Callable[..., Awaitable[Any]]:
    """`asyncio.to_thread` (it copies the context, this call's dspy.context included)."""

    async def run(**inputs: Any) -> Any:
        return await asyncio.to_thread(program, **inputs)

    return run


async def run_module(
    program: Any,
    module_name: str,
    inputs: dict[str, Any],
    lm_spec: dict[str, Any] | None,
    *,
    usage: bool = True,
    lm_calls: bool = False,
) -> dict[str, Any]:
    """Runs under a per-call dspy.context. Token usage (on by default) and the per-LM-call
    record (on for bound programs) each cost DSPy noticeable time per call, so both can be
    turned off."""
    run = _Run(lm_spec, usage, lm_calls)
    with run.context():
        prediction = await _caller(program, module_name, _to_thread)(**inputs)
    return run.result(prediction)


# Built modules by definition: parsing a signature and building a module costs more than a
# scripted LM call, and a module's forward does not change it, so calls share one instance.
_built: dict[Any, Any] = {}
_BUILT_LIMIT = 256


def cached_module(module: str, signature: str | dict, config: dict[str, Any] | None) -> Any:
    try:
        # Without a config (the usual call) the key needs no JSON rendering.
        key = (
            (module, signature)
            if not config and isinstance(signature, str)
            else json.dumps([module, signature, config], sort_keys=True)
        )
    except (TypeError, ValueError):
        return build_module(module, signature, config)
    program = _built.get(key)
    if program is None:
        program = build_module(module, signature, config)
        if len(_built) >= _BUILT_LIMIT:
            _built.pop(next(iter(_built)))
        _built[key] = program
    return program


def _stream_listeners(program: Any, module_name: str) -> list[Any]:
    """One DSPy StreamListener per output field of every predictor in the program (for
    ChainOfThought: its inner predict's `reasoning` and the signature's outputs), each tied
    to its predictor explicitly, so a field name two predictors share (ReAct, MCC) is no
    error. Modules that call a predictor more than once (ReAct's loop, BestOfN and Refine's
    attempts) get reusable listeners: each call streams its fields again."""
    reuse = module_name not in ("Predict", "ChainOfThought")
    return [
        dspy.streaming.StreamListener(
            signature_field_name=name, predict=predictor, predict_name=predictor_name, allow_reuse=reuse
        )
        for predictor_name, predictor in program.named_predictors()
        for name in predictor.signature.output_fields
    ]


def _streamable(program: Any, module_name: str) -> Any:
    """What `dspy.streamify` runs: the call `run_module` would make, as a coroutine function that
    also answers `named_predictors` (streamify finds the listened predictors through it).
    Modules without an async path run in an AnyIO worker thread (`dspy.asyncify`), from
    which DSPy's synchronous LM path can still send its chunks."""
    run = _caller(program, module_name, dspy.asyncify)
    run.named_predictors = program.named_predictors  # type: ignore[attr-defined]
    return run


async def stream_module(
    program: Any,
    module_name: str,
    inputs: dict[str, Any],
    lm_spec: dict[str, Any] | None,
    *,
    usage: bool = True,
    lm_calls: bool = False,
) -> AsyncIterator[dict[str, Any]]:
    """Runs like `run_module` under `dspy.streamify` with a listener on every output field, and
    yields plain items: `{"type": "status", "message"}`, `{"type": "chunk", "field", "text",
    "predictor", "last"}` (the field's own text, markers excluded, as the LM streams it) and
    `{"type": "prediction", **run_module's result}` last. Whatever else DSPy yields (a raw
    provider chunk no listener claims, a custom LM's own objects) is dropped, never sent
    as a repr."""
    run = _Run(lm_spec, usage, lm_calls)
    yield {"type": "status", "message": f"running {module_name}"}
    with run.context():
        # Built inside the context: streamify keeps the callbacks it sees (the recorder).
        streaming = dspy.streamify(
            _streamable(program, module_name),
            stream_listeners=_stream_listeners(program, module_name),
            is_async_program=False,
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
                            "text": item.chunk
                            if isinstance(item.chunk, str)
                            else json.dumps(plain(item.chunk), default=str),
                            "predictor": item.predict_name or "",
                            "last": bool(item.is_last_chunk),
                        }
                elif isinstance(item, dspy.Prediction):
                    yield {"type": "prediction", **run.result(item)}
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


def parameters(fn: Any) -> list[dict[str, Any]]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    out = []
    for p in sig.parameters.values():
        if p.name == "self":
            continue
        out.append(
            {
                "name": p.name,
                "kind": p.kind.name.lower(),
                "required": p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD),
                "default": None if p.default is inspect.Parameter.empty else plain(p.default),
                "annotation": None
                if p.annotation is inspect.Parameter.empty
                else getattr(p.annotation, "__name__", str(p.annotation)),
            }
        )
    return out


def describe(target: str = "", signature: str = "") -> dict[str, Any]:
    """Schema discovery: the modules on offer (no arguments), a dspy class or function
    (`target`), or a signature's fields (`signature`)."""
    if signature:
        try:
            sig = dspy.Signature(signature)
        except Exception as exc:  # noqa: BLE001
            raise InvalidArgumentError(f"invalid signature {signature!r}: {exc}", parameter="signature") from None
        fields = lambda d: [  # noqa: E731
            {
                "name": n,
                "type": getattr(f.annotation, "__name__", str(f.annotation)),
                "description": (f.json_schema_extra or {}).get("desc", ""),
            }
            for n, f in d.items()
        ]
        return {
            "signature": signature,
            "instructions": sig.instructions,
            "inputs": fields(sig.input_fields),
            "outputs": fields(sig.output_fields),
        }
    if not target:
        return {
            "modules": [
                {"name": m, "doc": (inspect.getdoc(getattr(dspy, m)) or "").split("\n")[0]} for m in MODULE_TYPES
            ]
        }
    obj = resolve_public(target)
    kind = "class" if inspect.isclass(obj) else "function" if callable(obj) else "value"
    described: dict[str, Any] = {"target": target, "kind": kind, "doc": inspect.getdoc(obj) or ""}
    if kind == "class":
        described["parameters"] = parameters(obj.__init__)
        described["methods"] = sorted(n for n, v in inspect.getmembers(obj) if callable(v) and not n.startswith("_"))
    elif kind == "function":
        described["parameters"] = parameters(obj)
    return described


async def call_public(target: str, args: list | None = None, kwargs: dict | None = None, lm: dict | None = None) -> Any:
    """Calls any dspy function or class by its dotted name with plain arguments; the result
    comes back serialized (a Prediction as its fields, objects as their fields or text)."""
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
