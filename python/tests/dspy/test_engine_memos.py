"""The engine memos (dspy_bridge/dspy/_engine_memos.py): applied only to the DSPy they were
verified against, every binding DSPy calls replaced and put back, the same engine choice,
capability hints and routing as DSPy's own functions for many LM settings and environments,
and the same errors. Whole calls with and without them, over real HTTP:
tests/lm_http/test_engine_memos_http.py."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from typing import Any

import dspy
import pytest
from dspy.clients import backend_selection, capabilities, execution
from dspy.clients.engines import lm15_engine

from dspy_bridge.dspy import _engine_memos


@pytest.fixture
def memos() -> Iterator[None]:
    assert _engine_memos.install()
    yield
    _engine_memos.install()


def test_the_installed_dspy_is_the_verified_one() -> None:
    """Fails on a DSPy upgrade, on purpose: the memos are then off (DSPy's own functions run)
    until someone re-reads select_backend (what it reads: the LM's engine choice, model, model
    type, bound providers, client settings and the three environment variables), the
    capability functions (static tables for a built-in provider on the native engine), and
    AsyncLM15Engine.complete / _Routing._target (the same checks in the same order), and
    records the new version's digest in VERIFIED."""
    version = dspy.__version__
    assert version in _engine_memos.VERIFIED, f"DSPy {version} is not verified for the engine memos"
    assert _engine_memos.source_digest() == _engine_memos.VERIFIED[version], (
        f"DSPy {version}'s engine selection, capability or routing functions changed: re-verify _engine_memos.py"
    )


def test_every_binding_is_replaced_and_put_back(memos: None) -> None:
    assert _engine_memos.installed()
    memo = backend_selection.select_backend
    original = memo.__wrapped__  # type: ignore[attr-defined]
    for module in (backend_selection, execution, capabilities):
        assert module.select_backend is memo
    assert capabilities.prepare_async.__wrapped__ is not None  # type: ignore[attr-defined]
    assert lm15_engine.AsyncLM15Engine.complete.__wrapped__ is not None  # type: ignore[attr-defined]
    _engine_memos.uninstall()
    assert not _engine_memos.installed()
    for module in (backend_selection, execution, capabilities):
        assert module.select_backend is original
    assert not hasattr(capabilities.prepare_async, "__wrapped__")
    assert not hasattr(capabilities.resolve, "__wrapped__")
    assert not hasattr(lm15_engine.AsyncLM15Engine.complete, "__wrapped__")


def test_switched_off_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    _engine_memos.uninstall()
    monkeypatch.setenv(_engine_memos.ENV, "0")
    try:
        assert not _engine_memos.install()
        assert not _engine_memos.installed()
        assert not hasattr(backend_selection.select_backend, "__wrapped__")
    finally:
        monkeypatch.delenv(_engine_memos.ENV)
        assert _engine_memos.install()


LMS: list[tuple[str, dict[str, Any]]] = [
    ("openai/fixture", {"api_base": "http://127.0.0.1:9/v1", "api_key": "k"}),
    ("openai/fixture", {"api_base": "http://127.0.0.1:9/v1", "api_key": "k", "engine": "litellm"}),
    ("openai/fixture", {"api_base": "http://127.0.0.1:9/v1", "api_key": "k", "engine": "lm15"}),
    ("openai/fixture", {"api_key": "k", "timeout": 3.5}),
    ("openai/gpt-4o-mini", {"api_key": "k"}),
    ("anthropic/claude-sonnet-4-5", {"api_key": "k"}),
    ("xai/grok-3", {}),
    ("openai/fixture", {"api_key": "k", "headers": {"x-a": "1"}}),  # unhashable: DSPy's own function
    ("openai/fixture", {"api_key": "k", "organization": "o"}),  # a setting only LiteLLM carries
    ("nonexistent-provider/x", {"api_key": "k"}),
]


def _selection(lm: Any, options: dict[str, Any] | None) -> Any:
    try:
        s = backend_selection.select_backend(lm, options)
    except Exception as exc:  # noqa: BLE001 - compared as data
        return ("raised", type(exc).__qualname__, str(exc))
    return (s.native, s.resolution, s.clients)


def _capabilities(lm: Any, options: dict[str, Any]) -> Any:
    async def run() -> Any:
        with capabilities.planning_scope(lm, options):
            try:
                await capabilities.prepare_async(lm)
            except Exception as exc:  # noqa: BLE001 - compared as data
                return ("raised", type(exc).__qualname__, str(exc))
            return capabilities._planning.get().value

    return asyncio.run(run())


@pytest.mark.parametrize(("model", "kwargs"), LMS)
def test_the_same_choice_hints_and_routing_as_dspy(
    model: str, kwargs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    options_list: list[dict[str, Any] | None] = [None, {}, {"timeout": 9.0}, {"api_base": "http://127.0.0.1:8/v1"}]
    environments: list[dict[str, str]] = [{}, {"OPENAI_API_BASE": "http://gw/v1"}, {"XAI_API_KEY": "x"}, {}]

    def observe() -> list[Any]:
        seen = []
        lm = dspy.LM(model, cache=False, **kwargs)
        for env in environments:
            for name in ("OPENAI_API_BASE", "XAI_API_KEY", "ANTHROPIC_BASE_URL"):
                monkeypatch.delenv(name, raising=False)
            for name, value in env.items():
                monkeypatch.setenv(name, value)
            for options in options_list:
                # Twice: the second answer comes from the memo.
                seen.append((_selection(lm, options), _selection(lm, options)))
                seen.append((_capabilities(lm, options or {}), _capabilities(lm, options or {})))
            try:
                seen.append(capabilities.resolve(lm))
            except Exception as exc:  # noqa: BLE001 - compared as data
                seen.append(("raised", type(exc).__qualname__, str(exc)))
        return seen

    assert _engine_memos.install()
    with_memos = observe()
    _engine_memos.uninstall()
    try:
        without = observe()
    finally:
        assert _engine_memos.install()
    assert with_memos == without
    # Each answer is the caller's own: the client settings are a new dict every time.
    lm = dspy.LM(model, cache=False, **kwargs)
    first, second = _selection(lm, {}), _selection(lm, {})
    if first[0] != "raised":
        assert first[2] == second[2] and first[2] is not second[2]


def test_the_engine_finds_a_built_provider_on_the_loop_with_the_same_errors(memos: None) -> None:
    """The first call builds the provider client in the thread pool; later ones find it on the
    loop. A closed engine, a bad request and an unknown model fail the same way both ways."""
    from dspy.lm15 import Message, Request, RouterConfig

    def outcome(complete: Any, engine: Any, request: Any) -> Any:
        async def run() -> Any:
            try:
                await complete(engine, request)
            except Exception as exc:  # noqa: BLE001 - compared as data
                return (type(exc).__qualname__, str(exc))
            return "completed"

        return asyncio.run(run())

    ours = lm15_engine.AsyncLM15Engine.complete
    theirs = ours.__wrapped__  # type: ignore[attr-defined]
    config = RouterConfig(api_keys={"openai-chat": "k"}, base_urls={"openai-chat": "http://127.0.0.1:9/v1"})
    good = Request(model="openai/fixture", messages=(Message.user("hi"),))
    cases = [
        ("unknown model", Request(model="nonexistent-provider/x", messages=(Message.user("hi"),)), False),
        ("not a request", "hello", False),
        ("built provider, connection refused", good, False),
        ("closed engine", good, True),
    ]
    for name, request, close in cases:
        results = []
        for complete in (ours, theirs):
            engine = lm15_engine.AsyncLM15Engine(config)
            # Build the provider client first, as a previous call would have.
            asyncio.run(asyncio.to_thread(engine._target, good))
            if close:
                engine._closed = True
            results.append(outcome(complete, engine, request))
        assert results[0] == results[1], name
        assert results[0] != "completed", name


@pytest.mark.skipif(sys.version_info < (3, 12), reason="lm15's own wait_for stays on Python 3.10 and 3.11")
def test_the_transport_timeouts_behave_as_lm15s(memos: None) -> None:
    """lm15's wait_for and the in-task one, side by side: a value, a timeout, a caller's
    cancellation, and a pool-slot wait that times out or is cancelled (no slot is lost)."""
    from dspy._vendor.lm15.transports import _async, _timeouts

    ours = _async.wait_for
    theirs = ours.__wrapped__  # type: ignore[attr-defined]
    assert _timeouts.wait_for is ours and theirs is not ours

    async def scenarios(wait_for: Any) -> list[Any]:
        seen: list[Any] = []

        async def value() -> str:
            await asyncio.sleep(0)
            return "v"

        seen.append(await wait_for(value(), 1.0))
        seen.append(await wait_for(value(), None))
        try:
            await wait_for(asyncio.sleep(10), 0.01)
        except TimeoutError as exc:
            seen.append(("timeout", type(exc)))
        # Caller cancellation while waiting.
        task = asyncio.ensure_future(wait_for(asyncio.sleep(10), 5.0))
        await asyncio.sleep(0.01)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            seen.append("cancelled")
        # A full pool: the slot wait times out, or is cancelled, and gives nothing away.
        slot = asyncio.Semaphore(1)
        await slot.acquire()
        try:
            await wait_for(slot.acquire(), 0.01, cancel_result=lambda _: slot.release())
        except TimeoutError:
            seen.append(("slot timeout", slot._value))
        waiter = asyncio.ensure_future(wait_for(slot.acquire(), 5.0, cancel_result=lambda _: slot.release()))
        await asyncio.sleep(0.01)
        slot.release()  # wakes the waiter ...
        waiter.cancel()  # ... which is cancelled before it runs: the slot goes back
        try:
            await waiter
            seen.append(("slot acquired", slot._value))
        except asyncio.CancelledError:
            seen.append(("slot cancelled", slot._value, slot.locked()))
        seen.append(await wait_for(slot.acquire(), 1.0))
        return seen

    with_ours = asyncio.run(scenarios(ours))
    with_theirs = asyncio.run(scenarios(theirs))
    assert with_ours == with_theirs
    assert with_ours[2] == ("timeout", TimeoutError) and "cancelled" in with_ours and with_ours[-1] is True
    _engine_memos.uninstall()
    assert _async.wait_for is theirs
