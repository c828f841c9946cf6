"""VariableCache on its own, and the SessionContext cache kept fresh by the watch stream."""

from __future__ import annotations

import asyncio
import math

import pytest

from dspy_bridge.session import SessionContext, VariableCache


def test_hits_misses_and_stats() -> None:
    c = VariableCache(ttl=math.inf, max_size=10)
    assert c.get("a") is None and c.stats.misses == 1
    c.put("a", 1)
    assert c.get("a") == 1 and c.get("a") == 1
    assert c.stats.hits == 2 and c.stats.hit_rate == pytest.approx(2 / 3)
    assert c.key_stats("a") == {"cache_hits": 2, "cache_misses": 1, "cache_hit_rate": pytest.approx(2 / 3)}
    info = c.info()
    assert info["size"] == 1 and info["hits"] == 2 and info["misses"] == 1 and info["eviction_policy"] == "lru"


@pytest.mark.parametrize(
    ("policy", "touch", "expected_victim"),
    [
        ("lru", ["a", "b"], "c"),  # c least recently used
        ("fifo", ["a", "b"], "a"),  # a inserted first, reads don't matter
        ("lfu", ["a", "a", "c", "b", "b"], "c"),  # c read once, a and b twice
    ],
)
def test_eviction_policies(policy: str, touch: list[str], expected_victim: str) -> None:
    c = VariableCache(ttl=math.inf, max_size=3, eviction_policy=policy)
    for k in "abc":
        c.put(k, k.upper())
    for k in touch:
        assert c.get(k) == k.upper()
    c.put("d", "D")
    assert len(c) == 3 and expected_victim not in c and "d" in c
    assert c.stats.evictions == 1


def test_lfu_ties_go_to_the_oldest_and_policy_switch_keeps_entries() -> None:
    c = VariableCache(ttl=math.inf, max_size=2, eviction_policy="lfu")
    c.put("x", 1)
    c.put("y", 2)
    c.put("z", 3)  # x and y both used once: x is older
    assert "x" not in c and "y" in c and "z" in c
    c.configure(eviction_policy="fifo")
    c.put("w", 4)
    assert "y" not in c and set(c.keys()) == {"z", "w"}
    c.configure(max_size=1)
    assert c.keys() == ["w"]


def test_ttl_expiry_and_disable() -> None:
    c = VariableCache(ttl=10.0)
    now = [100.0]
    c._clock = lambda: now[0]
    c.put("a", 1)
    now[0] += 9.9
    assert c.get("a") == 1
    now[0] += 0.2
    assert c.get("a") is None and c.stats.expirations == 1
    c.configure(ttl=0)
    assert c.put("a", 1) is False and c.get("a") is None and not c.enabled


def test_revision_guard() -> None:
    c = VariableCache(ttl=math.inf)
    c.put("a", "new", revision=7)
    assert c.put("a", "old", revision=5) is False
    assert c.get("a") == "new"
    c.refresh("a", "newer", revision=9)
    assert c.get("a") == "newer" and c.revision_of("a") == 9


async def test_subscribe_invalidation_and_pattern() -> None:
    c = VariableCache(ttl=math.inf)
    seen: list[tuple[str, str]] = []
    done = asyncio.Event()

    async def on_invalidate(var_id: str, reason: str) -> None:
        seen.append((var_id, reason))
        done.set()

    sub = c.subscribe_invalidation("model_a", on_invalidate)
    everything: list[str] = []
    c.subscribe_invalidation("*", lambda k, r: everything.append(k))
    for k in ("model_a", "model_b", "temp"):
        c.put(k, 1)
    assert await c.invalidate_pattern(r"^model_", reason="models reloaded") == 2
    await asyncio.wait_for(done.wait(), 5)
    assert seen == [("model_a", "models reloaded")]
    assert sorted(everything) == ["model_a", "model_b"]
    assert "temp" in c and "model_a" not in c
    assert c.unsubscribe_invalidation(sub) is True
    c.invalidate("model_a")
    await asyncio.sleep(0)
    assert len(seen) == 1
    with pytest.raises(ValueError):
        await c.invalidate_pattern("(")


async def test_get_batch_fetches_only_missing() -> None:
    c = VariableCache(ttl=math.inf)
    c.put("a", 1)
    asked: list[list[str]] = []

    async def fetch(ids: list[str]) -> dict[str, int]:
        asked.append(ids)
        return {i: len(i) for i in ids}

    assert await c.get_batch(["a", "bb", "ccc"], fetch) == {"a": 1, "bb": 2, "ccc": 3}
    assert asked == [["bb", "ccc"]]
    assert await c.get_batch(["a", "bb", "ccc"], fetch) == {"a": 1, "bb": 2, "ccc": 3}
    assert asked == [["bb", "ccc"]]


def test_bad_config() -> None:
    with pytest.raises(ValueError):
        VariableCache(eviction_policy="random")
    with pytest.raises(ValueError):
        VariableCache(ttl=-1)
    with pytest.raises(ValueError):
        VariableCache(max_size=0)


# --- the SessionContext's cache -----------------------------------------------------------


async def test_cached_reads_make_no_round_trip(session: SessionContext) -> None:
    await session.register_variable("temperature", "float", 0.7)
    await session.get_variable("temperature")
    before = (await session.get_variable_stats("temperature"))["read_count"]
    for _ in range(20):
        assert await session.get_variable("temperature") == 0.7
    after = await session.get_variable_stats("temperature")
    assert after["read_count"] == before  # the host saw none of the 20 reads
    assert after["cache_hits"] >= 20
    info = session.get_cache_info()
    assert info["watch_live"] and info["hits"] >= 20 and info["size"] >= 1


async def test_write_from_another_client_reaches_the_cache(session: SessionContext, other: SessionContext) -> None:
    await session.register_variable("temperature", "float", 0.7)
    assert await session.get_variable("temperature") == 0.7  # cached now
    assert "temperature" in session.cache
    changed = asyncio.Event()
    session.cache.subscribe_invalidation("temperature", lambda var, reason: changed.set())
    await other.set_variable("temperature", 1.3)
    await asyncio.wait_for(changed.wait(), 10)  # the watch delivered the change
    hits = session.cache.stats.hits
    assert await session.get_variable("temperature") == 1.3
    assert session.cache.stats.hits == hits + 1  # served from the (refreshed) cache
    # Atomic multi-variable updates and deletes reach it too.
    await session.register_variables(
        [{"name": "a", "type": "integer", "initial_value": 1}, {"name": "b", "type": "integer", "initial_value": 2}]
    )
    await session.get_variables(["a", "b"])
    await other.update_variables({"a": 10, "b": 20})
    await other.delete_variables(["temperature"])
    rev = (await other.get_variables(["a"], include_metadata=True))["a"]["modify_revision"]
    await session.wait_for_revision(rev + 1, timeout=10)
    assert await session.get_variables(["a", "b"]) == {"a": 10, "b": 20}
    with pytest.raises(KeyError):
        await session.get_variable("temperature")


async def test_own_write_is_visible_at_once(session: SessionContext) -> None:
    await session.register_variable("x", "integer", 1)
    for i in range(2, 30):
        await session.get_variable("x")
        await session.set_variable("x", i)
        assert await session.get_variable("x") == i  # never the stale cached value


async def test_cache_config_and_invalidate_pattern(session: SessionContext) -> None:
    await session.register_variables([{"name": f"v{i}", "type": "integer", "initial_value": i} for i in range(5)])
    session.set_cache_config(ttl=5.0, max_size=3, eviction_policy="fifo")
    await session.get_variables([f"v{i}" for i in range(5)])
    info = session.get_cache_info()
    assert (
        info["size"] == 3 and info["eviction_count"] >= 2 and info["eviction_policy"] == "fifo" and info["ttl"] == 5.0
    )
    cached = set(session.cache.keys())
    assert len(cached) == 3
    assert await session.cache.invalidate_pattern(r"^v[0-3]$") == len(cached - {"v4"})
    assert set(session.cache.keys()) == cached & {"v4"}
    session.set_cache_config(ttl=0)  # real-time: no cache
    before = (await session.get_variable_stats("v0"))["read_count"]
    await session.get_variable("v0")
    await session.get_variable("v0")
    assert (await session.get_variable_stats("v0"))["read_count"] == before + 2
    with pytest.raises(ValueError):
        session.set_cache_config(eviction_policy="mru")
