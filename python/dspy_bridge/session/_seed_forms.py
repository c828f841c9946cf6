"""Two usages code written for DSPex uses that the rest of the API would refuse:

* ``SessionContext("session_123", grpc.aio.insecure_channel(address))`` then ``await
  session.initialize()``: a channel without the host's token. When the host answers
  "unauthenticated" and a token is at hand (``core.host.resolve_token``), every call of that
  context carries it from then on (``HostClient``'s ``token_fallback``). A channel that
  already carries a token is never touched.
* ``watch_task = asyncio.create_task(session.watch_variable("temperature"))`` (DSPex's
  ``cancel_watch`` example) beside ``async for update in session.watch_variable(...)``: the
  watch is also a coroutine (``TaskableWatch``); run as a task it consumes its updates until
  the task is cancelled (``session.cancel_watch(watch_task)``) or the watch ends.
"""

from __future__ import annotations

import collections.abc
from typing import Any

from ._watch import VariableWatch

__all__ = ["TaskableWatch"]


class TaskableWatch(VariableWatch):
    """A ``VariableWatch`` that is also a coroutine (see the module docstring)."""

    _driver: Any = None

    async def _drain(self) -> None:
        try:
            async for _update in self:
                pass
        finally:
            self.cancel()

    def _drive(self) -> Any:
        if self._driver is None:
            self._driver = self._drain().__await__()
        return self._driver

    def __await__(self) -> Any:
        return self._drive()

    def send(self, value: Any) -> Any:
        return self._drive().send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        if val is None and tb is None:
            return self._drive().throw(typ)
        return self._drive().throw(typ, val, tb)

    def close(self) -> None:
        if self._driver is not None:
            self._driver.close()
        self.cancel()


collections.abc.Coroutine.register(TaskableWatch)
