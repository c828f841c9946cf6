"""``ScriptedLM``: a deterministic ``dspy.BaseLM`` that needs no network.

It answers whatever signature DSPy renders into the messages (see :mod:`._prompt`): by default
with plausible values of each output field's type (see :mod:`._values`), or from a script.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import itertools
import re
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal
from collections.abc import Callable
import ast
import json

import dspy
from dspy.clients.call_context import stream_emitted

from ._prompt import FieldSpec, ParsedPrompt, ToolSpec, message_text, parse_messages
from ._values import default_outputs, format_completion

# DSPy 3.4 deprecates BaseLM.forward()/aforward() plugins (removal planned for 3.5) and warns
# on every call. ScriptedLM's own __call__/acall are the first non-DSPy frames, so DSPy
# attributes the warning to this module; ignore exactly that warning from exactly here.
_LEGACY_WARNING = r"Implementing custom LMs through BaseLM\.forward\(\) or aforward\(\) is deprecated"
warnings.filterwarnings("ignore", message=_LEGACY_WARNING, category=DeprecationWarning, module=rf"{__name__}$")

DEFAULT_MODEL = "scripted/deterministic"

# True while an ``acall`` runs DSPy's synchronous LM pipeline inline (see ScriptedLM.acall), so
# ``forward`` still records the call as asynchronous. A context variable, not an attribute:
# one LM object serves many tasks and threads at once.
_inline_acall: contextvars.ContextVar[bool] = contextvars.ContextVar("scripted_lm_inline_acall", default=False)

ScriptEntry = dict | str | None
"""A scripted answer: field values (missing fields get the default policy), a raw completion
text returned verbatim, or ``None`` for the default policy."""


class ScriptError(RuntimeError):
    """A scripted response does not fit the call it answers."""


class ScriptExhaustedError(ScriptError):
    """``responses`` ran out and ``when_exhausted="raise"``."""


@dataclass
class ScriptedRequest:
    """What one LM call asked for, as given to ``respond=`` callables."""

    messages: list[dict[str, Any]]
    kwargs: dict[str, Any]
    """Effective LM kwargs: the LM's defaults merged with the call's (temperature, max_tokens, n, ...)."""
    model: str
    call_index: int
    choice_index: int
    n: int
    adapter: Literal["chat", "json", "xml"]
    inputs: dict[str, Any]
    """Input field values, parsed back from the prompt (str fields verbatim; JSON/Python literals decoded)."""
    raw_inputs: dict[str, str]
    input_fields: dict[str, FieldSpec]
    output_fields: dict[str, FieldSpec]
    instructions: str
    tools: list[ToolSpec]
    prompt: str | None = None
    _parsed: ParsedPrompt | None = field(default=None, repr=False)

    @property
    def output_names(self) -> list[str]:
        return list(self.output_fields)

    @property
    def temperature(self) -> Any:
        return self.kwargs.get("temperature")

    @property
    def rollout_id(self) -> Any:
        return self.kwargs.get("rollout_id")

    def default_outputs(self) -> dict[str, Any]:
        """What the default policy would answer for this choice."""
        assert self._parsed is not None
        return default_outputs(self._parsed, _variant(self))


@dataclass
class ScriptedCall:
    """One recorded LM call (``ScriptedLM.calls``)."""

    index: int
    timestamp: float
    """``time.time()`` when the call started."""
    model: str
    kwargs: dict[str, Any]
    """Effective kwargs after DSPy and the LM merged them; ``kwargs["model"]`` is the model name."""
    messages: list[dict[str, Any]]
    prompt: str | None
    n: int
    asynchronous: bool
    requests: list[ScriptedRequest]
    outputs: list[dict[str, Any] | None]
    """Per choice: the field values answered (``None`` where a raw text was scripted)."""
    completions: list[str]
    """Per choice: the exact text returned to DSPy."""
    usage: dict[str, int]
    latency_ms: float
    duration_ms: float = 0.0
    response: Any = None

    @property
    def output(self) -> dict[str, Any] | None:
        return self.outputs[0] if self.outputs else None

    @property
    def temperature(self) -> Any:
        return self.kwargs.get("temperature")

    @property
    def max_tokens(self) -> Any:
        return self.kwargs.get("max_tokens")


class _AttrDict(dict):
    """A dict whose keys are also attributes (the shape of LiteLLM's ModelResponse)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _wrap(value: Any) -> Any:
    if isinstance(value, dict):
        return _AttrDict({k: _wrap(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _words(text: str | None) -> int:
    return len(text.split()) if text else 0


def _variant(request: ScriptedRequest) -> int:
    rollout = request.kwargs.get("rollout_id")
    base = rollout if isinstance(rollout, int) and not isinstance(rollout, bool) else 0
    return base + request.choice_index


def _decode_input(text: str, spec: FieldSpec | None) -> Any:
    if spec is None or spec.type_name == "str":
        return text

    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


class _Shared:
    """State shared by an LM and its copies (BestOfN/Refine copy the LM per attempt)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[ScriptedCall] = []
        self.counter = itertools.count()
        self.cursor = 0

    def __copy__(self) -> _Shared:
        return self

    def __deepcopy__(self, memo: dict) -> _Shared:
        return self


class ScriptedLM(dspy.BaseLM):
    """A deterministic, offline ``dspy.BaseLM`` for tests and demos.

    Args:
        responses: A script: answers consumed in order, one per choice (a dict of field values,
            a raw completion string, or ``None`` for the default policy). Fields a dict leaves
            out are filled by the default policy; a field the call did not ask for raises
            :class:`ScriptError`.
        respond: ``respond(request) -> dict | str | None`` called per choice with a
            :class:`ScriptedRequest` (may be ``async`` for ``acall``). ``None`` means the
            default policy. Takes precedence over ``responses``.
        when_exhausted: What happens after the last scripted response: ``"raise"`` (default,
            :class:`ScriptExhaustedError`), ``"cycle"`` (start over), or ``"default"`` (answer
            with the default policy).
        latency_ms: Simulated latency per call, a number or ``f(request) -> ms``; slept with
            ``time.sleep`` in ``forward`` and ``asyncio.sleep`` in ``aforward``.
        stream_delay_ms: Under ``dspy.streamify``, the completion is streamed a word at a time;
            this is the pause between async chunks.
        model: The model name reported in responses, history and usage.
        max_calls: How many recorded calls ``calls`` keeps (the most recent), like DSPy's own
            history (``max_history_size``): an LM that serves a long-running worker must not
            grow without bound. ``None`` keeps every call.
        **kwargs: Default LM kwargs (``temperature``, ``max_tokens``, ...), as for ``dspy.LM``.

    Copies (``lm.copy(...)``, as BestOfN/Refine make) share ``calls`` and the script position.
    """

    def __init__(
        self,
        responses: list[ScriptEntry] | None = None,
        *,
        respond: Callable[[ScriptedRequest], Any] | None = None,
        when_exhausted: Literal["raise", "cycle", "default"] = "raise",
        latency_ms: float | Callable[[ScriptedRequest], float] = 0.0,
        stream_delay_ms: float = 0.0,
        max_calls: int | None = 10_000,
        model: str = DEFAULT_MODEL,
        model_type: str = "chat",
        temperature: float | None = None,
        max_tokens: int | None = None,
        cache: bool = False,
        num_retries: int = 0,
        **kwargs: Any,
    ) -> None:
        if when_exhausted not in ("raise", "cycle", "default"):
            raise ValueError("when_exhausted must be 'raise', 'cycle' or 'default'")
        if model_type != "chat":
            raise ValueError("ScriptedLM only answers chat-style calls (model_type='chat')")
        super().__init__(
            model=model,
            model_type=model_type,
            temperature=temperature,
            max_tokens=max_tokens,
            cache=cache,
            num_retries=num_retries,
            **kwargs,
        )
        self.responses = list(responses) if responses is not None else None
        self.respond = respond
        self.when_exhausted = when_exhausted
        self.latency_ms = latency_ms
        self.stream_delay_ms = stream_delay_ms
        if max_calls is not None and (not isinstance(max_calls, int) or max_calls < 1):
            raise ValueError("max_calls must be a positive integer or None")
        self.max_calls = max_calls
        self._shared = _Shared()

    # -- public helpers -----------------------------------------------------------------

    @property
    def calls(self) -> list[ScriptedCall]:
        """Every call so far (shared with copies), oldest first."""
        return self._shared.calls

    @property
    def last_call(self) -> ScriptedCall | None:
        return self._shared.calls[-1] if self._shared.calls else None

    def reset(self) -> None:
        """Forget recorded calls and rewind the script."""
        with self._shared.lock:
            self._shared.calls.clear()
            self._shared.cursor = 0
            self._shared.counter = itertools.count()

    @property
    def remaining_responses(self) -> int | None:
        if self.responses is None:
            return None
        return max(0, len(self.responses) - self._shared.cursor)

    def dump_state(self) -> dict[str, Any]:
        # Scripts and callables are not state: a loaded copy answers with the default policy.
        return super().dump_state()

    # -- DSPy entry points --------------------------------------------------------------
    # Overridden only so DSPy's per-call deprecation warning is attributed to this module.

    def __call__(self, prompt: Any = None, *, messages: Any = None, **kwargs: Any) -> Any:
        return super().__call__(prompt, messages=messages, **kwargs)

    async def acall(self, prompt: Any = None, *, messages: Any = None, **kwargs: Any) -> Any:
        """DSPy's ``BaseLM.acall`` runs two steps in a thread each (``prepare``, which may read
        media files, and the pricing-metadata lookup): about 0.3 ms of thread hand-offs per
        call, twice what the scripted answer itself costs. When this call has nothing to wait
        for (see ``_answers_at_once``), the same DSPy pipeline (prepare, execute, finalize,
        the same callbacks, history and usage) runs inline instead, with no thread and no
        suspension. With simulated latency, an async ``respond=`` or streaming, the call takes
        DSPy's async path, so concurrent calls overlap and can be cancelled while they wait."""
        if self._answers_at_once():
            token = _inline_acall.set(True)
            try:
                return super().__call__(prompt, messages=messages, **kwargs)
            finally:
                _inline_acall.reset(token)
        return await super().acall(prompt, messages=messages, **kwargs)

    def _answers_at_once(self) -> bool:
        # A legacy BaseLM call never uses DSPy's cache or retries, so these are all the waits.
        return (
            self.respond is None
            and not callable(self.latency_ms)
            and not self.latency_ms
            and dspy.settings.send_stream is None
        )

    def forward(self, prompt: Any = None, messages: Any = None, **kwargs: Any) -> Any:
        call, requests = self._begin(prompt, messages, kwargs, asynchronous=_inline_acall.get())
        latency = self._latency(requests[0])
        if latency > 0:
            time.sleep(latency / 1000)
        answers = []
        for request in requests:
            answer = self._answer(request)
            if inspect.isawaitable(answer):
                close = getattr(answer, "close", None)
                if close:
                    close()
                raise ScriptError("respond= returned an awaitable in a synchronous call; use acall or a plain function")
            answers.append(answer)
        response = self._finish(call, requests, answers, latency)
        stream = dspy.settings.send_stream
        if stream is not None:
            import anyio  # here: only a streaming call needs it (DSPy loads it lazily too)

            for chunk in self._stream_chunks(call):
                try:
                    anyio.from_thread.run(stream.send, chunk)
                except RuntimeError:  # not in a worker thread of an event loop: nothing to stream to
                    break
        return response

    async def aforward(self, prompt: Any = None, messages: Any = None, **kwargs: Any) -> Any:
        call, requests = self._begin(prompt, messages, kwargs, asynchronous=True)
        latency = self._latency(requests[0])
        if latency > 0:
            await asyncio.sleep(latency / 1000)
        answers = []
        for request in requests:
            answer = self._answer(request)
            if inspect.isawaitable(answer):
                answer = await answer
            answers.append(answer)
        response = self._finish(call, requests, answers, latency)
        stream = dspy.settings.send_stream
        if stream is not None:
            for chunk in self._stream_chunks(call):
                await stream.send(chunk)
                if self.stream_delay_ms:
                    await asyncio.sleep(self.stream_delay_ms / 1000)
        return response

    # -- internals ----------------------------------------------------------------------

    def _begin(self, prompt: Any, messages: Any, kwargs: dict[str, Any], *, asynchronous: bool):
        started = time.time()
        merged = {**self.kwargs, **kwargs}
        merged["model"] = self.model
        n = merged.get("n") or 1
        if messages is None:
            messages = [{"role": "user", "content": prompt if isinstance(prompt, str) else str(prompt or "")}]
        messages = [
            dict(m)
            if isinstance(m, dict)
            else {"role": getattr(m, "role", None), "content": getattr(m, "content", None)}
            for m in messages
        ]
        parsed = parse_messages(messages, merged)
        with self._shared.lock:
            index = next(self._shared.counter)
        inputs = {name: _decode_input(text, parsed.input_fields.get(name)) for name, text in parsed.raw_inputs.items()}
        requests = [
            ScriptedRequest(
                messages=messages,
                kwargs=merged,
                model=self.model,
                call_index=index,
                choice_index=i,
                n=n,
                adapter=parsed.adapter,
                inputs=inputs,
                raw_inputs=dict(parsed.raw_inputs),
                input_fields=dict(parsed.input_fields),
                output_fields=dict(parsed.output_fields),
                instructions=parsed.instructions,
                tools=list(parsed.tools),
                prompt=prompt if isinstance(prompt, str) else None,
                _parsed=parsed,
            )
            for i in range(n)
        ]
        call = ScriptedCall(
            index=index,
            timestamp=started,
            model=self.model,
            kwargs=merged,
            messages=messages,
            prompt=prompt if isinstance(prompt, str) else None,
            n=n,
            asynchronous=asynchronous,
            requests=requests,
            outputs=[],
            completions=[],
            usage={},
            latency_ms=0.0,
        )
        return call, requests

    def _stream_chunks(self, call: ScriptedCall) -> list[Any]:
        """The first choice's text, a word at a time, as the chunks ``dspy.streamify`` listens to.

        Used only when DSPy asks this call to stream (``dspy.settings.send_stream`` is set, i.e.
        under ``dspy.streamify`` with a listener on this predictor). Relies on DSPy 3.4's
        listener chunk type; without it nothing is streamed (the final Prediction still is).
        """
        try:
            from dspy.clients.engines.streaming import EngineChunk  # here: DSPy loads it lazily, for streaming
        except ImportError:
            return []
        caller = dspy.settings.caller_predict
        text = call.completions[0] if call.completions else ""
        pieces = re.findall(r"\S+\s*|\s+", text)
        chunks = []
        chunk_id = f"scripted-{call.index}"
        for i, piece in enumerate(pieces):
            finish = "stop" if i == len(pieces) - 1 else None
            chunks.append(
                EngineChunk(
                    id=chunk_id,
                    model=self.model,
                    predict_id=id(caller) if caller is not None else None,
                    choices=[_wrap({"index": 0, "delta": {"content": piece}, "finish_reason": finish})],
                )
            )
        if chunks:
            stream_emitted()
        return chunks

    def _latency(self, request: ScriptedRequest) -> float:
        latency = self.latency_ms(request) if callable(self.latency_ms) else self.latency_ms
        return float(latency or 0.0)

    def _answer(self, request: ScriptedRequest) -> Any:
        if self.respond is not None:
            return self.respond(request)
        if self.responses is None:
            return None
        with self._shared.lock:
            cursor = self._shared.cursor
            if cursor >= len(self.responses):
                if self.when_exhausted == "default" or (self.when_exhausted == "cycle" and not self.responses):
                    return None
                if self.when_exhausted == "raise":
                    raise ScriptExhaustedError(
                        f"ScriptedLM ran out of scripted responses: all {len(self.responses)} were used, and call "
                        f"#{request.call_index} (choice {request.choice_index}) asks for "
                        f"{request.output_names or 'free text'}. Add responses, or pass "
                        "when_exhausted='cycle' or 'default'."
                    )
                cursor = 0
            self._shared.cursor = cursor + 1
            return self.responses[cursor]

    def _render(self, request: ScriptedRequest, answer: Any, position: int) -> tuple[str, dict[str, Any] | None]:
        if isinstance(answer, str):
            return answer, None
        if answer is not None and not isinstance(answer, dict):
            raise ScriptError(
                f"scripted response for call #{request.call_index} must be a dict, a str or None, "
                f"not {type(answer).__name__}"
            )
        answer = dict(answer or {})
        if not request.output_fields:
            if answer:
                return (answer.get("text") if set(answer) == {"text"} else format_completion("json", answer)), answer
            text = " ".join(message_text(m) for m in request.messages if m.get("role") == "user").strip()
            return f"Scripted response to: {text[:200]}", None
        unknown = [k for k in answer if k not in request.output_fields]
        if unknown:
            raise ScriptError(
                f"scripted response for call #{request.call_index} sets {unknown}, which this call does not ask "
                f"for; it asks for {request.output_names}"
            )
        missing = [k for k in request.output_fields if k not in answer]
        if missing:
            defaults = request.default_outputs()
            answer = {k: answer[k] if k in answer else defaults[k] for k in request.output_fields}
        else:
            answer = {k: answer[k] for k in request.output_fields}
        return format_completion(request.adapter, answer), answer

    def _finish(self, call: ScriptedCall, requests: list[ScriptedRequest], answers: list[Any], latency: float):
        for i, (request, answer) in enumerate(zip(requests, answers)):
            text, outputs = self._render(request, answer, i)
            call.completions.append(text)
            call.outputs.append(outputs)
        prompt_tokens = sum(_words(message_text(m)) for m in call.messages)
        completion_tokens = sum(_words(t) for t in call.completions)
        call.usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        call.latency_ms = latency
        response = _wrap(
            {
                "id": f"scripted-{uuid.uuid4().hex[:12]}",
                "object": "chat.completion",
                "created": int(call.timestamp),
                "model": self.model,
                "choices": [
                    {"index": i, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
                    for i, text in enumerate(call.completions)
                ],
                "usage": dict(call.usage),
            }
        )
        call.response = response
        call.duration_ms = (time.time() - call.timestamp) * 1000
        with self._shared.lock:
            calls = self._shared.calls
            if self.max_calls is not None and len(calls) >= self.max_calls:
                del calls[: len(calls) - self.max_calls + 1]
            calls.append(call)
        return response
