"""``SyncSessionContext``: the ``SessionContext`` API for code that is not async.

One background thread runs an event loop; every method submits the matching coroutine of
an async ``SessionContext`` living on that loop and waits for its result. Method names,
arguments, return values and exceptions are the async API's. Watches become plain
iterators (``for update in session.watch_variable("x")``).

Don't call these methods from the loop thread itself (e.g. from an invalidation callback):
that would wait for itself; such callbacks run on the loop and may use ``session.aio``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

from ..errors import BridgeClosedError
from ._cache import VariableCache
from ._context import SessionContext
from ._update import VariableUpdate
from ._watch import VariableWatch

__all__ = ["SyncSessionContext", "SyncVariableWatch"]

T = TypeVar("T")
_END: Any = object()


class _LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._main, name="dspy-bridge-session-loop", daemon=True)
        self.thread.start()
        self._ready.wait()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if threading.current_thread() is self.thread:
            coro.close()
            raise RuntimeError("a SyncSessionContext method was called from its own loop thread; use session.aio there")
        if self.loop.is_closed():
            coro.close()
            raise BridgeClosedError("this SyncSessionContext is closed")
        try:
            return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)
        except (asyncio.TimeoutError, concurrent.futures.TimeoutError) as exc:
            # The same class as TimeoutError from Python 3.11; on 3.10 each is its own, and
            # the sync API promises TimeoutError on every version.
            if isinstance(exc, TimeoutError):
                raise
            raise TimeoutError(*exc.args) from exc

    def call(self, fn: Callable[[], T]) -> T:
        async def wrapper() -> T:
            return fn()

        return self.run(wrapper())

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        if not self.thread.is_alive():
            self.loop.close()


class SyncVariableWatch(Iterator[VariableUpdate]):
    """A ``VariableWatch`` as a blocking iterator; ``cancel()`` / ``close()`` end it (also a
    context manager). ``get(timeout)`` waits at most ``timeout`` seconds."""

    def __init__(self, runner: _LoopThread, watch: VariableWatch) -> None:
        self._runner = runner
        self._watch = watch
        self._task: asyncio.Future[Any] | None = None

    @property
    def revision(self) -> int:
        return self._watch.revision

    def ready(self, timeout: float | None = None) -> None:
        self._runner.run(self._watch.ready(), timeout)

    def __iter__(self) -> SyncVariableWatch:
        return self

    def __next__(self) -> VariableUpdate:
        return self.get(None)

    def get(self, timeout: float | None = None) -> VariableUpdate:
        """The next update; ``TimeoutError`` after ``timeout`` seconds (the watch stays open
        and no update is lost: the pending read carries over to the next call)."""
        result = self._runner.run(self._next(timeout))
        if result is _END:
            raise StopIteration
        return result  # type: ignore[no-any-return]

    async def _next(self, timeout: float | None) -> Any:
        task = self._task
        if task is None:
            task = self._task = asyncio.ensure_future(self._step())
        result = await asyncio.wait_for(asyncio.shield(task), timeout)
        self._task = None
        return result

    async def _step(self) -> Any:
        try:
            return await self._watch.__anext__()
        except StopAsyncIteration:
            return _END

    def cancel(self) -> None:
        self._runner.call(self._watch.cancel)

    def close(self) -> None:
        if not self._runner.loop.is_closed():
            self._runner.run(self._watch.aclose())

    def __enter__(self) -> SyncVariableWatch:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()


class SyncSessionContext:
    """Blocking twin of ``SessionContext`` (same method names and arguments).

    ``SyncSessionContext(session_id, address=None, token=None, **connect_options)`` connects
    like ``SessionContext.connect`` and initializes; ``close()`` (or ``with``) ends it.
    ``aio`` is the underlying async context (use it only on its loop).
    """

    def __init__(
        self,
        session_id: str | None = None,
        address: str | None = None,
        token: str | None = None,
        **connect_options: Any,
    ) -> None:
        self._runner = _LoopThread()
        try:
            self._ctx: SessionContext = self._runner.run(
                SessionContext.connect(address, session_id, token, **connect_options)
            )
        except BaseException:
            self._runner.stop()
            raise

    @classmethod
    def connect(
        cls, address: str | None = None, session_id: str | None = None, token: str | None = None, **connect_options: Any
    ) -> SyncSessionContext:
        return cls(session_id, address, token, **connect_options)

    @property
    def aio(self) -> SessionContext:
        return self._ctx

    @property
    def session_id(self) -> str:
        return self._ctx.session_id

    @property
    def revision(self) -> int:
        return self._ctx.revision

    @property
    def cache(self) -> VariableCache:
        """The cache object (it lives on the loop thread: read-only use from here)."""
        return self._ctx.cache

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(coro)

    def exists(self) -> bool:
        """Whether the host still has this session (SessionContext.exists)."""
        return self._run(self._ctx.exists())

    def delete(self) -> None:
        """Deletes this session on the host (SessionContext.delete)."""
        self._run(self._ctx.delete())

    def close(self) -> None:
        if self._runner.loop.is_closed():
            return
        try:
            self._run(self._ctx.close())
        finally:
            self._runner.stop()

    def __enter__(self) -> SyncSessionContext:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()

    # --- reading ---------------------------------------------------------------------------
    def get_variable(self, name: str, default: Any = None, bypass_cache: bool = False) -> Any:
        return self._run(self._ctx.get_variable(name, default, bypass_cache))

    def get_variables(
        self,
        names: list[str],
        defaults: dict[str, Any] | None = None,
        include_metadata: bool = False,
        include_stats: bool = False,
    ) -> dict[str, Any]:
        return self._run(self._ctx.get_variables(names, defaults, include_metadata, include_stats))

    def list_variables(self, pattern: str | None = None) -> dict[str, Any]:
        return self._run(self._ctx.list_variables(pattern))

    def wait_for_revision(self, revision: int, timeout: float | None = None) -> None:
        self._run(self._ctx.wait_for_revision(revision, timeout))

    # --- writing ---------------------------------------------------------------------------
    def register_variable(
        self,
        name: str,
        type: str,  # noqa: A002
        initial_value: Any,
        constraints: dict[str, Any] | None = None,
        metadata: dict[str, str] | None = None,
        dependencies: list[str] | None = None,
        access_rules: list[dict[str, Any]] | None = None,
    ) -> str:
        return self._run(
            self._ctx.register_variable(name, type, initial_value, constraints, metadata, dependencies, access_rules)
        )

    def register_variables(self, variables: list[dict[str, Any]]) -> dict[str, str]:
        return self._run(self._ctx.register_variables(variables))

    def set_variable(
        self,
        name: str,
        value: Any,
        metadata: dict[str, str] | None = None,
        create_if_missing: bool = False,
        type_hint: str | None = None,
        *,
        expected_version: int | None = None,
        source: str | None = None,
    ) -> None:
        self._run(
            self._ctx.set_variable(
                name, value, metadata, create_if_missing, type_hint, expected_version=expected_version, source=source
            )
        )

    def update_variables(
        self,
        updates: dict[str, Any],
        metadata: dict[str, str] | None = None,
        atomic: bool = True,
        *,
        expected_versions: dict[str, int] | None = None,
        source: str | None = None,
    ) -> dict[str, bool | str]:
        return self._run(
            self._ctx.update_variables(updates, metadata, atomic, expected_versions=expected_versions, source=source)
        )

    def delete_variables(self, names: list[str]) -> int:
        return self._run(self._ctx.delete_variables(names))

    def delete_variable(self, name: str) -> None:
        self._run(self._ctx.delete_variable(name))

    # --- dependencies ----------------------------------------------------------------------
    def add_dependency(
        self,
        from_variable: str,
        to_variable: str,
        dependency_type: str = "data",
        metadata: dict[str, str] | None = None,
    ) -> None:
        self._run(self._ctx.add_dependency(from_variable, to_variable, dependency_type, metadata))

    def remove_dependency(self, from_variable: str, to_variable: str) -> None:
        self._run(self._ctx.remove_dependency(from_variable, to_variable))

    def get_dependencies(self, variable: str, include_transitive: bool = False) -> list[dict[str, Any]]:
        return self._run(self._ctx.get_dependencies(variable, include_transitive))

    def get_dependents(self, variable: str, include_transitive: bool = False) -> list[dict[str, Any]]:
        return self._run(self._ctx.get_dependents(variable, include_transitive))

    # --- optimization ------------------------------------------------------------------------
    def set_tensor_framework(self, framework: str | None) -> None:
        self._ctx.set_tensor_framework(framework)

    def call_tool(self, name: str, **kwargs: Any) -> Any:
        return self._run(self._ctx.call_tool(name, **kwargs))

    def set_default_objective(self, objective: str | None, **options: Any) -> None:
        self._ctx.set_default_objective(objective, **options)

    @property
    def default_objective(self) -> str | None:
        return self._ctx.default_objective

    def start_optimization(
        self,
        variable: str,
        optimizer_type: str,
        optimizer_config: dict[str, Any] | None = None,
        max_iterations: int = 100,
        convergence_threshold: float = 0.001,
        callback: Callable[..., Any] | None = None,
    ) -> str:
        return self._run(
            self._ctx.start_optimization(
                variable, optimizer_type, optimizer_config, max_iterations, convergence_threshold, callback
            )
        )

    def stop_optimization(self, variable: str) -> None:
        self._run(self._ctx.stop_optimization(variable))

    def get_optimization_status(self, variable: str) -> dict[str, Any]:
        return self._run(self._ctx.get_optimization_status(variable))

    def get_optimization_history(
        self, variable: str, limit: int = 100, since: Any = None, optimizer_id: str | None = None
    ) -> list[dict[str, Any]]:
        return self._run(self._ctx.get_optimization_history(variable, limit, since, optimizer_id))

    def list_runs(self) -> list[dict[str, Any]]:
        return self._run(self._ctx.list_runs())

    def get_run(self, run_id: str, offset: int = 0, limit: int | None = None) -> dict[str, Any]:
        return self._run(self._ctx.get_run(run_id, offset, limit))

    def register_python_optimizer(self, name: str, optimizer_class: type | str) -> None:
        self._run(self._ctx.register_python_optimizer(name, optimizer_class))

    # --- watches ---------------------------------------------------------------------------
    def watch_variable(
        self,
        name: str,
        include_initial: bool = True,
        filter_fn: Callable[[Any, Any], bool] | None = None,
        throttle_ms: int = 0,
        *,
        debounce_ms: int = 0,
        start_revision: int | None = None,
    ) -> SyncVariableWatch:
        watch = self._runner.call(
            lambda: self._ctx.watch_variable(
                name, include_initial, filter_fn, throttle_ms, debounce_ms=debounce_ms, start_revision=start_revision
            )
        )
        return SyncVariableWatch(self._runner, watch)

    def watch_variables(
        self,
        names: list[str],
        include_initial: bool = True,
        filter_fn: Callable[[str, Any, Any], bool] | None = None,
        throttle_ms: int = 0,
        debounce_ms: int = 0,
        *,
        start_revision: int | None = None,
    ) -> SyncVariableWatch:
        watch = self._runner.call(
            lambda: self._ctx.watch_variables(
                names, include_initial, filter_fn, throttle_ms, debounce_ms, start_revision=start_revision
            )
        )
        return SyncVariableWatch(self._runner, watch)

    def cancel_watch(self, watch_task: SyncVariableWatch) -> None:
        watch_task.cancel()

    # --- access control --------------------------------------------------------------------
    def set_variable_permissions(self, variable: str, rules: list[dict[str, Any]]) -> None:
        self._run(self._ctx.set_variable_permissions(variable, rules))

    def check_variable_access(self, variable: str, permission: str) -> bool:
        return self._run(self._ctx.check_variable_access(variable, permission))

    # --- history ---------------------------------------------------------------------------
    def get_variable_history(
        self, variable: str, limit: int = 100, offset: int = 0, include_metadata: bool = True
    ) -> list[dict[str, Any]]:
        return self._run(self._ctx.get_variable_history(variable, limit, offset, include_metadata))

    def rollback_variable(self, variable: str, version: int, reason: str | None = None) -> None:
        self._run(self._ctx.rollback_variable(variable, version, reason))

    # --- export / import -------------------------------------------------------------------
    def export_variables(
        self,
        format: str = "json",  # noqa: A002
        include_history: bool = False,
        include_dependencies: bool = True,
        filter_pattern: str | None = None,
    ) -> bytes:
        return self._run(self._ctx.export_variables(format, include_history, include_dependencies, filter_pattern))

    def import_variables(
        self,
        data: bytes,
        format: str = "json",  # noqa: A002
        merge_strategy: str = "replace",
        dry_run: bool = False,
    ) -> dict[str, Any]:
        return self._run(self._ctx.import_variables(data, format, merge_strategy, dry_run))

    # --- stats and cache -------------------------------------------------------------------
    def get_variable_stats(self, variable: str | None = None) -> dict[str, Any]:
        return self._run(self._ctx.get_variable_stats(variable))

    def get_cache_info(self) -> dict[str, Any]:
        return self._runner.call(self._ctx.get_cache_info)

    def set_cache_config(
        self, ttl: float | None = None, max_size: int | None = None, eviction_policy: str | None = None
    ) -> None:
        self._runner.call(lambda: self._ctx.set_cache_config(ttl, max_size, eviction_policy))

    def __repr__(self) -> str:
        return f"Sync{self._ctx!r}"
