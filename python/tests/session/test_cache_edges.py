"""VariableCache at its edges, on its own (a clock the test moves): the TTL boundary, what each
read counts, the revision guard on equal and absent revisions, who is told of an invalidation
and with which reason, eviction order after policy switches and shrinking, statistics and the
settings' refusals. test_cache.py has the common paths and the cache a SessionContext keeps."""

from __future__ import annotations

import asyncio
import gc
import math
import threading
import warnings
from typing import Any

import pytest

from dspy_bridge.errors import InvalidArgumentError
from dspy_bridge.session import VariableCache


def cache(ttl: float = math.inf, max_size: int = 10, policy: str = "lru") -> tuple[VariableCache, list[float]]:
    """A cache and its clock (``now[0]``, seconds)."""
    c = VariableCache(ttl=ttl, max_size=max_size, eviction_policy=policy)
    now = [1000.0]
    c._clock = lambda: now[0]
    return c, now


def told(c: VariableCache, key: str = "*") -> list[tuple[str, str]]:
    """Every (key, reason) the cache tells a subscriber of ``key``."""
    seen: list[tuple[str, str]] = []
    c.subscribe_invalidation(key, lambda k, r: seen.append((k, r)))
    return seen


def test_a_value_is_fresh_up_to_exactly_its_ttl() -> None:
    c, now = cache(ttl=10.0)
    c.put("a", 1)
    now[0] += 10.0
    assert "a" in c and c.peek("a") == 1 and c.get("a") == 1
    now[0] += 0.001
    assert c.peek("a") is VariableCache.MISS and "a" not in c
    assert len(c) == 1, "peek leaves an expired entry in place"
    assert c.lookup("a") is VariableCache.MISS
    assert len(c) == 0, "a read drops it"
    assert (c.stats.hits, c.stats.misses, c.stats.expirations) == (1, 1, 1)
    assert c.key_stats("a") == {"cache_hits": 1, "cache_misses": 1, "cache_hit_rate": 0.5}


def test_each_expiry_counts_an_expiration_and_a_miss_of_its_key() -> None:
    c, now = cache(ttl=1.0)
    assert c.get("a") is None  # a plain miss first
    c.put("a", 1)
    c.put("b", 2)
    now[0] += 2
    assert c.get("a") is None and c.get("b") is None
    assert (c.stats.hits, c.stats.misses, c.stats.expirations) == (0, 3, 2)
    assert c.key_stats("a")["cache_misses"] == 2 and c.key_stats("b")["cache_misses"] == 1


def test_misses_and_hits_are_counted_per_key_and_survive_eviction() -> None:
    c, _ = cache(max_size=1)
    assert c.get("x", "default") == "default"
    assert c.get("x") is None
    c.put("x", 1)
    assert c.get("x") == 1 and c.get("x") == 1
    c.put("y", 2)  # evicts x: its two hits are kept in its key statistics
    assert c.key_stats("x") == {"cache_hits": 2, "cache_misses": 2, "cache_hit_rate": 0.5}
    assert c.key_stats("never") == {"cache_hits": 0, "cache_misses": 0, "cache_hit_rate": 0.0}
    assert c.stats.hit_rate == 0.5
    c.reset_stats()
    assert c.key_stats("x")["cache_hits"] == 0 and c.stats.hits == 0 and c.stats.hit_rate == 0.0
    assert c.get("y") == 2
    assert c.key_stats("y") == {"cache_hits": 1, "cache_misses": 0, "cache_hit_rate": 1.0}
    c.reset_stats()
    assert c.key_stats("y")["cache_hits"] == 0, "a cached entry's own hit count is reset too"


def test_peek_neither_counts_nor_refreshes_recency() -> None:
    c, _ = cache(max_size=2)
    c.put("a", 1)
    c.put("b", 2)
    assert c.peek("a") == 1 and c.peek("zzz") is VariableCache.MISS
    assert (c.stats.hits, c.stats.misses) == (0, 0)
    c.put("c", 3)  # a is still the least recently used
    assert c.keys() == ["b", "c"]
    assert 5 not in c


def test_revisions_a_newer_value_wins_an_equal_or_unknown_one_overwrites() -> None:
    c, _ = cache()
    assert c.revision_of("a") == 0
    c.put("a", "v7", revision=7)
    assert c.put("a", "also 7", revision=7) is True
    assert c.get("a") == "also 7"
    assert c.put("a", "unversioned") is True, "revision 0: no guard"
    assert c.revision_of("a") == 0
    c.put("a", "v7", revision=7)
    assert c.refresh("a", "v6", revision=6) is True, "cached, and already newer"
    assert c.get("a") == "v7" and c.stats.invalidations == 0
    assert c.refresh("a", "v7b", revision=7) is True
    assert c.get("a") == "v7b"
    assert c.refresh("a", "unversioned change") is True, "revision 0: no guard"
    assert c.get("a") == "unversioned change" and c.revision_of("a") == 0


def test_put_replaces_in_place_and_evicts_one_entry_only_when_full() -> None:
    c, now = cache(max_size=2, ttl=5.0)
    c.put("a", 1)
    c.put("b", 2)
    now[0] += 4
    c.put("a", 10)  # a replacement: no eviction, and its age starts again
    assert c.keys() == ["a", "b"] and c.stats.evictions == 0
    now[0] += 4
    assert c.get("a") == 10 and c.get("b") is None
    c.put("c", 3)
    c.put("d", 4)
    assert sorted(c.keys()) == ["c", "d"] and c.stats.evictions == 1


def test_refresh_and_invalidate_tell_subscribers_with_their_reasons() -> None:
    c, _ = cache()
    seen = told(c, "a")
    everything = told(c)
    c.put("a", 1)
    assert c.refresh("a") is True and "a" not in c, "no value: dropped"
    assert c.refresh("a", 2) is False, "not cached: nothing stored, subscribers told anyway"
    assert "a" not in c
    c.put("a", 1)
    assert c.refresh("a", 3, revision=4, reason="deleted") is True and c.get("a") == 3
    assert c.invalidate("a") is True and c.invalidate("a") is False
    assert c.invalidate("b", "gone") is False
    assert seen == [("a", "changed"), ("a", "changed"), ("a", "deleted"), ("a", "invalidated"), ("a", "invalidated")]
    assert everything[-1] == ("b", "gone")
    assert c.stats.invalidations == 6


async def test_a_pattern_invalidation_says_which_pattern_and_refuses_a_bad_one() -> None:
    c, _ = cache()
    seen = told(c)
    for k in ("model_a", "model_b", "temp"):
        c.put(k, 1)
    assert await c.invalidate_pattern("model") == 2
    assert sorted(seen) == [("model_a", "pattern model"), ("model_b", "pattern model")]
    assert await c.invalidate_pattern("nothing") == 0
    with pytest.raises(InvalidArgumentError) as bad:
        await c.invalidate_pattern("(")
    assert bad.value.parameter == "pattern"
    assert str(bad.value).startswith("invalid pattern '(': ")


def test_clear_drops_everything_and_tells_each_cached_or_watched_key_once() -> None:
    c, _ = cache(policy="lfu")
    watched = told(c, "watched-only")
    everything = told(c)
    c.put("a", 1)
    c.put("b", 2)
    c.get("a")
    assert c.clear() == 2
    assert len(c) == 0 and c.keys() == []
    assert sorted(everything) == [("a", "cleared"), ("b", "cleared"), ("watched-only", "cleared")]
    assert watched == [("watched-only", "cleared")]
    assert c.stats.invalidations == 2
    assert c.key_stats("a")["cache_hits"] == 1, "hits of cleared entries are kept"
    # The policy's bookkeeping starts afresh: the oldest of equals goes first.
    c.configure(max_size=2)
    c.put("x", 1)
    c.put("y", 2)
    c.put("z", 3)
    assert c.keys() == ["y", "z"]
    assert c.clear("resync") == 2 and everything[-1][1] == "resync"


def test_subscriptions_ids_and_unsubscribing() -> None:
    c, _ = cache()
    with pytest.raises(InvalidArgumentError) as bad:
        c.subscribe_invalidation("a", "not callable")  # type: ignore[arg-type]
    assert bad.value.parameter == "callback" and str(bad.value) == "callback must be callable"
    first: list[str] = []
    second: list[str] = []
    s1 = c.subscribe_invalidation("a", lambda k, r: first.append(r))
    s2 = c.subscribe_invalidation("a", lambda k, r: second.append(r))
    assert (s1, s2) == ("sub_1", "sub_2")
    c.invalidate("a", "one")
    assert c.unsubscribe_invalidation(s1) is True
    assert c.unsubscribe_invalidation(s1) is False
    assert c.unsubscribe_invalidation("sub_99") is False
    c.invalidate("a", "two")
    assert (first, second) == (["one"], ["one", "two"])
    assert c.unsubscribe_invalidation(s2) is True
    c.invalidate("a", "three")
    assert second == ["one", "two"]
    assert c._subs == {}, "the last subscription of a key takes the key with it"


def test_a_failing_subscriber_does_not_stop_the_others() -> None:
    c, _ = cache()

    def broken(key: str, reason: str) -> None:
        raise RuntimeError("subscriber bug")

    c.subscribe_invalidation("a", broken)
    after = told(c, "a")
    everything = told(c)
    c.put("a", 1)
    assert c.invalidate("a") is True
    assert after == [("a", "invalidated")] and everything == [("a", "invalidated")]


def test_a_coroutine_subscriber_without_a_running_loop_is_closed_not_leaked() -> None:
    c, _ = cache()
    started: list[str] = []

    async def on_change(key: str, reason: str) -> None:
        started.append(key)

    c.subscribe_invalidation("a", on_change)
    # A thread of its own: no event loop there, whatever the test runner set up on this one.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        worker = threading.Thread(target=c.invalidate, args=("a",))
        worker.start()
        worker.join()
        gc.collect()
    assert started == [] and c._tasks == set()
    assert not [w for w in caught if "never awaited" in str(w.message)]


async def test_a_coroutine_subscriber_runs_as_a_task_and_its_failure_is_retrieved() -> None:
    c, _ = cache()
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    done = asyncio.Event()

    async def failing(key: str, reason: str) -> None:
        done.set()
        raise RuntimeError("async subscriber bug")

    try:
        c.subscribe_invalidation("a", failing)
        c.invalidate("a")
        assert len(c._tasks) == 1, "the task is held until it finishes"
        await asyncio.wait_for(done.wait(), 5)
        while c._tasks:
            await asyncio.sleep(0)
        gc.collect()
        assert reported == []
    finally:
        loop.set_exception_handler(previous)


@pytest.mark.parametrize(
    ("start", "to", "expected"),
    [
        # LRU -> LFU: reads were not counted under LRU, so all are equal: least recently used first.
        ("lru", "lfu", ["a", "d"]),
        ("lru", "fifo", ["a", "d"]),
        # LFU -> FIFO: insertion order (by when each was stored), not frequency.
        ("lfu", "fifo", ["c", "d"]),
        ("lfu", "lru", ["c", "d"]),
        ("fifo", "lru", ["c", "d"]),
    ],
)
def test_a_policy_switch_keeps_the_entries_in_a_meaningful_order(start: str, to: str, expected: list[str]) -> None:
    c, now = cache(max_size=3, policy=start)
    for k in "abc":
        c.put(k, k)
        now[0] += 1
    c.get("a")  # a: read once more than the others, and (LRU) the most recent
    c.configure(eviction_policy=to)
    assert c.eviction_policy == to
    c.put("d", "d")
    c.configure(max_size=2)
    assert sorted(c.keys()) == expected


def test_lfu_evicts_the_least_used_even_after_the_least_used_bucket_emptied() -> None:
    c, _ = cache(max_size=3, policy="lfu")
    for k in "abc":
        c.put(k, k)
    for k in "abcbc":
        c.get(k)  # a: 2 uses, b and c: 3
    c.invalidate("a")  # the least used bucket is gone
    c.configure(max_size=1)  # evicts b (3 uses, older in its bucket) then keeps c
    assert c.keys() == ["c"]
    assert c.stats.evictions == 1


def test_lfu_frequency_moves_with_each_read() -> None:
    c, _ = cache(max_size=2, policy="lfu")
    c.put("a", 1)
    c.put("b", 2)
    c.get("a")
    c.get("b")
    c.get("b")
    c.put("c", 3)  # a (2 uses) goes; b has 3
    assert sorted(c.keys()) == ["b", "c"]
    c.put("d", 4)  # c (1 use) goes
    assert sorted(c.keys()) == ["b", "d"]


def test_leaving_lfu_orders_the_entries_by_when_they_were_stored_not_by_name() -> None:
    c, now = cache(max_size=3, policy="lfu")
    for k in "cba":  # stored newest last, names in the other order
        c.put(k, k)
        now[0] += 1
    c.configure(eviction_policy="fifo")
    c.configure(max_size=1)  # the two oldest go: c, then b
    assert c.keys() == ["a"]


def test_lfu_keeps_its_least_used_bucket_when_a_busier_one_empties() -> None:
    c, _ = cache(max_size=2, policy="lfu")
    c.put("x", 1)
    c.put("y", 2)
    c.get("y")
    c.get("y")  # y: 1 -> 2 -> 3 uses; its bucket of 2 empties, x stays the least used (1)
    c.put("z", 3)
    assert sorted(c.keys()) == ["y", "z"]


def test_a_keys_hits_add_up_over_each_time_it_was_cached() -> None:
    c, _ = cache()
    for hits in (2, 3):
        c.put("a", 1)
        for _ in range(hits):
            c.get("a")
        c.invalidate("a")
    assert c.key_stats("a")["cache_hits"] == 5


def test_clear_adds_its_invalidations_to_the_count() -> None:
    c, _ = cache()
    c.invalidate("never-cached")
    c.put("a", 1)
    c.put("b", 2)
    assert c.clear() == 2
    assert c.stats.invalidations == 3


def test_a_ttl_below_a_second_still_caches() -> None:
    c, now = cache(ttl=10.0)
    c.put("a", 1)
    c.configure(ttl=0.5)
    assert c.enabled and c.info()["enabled"] is True
    assert c.keys() == ["a"] and c.get("a") == 1
    assert c.put("b", 2) is True and c.get("b") == 2
    now[0] += 0.5
    assert c.get("a") == 1
    now[0] += 0.001
    assert c.get("a") is None


def test_settings_and_their_refusals() -> None:
    c, _ = cache(ttl=1.5, max_size=4, policy="fifo")
    assert (c.ttl, c.max_size, c.eviction_policy, c.enabled) == (1.5, 4, "fifo", True)
    assert repr(c) == "VariableCache(size=0, max_size=4, ttl=1.5, eviction_policy='fifo')"
    assert repr(VariableCache(ttl=math.inf)) == "VariableCache(size=0, max_size=1000, ttl=inf, eviction_policy='lru')"
    assert repr(VariableCache()) == "VariableCache(size=0, max_size=1000, ttl=1, eviction_policy='lru')"
    c.put("a", 1)
    assert c.info() == {
        "size": 1,
        "max_size": 4,
        "ttl": 1.5,
        "eviction_policy": "fifo",
        "enabled": True,
        "hits": 0,
        "misses": 0,
        "hit_rate": 0.0,
        "eviction_count": 0,
        "expired_count": 0,
        "invalidation_count": 0,
    }
    refusals = [
        ({"ttl": -1}, "ttl", "ttl must be a number of seconds >= 0 (0 disables the cache), got -1"),
        ({"ttl": True}, "ttl", "ttl must be a number of seconds >= 0 (0 disables the cache), got True"),
        ({"ttl": float("nan")}, "ttl", "ttl must be a number of seconds >= 0 (0 disables the cache), got nan"),
        ({"ttl": "1"}, "ttl", "ttl must be a number of seconds >= 0 (0 disables the cache), got '1'"),
        ({"max_size": 0}, "max_size", "max_size must be an integer >= 1, got 0"),
        ({"max_size": 1.5}, "max_size", "max_size must be an integer >= 1, got 1.5"),
        ({"max_size": True}, "max_size", "max_size must be an integer >= 1, got True"),
        (
            {"eviction_policy": "random"},
            "eviction_policy",
            "eviction_policy must be one of lru, lfu, fifo, got 'random'",
        ),
    ]
    for kwargs, parameter, message in refusals:
        with pytest.raises(InvalidArgumentError) as bad:
            VariableCache(**kwargs)
        assert (bad.value.parameter, str(bad.value)) == (parameter, message)
        with pytest.raises(InvalidArgumentError):
            c.configure(**kwargs)
    assert (c.ttl, c.max_size, c.eviction_policy) == (1.5, 4, "fifo"), "a refused setting changes nothing"
    assert VariableCache(ttl=0, max_size=1).max_size == 1
    seen = told(c)
    c.configure(ttl=0)
    assert not c.enabled and len(c) == 0 and seen == [("a", "cache disabled")]
    assert c.put("b", 2) is False and c.info()["enabled"] is False


async def test_get_batch_with_a_sync_fetch_that_does_not_know_every_id() -> None:
    c, _ = cache()
    c.put("a", 1)
    asked: list[list[str]] = []

    def fetch(ids: list[str]) -> dict[str, int]:
        asked.append(ids)
        return {"b": 2}

    assert await c.get_batch(["a", "b", "zz"], fetch) == {"a": 1, "b": 2}
    assert asked == [["b", "zz"]] and c.get("b") == 2
    assert await c.get_batch(["a", "zz"]) == {"a": 1}
    assert await c.get_batch(["a"], fetch) == {"a": 1} and len(asked) == 1, "nothing missing: no fetch"
