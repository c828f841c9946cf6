"""``VariableCache``: the client-side cache of variable values (TTL, size bound, LRU/LFU/FIFO).

The cache itself knows nothing about the host. ``SessionContext`` keeps it fresh from its
background watch stream (``refresh`` on every delivered change, ``clear`` on a compacted
resume point); standalone use is possible too (``get_batch`` with a ``fetch_missing``).

A hit is one dict lookup, one clock read and the policy's bookkeeping (``move_to_end`` for
LRU, a bucket move for LFU, nothing for FIFO): no round trip and no allocation beyond the
returned value (which is the cached object itself: treat it as read-only).

The cache is not thread-safe: use it from one event loop (``SyncSessionContext`` runs
everything on its own loop thread).
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import math
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidArgumentError

__all__ = ["CacheStats", "EVICTION_POLICIES", "InvalidationCallback", "VariableCache"]

EVICTION_POLICIES = ("lru", "lfu", "fifo")

InvalidationCallback = Callable[[str, str], Awaitable[None] | None]
"""``callback(var_id, reason)``; may be a coroutine function (it is then scheduled as a task)."""

_MISS: Any = object()
_ANY = "*"


@dataclass
class CacheStats:
    """Counters since the cache was made (or ``reset_stats``)."""

    hits: int = 0
    misses: int = 0
    evictions: int = 0
    expirations: int = 0
    invalidations: int = 0

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class _Entry:
    __slots__ = ("value", "stored", "revision", "hits", "freq")

    def __init__(self, value: Any, stored: float, revision: int) -> None:
        self.value = value
        self.stored = stored
        self.revision = revision
        self.hits = 0
        self.freq = 1


_LRU, _LFU, _FIFO = 0, 1, 2
_POLICY_CODES = {"lru": _LRU, "lfu": _LFU, "fifo": _FIFO}


def _check_config(ttl: float | None, max_size: int | None, eviction_policy: str | None) -> None:
    if ttl is not None and (not isinstance(ttl, (int, float)) or isinstance(ttl, bool) or ttl < 0 or ttl != ttl):
        raise InvalidArgumentError(
            f"ttl must be a number of seconds >= 0 (0 disables the cache), got {ttl!r}", parameter="ttl"
        )
    if max_size is not None and (not isinstance(max_size, int) or isinstance(max_size, bool) or max_size < 1):
        raise InvalidArgumentError(f"max_size must be an integer >= 1, got {max_size!r}", parameter="max_size")
    if eviction_policy is not None and eviction_policy not in _POLICY_CODES:
        raise InvalidArgumentError(
            f"eviction_policy must be one of {', '.join(EVICTION_POLICIES)}, got {eviction_policy!r}",
            parameter="eviction_policy",
        )


class VariableCache:
    """Caching with TTL, a size bound, an eviction policy, invalidation subscriptions and
    batch reads.

    ``ttl`` is in seconds (``0`` disables caching, ``math.inf`` never expires); ``max_size``
    bounds the number of entries; ``eviction_policy`` is ``"lru"`` (least recently used),
    ``"lfu"`` (least frequently used, ties broken by age) or ``"fifo"`` (oldest inserted).
    Keys are variable names (or ids); ``revision`` is the store revision the value is
    current at, so an older value never overwrites a newer one.
    """

    def __init__(self, ttl: float = 1.0, max_size: int = 1000, eviction_policy: str = "lru") -> None:
        _check_config(ttl, max_size, eviction_policy)
        self._ttl = float(ttl)
        self._max_size = max_size
        self._policy = _POLICY_CODES[eviction_policy]
        self._data: dict[str, _Entry] = {}
        # LRU / FIFO: keys in eviction order (first = next victim).
        self._order: OrderedDict[str, None] = OrderedDict()
        # LFU: frequency -> keys with that frequency, oldest first.
        self._buckets: dict[int, OrderedDict[str, None]] = {}
        self._min_freq = 1
        self._stats = CacheStats()
        self._key_hits: dict[str, int] = {}
        self._key_misses: dict[str, int] = {}
        self._subs: dict[str, dict[str, InvalidationCallback]] = {}
        self._sub_keys: dict[str, str] = {}
        self._sub_ids = itertools.count(1)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._clock: Callable[[], float] = time.monotonic

    # ------------------------------------------------------------------------------------
    # Reads

    def lookup(self, key: str) -> Any:
        """The cached value, or the ``VariableCache.MISS`` sentinel. Counts a hit or a miss."""
        e = self._data.get(key)
        if e is None:
            self._stats.misses += 1
            self._key_misses[key] = self._key_misses.get(key, 0) + 1
            return _MISS
        if self._clock() - e.stored > self._ttl:
            self._remove(key, e)
            self._stats.expirations += 1
            self._stats.misses += 1
            self._key_misses[key] = self._key_misses.get(key, 0) + 1
            return _MISS
        p = self._policy
        if p == _LRU:
            self._order.move_to_end(key)
        elif p == _LFU:
            self._bump(key, e)
        e.hits += 1
        self._stats.hits += 1
        return e.value

    MISS: Any = _MISS
    """What ``lookup`` returns for a miss."""

    def get(self, key: str, default: Any = None) -> Any:
        """The cached value, or ``default`` on a miss (counts a hit or a miss)."""
        value = self.lookup(key)
        return default if value is _MISS else value

    def peek(self, key: str) -> Any:
        """The cached value or ``VariableCache.MISS``, without counting or touching anything."""
        e = self._data.get(key)
        if e is None or self._clock() - e.stored > self._ttl:
            return _MISS
        return e.value

    def revision_of(self, key: str) -> int:
        """The revision the cached value of ``key`` is current at; 0 if not cached."""
        e = self._data.get(key)
        return 0 if e is None else e.revision

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.peek(key) is not _MISS

    def __len__(self) -> int:
        return len(self._data)

    def keys(self) -> list[str]:
        return list(self._data)

    async def get_batch(
        self,
        var_ids: list[str],
        fetch_missing: Callable[[list[str]], Mapping[str, Any] | Awaitable[Mapping[str, Any]]] | None = None,
    ) -> dict[str, Any]:
        """Values of ``var_ids`` from the cache; the missing ones through one call of
        ``fetch_missing(missing_ids)`` (sync or async, returning ``{id: value}``), which are
        then cached. Ids that are neither cached nor fetched are left out of the result."""
        out: dict[str, Any] = {}
        missing: list[str] = []
        for key in var_ids:
            value = self.lookup(key)
            if value is _MISS:
                missing.append(key)
            else:
                out[key] = value
        if missing and fetch_missing is not None:
            fetched = fetch_missing(missing)
            if inspect.isawaitable(fetched):
                fetched = await fetched
            for key, value in dict(fetched).items():
                self.put(key, value)
                out[key] = value
        return out

    # ------------------------------------------------------------------------------------
    # Writes

    def put(self, key: str, value: Any, revision: int = 0) -> bool:
        """Caches ``value``; refused (False) when caching is off or a newer revision is cached."""
        if self._ttl <= 0:
            return False
        e = self._data.get(key)
        now = self._clock()
        if e is not None:
            if revision and e.revision > revision:
                return False
            e.value = value
            e.stored = now
            e.revision = revision
            return True
        if len(self._data) >= self._max_size:
            self._evict()
        e = _Entry(value, now, revision)
        self._data[key] = e
        if self._policy == _LFU:
            self._buckets.setdefault(1, OrderedDict())[key] = None
            self._min_freq = 1
        else:
            self._order[key] = None
        return True

    def refresh(self, key: str, value: Any = _MISS, revision: int = 0, reason: str = "changed") -> bool:
        """A change of ``key`` was observed at ``revision``: a cached entry takes the new value
        (or is dropped when ``value`` is not given); invalidation subscribers are told either
        way. Returns whether an entry was cached."""
        e = self._data.get(key)
        cached = e is not None
        if e is not None:
            if revision and e.revision > revision:
                return True  # already newer
            if value is _MISS:
                self._remove(key, e)
            else:
                e.value = value
                e.stored = self._clock()
                e.revision = revision
        self._stats.invalidations += 1
        self._notify(key, reason)
        return cached

    def invalidate(self, key: str, reason: str = "invalidated") -> bool:
        """Drops ``key`` (if cached) and tells its subscribers. Returns whether it was cached."""
        e = self._data.get(key)
        if e is not None:
            self._remove(key, e)
        self._stats.invalidations += 1
        self._notify(key, reason)
        return e is not None

    async def invalidate_pattern(self, pattern: str, reason: str = "") -> int:
        """Drops every cached key matching the regular expression ``pattern`` (``re.search``),
        telling their subscribers; returns how many were dropped."""
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise InvalidArgumentError(f"invalid pattern {pattern!r}: {exc}", parameter="pattern") from None
        keys = [k for k in self._data if regex.search(k)]
        for key in keys:
            self.invalidate(key, reason or f"pattern {pattern}")
        return len(keys)

    def clear(self, reason: str = "cleared") -> int:
        """Drops everything; every subscriber (per key and ``"*"``) is told once per key it
        watches. Returns how many entries were dropped."""
        keys = list(self._data)
        n = len(keys)
        for key in keys:
            self._retire(key, self._data[key])
        self._data.clear()
        self._order.clear()
        self._buckets.clear()
        self._min_freq = 1
        self._stats.invalidations += n
        told = set(keys) | {k for k in self._subs if k != _ANY}
        for key in told:
            self._notify(key, reason)
        return n

    # ------------------------------------------------------------------------------------
    # Subscriptions

    def subscribe_invalidation(self, var_id: str, callback: InvalidationCallback) -> str:
        """Calls ``callback(var_id, reason)`` whenever ``var_id`` is invalidated: a delivered
        change (``"changed"``), a deletion (``"deleted"``), ``invalidate``/``invalidate_pattern``,
        a resync (``"resync"``) or ``clear``. ``var_id="*"`` subscribes to every key.
        Coroutine callbacks are scheduled as tasks. Returns the subscription id."""
        if not callable(callback):
            raise InvalidArgumentError("callback must be callable", parameter="callback")
        sub_id = f"sub_{next(self._sub_ids)}"
        self._subs.setdefault(var_id, {})[sub_id] = callback
        self._sub_keys[sub_id] = var_id
        return sub_id

    def unsubscribe_invalidation(self, subscription_id: str) -> bool:
        key = self._sub_keys.pop(subscription_id, None)
        if key is None:
            return False
        subs = self._subs.get(key)
        if subs is not None:
            subs.pop(subscription_id, None)
            if not subs:
                del self._subs[key]
        return True

    def _notify(self, key: str, reason: str) -> None:
        if not self._subs:
            return
        for bucket in (self._subs.get(key), self._subs.get(_ANY)):
            if not bucket:
                continue
            for callback in list(bucket.values()):
                try:
                    result = callback(key, reason)
                except Exception:  # noqa: BLE001 - a subscriber's bug must not break the cache
                    continue
                if inspect.isawaitable(result):
                    self._schedule(result)

    def _schedule(self, awaitable: Awaitable[Any]) -> None:
        try:
            task = asyncio.ensure_future(awaitable)
        except RuntimeError:  # no running loop: nothing can run it
            if inspect.iscoroutine(awaitable):
                awaitable.close()
            return
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieve, so a failing callback is not reported as unhandled

    # ------------------------------------------------------------------------------------
    # Configuration and statistics

    @property
    def ttl(self) -> float:
        return self._ttl

    @property
    def max_size(self) -> int:
        return self._max_size

    @property
    def eviction_policy(self) -> str:
        return EVICTION_POLICIES[self._policy]

    @property
    def stats(self) -> CacheStats:
        return self._stats

    @property
    def enabled(self) -> bool:
        return self._ttl > 0

    def configure(
        self, ttl: float | None = None, max_size: int | None = None, eviction_policy: str | None = None
    ) -> None:
        """Changes the settings; ``ttl=0`` disables the cache (and empties it), a smaller
        ``max_size`` evicts at once, a new policy keeps the entries (ordered by insertion)."""
        _check_config(ttl, max_size, eviction_policy)
        if ttl is not None:
            self._ttl = float(ttl)
            if self._ttl <= 0:
                self.clear("cache disabled")
        if eviction_policy is not None and _POLICY_CODES[eviction_policy] != self._policy:
            keys = list(self._order) if self._policy != _LFU else sorted(self._data, key=lambda k: self._data[k].stored)
            self._policy = _POLICY_CODES[eviction_policy]
            self._order.clear()
            self._buckets.clear()
            self._min_freq = 1
            for key in keys:
                e = self._data[key]
                if self._policy == _LFU:
                    self._buckets.setdefault(e.freq, OrderedDict())[key] = None
                else:
                    self._order[key] = None
            if self._buckets:
                self._min_freq = min(self._buckets)
        if max_size is not None:
            self._max_size = max_size
            while len(self._data) > self._max_size:
                self._evict()

    def key_stats(self, key: str) -> dict[str, Any]:
        """``{"cache_hits", "cache_misses", "cache_hit_rate"}`` of one key."""
        e = self._data.get(key)
        hits = self._key_hits.get(key, 0) + (e.hits if e is not None else 0)
        misses = self._key_misses.get(key, 0)
        total = hits + misses
        return {"cache_hits": hits, "cache_misses": misses, "cache_hit_rate": hits / total if total else 0.0}

    def info(self) -> dict[str, Any]:
        s = self._stats
        return {
            "size": len(self._data),
            "max_size": self._max_size,
            "ttl": self._ttl,
            "eviction_policy": self.eviction_policy,
            "enabled": self._ttl > 0,
            "hits": s.hits,
            "misses": s.misses,
            "hit_rate": s.hit_rate,
            "eviction_count": s.evictions,
            "expired_count": s.expirations,
            "invalidation_count": s.invalidations,
        }

    def reset_stats(self) -> None:
        self._stats = CacheStats()
        self._key_hits.clear()
        self._key_misses.clear()
        for e in self._data.values():
            e.hits = 0

    # ------------------------------------------------------------------------------------
    # Internals

    def _bump(self, key: str, e: _Entry) -> None:
        f = e.freq
        bucket = self._buckets[f]
        del bucket[key]
        if not bucket:
            del self._buckets[f]
            if self._min_freq == f:
                self._min_freq = f + 1
        e.freq = f + 1
        nxt = self._buckets.get(f + 1)
        if nxt is None:
            nxt = self._buckets[f + 1] = OrderedDict()
        nxt[key] = None

    def _evict(self) -> None:
        if not self._data:
            return
        if self._policy == _LFU:
            bucket = self._buckets.get(self._min_freq)
            if bucket is None:
                self._min_freq = min(self._buckets)
                bucket = self._buckets[self._min_freq]
            key = next(iter(bucket))
        else:
            key = next(iter(self._order))
        self._remove(key, self._data[key])
        self._stats.evictions += 1

    def _retire(self, key: str, e: _Entry) -> None:
        if e.hits:
            self._key_hits[key] = self._key_hits.get(key, 0) + e.hits

    def _remove(self, key: str, e: _Entry) -> None:
        self._retire(key, e)
        del self._data[key]
        if self._policy == _LFU:
            bucket = self._buckets.get(e.freq)
            if bucket is not None:
                bucket.pop(key, None)
                if not bucket:
                    del self._buckets[e.freq]
        else:
            self._order.pop(key, None)

    def __repr__(self) -> str:
        ttl = "inf" if math.isinf(self._ttl) else f"{self._ttl:g}"
        return f"VariableCache(size={len(self._data)}, max_size={self._max_size}, ttl={ttl}, eviction_policy={self.eviction_policy!r})"
